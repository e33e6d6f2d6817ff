"""The life of a call's row: its states, the leases that let exactly one worker process it, and heartbeats.

States: ``queued`` -> ``transcribing`` -> ``scoring`` -> ``done`` (or ``failed``); ``held`` while a
maintenance window is active. A worker *claims* a call by writing its owner id and a lease expiry into the
row in one atomic statement; it renews the lease while it works, and every write of a result is
conditional on still holding the lease. So a process killed mid-job leaves a lease that expires (or that
the next start on the same host releases at once, since the owner's process is gone) and the call is
claimed again, and the same call is never processed by two workers at once.

Each claim counts as an attempt, so a recording that kills the process every time (out of memory) ends
``failed`` too, after ``job_max_attempts``. The embedded workers claim the next call (:func:`claim_next`);
a Celery task claims the call it was sent for (:func:`claim_call`): the same conditions either way."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, or_, update
from sqlmodel import Session, col, select

from ccr.core.config import Settings, get_settings
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.models import Call, JobLock, Organisation
from ccr.core.owners import owner_id, owner_is_dead, this_process_prefix

log = logging.getLogger(__name__)


CLAIMABLE = ("queued", "transcribing", "scoring")  # in progress ones only once their lease has expired
IN_PROGRESS = ("transcribing", "scoring")
PENDING = ("queued", *IN_PROGRESS)
FINISHED = ("done", "failed", "stored")  # stored: kept out of the analysis by the scope
HEARTBEAT_TTL_S = 30  # a worker silent this long is counted as gone
HEARTBEAT_EVERY_S = 10  # a third of the TTL: one missed beat does not drop a live worker
WORKER_LOCK_PREFIX = "worker:"  # JobLock rows of live workers (other JobLock rows are job locks)


class LeaseLost(Exception):
    """The lease passed to another worker: this one must not write anything more."""


def worker_owner_id(index: int) -> str:
    """The fixed id of worker ``index`` of this process: host, pid and index."""
    return owner_id(f"w{index}")


def _claimable(now: datetime, max_attempts: int):
    active_orgs = select(Organisation.id).where(Organisation.status == "active")
    return and_(
        col(Call.status).in_(CLAIMABLE),
        or_(col(Call.lease_until).is_(None), col(Call.lease_until) < now),
        Call.restricted == False,  # noqa: E712 - a restricted call is frozen (GDPR art. 18)
        col(Call.attempts) < max_attempts,
        col(Call.org_id).in_(active_orgs),
    )


def claim_next(*, session: Session, owner: str, settings: Settings | None = None,
               now: datetime | None = None) -> int | None:
    """Atomically lease the next call to process (queued, or whose lease expired) to ``owner``; its id or None.

    Runs in the caller's transaction: commit at once (the claim holds the write lock until then)."""
    settings = settings or get_settings()
    now = now or utcnow()
    _fail_exhausted(session, now, settings.job_max_attempts)
    candidate = (
        select(Call.id).where(_claimable(now, settings.job_max_attempts))
        .order_by(col(Call.queued_at), col(Call.id)).limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    # One statement: pick and lease together, re-checking the conditions, so two workers can never
    # both win (SQLite serialises writers; PostgreSQL skips rows another claim has locked).
    stmt = (
        update(Call)
        .where(Call.id == candidate.scalar_subquery(), _claimable(now, settings.job_max_attempts))
        .values(
            status=case((Call.status == "queued", "transcribing"), else_=Call.status),
            lease_owner=owner,
            lease_until=now + timedelta(seconds=settings.job_lease_s),
            attempts=Call.attempts + 1,
        )
        .returning(Call.id)
        .execution_options(synchronize_session=False)
    )
    row = session.exec(stmt).first()
    return int(row[0]) if row else None


def _fail_exhausted(session: Session, now: datetime, max_attempts: int) -> None:
    """Calls whose every attempt was interrupted (the process died each time) end failed."""
    session.exec(
        update(Call)
        # A lease released after a crash (release_dead_leases) has no expiry: without the IS NULL test such a
        # call, out of attempts, stayed "in progress" for ever (found by tests/security/test_faults.py).
        .where(col(Call.status).in_(IN_PROGRESS), or_(col(Call.lease_until).is_(None), col(Call.lease_until) < now),
               col(Call.attempts) >= max_attempts)
        .values(status="failed", lease_owner=None, lease_until=None,
                last_error="Le traitement a été interrompu à chaque tentative (arrêt du serveur ou mémoire "
                           "insuffisante ?). Relancez l'appel une fois la cause corrigée.")
        .execution_options(synchronize_session=False)
    )


def renew_lease(*, session: Session, call_id: int, owner: str, settings: Settings | None = None) -> bool:
    """Extend ``owner``'s lease on a call; False when the lease is no longer theirs."""
    settings = settings or get_settings()
    result = session.exec(
        update(Call).where(Call.id == call_id, Call.lease_owner == owner)
        .values(lease_until=utcnow() + timedelta(seconds=settings.job_lease_s))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_dead_leases(*, session: Session) -> int:
    """Free at once the leases held by dead processes of this host, or by this one (restart after a crash)."""
    released = 0
    rows = session.exec(select(Call.id, Call.lease_owner)
                        .where(col(Call.lease_owner).like(f"{socket.gethostname()}:%"))).all()
    for call_id, owner in rows:
        if owner_is_dead(owner, this_process_too=True):
            result = session.exec(
                update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            released += result.rowcount
    return released


class LeaseKeeper:
    """Renews a lease in the background while a call is being processed."""

    def __init__(self, call_id: int, owner: str, settings: Settings) -> None:
        self.call_id, self.owner, self.settings = call_id, owner, settings
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ccr-lease-{owner}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        period = max(0.5, self.settings.job_lease_s / 3)
        while not self._stop.wait(period):
            try:
                with db_session(self.settings) as s:
                    if not renew_lease(session=s, call_id=self.call_id, owner=self.owner, settings=self.settings):
                        self.lost = True
                        return
                    beat(s, self.owner)
            except Exception:  # a busy database must not kill the keeper; the next beat retries
                log.warning("Renouvellement du bail de l'appel %s impossible", self.call_id, exc_info=True)


def release_lease(call_id: int, owner: str, settings: Settings) -> None:
    """Give a call back at once after a clean stop (Ctrl-C): the interrupted attempt does not count."""
    try:
        with db_session(settings) as s:
            s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                   .values(lease_owner=None, lease_until=None,
                           attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                   .execution_options(synchronize_session=False))
    except Exception:  # stopping anyway: the lease will expire
        log.warning("Appel %s : bail non rendu à l'arrêt", call_id, exc_info=True)


def give_back_leases(settings: Settings | None = None) -> int:
    """Give back every call this process holds (a clean stop): wherever Ctrl-C landed, even between the
    claim and the step's own handler, the call is queued again at once and the attempt does not count."""
    settings = settings or get_settings()
    prefix = this_process_prefix()
    with db_session(settings) as s:
        result = s.exec(update(Call).where(col(Call.lease_owner).startswith(prefix))
                        .values(lease_owner=None, lease_until=None,
                                attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                        .execution_options(synchronize_session=False))
        return result.rowcount


def live_worker_count(*, session: Session, now: datetime | None = None) -> int:
    """Workers (of every process) whose heartbeat is recent."""
    now = now or utcnow()
    return int(session.exec(
        select(func.count()).select_from(JobLock)
        .where(col(JobLock.name).like(f"{WORKER_LOCK_PREFIX}%"), col(JobLock.expires_at) > now)
    ).one())


def beat(session: Session, owner: str) -> None:
    """Record that worker ``owner`` is alive (JobLock row ``worker:<owner>``)."""
    name = WORKER_LOCK_PREFIX + owner
    until = utcnow() + timedelta(seconds=HEARTBEAT_TTL_S)
    result = session.exec(update(JobLock).where(JobLock.name == name).values(owner=owner, expires_at=until)
                          .execution_options(synchronize_session=False))
    if result.rowcount == 0:
        session.add(JobLock(name=name, owner=owner, expires_at=until))


def forget_worker(owner: str, settings: Settings) -> None:
    """Remove worker ``owner``'s heartbeat row when it stops, so it no longer counts as live."""
    try:
        with db_session(settings) as s:
            s.exec(delete(JobLock).where(JobLock.name == WORKER_LOCK_PREFIX + owner))
    except Exception:
        log.debug("Battement du worker %s non effacé", owner, exc_info=True)


STAGES = {"asr": ("queued", "transcribing"), "score": ("scoring",)}  # the call statuses each queue works on


def stage_of(status: str) -> str | None:
    """The queue (``asr`` or ``score``) that works on a call in ``status``; None when there is nothing to do."""
    return next((stage for stage, statuses in STAGES.items() if status in statuses), None)


def claim_call(*, session: Session, call_id: int, owner: str, stage: str, settings: Settings | None = None,
               now: datetime | None = None) -> bool:
    """Atomically lease call ``call_id`` to ``owner`` for ``stage``, like :func:`claim_next`; False if not claimable."""
    settings = settings or get_settings()
    now = now or utcnow()
    _fail_exhausted(session, now, settings.job_max_attempts)
    row = session.exec(
        update(Call)
        .where(Call.id == call_id, col(Call.status).in_(STAGES[stage]), _claimable(now, settings.job_max_attempts))
        .values(status=case((Call.status == "queued", "transcribing"), else_=Call.status), lease_owner=owner,
                lease_until=now + timedelta(seconds=settings.job_lease_s), attempts=Call.attempts + 1)
        .returning(Call.id).execution_options(synchronize_session=False)
    ).first()
    return row is not None


def free_if_owner_dead(session: Session, call_id: int) -> None:
    """Free at once the lease of a dead process of this host on ``call_id`` (a killed worker's task redelivered)."""
    owner = session.exec(select(Call.lease_owner).where(Call.id == call_id)).first()
    if owner_is_dead(owner):
        session.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                     .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False))
