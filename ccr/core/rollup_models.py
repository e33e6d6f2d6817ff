"""The dashboards' rollup tables: pre-aggregated figures kept exact by ``ccr.dashboards.rollups``."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from ccr.core.db import utcnow

# --- dashboard rollups (ccr.dashboards.rollups) -----------------------------------------------------------------
# Pre-aggregated figures of the current, unrestricted evaluations with their final values, so that a
# year of dashboard reads tens of thousands of rows instead of sorting half a million. ``day`` is the
# local calendar day (Settings.timezone) that decides period membership; ``utc_day`` the UTC day the
# trend buckets on. ``span`` "d" = one day, "w" = the ISO week starting on ``day`` (a Monday).
# They are derived data: rebuilt from the base tables whenever a day is marked dirty.


class RollupTeamDay(SQLModel, table=True):
    """Per local day, UTC day and team: the sums behind the KPI tiles, trend and score distribution."""

    __table_args__ = (Index("ix_rollup_team_day", "org_id", "day", "team_id"),
                      # the trend: read from the index alone, already in (day, UTC day) order
                      Index("ix_rollup_team_day_trend", "org_id", "day", "utc_day", "team_id", "calls", "score_sum",
                            "passed"))
    id: int | None = Field(default=None, primary_key=True)
    org_id: int
    day: date
    utc_day: date
    team_id: int | None = None
    calls: int = 0
    score_sum: float = 0.0
    passed: int = 0
    critical: int = 0
    validated: int = 0
    with_irritant: int = 0
    duration_sum: float | None = None
    duration_n: int = 0
    silence_sum: float | None = None
    silence_duration_sum: float | None = None
    # score histogram: calls per 10-point bucket (b9 includes 100)
    b0: int = 0
    b1: int = 0
    b2: int = 0
    b3: int = 0
    b4: int = 0
    b5: int = 0
    b6: int = 0
    b7: int = 0
    b8: int = 0
    b9: int = 0


class RollupIrritantDay(SQLModel, table=True):
    """Per local day, UTC day, team and irritant: calls with that irritant."""

    __table_args__ = (Index("ix_rollup_irritant_day", "org_id", "day", "utc_day", "label", "team_id", "calls"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int
    day: date
    utc_day: date
    team_id: int | None = None
    label: str
    calls: int = 0


class RollupCategory(SQLModel, table=True):
    """Per day, week or month (``span``), team and category: calls, score sum and passed calls."""

    __table_args__ = (Index("ix_rollup_category", "org_id", "span", "day", "team_id", "category", "calls",
                            "score_sum", "passed"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int
    span: str  # d | w | m (a week's day is its Monday, a month's its first day)
    day: date
    team_id: int | None = None
    category: str | None = None
    calls: int = 0
    score_sum: float = 0.0
    passed: int = 0


class RollupAgent(SQLModel, table=True):
    """Per day, week or month (``span``), team and agent: the sums behind the ranking, sparkline and talk/listen."""

    __table_args__ = (Index("ix_rollup_agent", "org_id", "span", "day", "team_id", "agent_id", "calls", "score_sum",
                            "passed", "critical", "talk_duration", "agent_talk", "customer_talk", "talk_silence"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int
    span: str  # d | w | m
    day: date
    team_id: int | None = None
    agent_id: int | None = None
    calls: int = 0
    score_sum: float = 0.0
    passed: int = 0
    critical: int = 0
    talk_duration: float | None = None
    agent_talk: float | None = None
    customer_talk: float | None = None
    talk_silence: float | None = None


class RollupCriterionWeek(SQLModel, table=True):
    """Per ISO week (``day`` = its Monday), team, agent and criterion: passed and applicable verdicts."""

    __table_args__ = (Index("ix_rollup_criterion_week", "org_id", "agent_id", "day", "team_id", "criterion_id",
                            "passed", "applicable"),
                      Index("ix_rollup_criterion_week_day", "org_id", "day"))
    id: int | None = Field(default=None, primary_key=True)
    org_id: int
    day: date
    team_id: int | None = None
    agent_id: int | None = None
    criterion_id: str
    passed: int = 0
    applicable: int = 0


class RollupDirty(SQLModel, table=True):
    """A local day whose rollups must be recomputed before they are read (written by every data change)."""

    org_id: int = Field(primary_key=True)
    day: date = Field(primary_key=True)


# The rollups' layout: 2 added month rows (span "m") to the agents' and categories' rollups.
ROLLUP_LAYOUT = 2


class RollupState(SQLModel, table=True):
    """That an organisation's rollups exist, in which timezone their days were cut, and in which layout."""

    org_id: int = Field(primary_key=True)
    timezone: str
    # Rows written before the column existed are layout 1 (server default); new ones the current layout.
    layout: int = Field(default=ROLLUP_LAYOUT, sa_column_kwargs={"server_default": "1"})
    refreshed_at: datetime = Field(default_factory=utcnow)
