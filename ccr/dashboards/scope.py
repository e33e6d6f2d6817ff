"""Where the dashboard's figures read from: the actor's scope and the filters as SQL, and whether the
rollups may answer instead of the base tables.

Only the *current* evaluation of a call counts, and calls restricted by the DPO never do. A team lead
only ever sees their own teams: every query is scoped here in SQL, on top of the URL parsing of
:mod:`ccr.dashboards.filters`, so a hand-built :class:`~ccr.dashboards.filters.Filters` cannot widen it.
Period bounds are local midnights (``Settings.timezone``) converted to UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, case, cast, literal_column
from sqlalchemy import func as sa_func
from sqlmodel import Session, col

from ccr.core.config import get_settings
from ccr.core.models import Evaluation
from ccr.core.users import Actor
from ccr.dashboards.buckets import day_bounds, dialect
from ccr.dashboards.filters import Filters
from ccr.dashboards.rollups import excluded_evaluations, rollups_ready


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants of the start of ``start`` and of the day after ``end``, in the local timezone."""
    return day_bounds(start, end, ZoneInfo(get_settings().timezone))


def where(actor: Actor, filters: Filters, lo: datetime | None = None, hi: datetime | None = None) -> list:
    """The WHERE clauses on Evaluation for the actor's scope and the filters (period [lo, hi))."""
    e = Evaluation
    if lo is None or hi is None:
        lo, hi = bounds(filters.start, filters.end)
    conds = [e.org_id == actor.org_id, e.is_current == True, e.restricted == False,  # noqa: E712
             e.started_at >= lo, e.started_at < hi]
    if not actor.sees_all_teams:
        conds.append(col(e.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        conds.append(col(e.team_id).in_(filters.team_ids))
    if filters.agent_ids:
        conds.append(col(e.agent_id).in_(filters.agent_ids))
    if filters.campaign:
        conds.append(e.campaign == filters.campaign)
    if filters.category:
        conds.append(e.category == filters.category)
    if filters.grid:
        conds.append(e.grid_slug == filters.grid)
    if filters.direction:
        conds.append(e.direction == filters.direction)
    return conds


def local_week_expr(column, start: date, n_weeks: int):
    """Index of the week of local days (counted from ``start``) a datetime column falls in.

    Boundaries are local midnights converted to UTC, so a week stays 7 local days across a DST change
    and equals the day-based index of the rollups.
    """
    if n_weeks <= 1:
        return case((column.is_not(None), 0), else_=0)  # not a bare 0: GROUP BY 0 means a column number
    edges = [bounds(start + timedelta(days=7 * k), start + timedelta(days=7 * k))[0] for k in range(1, n_weeks)]
    return case(*[(column < b, k) for k, b in enumerate(edges)], else_=n_weeks - 1)


def day_index_expr(session: Session, day_column, start: date, span: int):
    """``(day - start) // span`` on a date column from ``start`` on (days since ``start``, in buckets of ``span``)."""
    if dialect(session) == "sqlite":
        return cast((sa_func.julianday(day_column) - sa_func.julianday(start.isoformat())) / span, Integer)
    # date - date is an integer number of days; integer division, not numeric (several times slower).
    days = cast(day_column - cast(literal_column(f"'{start.isoformat()}'"), Date), Integer)
    return days.op("/")(literal_column(str(int(span))))


def _light_conditions(model, actor: Actor, filters: Filters, lo: datetime, hi: datetime) -> list | None:
    """Conditions on a denormalised child table (verdicts, irritant hits) without joining Evaluation.

    Child rows carry the organisation, team, agent and time of their call; what they lack (current
    evaluation, restriction) is excluded through the small set of superseded or restricted evaluations
    of the period, which a covering index finds at once. None when a filter needs the join (campaign,
    category, grid, direction only live on Evaluation).
    """
    if filters.campaign or filters.category or filters.grid or filters.direction:
        return None
    conds = [model.org_id == actor.org_id, model.started_at >= lo, model.started_at < hi,
             col(model.evaluation_id).not_in(excluded_evaluations(actor.org_id, lo, hi))]
    if not actor.sees_all_teams:
        conds.append(col(model.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        conds.append(col(model.team_id).in_(filters.team_ids))
    if filters.agent_ids:
        conds.append(col(model.agent_id).in_(filters.agent_ids))
    return conds


def scope_child(stmt, model, actor: Actor, filters: Filters, lo: datetime, hi: datetime):
    """Restrict a query on a child table to the actor's scope and the filters: without the join to
    Evaluation when the filters allow it (``_light_conditions``), through it otherwise."""
    light = _light_conditions(model, actor, filters, lo, hi)
    if light is not None:
        return stmt.where(*light)
    e = Evaluation
    return stmt.join(e, e.id == model.evaluation_id).where(
        model.org_id == actor.org_id, model.started_at >= lo, model.started_at < hi, *where(actor, filters, lo, hi))


def use_rollups(session: Session, actor: Actor, filters: Filters) -> bool:
    """True when the figures may come from the rollups: only period and teams filtered, rollups exact now.

    Rollups hold the same sums as the live queries, per local day and team (and agent, week...), so
    the answer is identical; any call-level filter (agent, campaign, category, grid, direction), or a
    day still waiting for the background refresher, reads the base tables. Never writes: a page run
    does not wait for the database's write lock.
    """
    if filters.has_call_level_filters or not get_settings().dashboard_rollups:
        return False
    return rollups_ready(session, actor.org_id)


def rollup_scope(model, actor: Actor, filters: Filters) -> list:
    """The organisation and team conditions of the actor's scope and the filters, on a rollup table."""
    conds = [model.org_id == actor.org_id]
    if not actor.sees_all_teams:
        conds.append(col(model.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        conds.append(col(model.team_id).in_(filters.team_ids))
    return conds


def in_days(model, start: date, end: date) -> list:
    """The conditions of a rollup table's local ``day`` column on the inclusive period [start, end]."""
    return [model.day >= start, model.day <= end]

