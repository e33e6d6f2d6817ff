"""Named leases in the database (``JobLock`` rows): one holder at a time across every process and host.

The purge and the erasure of a data subject both rewrite the anonymised statistics, so they share the
lease :data:`LOCK_NAME`. A holder renews its lease between batches; a killed holder's lease expires, or is
taken over at once by a process of the same host that sees the holder's pid is gone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from ccr.core.config import Settings
from ccr.core.db import get_engine, utcnow
from ccr.core.errors import CcrError
from ccr.core.models import (
    JobLock,
)
from ccr.core.owners import owner_id, owner_is_dead

LOCK_NAME = "purge"  # also taken by erasures, the other writer of DailyStat
LOCK_LEASE_S = 1800  # a killed purge frees the lock after 30 min; a live one renews it between batches


def lock_owner_id() -> str:
    """A unique owner id for this process and attempt: host:pid:random."""
    return owner_id(uuid.uuid4().hex[:12])


def acquire_lock(name: str, owner: str, *, lease_s: int = LOCK_LEASE_S, settings: Settings | None = None) -> bool:
    """Take the lease ``name`` if it is free or expired; atomic across processes (one UPDATE)."""
    engine = get_engine(settings)
    now = utcnow()
    dialect = engine.dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(JobLock)
    with engine.begin() as conn:
        conn.execute(ins.values(name=name, owner=None, expires_at=None).on_conflict_do_nothing())
    with engine.begin() as conn:
        res = conn.execute(
            update(JobLock)
            .where(JobLock.name == name,
                   or_(col(JobLock.owner).is_(None), col(JobLock.expires_at).is_(None), JobLock.expires_at < now))
            .values(owner=owner, expires_at=now + timedelta(seconds=lease_s))
        )
        if res.rowcount == 1:
            return True
        holder = conn.execute(select(JobLock.owner).where(JobLock.name == name)).scalar()
        if holder and owner_is_dead(holder):
            # A killed process on this host cannot renew: take its lease over now rather than in 30 min.
            res = conn.execute(update(JobLock).where(JobLock.name == name, JobLock.owner == holder)
                               .values(owner=owner, expires_at=now + timedelta(seconds=lease_s)))
            return res.rowcount == 1
        return False


def renew_lock(name: str, owner: str, *, lease_s: int = LOCK_LEASE_S, settings: Settings | None = None) -> bool:
    """Extend a lease we hold; False if it was lost (expired and taken by another process)."""
    with get_engine(settings).begin() as conn:
        res = conn.execute(update(JobLock).where(JobLock.name == name, JobLock.owner == owner)
                           .values(expires_at=utcnow() + timedelta(seconds=lease_s)))
        return res.rowcount == 1


def release_lock(name: str, owner: str, *, settings: Settings | None = None) -> None:
    """Give a lease back (only if we still hold it)."""
    with get_engine(settings).begin() as conn:
        conn.execute(update(JobLock).where(JobLock.name == name, JobLock.owner == owner)
                     .values(owner=None, expires_at=None))


@contextmanager
def job_lock(name: str = LOCK_NAME, *, wait_s: float = 0.0, settings: Settings | None = None) -> Iterator[str]:
    """Hold the lease ``name`` for a block, waiting up to ``wait_s``; raises CcrError if it stays taken."""
    owner = lock_owner_id()
    deadline = time.monotonic() + wait_s
    while not acquire_lock(name, owner, settings=settings):
        if time.monotonic() >= deadline:
            raise CcrError("Une purge des données est en cours : réessayez dans quelques minutes.")
        time.sleep(0.5)
    try:
        yield owner
    finally:
        release_lock(name, owner, settings=settings)
