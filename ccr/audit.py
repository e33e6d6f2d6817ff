"""The audit log: append-only, one hash chain per organisation (plus a system chain).

Each entry's ``hash`` is the SHA-256 of its content and of the previous entry's
hash in the same chain, so editing or deleting a row in the middle is detected
by :func:`verify_chain` (``python -m ccr audit verify``). The retention job may
delete the *oldest* entries; the first remaining entry then anchors the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, func, select

from ccr.db import utcnow
from ccr.models import AuditLog

PG_ADVISORY_BASE = 0x0CC2_0000  # namespace for the per-organisation advisory lock
# A statement that writes nothing yet takes SQLite's write lock: used when a transaction is already open.
SQLITE_TAKE_WRITE_LOCK = "UPDATE auditlog SET id = id WHERE 0"


@dataclass(frozen=True)
class Who:
    """Who acted: a user (id, name) in an organisation, or the system."""

    org_id: int | None
    user_id: int | None = None
    username: str | None = None


SYSTEM = Who(org_id=None, user_id=None, username="système")


def _entry_digest(entry: AuditLog) -> str:
    payload = json.dumps(
        [
            entry.org_id,
            entry.user_id,
            entry.username,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.outcome,
            entry.detail_json,
            entry.created_at.isoformat(timespec="microseconds"),
            entry.prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _chain_filter(org_id: int | None):
    return AuditLog.org_id.is_(None) if org_id is None else AuditLog.org_id == org_id


def _lock_chain(session: Session, chain_org: int | None) -> None:
    """Hold the chain's write lock until the transaction ends, before its head is read.

    Two processes that read the same head would both link to it and fork the chain. PostgreSQL: a
    transaction-level advisory lock per chain. SQLite: the database write lock, taken now rather than at
    the INSERT (pysqlite opens its transactions lazily, so a read alone holds nothing): ``BEGIN IMMEDIATE``
    when no transaction is open yet, else a statement that writes nothing; it waits the busy timeout."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=PG_ADVISORY_BASE + (chain_org or 0)))
    elif dialect == "sqlite":
        driver = session.connection().connection.driver_connection
        if driver.in_transaction:
            session.exec(text(SQLITE_TAKE_WRITE_LOCK))
        else:
            driver.execute("BEGIN IMMEDIATE")


def log_event(
    *,
    session: Session,
    who: Who,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> AuditLog:
    """Append one entry to the chain of ``org_id`` (default: the actor's organisation)."""
    chain_org = who.org_id if org_id is None else org_id
    _lock_chain(session, chain_org)
    last = session.exec(
        select(AuditLog.hash).where(_chain_filter(chain_org)).order_by(col(AuditLog.id).desc()).limit(1)
    ).first()
    entry = AuditLog(
        org_id=chain_org,
        user_id=who.user_id,
        username=who.username,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        detail_json=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        created_at=utcnow(),
        prev_hash=last or "",
    )
    entry.hash = _entry_digest(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainReport:
    """Result of a chain verification."""

    org_id: int | None
    checked: int
    broken_at: list[int]

    @property
    def ok(self) -> bool:
        """True when no entry was found altered, inserted or removed."""
        return not self.broken_at


def verify_chain(*, session: Session, org_id: int | None) -> ChainReport:
    """Recompute the hash chain of one organisation and list the ids where it breaks."""
    rows = session.exec(select(AuditLog).where(_chain_filter(org_id)).order_by(col(AuditLog.id))).all()
    broken: list[int] = []
    prev: str | None = None
    for i, row in enumerate(rows):
        if row.hash != _entry_digest(row) or (i > 0 and row.prev_hash != prev):
            broken.append(row.id)
        prev = row.hash
    return ChainReport(org_id=org_id, checked=len(rows), broken_at=broken)


def verify_all(*, session: Session) -> list[ChainReport]:
    """Verify every chain present in the log."""
    orgs = session.exec(select(AuditLog.org_id).distinct()).all()
    return [verify_chain(session=session, org_id=o) for o in sorted(orgs, key=lambda x: (x is not None, x or 0))]


def list_events(
    *,
    session: Session,
    org_id: int,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[AuditLog]:
    """Entries of one organisation, newest first, with optional filters."""
    stmt = select(AuditLog).where(AuditLog.org_id == org_id)
    if user:
        stmt = stmt.where(col(AuditLog.username).contains(user))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if target:
        stmt = stmt.where((AuditLog.target_id == target) | (AuditLog.target_type == target))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at < until)
    return list(session.exec(stmt.order_by(col(AuditLog.id).desc()).offset(offset).limit(limit)).all())


def count_events(*, session: Session, org_id: int, action: str | None = None) -> int:
    """Number of entries of one organisation (optionally of one action)."""
    stmt = select(func.count()).select_from(AuditLog).where(AuditLog.org_id == org_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return int(session.exec(stmt).one())
