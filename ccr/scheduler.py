"""The background scheduler of a server process (APScheduler 3), with its jobs stored in the app database.

Started once per process (``start_scheduler`` is idempotent; the UI calls it through
``ccr.services.start_services`` inside ``st.cache_resource``). Jobs have fixed ids and
``replace_existing=True``, so a restart or a second process never duplicates them.
APScheduler 3 has no lock between processes: each process may fire the daily job, and the
purge's own lease row (``ccr.retention``) makes every process but one record a "skipped" run.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ccr.config import Settings, get_settings

log = logging.getLogger(__name__)

PURGE_JOB_ID = "ccr-retention-purge"
JOBS_TABLE = "apscheduler_jobs"  # APScheduler's own table, created by its job store (not a model)
REDISPATCH_EVERY_MIN = 2  # a lost message delays its call by two minutes at most; the check is one LLEN
MISFIRE_GRACE_S = 6 * 3600  # a server down at 03:00 still purges when it is back the same morning

_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None


def purge_job() -> None:
    """The daily retention job (module-level: the job store keeps a reference to it, not a pickle of code)."""
    from ccr.retention import run_purge

    run = run_purge(trigger="schedule")
    log.info("Purge planifiée : %s", run.status)


def purge_trigger(settings: Settings) -> CronTrigger:
    """Every day at ``purge_hour``:00, local time."""
    return CronTrigger(hour=settings.purge_hour, minute=0, timezone=ZoneInfo(settings.timezone))


def start_scheduler(settings: Settings | None = None) -> BackgroundScheduler:
    """Start this process's scheduler once and (re)register the fixed jobs; later calls return it."""
    global _scheduler
    settings = settings or get_settings()
    with _lock:
        if _scheduler is not None and _scheduler.running:
            return _scheduler
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=settings.db_url, tablename=JOBS_TABLE)},
            timezone=ZoneInfo(settings.timezone),
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
        )
        scheduler.add_job(purge_job, purge_trigger(settings), id=PURGE_JOB_ID, name="Purge de conservation",
                          replace_existing=True, coalesce=True, max_instances=1)
        # Health probe and release of calls held by a finished maintenance (ccr.health). A run more than
        # 30 s late is skipped: it would vouch for a minute it did not see.
        scheduler.add_job("ccr.health:probe_job", "interval", minutes=1, id="ccr-health-probe",
                          name="Sonde de santé", replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=30)
        if settings.broker_url:  # Celery mode: calls whose message was lost (broker down) are sent again
            scheduler.add_job("ccr.tasks:redispatch_job", "interval", minutes=REDISPATCH_EVERY_MIN,
                              id="ccr-celery-redispatch", name="Renvoi des appels orphelins",
                              replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=60)
        scheduler.start()
        _scheduler = scheduler
        return scheduler


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
