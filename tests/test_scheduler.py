"""The scheduler: started once per process, one purge job with a fixed id, daily at 03:00 in Paris."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from ccr import scheduler
from ccr.db import get_engine


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
    assert f"{job.func.__module__}:{job.func.__name__}" == "ccr.scheduler:purge_job"


def test_next_run_is_known_without_a_running_scheduler(migrated):
    nxt = scheduler.next_run_time(migrated).astimezone(ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (3, 0)
