"""The background scheduler of a server process (APScheduler 3), with its jobs stored in the app database.

Started once per process (``start_scheduler`` is idempotent; ``python -m ccr serve`` calls it through
``ccr.ops.services.start_services`` before the first visitor, and the UI's ``boot()`` finds it running).
Jobs have fixed ids and ``replace_existing=True``, so a restart or a second process never duplicates
them. APScheduler 3 has no lock between processes: each process may fire the daily job, and the
purge's own lease row (``ccr.privacy.retention``) makes every process but one record a "skipped" run.

Guarantees:

- the job store uses the app's own engine (``ccr.core.db.get_engine``): the same busy timeout and WAL
  pragmas as every other writer, so a writer holding the database for a few seconds delays a tick
  instead of failing it;
- a database error in a tick (the job store cannot be read or updated) is logged and the tick is
  retried ``JOBSTORE_RETRY_S`` later: APScheduler 3 lets such an error end its thread for good,
  silently, while ``running`` stays true;
- every job function catches and logs its own errors;
- whether the thread still lives is :func:`scheduler_state`; ``ccr.ops.health`` reports a dead
  scheduler, and a late probe or purge from the database, for processes that have no scheduler.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ccr.core.config import Settings, get_settings
from ccr.core.db import get_engine
from ccr.privacy import retention

log = logging.getLogger(__name__)

PURGE_JOB_ID = "ccr-retention-purge"
PROBE_JOB_ID = "ccr-health-probe"
CHECKPOINT_JOB_ID = "ccr-audit-checkpoint"
CHECKPOINT_MINUTE = 30  # half an hour after the purge: the day's checkpoint seals what the purge left
JOBS_TABLE = "apscheduler_jobs"  # APScheduler's own table, created by its job store (not a model)
REDISPATCH_EVERY_MIN = 2  # a lost message delays its call by two minutes at most; the check is one LLEN
MISFIRE_GRACE_S = 6 * 3600  # a server down at 03:00 still purges when it is back the same morning
# A tick that met a database error is tried again this soon: the minute probe is then at most a few
# seconds late, and a database locked for minutes costs one logged warning every 10 s, no more.
JOBSTORE_RETRY_S = 10.0

_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None


class ResilientScheduler(BackgroundScheduler):
    """A background scheduler whose thread survives a tick that raises (database locked, unreachable)."""

    def _process_jobs(self):
        try:
            return super()._process_jobs()
        except Exception:  # the next tick reads the job store again: a job not marked as run runs then
            log.warning("Tour du planificateur en échec (base de données ?) : nouvel essai dans %.0f s",
                        JOBSTORE_RETRY_S, exc_info=True)
            return JOBSTORE_RETRY_S


def purge_job() -> None:
    """The daily retention job (module-level: the job store keeps a reference to it, not a pickle of code)."""
    try:
        run = retention.run_purge(trigger="schedule")
    except Exception:  # logged here; health reports the missing run against the schedule
        log.exception("Purge planifiée impossible")
        return
    log.info("Purge planifiée : %s", run.status)


def purge_trigger(settings: Settings) -> CronTrigger:
    """Every day at ``purge_hour``:00, local time."""
    return CronTrigger(hour=settings.purge_hour, minute=0, timezone=ZoneInfo(settings.timezone))


def last_purge_due(settings: Settings, now: datetime) -> datetime:
    """The latest time at or before ``now`` when the daily purge was due (``purge_hour``:00, local time)."""
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    due = datetime.combine(local.date(), time(settings.purge_hour), tzinfo=tz)
    if due > local:
        due = datetime.combine(local.date() - timedelta(days=1), time(settings.purge_hour), tzinfo=tz)
    return due


def start_scheduler(settings: Settings | None = None) -> BackgroundScheduler:
    """Start this process's scheduler once and (re)register the fixed jobs; later calls return it."""
    global _scheduler
    settings = settings or get_settings()
    with _lock:
        if _scheduler is not None and _scheduler.running:
            return _scheduler
        scheduler = ResilientScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=get_engine(settings), tablename=JOBS_TABLE)},
            timezone=ZoneInfo(settings.timezone),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
            jobstore_retry_interval=JOBSTORE_RETRY_S,
        )
        scheduler.add_job(purge_job, purge_trigger(settings), id=PURGE_JOB_ID, name="Purge de conservation",
                          replace_existing=True, coalesce=True, max_instances=1)
        # Health probe and release of calls held by a finished maintenance (ccr.ops.health). A run more than
        # 30 s late is skipped: it would vouch for a minute it did not see.
        scheduler.add_job("ccr.ops.health:probe_job", "interval", minutes=1, id=PROBE_JOB_ID,
                          name="Sonde de santé", replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=30)
        # The daily signed checkpoint of the audit chains (head, count, time), kept apart from the database.
        scheduler.add_job("ccr.core.audit:checkpoint_job",
                          CronTrigger(hour=settings.purge_hour, minute=CHECKPOINT_MINUTE,
                                      timezone=ZoneInfo(settings.timezone)),
                          id=CHECKPOINT_JOB_ID, name="Point de contrôle du journal d'audit",
                          replace_existing=True, coalesce=True, max_instances=1)
        if settings.broker_url:  # Celery mode: calls whose message was lost (broker down) are sent again
            scheduler.add_job("ccr.pipeline.celery_app:redispatch_job", "interval", minutes=REDISPATCH_EVERY_MIN,
                              id="ccr-celery-redispatch", name="Renvoi des appels orphelins",
                              replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=60)
        scheduler.start()
        _scheduler = scheduler
        return scheduler


def scheduler_state() -> str:
    """This process's scheduler: ``absent`` (none started), ``alive``, or ``dead`` (started, thread gone)."""
    scheduler = _scheduler
    if scheduler is None or not scheduler.running:
        return "absent"
    thread = getattr(scheduler, "_thread", None)
    return "alive" if thread is not None and thread.is_alive() else "dead"


def shutdown_scheduler() -> None:
    """Stop this process's scheduler (tests, shutdown)."""
    global _scheduler
    with _lock:
        if _scheduler is not None and _scheduler.running:
            _scheduler.shutdown(wait=False)
        _scheduler = None


def next_run_time(settings: Settings | None = None) -> datetime | None:
    """When the purge runs next: from the running scheduler, else computed from its schedule."""
    settings = settings or get_settings()
    if _scheduler is not None and _scheduler.running:
        job = _scheduler.get_job(PURGE_JOB_ID)
        if job is not None:
            return job.next_run_time
    now = datetime.now(ZoneInfo(settings.timezone))
    return purge_trigger(settings).get_next_fire_time(None, now)
