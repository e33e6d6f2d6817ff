"""The scheduler: started once per process, fixed job ids (purge daily at 03:00 in Paris), and a thread
that survives a database locked across its ticks."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from ccr.core import db
from ccr.core.db import get_engine
from ccr.ops import scheduler


@pytest.fixture
def running(migrated):
    yield migrated
    scheduler.shutdown_scheduler()


def test_starting_twice_keeps_one_job_with_the_fixed_id(running):
    first = scheduler.start_scheduler(running)
    second = scheduler.start_scheduler(running)
    assert first is second
    ids = [j.id for j in first.get_jobs()]
    assert ids.count(scheduler.PURGE_JOB_ID) == 1 and len(ids) == len(set(ids))
    with get_engine().connect() as conn:
        stored = conn.execute(sa.text(f"SELECT id FROM {scheduler.JOBS_TABLE}")).scalars().all()
    assert sorted(stored) == sorted(ids)  # stored in the app database, once each


def test_a_restarted_process_replaces_the_stored_job(running):
    scheduler.start_scheduler(running)
    scheduler.shutdown_scheduler()
    restarted = scheduler.start_scheduler(running)
    assert [j.id for j in restarted.get_jobs()].count(scheduler.PURGE_JOB_ID) == 1


def test_next_run_is_at_three_in_the_morning_paris_time(running):
    scheduler.start_scheduler(running)
    nxt = scheduler.next_run_time(running).astimezone(ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (3, 0)
    job = scheduler.start_scheduler(running).get_job(scheduler.PURGE_JOB_ID)
    assert job.coalesce and job.max_instances == 1
    assert f"{job.func.__module__}:{job.func.__name__}" == "ccr.ops.scheduler:purge_job"


def test_the_audit_checkpoint_is_a_daily_job_half_an_hour_after_the_purge(running):
    job = scheduler.start_scheduler(running).get_job(scheduler.CHECKPOINT_JOB_ID)
    assert job.func_ref == "ccr.core.audit:checkpoint_job" and job.coalesce and job.max_instances == 1
    nxt = job.next_run_time.astimezone(ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (3, 30)


def test_next_run_is_known_without_a_running_scheduler(migrated):
    nxt = scheduler.next_run_time(migrated).astimezone(ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (3, 0)


# --- surviving the database -------------------------------------------------------------------------

TICKS: list[float] = []  # runs of the test job below (the scheduler runs it in this process)


def _tick() -> None:
    TICKS.append(time.monotonic())


def _wait_for(predicate, deadline_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, f"état jamais atteint : {what}"
        time.sleep(0.05)


def test_the_job_store_writes_with_the_app_busy_timeout(running):
    if not running.is_sqlite:
        pytest.skip("réglage propre à SQLite")
    store = scheduler.start_scheduler(running)._jobstores["default"]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS


def test_a_write_lock_across_ticks_does_not_kill_the_scheduler(running, monkeypatch, caplog):
    if not running.is_sqlite:
        pytest.skip("verrou d'écriture propre à SQLite")
    # A lock that outlasts the busy timeout, as a long one does in production: shortened so the test is quick.
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(scheduler, "JOBSTORE_RETRY_S", 0.5, raising=False)
    db.dispose_engines()
    TICKS.clear()
    sched = scheduler.start_scheduler(running)
    sched.add_job("tests.ops.test_scheduler:_tick", "interval", seconds=1, id="test-tick", replace_existing=True)
    _wait_for(lambda: len(TICKS) >= 1, what="première exécution")

    caplog.set_level(logging.WARNING, logger="ccr.ops.scheduler")
    locker = sqlite3.connect(str(running.data_dir / "ccr.db"), timeout=30, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the database across the next ticks
        _wait_for(lambda: "Tour du planificateur en échec" in caplog.text or not sched._thread.is_alive(),
                  what="un tour bloqué par le verrou")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    released = time.monotonic()
    _wait_for(lambda: any(t > released for t in TICKS), deadline_s=60, what="une exécution après le verrou")
    assert sched._thread.is_alive() and scheduler.scheduler_state() == "alive"


def test_a_failing_purge_is_logged_not_raised(monkeypatch, caplog):
    from ccr.privacy import retention

    def boom(**_kw):
        raise RuntimeError("base verrouillée")

    monkeypatch.setattr(retention, "run_purge", boom)
    caplog.set_level(logging.ERROR, logger="ccr.ops.scheduler")
    scheduler.purge_job()
    assert "Purge planifiée impossible" in caplog.text


class _ThreadKiller(BaseException):
    """Not an Exception: nothing catches it, the scheduler's thread ends like the old one did."""


def test_a_dead_scheduler_thread_is_reported(running, monkeypatch):
    sched = scheduler.start_scheduler(running)
    assert scheduler.scheduler_state() == "alive"

    def die():
        raise _ThreadKiller

    monkeypatch.setattr(sched, "_process_jobs", die)
    monkeypatch.setattr(threading, "excepthook", lambda _args: None)  # the expected death, not a test error
    sched.wakeup()
    _wait_for(lambda: not sched._thread.is_alive(), what="fil du planificateur arrêté")
    assert sched.running and scheduler.scheduler_state() == "dead"
    from ccr.ops import health

    check = health.check_scheduler(running)
    assert check.status == "down" and "arrêté" in check.detail
