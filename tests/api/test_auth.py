"""The API's rate limits and bearer parsing, on a clock the test drives."""

from __future__ import annotations

import pytest

from ccr.api.auth import MAX_BUCKETS, RateLimiter, bearer, identify
from ccr.core.errors import RateLimited, Unauthenticated


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait_and_refills_with_time():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one request a second, bursts of 60
    for _ in range(60):
        limiter.take("token:1")
    with pytest.raises(RateLimited) as refused:
        limiter.take("token:1")
    assert refused.value.retry_after == 1 and "réessayez dans 1 s" in str(refused.value)
    limiter.take("token:2")  # another key has its own bucket
    clock.now += 1.0
    limiter.take("token:1")
    with pytest.raises(RateLimited):
        limiter.take("token:1")
    clock.now += 3600  # a long pause refills to the burst, never beyond
    for _ in range(60):
        limiter.take("token:1")
    with pytest.raises(RateLimited):
        limiter.take("token:1")


def test_a_slow_rate_asks_for_a_longer_wait():
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # one every 10 s
    for _ in range(6):
        limiter.take("k")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k")
    assert refused.value.retry_after == 10


def test_buckets_stay_bounded_whatever_the_number_of_senders():
    limiter = RateLimiter(10, clock=Clock())
    for i in range(MAX_BUCKETS + 500):
        limiter.take(f"ip:{i}")
    assert len(limiter._buckets) == MAX_BUCKETS


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer ccr_abc", "ccr_abc"), ("bearer   ccr_abc  ", "ccr_abc"), ("Basic dXNlcjpwYXNz", None),
    ("Bearer", None), ("", None), (None, None)])
def test_only_a_bearer_header_gives_a_token(header, token):
    assert bearer(header) == token


def test_refused_credentials_are_limited_per_address(migrated):
    failures = RateLimiter(3, clock=Clock())
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            identify("Bearer ccr_inconnu", address="10.0.0.9", failures=failures)
    with pytest.raises(RateLimited):
        identify("Bearer ccr_inconnu", address="10.0.0.9", failures=failures)
    with pytest.raises(Unauthenticated):  # another address is not slowed by the first one's guesses
        identify("Bearer ccr_inconnu", address="10.0.0.10", failures=failures)
