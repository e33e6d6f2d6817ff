"""Calendar and score buckets shared by the live figures and the rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Float, literal
from sqlmodel import func, select

from ccr.core.db import session
from ccr.core.models import Evaluation
from ccr.dashboards import buckets
from tests.kpidata import add_call

PARIS = ZoneInfo("Europe/Paris")


def test_day_bounds_are_local_midnights_in_utc_across_a_time_change():
    # 29 March 2026: Paris moves to summer time, the local day lasts 23 hours.
    assert buckets.day_bounds(date(2026, 3, 29), date(2026, 3, 29), PARIS) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    assert buckets.day_bounds(date(2026, 3, 1), date(2026, 3, 31), PARIS) == (
        datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22, tzinfo=UTC))


@pytest.mark.parametrize(("day", "monday"), [
    (date(2026, 3, 2), date(2026, 3, 2)), (date(2026, 3, 8), date(2026, 3, 2)), (date(2026, 3, 9), date(2026, 3, 9)),
    (date(2026, 1, 1), date(2025, 12, 29)),
])
def test_week_start_is_the_monday_of_the_iso_week(day, monday):
    assert buckets.week_start(day) == monday


@pytest.mark.parametrize(("score", "index"), [(0.0, 0), (9.99, 0), (10.0, 1), (69.9, 6), (70.0, 7), (99.99, 9),
                                              (100.0, 9)])
def test_score_bins_of_ten_points_keep_100_in_the_last_one(migrated, score, index):
    assert buckets.SCORE_BUCKET * buckets.SCORE_BUCKETS == 100
    with session() as s:
        assert s.exec(select(buckets.score_bucket(literal(score, Float)))).one() == index


def test_utc_days_and_summable_flags_in_sql(tenants):
    a, _b = tenants
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # already 3 March in Paris: the UTC day is what counts
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], late, 80, validated=True)
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], late, 50)
    e = Evaluation
    with session() as s:
        utc_day = buckets.utc_day(s, e.started_at)  # one expression: PostgreSQL groups by the same bound text
        day, validated = s.exec(select(utc_day, func.sum(buckets.as_int(e.validated)))
                                .where(e.org_id == a.org_id).group_by(utc_day)).one()
        assert buckets.dialect(s) in ("sqlite", "postgresql")
    assert str(day)[:10] == "2026-03-02" and validated == 1
