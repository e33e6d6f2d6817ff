"""Who calls the API: the bearer token, its rate limit, and the rate limit of refused credentials.

Each token gets a bucket of ``CCR_API_RATE_PER_MIN`` requests that refills continuously; an empty bucket
answers 429 with ``Retry-After``. Refused credentials are limited per client address, so guessing tokens
costs time and cannot flood the audit log. The buckets live in this process: behind several API processes,
each one counts its own.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from ccr.core.api_tokens import ApiClient, authenticate
from ccr.core.db import session as db_session
from ccr.core.errors import CcrError, RateLimited

FAILED_AUTH_PER_MIN = 30  # refused tokens per client address and minute before 429
MAX_BUCKETS = 10_000  # forgotten least recently used beyond this: memory stays bounded whatever the traffic


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to ``per_minute`` at once."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one request of ``key``'s bucket, or raise ``RateLimited`` with the wait in seconds."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(key, None) or _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets[key] = bucket  # re-inserted last: the dict's order is the recency order
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.pop(next(iter(self._buckets)))
            if bucket.tokens < 1.0:
                raise RateLimited(max(1, math.ceil((1.0 - bucket.tokens) / self.rate)))
            bucket.tokens -= 1.0


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def identify(header: str | None, *, address: str, failures: RateLimiter) -> ApiClient:
    """The client behind an Authorization header; ``Unauthenticated`` (or ``RateLimited``) otherwise."""
    token = bearer(header)
    try:
        with db_session() as s:
            return authenticate(session=s, token=token)
    except CcrError:
        failures.take(f"ip:{address}")  # a refused credential costs its sender, not the token's owner
        raise
