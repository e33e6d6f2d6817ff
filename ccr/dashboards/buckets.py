"""Calendar and score buckets shared by the live dashboard queries and the rollups.

Local days and the UTC instants that bound them, UTC calendar days as SQL, ISO weeks, the score
histogram's bins and SUM-able flags each have one definition here, so a rollup row and a live
aggregate always fall in the same bucket (:mod:`ccr.dashboards.rollups` stores what
:mod:`ccr.dashboards.figures` would otherwise compute from the base tables).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, cast
from sqlalchemy import func as sa_func
from sqlmodel import Session

# Score histogram bins of 10 points: 10 bars fit any screen, and a rollup row stores exactly these 10 counts.
SCORE_BUCKET = 10
SCORE_BUCKETS = 100 // SCORE_BUCKET


def dialect(session: Session) -> str:
    """Name of the session's database dialect ("sqlite" or "postgresql")."""
    return session.get_bind().dialect.name


def day_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting ``start`` and local midnight after ``end``."""
    lo = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return lo, hi


def week_start(d: date) -> date:
    """The Monday of ``d``'s ISO week."""
    return d - timedelta(days=d.weekday())


def utc_day(session: Session, column):
    """The UTC calendar day of a datetime column, as SQL (text 'YYYY-MM-DD' on SQLite, date on PG)."""
    if dialect(session) == "sqlite":
        return sa_func.substr(column, 1, 10)
    return sa_func.date(sa_func.timezone("UTC", column))


def as_int(flag) -> Any:
    """SUM-able 0/1 of a boolean column (PostgreSQL cannot SUM booleans)."""
    return case((flag == True, 1), else_=0)  # noqa: E712


def score_bucket(column):
    """Index of the score bin a score column falls in, as SQL (100 falls in the last bin)."""
    return case((column >= 100, SCORE_BUCKETS - 1), else_=cast(sa_func.floor(column / SCORE_BUCKET), Integer))
