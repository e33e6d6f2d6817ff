"""Dashboard figures: every aggregation runs in SQL on the denormalised, indexed dashboard columns.

Only the *current* evaluation of a call counts, with its ``final_*`` values (the human-validated
score once a supervisor has reviewed it). Calls restricted by the DPO never count. A team lead only
ever sees their own teams: :func:`filters_from_query` drops foreign team ids, and every query is
also scoped in SQL (:func:`ccr.core.calls.scope_calls`), so a hand-built :class:`Filters` cannot widen it.

Functions return small plain values (dicts, lists, dataclasses) — only what a chart draws — so the UI
can cache them (``ccr/ui/dashboard_cache.py``). Days are bucketed on the UTC date of ``started_at``:
call-centre opening hours fall inside the same day in Paris and in UTC, and a UTC day needs no
per-row timezone arithmetic. Period bounds themselves are computed in ``Settings.timezone``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, and_, case, cast, exists, literal_column, or_, table, text
from sqlalchemy import func as sa_func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from ccr.core.config import get_settings
from ccr.core.errors import CcrError
from ccr.core.models import (
    Agent,
    CriterionResult,
    DailyStat,
    Evaluation,
    Grid,
    IrritantHit,
    RollupAgent,
    RollupCategory,
    RollupCriterionWeek,
    RollupIrritantDay,
    RollupTeamDay,
    Taxonomy,
    Team,
    Transcript,
)
from ccr.core.users import Actor
from ccr.dashboards.rollups import period_rows, refresh_rollups, split_period

# --- constants ---------------------------------------------------------------------------

PRESETS = {"7j": "7 jours", "30j": "30 jours", "mois": "Ce mois-ci", "perso": "Personnalisé"}
DEFAULT_PRESET = "30j"  # the morning view of a team lead: the last month, day by day
MAX_PERIOD_DAYS = 3 * 366  # a custom period is capped so a crafted URL cannot ask for decades
DIRECTIONS = {"entrant": "Entrant", "sortant": "Sortant"}
DAILY_TREND_MAX_DAYS = 62  # beyond two months a daily trend is unreadable: switch to weeks
DISTRIBUTION_BUCKET = 10  # score histogram bins of 10 points: 10 bars fit any screen
SPARKLINE_WEEKS = 12  # the recent trend of an agent: a quarter, week by week, whatever the period
HEATMAP_MAX_AGENTS = 25  # a heatmap taller than this is no longer read; the weakest agents come first
TOP_IRRITANTS = 6  # more lines than this on one chart become noise (and exhaust the palette)
PAGE_SIZE_MAX = 200  # the calls list is paginated in the database, never loaded whole
EXPORT_MAX_ROWS = 50_000  # a CSV/Excel of the current view; beyond this, the organisation export is the tool
SEARCH_COUNT_CAP = 1000  # beyond this a search is too broad to browse; counting further costs time
# A word in at least this many transcripts is "common": its first page is found by walking the date index
# and checking each call (measured at 300k calls: 18 ms instead of 104 ms), a rare word by its match set.
DENSE_SEARCH_HITS = 20_000
DATE_SORTS = ("recent", "ancien")
FTS_MAX_TERMS = 12  # a search box query, not a document: longer input is cut
PG_TS_CONFIG = "ccr_french"  # migration 0002: French stemming, accents folded (the GIN index's configuration)
_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
CAMPAIGN_MAX_LEN = 100

# Calls list: statuses, sorts and what "à revoir" means.
CALL_STATUSES = {
    "valide": "Validé par un humain",
    "a_valider": "Non validé",
    "conforme": "Conforme",
    "non_conforme": "Non conforme",
    "critique": "Échec critique",
}
CALL_SORTS = {
    "recent": "Plus récents",
    "ancien": "Plus anciens",
    "score_asc": "Score croissant",
    "score_desc": "Score décroissant",
    "duree_desc": "Plus longs",
}
DEFAULT_SORT = "recent"
# "À revoir": not yet validated by a human, and failed, critically failed, unsure (unverified LLM answer,
# or a verdict the scorer flagged as uncertain) or close to the pass threshold (Settings.review_margin) -
# the same reasons as the review queue (ccr.quality.reviews.review_queue), whose extra calibration sample is
# drawn there, not in this filter.


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the dashboard and the calls list show: a period (inclusive dates) and optional narrowing."""

    start: date
    end: date
    preset: str = DEFAULT_PRESET
    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    campaign: str | None = None
    category: str | None = None
    grid: str | None = None
    direction: str | None = None

    @property
    def days(self) -> int:
        """Length of the period in days."""
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same filters on the period of equal length just before."""
        n = self.days
        return _replace(self, start=self.start - timedelta(days=n), end=self.start - timedelta(days=1),
                        preset="perso")

    @property
    def has_call_level_filters(self) -> bool:
        """True when a filter cannot apply to the anonymised team-level history."""
        return bool(self.agent_ids or self.campaign or self.category or self.grid or self.direction)


def _replace(f: Filters, **changes: Any) -> Filters:
    from dataclasses import replace

    return replace(f, **changes)


def preset_period(preset: str, today: date) -> tuple[date, date]:
    """The (start, end) dates of a preset period ending today."""
    if preset == "7j":
        return today - timedelta(days=6), today
    if preset == "mois":
        return today.replace(day=1), today
    return today - timedelta(days=29), today


def _param(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return str(value).strip()


def _ids(raw: str) -> tuple[int, ...]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part.isdigit() and len(part) <= 12:
            out.append(int(part))
    return tuple(sorted(set(out)))


def _iso(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _slug(raw: str) -> str | None:
    return raw if raw and _SLUG_RE.match(raw) else None


def filters_from_query(params: Mapping[str, Any], actor: Actor, today: date) -> Filters:
    """Parse URL query parameters into :class:`Filters`, clamped to what ``actor`` may see.

    Anything malformed is ignored rather than refused (a shared link must always open); a team lead's
    foreign team ids are dropped silently.
    """
    preset = _param(params, "periode") or DEFAULT_PRESET
    if preset not in PRESETS:
        preset = DEFAULT_PRESET
    start, end = preset_period(preset, today)
    if preset == "perso":
        d1, d2 = _iso(_param(params, "du")), _iso(_param(params, "au"))
        if d1 and d2:
            start, end = min(d1, d2), max(d1, d2)
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                start = end - timedelta(days=MAX_PERIOD_DAYS - 1)
        else:
            preset = DEFAULT_PRESET
            start, end = preset_period(preset, today)
    team_ids = _ids(_param(params, "equipe"))
    if not actor.sees_all_teams:
        team_ids = tuple(t for t in team_ids if t in actor.team_ids)
    campaign = _param(params, "campagne")[:CAMPAIGN_MAX_LEN] or None
    direction = _param(params, "sens")
    return Filters(
        start=start,
        end=end,
        preset=preset,
        team_ids=team_ids,
        agent_ids=_ids(_param(params, "agent")),
        campaign=campaign,
        category=_slug(_param(params, "categorie")),
        grid=_slug(_param(params, "grille")),
        direction=direction if direction in DIRECTIONS else None,
    )


def filters_to_query(filters: Filters) -> dict[str, str]:
    """URL query parameters of ``filters`` (the inverse of :func:`filters_from_query`)."""
    out: dict[str, str] = {"periode": filters.preset}
    if filters.preset == "perso":
        out["du"] = filters.start.isoformat()
        out["au"] = filters.end.isoformat()
    if filters.team_ids:
        out["equipe"] = ",".join(str(t) for t in filters.team_ids)
    if filters.agent_ids:
        out["agent"] = ",".join(str(a) for a in filters.agent_ids)
    for key, value in (("campagne", filters.campaign), ("categorie", filters.category),
                       ("grille", filters.grid), ("sens", filters.direction)):
        if value:
            out[key] = value
    return out


@dataclass(frozen=True)
class CallQuery:
    """The calls list's own criteria, on top of :class:`Filters` (kept in the URL too)."""

    score_min: float | None = None
    score_max: float | None = None
    status: str | None = None
    irritant: str | None = None
    failed_criterion: str | None = None
    to_review: bool = False
    search: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1


def _float(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 <= value <= 100.0 else None


def call_query_from_query(params: Mapping[str, Any]) -> CallQuery:
    """Parse the calls list's own URL parameters (malformed values are ignored)."""
    status = _param(params, "statut")
    sort = _param(params, "tri")
    page = _param(params, "page")
    return CallQuery(
        score_min=_float(_param(params, "score_min")),
        score_max=_float(_param(params, "score_max")),
        status=status if status in CALL_STATUSES else None,
        irritant=_slug(_param(params, "irritant")),
        failed_criterion=_slug(_param(params, "critere")),
        to_review=_param(params, "a_revoir") in ("1", "true", "oui"),
        search=_param(params, "q")[:200],
        sort=sort if sort in CALL_SORTS else DEFAULT_SORT,
        page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
    )


def call_query_to_query(q: CallQuery) -> dict[str, str]:
    """URL parameters of a :class:`CallQuery` (defaults left out)."""
    out: dict[str, str] = {}
    if q.score_min is not None:
        out["score_min"] = f"{q.score_min:g}"
    if q.score_max is not None:
        out["score_max"] = f"{q.score_max:g}"
    for key, value in (("statut", q.status), ("irritant", q.irritant), ("critere", q.failed_criterion),
                       ("q", q.search)):
        if value:
            out[key] = value
    if q.to_review:
        out["a_revoir"] = "1"
    if q.sort != DEFAULT_SORT:
        out["tri"] = q.sort
    if q.page > 1:
        out["page"] = str(q.page)
    return out


# --- SQL building blocks ---------------------------------------------------------------------


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants of the start of ``start`` and of the day after ``end``, in the local timezone."""
    tz = ZoneInfo(get_settings().timezone)
    lo = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return lo, hi


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _where(actor: Actor, filters: Filters, lo: datetime | None = None, hi: datetime | None = None) -> list:
    """The WHERE clauses on Evaluation for the actor's scope and the filters (period [lo, hi))."""
    e = Evaluation
    if lo is None or hi is None:
        lo, hi = _bounds(filters.start, filters.end)
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


def _day_expr(session: Session, column):
    """The UTC calendar day of a datetime column, as SQL (text 'YYYY-MM-DD' on SQLite, date on PG)."""
    if _dialect(session) == "sqlite":
        return sa_func.substr(column, 1, 10)
    return sa_func.date(sa_func.timezone("UTC", column))


def _local_week_expr(column, start: date, n_weeks: int):
    """Index of the week of local days (counted from ``start``) a datetime column falls in.

    Boundaries are local midnights converted to UTC, so a week stays 7 local days across a DST change
    and equals the day-based index of the rollups.
    """
    if n_weeks <= 1:
        return case((column.is_not(None), 0), else_=0)  # not a bare 0: GROUP BY 0 means a column number
    edges = [_bounds(start + timedelta(days=7 * k), start + timedelta(days=7 * k))[0] for k in range(1, n_weeks)]
    return case(*[(column < b, k) for k, b in enumerate(edges)], else_=n_weeks - 1)


def _day_index_expr(session: Session, day_column, start: date, span: int):
    """``(day - start) // span`` on a date column (days since ``start``, in buckets of ``span``)."""
    if _dialect(session) == "sqlite":
        return cast((sa_func.julianday(day_column) - sa_func.julianday(start.isoformat())) / span, Integer)
    return sa_func.floor((day_column - cast(literal_column(f"'{start.isoformat()}'"), Date)) / span)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _ratio(num: float | None, den: float | None, scale: float = 100.0) -> float | None:
    if not den or num is None:
        return None
    return scale * float(num) / float(den)


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _as_int(flag) -> Any:
    """SUM-able 0/1 of a boolean column (PostgreSQL cannot SUM booleans)."""
    return case((flag == True, 1), else_=0)  # noqa: E712


def _light_conditions(model, actor: Actor, filters: Filters, lo: datetime, hi: datetime) -> list | None:
    """Conditions on a denormalised child table (verdicts, irritant hits) without joining Evaluation.

    Child rows carry the organisation, team, agent and time of their call; what they lack (current
    evaluation, restriction) is excluded through the small set of superseded or restricted evaluations
    of the period, which a covering index finds at once. None when a filter needs the join (campaign,
    category, grid, direction only live on Evaluation).
    """
    if filters.campaign or filters.category or filters.grid or filters.direction:
        return None
    e = Evaluation
    excluded = select(e.id).where(e.org_id == actor.org_id, e.started_at >= lo, e.started_at < hi,
                                  or_(e.is_current == False, e.restricted == True))  # noqa: E712
    conds = [model.org_id == actor.org_id, model.started_at >= lo, model.started_at < hi,
             col(model.evaluation_id).not_in(excluded)]
    if not actor.sees_all_teams:
        conds.append(col(model.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        conds.append(col(model.team_id).in_(filters.team_ids))
    if filters.agent_ids:
        conds.append(col(model.agent_id).in_(filters.agent_ids))
    return conds


def _scope_child(stmt, model, actor: Actor, filters: Filters, lo: datetime, hi: datetime):
    """Restrict a query on a child table to the actor's scope and the filters: without the join to
    Evaluation when the filters allow it (``_light_conditions``), through it otherwise."""
    light = _light_conditions(model, actor, filters, lo, hi)
    if light is not None:
        return stmt.where(*light)
    e = Evaluation
    return stmt.join(e, e.id == model.evaluation_id).where(
        model.org_id == actor.org_id, model.started_at >= lo, model.started_at < hi, *_where(actor, filters, lo, hi))


def _use_rollups(session: Session, actor: Actor, filters: Filters) -> bool:
    """True when the figures may come from the rollups (only period and teams filtered), once refreshed.

    Rollups hold the same sums as the live queries, per local day and team (and agent, week...), so
    the answer is identical; any call-level filter (agent, campaign, category, grid, direction) reads
    the base tables.
    """
    if filters.has_call_level_filters or not get_settings().dashboard_rollups:
        return False
    try:
        refresh_rollups(session=session, org_id=actor.org_id)
    except OperationalError:
        # SQLite: a writer committed between this session's first read and the refresh's first write
        # (a stale snapshot cannot be upgraded); the refresh comes first in a read session: start over.
        session.rollback()
        refresh_rollups(session=session, org_id=actor.org_id)
    return True


def _rollup_scope(model, actor: Actor, filters: Filters) -> list:
    """The organisation and team conditions of the actor's scope and the filters, on a rollup table."""
    conds = [model.org_id == actor.org_id]
    if not actor.sees_all_teams:
        conds.append(col(model.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        conds.append(col(model.team_id).in_(filters.team_ids))
    return conds


def _in_days(model, start: date, end: date) -> list:
    return [model.day >= start, model.day <= end]


# --- labels ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labels:
    """French display names of what the figures refer to (teams, agents, criteria...)."""

    teams: dict[int, str] = field(default_factory=dict)
    agents: dict[int, str] = field(default_factory=dict)
    agent_team: dict[int, int | None] = field(default_factory=dict)
    criteria: dict[str, str] = field(default_factory=dict)  # in grid order
    categories: dict[str, str] = field(default_factory=dict)
    irritants: dict[str, str] = field(default_factory=dict)
    grids: dict[str, str] = field(default_factory=dict)
    pass_threshold: float = 70.0


def labels(*, session: Session, actor: Actor) -> Labels:
    """Names of the teams and agents the actor may see, and of the organisation's criteria and taxonomy."""
    team_stmt = select(Team.id, Team.name).where(Team.org_id == actor.org_id)
    agent_stmt = select(Agent.id, Agent.name, Agent.team_id).where(Agent.org_id == actor.org_id)
    if not actor.sees_all_teams:
        visible = sorted(actor.team_ids) or [-1]
        team_stmt = team_stmt.where(col(Team.id).in_(visible))
        agent_stmt = agent_stmt.where(col(Agent.team_id).in_(visible))
    teams = {tid: name for tid, name in session.exec(team_stmt.order_by(Team.name)).all()}
    agents, agent_team = {}, {}
    for aid, name, tid in session.exec(agent_stmt.order_by(Agent.name)).all():
        agents[aid] = name
        agent_team[aid] = tid
    criteria: dict[str, str] = {}
    grids: dict[str, str] = {}
    parsed = []
    for row in session.exec(select(Grid).where(Grid.org_id == actor.org_id)
                            .order_by(col(Grid.is_active).desc(), col(Grid.version).desc())).all():
        g = _parse_grid(row.definition_json)
        if g is not None:
            parsed.append((row.slug, row.name, g))
    if not parsed:
        g = _parse_grid(None)
        parsed = [(g.id, g.name, g)]
    for slug, name, g in parsed:
        grids.setdefault(slug, name)
        for c in g.criteria:
            criteria.setdefault(c.id, c.label)
    tax_row = session.exec(select(Taxonomy.definition_json)
                           .where(Taxonomy.org_id == actor.org_id, Taxonomy.is_active == True)  # noqa: E712
                           .order_by(col(Taxonomy.version).desc())).first()
    tax = _parse_taxonomy(tax_row) or _parse_taxonomy(None)
    return Labels(
        teams=teams, agents=agents, agent_team=agent_team, criteria=criteria,
        categories={c.id: c.label for c in tax.categories},
        irritants={i.id: i.label for i in tax.irritants},
        grids=grids, pass_threshold=float(parsed[0][2].pass_threshold),
    )


def campaigns(*, session: Session, actor: Actor) -> list[str]:
    """Distinct campaigns of the organisation, found by skipping along the campaign index."""
    # A loose index scan: one index seek per distinct value instead of reading a million rows.
    stmt = text(
        "WITH RECURSIVE c(v) AS ("
        " SELECT (SELECT min(campaign) FROM evaluation WHERE org_id = :org AND campaign IS NOT NULL)"
        " UNION ALL"
        " SELECT (SELECT min(campaign) FROM evaluation WHERE org_id = :org AND campaign > c.v)"
        " FROM c WHERE c.v IS NOT NULL)"
        " SELECT v FROM c WHERE v IS NOT NULL"
    ).bindparams(org=actor.org_id)
    return [row[0] for row in session.execute(stmt).all()][:500]


# --- KPI tiles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One KPI: its value on the period, on the previous period of equal length, and the change."""

    key: str
    label: str
    value: float | None
    previous: float | None
    unit: str  # "" (count), "%", "pts" (score out of 100), "s"
    higher_is_better: bool | None
    help: str = ""

    @property
    def delta(self) -> float | None:
        """value - previous, when both exist."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


TILE_SPECS = (
    ("calls", "Appels analysés", "", None, "Appels évalués sur la période (hors appels restreints)."),
    ("avg_score", "Score moyen", "pts", True, "Moyenne des scores retenus (validés par un humain s'il y a lieu)."),
    ("pass_rate", "Taux de conformité", "%", True, "Part des appels au-dessus du seuil de la grille."),
    ("critical_rate", "Échecs critiques", "%", False, "Part des appels avec un critère éliminatoire en échec."),
    ("aht", "Durée moyenne", "s", None, "Durée moyenne de traitement d'un appel."),
    ("silence_ratio", "Part de silence", "%", False, "Silences cumulés rapportés à la durée des appels."),
    ("validated_share", "Validés par un humain", "%", True, "Part des évaluations revues par un superviseur."),
    ("irritant_calls", "Appels avec irritant", "", False, "Appels où le client exprime au moins un irritant."),
)


def _tile_values(row) -> dict[str, float | None]:
    n = int(row.calls or 0) if row is not None else 0
    if n == 0:
        return {k: (0.0 if k in ("calls", "irritant_calls") else None) for k, *_ in TILE_SPECS}
    return {
        "calls": float(n),
        "avg_score": float(row.score_sum) / n,
        "pass_rate": 100.0 * float(row.passed) / n,
        "critical_rate": 100.0 * float(row.critical) / n,
        "aht": float(row.duration_sum) / row.duration_n if row.duration_n else None,
        "silence_ratio": _ratio(row.silence_sum, row.silence_duration_sum),
        "validated_share": 100.0 * float(row.validated) / n,
        "irritant_calls": float(row.with_irritant),
    }


def _tile_row(session: Session, actor: Actor, filters: Filters, rollups: bool = False):
    if rollups:
        t = RollupTeamDay
        return session.exec(select(
            func.sum(t.calls).label("calls"), func.sum(t.score_sum).label("score_sum"),
            func.sum(t.passed).label("passed"), func.sum(t.critical).label("critical"),
            func.sum(t.duration_sum).label("duration_sum"), func.sum(t.duration_n).label("duration_n"),
            func.sum(t.silence_sum).label("silence_sum"),
            func.sum(t.silence_duration_sum).label("silence_duration_sum"),
            func.sum(t.validated).label("validated"), func.sum(t.with_irritant).label("with_irritant"),
        ).where(*_rollup_scope(t, actor, filters), *_in_days(t, filters.start, filters.end))).one()
    e = Evaluation
    has_silence = and_(col(e.silence_s).is_not(None), col(e.duration_s).is_not(None))
    stmt = select(
        func.count().label("calls"),
        func.sum(e.final_score).label("score_sum"),
        func.sum(_as_int(e.final_passed)).label("passed"),
        func.sum(_as_int(e.final_critical_failed)).label("critical"),
        func.sum(e.duration_s).label("duration_sum"),
        func.count(e.duration_s).label("duration_n"),
        func.sum(case((has_silence, e.silence_s), else_=None)).label("silence_sum"),
        func.sum(case((has_silence, e.duration_s), else_=None)).label("silence_duration_sum"),
        func.sum(_as_int(e.validated)).label("validated"),
        func.sum(case((e.irritant_count > 0, 1), else_=0)).label("with_irritant"),
    ).where(*_where(actor, filters))
    return session.exec(stmt).one()


def kpi_tiles(*, session: Session, actor: Actor, filters: Filters) -> list[Tile]:
    """The 8 KPI tiles of the period, each with the previous period of equal length."""
    # Two plain aggregates rather than one GROUP BY on the period: no sort, each a single index range.
    rollups = _use_rollups(session, actor, filters)
    cur = _tile_values(_tile_row(session, actor, filters, rollups))
    old = _tile_values(_tile_row(session, actor, filters.previous(), rollups))
    return [Tile(key=k, label=label, value=cur[k], previous=old[k], unit=unit, higher_is_better=better, help=h)
            for k, label, unit, better, h in TILE_SPECS]


# --- trend (with the anonymised history) --------------------------------------------------------


def trend_granularity(filters: Filters, granularity: str = "auto") -> str:
    """'day' or 'week': the requested one, or days up to two months and weeks beyond."""
    if granularity in ("day", "week"):
        return granularity
    return "day" if filters.days <= DAILY_TREND_MAX_DAYS else "week"


def detail_boundary(*, session: Session, actor: Actor) -> date | None:
    """First day with detailed (per-call) data in the organisation: before it only history remains."""
    e = Evaluation
    first = session.exec(select(func.min(e.started_at)).where(e.org_id == actor.org_id,
                                                              e.is_current == True)).first()  # noqa: E712
    return _as_date(first) if first else None


def _history_rows(session: Session, actor: Actor, filters: Filters) -> list[DailyStat]:
    """DailyStat rows of the period within the actor's scope and team filter."""
    if filters.has_call_level_filters:
        return []  # agent, campaign, category... do not exist in the anonymised history
    d = DailyStat
    stmt = select(d).where(d.org_id == actor.org_id, d.day >= filters.start, d.day <= filters.end)
    if not actor.sees_all_teams:
        # The organisation-level rows (team_id None) mix teams: never shown to a team lead.
        stmt = stmt.where(col(d.team_id).in_(sorted(actor.team_ids) or [-1]))
    if filters.team_ids:
        stmt = stmt.where(col(d.team_id).in_(filters.team_ids))
    return list(session.exec(stmt).all())


def score_trend(*, session: Session, actor: Actor, filters: Filters, granularity: str = "auto") -> dict[str, Any]:
    """Average score and pass rate per day or week: live evaluations plus the anonymised history.

    The retention job folds an evaluation into ``DailyStat`` in the same transaction that deletes it
    (see :mod:`ccr.privacy.retention`), so live and folded figures never overlap and are simply added.
    Returns ``{granularity, points: [{period, calls, avg_score, pass_rate, source, history_calls}],
    detail_boundary, pass_threshold}``; ``source`` is "history" for a period with folded figures only,
    and ``detail_boundary`` the first day with detailed data when history is drawn (else None).
    """
    e, t = Evaluation, RollupTeamDay
    gran = trend_granularity(filters, granularity)
    if _use_rollups(session, actor, filters):
        # Grouped in the index's (local day, UTC day) order, no sort; the loop below adds up UTC days.
        stmt = (select(t.utc_day.label("day"), func.sum(t.calls).label("n"), func.sum(t.score_sum).label("s"),
                       func.sum(t.passed).label("p"))
                .where(*_rollup_scope(t, actor, filters), *_in_days(t, filters.start, filters.end))
                .group_by(t.day, t.utc_day))
    else:
        day = _day_expr(session, e.started_at).label("day")
        stmt = (select(day, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(_as_int(e.final_passed)).label("p"))
                .where(*_where(actor, filters)).group_by(day))
    # period -> [calls, score sum, passed, calls from history]
    buckets: dict[date, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])

    def key(d: date) -> date:
        return _week_start(d) if gran == "week" else d

    for r in session.exec(stmt).all():
        acc = buckets[key(_as_date(r.day))]
        acc[0] += int(r.n)
        acc[1] += float(r.s or 0)
        acc[2] += int(r.p or 0)
    for h in _history_rows(session, actor, filters):
        acc = buckets[key(h.day)]
        acc[0] += h.calls
        acc[1] += h.score_sum
        acc[2] += h.passed
        acc[3] += h.calls
    points = [
        {"period": period, "calls": int(n), "avg_score": s / n, "pass_rate": 100.0 * p / n,
         "source": "history" if hist == n else "detail", "history_calls": int(hist)}
        for period, (n, s, p, hist) in sorted(buckets.items())
        if n
    ]
    boundary = None
    if any(p["history_calls"] for p in points):
        boundary = detail_boundary(session=session, actor=actor)
    return {"granularity": gran, "points": points, "detail_boundary": boundary,
            "pass_threshold": labels_threshold(session=session, actor=actor)}


def labels_threshold(*, session: Session, actor: Actor) -> float:
    """Pass threshold of the organisation's active grid (the built-in grid's when none is stored)."""
    row = session.exec(select(Grid.definition_json).where(Grid.org_id == actor.org_id)
                       .order_by(col(Grid.is_active).desc(), col(Grid.version).desc())).first()
    g = _parse_grid(row) or _parse_grid(None)
    return float(g.pass_threshold)


@lru_cache(maxsize=64)
def _parse_grid(definition: str | None):
    """A stored grid, parsed once per distinct text (None: the built-in grid); None when unreadable."""
    from ccr.scoring.grid import default_grid, load_grid_yaml

    if definition is None:
        return default_grid()
    try:
        return load_grid_yaml(definition)
    except CcrError:
        return None  # a broken stored grid must not break the dashboard


@lru_cache(maxsize=16)
def _parse_taxonomy(definition: str | None):
    """A stored taxonomy, parsed once per distinct text (None: the built-in one); None when unreadable."""
    from ccr.scoring.grid import default_taxonomy, load_taxonomy_yaml

    if definition is None:
        return default_taxonomy()
    try:
        return load_taxonomy_yaml(definition)
    except CcrError:
        return None


# --- distribution, ranking, talk/listen ----------------------------------------------------------


def score_distribution(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Histogram of final scores in buckets of 10 points (100 falls in the last one): [{start, end, calls}]."""
    e, t = Evaluation, RollupTeamDay
    nb = 100 // DISTRIBUTION_BUCKET
    if _use_rollups(session, actor, filters):
        sums = session.exec(select(*[func.sum(getattr(t, f"b{i}")) for i in range(nb)])
                            .where(*_rollup_scope(t, actor, filters), *_in_days(t, filters.start, filters.end))).one()
        return [{"start": i * DISTRIBUTION_BUCKET, "end": (i + 1) * DISTRIBUTION_BUCKET, "calls": int(sums[i] or 0)}
                for i in range(nb)]
    bucket = case((e.final_score >= 100, nb - 1),
                  else_=cast(sa_func.floor(e.final_score / DISTRIBUTION_BUCKET), Integer)).label("b")
    stmt = select(bucket, func.count().label("n")).where(*_where(actor, filters)).group_by(bucket)
    counts = {int(b): int(n) for b, n in session.exec(stmt).all() if b is not None}
    return [{"start": i * DISTRIBUTION_BUCKET, "end": (i + 1) * DISTRIBUTION_BUCKET, "calls": counts.get(i, 0)}
            for i in range(nb)]


def agent_ranking(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Per agent: calls, average score, pass rate, critical rate, a weekly score sparkline, best first.

    The sparkline covers the last ``SPARKLINE_WEEKS`` weeks of the period (its own, smaller scan).
    Each row also carries the talk-time sums (``talk``) so the page derives the talk/listen chart
    from the same scan (:func:`talk_listen_from_ranking`).
    """
    e, a = Evaluation, RollupAgent
    window = _replace(filters, start=max(filters.start, filters.end - timedelta(days=7 * SPARKLINE_WEEKS - 1)))
    n_points = -(-window.days // 7)
    if _use_rollups(session, actor, filters):
        r = period_rows(a, _rollup_scope(a, actor, filters), filters.start, filters.end).c
        stmt = (select(r.agent_id, func.sum(r.calls).label("n"), func.sum(r.score_sum).label("s"),
                       func.sum(r.passed).label("p"), func.sum(r.critical).label("c"),
                       func.sum(r.talk_duration).label("td"), func.sum(r.agent_talk).label("ta"),
                       func.sum(r.customer_talk).label("tc"), func.sum(r.talk_silence).label("ts"))
                .group_by(r.agent_id))
        week = _day_index_expr(session, a.day, window.start, 7).label("w")
        spark_stmt = (select(a.agent_id, week, func.sum(a.score_sum).label("s"), func.sum(a.calls).label("n"))
                      .where(*_rollup_scope(a, actor, window), a.span == "d",
                             *_in_days(a, window.start, window.end))
                      .group_by(a.agent_id, week))
    else:
        known = col(e.agent_talk_s).is_not(None)
        stmt = (select(e.agent_id, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(_as_int(e.final_passed)).label("p"),
                       func.sum(_as_int(e.final_critical_failed)).label("c"),
                       func.sum(case((known, e.duration_s), else_=None)).label("td"),
                       func.sum(e.agent_talk_s).label("ta"), func.sum(e.customer_talk_s).label("tc"),
                       func.sum(case((known, e.silence_s), else_=None)).label("ts"))
                .where(*_where(actor, filters)).group_by(e.agent_id))
        lo, hi = _bounds(window.start, window.end)
        week = _local_week_expr(e.started_at, window.start, n_points).label("w")
        spark_stmt = (select(e.agent_id, week, func.sum(e.final_score).label("s"), func.count().label("n"))
                      .where(*_where(actor, window, lo, hi)).group_by(e.agent_id, week))
    totals = session.exec(stmt).all()
    spark: dict[int | None, dict[int, float]] = defaultdict(dict)
    for r in session.exec(spark_stmt).all():
        spark[r.agent_id][int(r.w)] = float(r.s) / int(r.n)
    names = _agent_names(session, actor, [r.agent_id for r in totals if r.agent_id is not None])
    out = []
    for r in totals:
        n = int(r.n)
        name, team_id, team = names.get(r.agent_id, ("Sans agent", None, ""))
        out.append({
            "agent_id": r.agent_id, "agent": name, "team_id": team_id, "team": team, "calls": n,
            "avg_score": float(r.s or 0) / n, "pass_rate": 100.0 * int(r.p or 0) / n,
            "critical_rate": 100.0 * int(r.c or 0) / n,
            "trend": [spark[r.agent_id].get(i) for i in range(n_points)],
            "talk": {"duration": float(r.td or 0), "agent": float(r.ta or 0), "customer": float(r.tc or 0),
                     "silence": float(r.ts or 0)},
        })
    out.sort(key=lambda r: (-r["avg_score"], r["agent"]))
    return out


def _agent_names(session: Session, actor: Actor, agent_ids: list[int]) -> dict[int, tuple[str, int | None, str]]:
    if not agent_ids:
        return {}
    stmt = (select(Agent.id, Agent.name, Agent.team_id, Team.name)
            .join(Team, Team.id == Agent.team_id, isouter=True)
            .where(Agent.org_id == actor.org_id, col(Agent.id).in_(agent_ids)))
    return {aid: (name, tid, tname or "") for aid, name, tid, tname in session.exec(stmt).all()}


def talk_listen_from_ranking(ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent: share of the call time where the agent talks, the customer talks, and nobody does."""
    out = []
    for r in ranking:
        t = r["talk"]
        if not t["duration"]:
            continue
        out.append({"agent_id": r["agent_id"], "agent": r["agent"], "calls": r["calls"],
                    "agent_talk_ratio": _ratio(t["agent"], t["duration"]),
                    "customer_talk_ratio": _ratio(t["customer"], t["duration"]),
                    "silence_ratio": _ratio(t["silence"], t["duration"])})
    out.sort(key=lambda r: (-(r["agent_talk_ratio"] or 0), r["agent"]))
    return out


def talk_listen_by_agent(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Per agent: talk/listen/silence shares (see :func:`talk_listen_from_ranking`, which saves a scan)."""
    return talk_listen_from_ranking(agent_ranking(session=session, actor=actor, filters=filters))


# --- criteria heatmap -----------------------------------------------------------------------------


def criterion_agent_heatmap(*, session: Session, actor: Actor, filters: Filters,
                            agent_ids: list[int] | None = None) -> dict[str, Any]:
    """Pass rate per (criterion, agent) on applicable verdicts (``na`` excluded).

    ``agent_ids`` narrows the query to the agents drawn (the weakest of the ranking); the answer is
    ``{criteria: [[id, label]], agents: [[id, name]], cells: [{agent_id, criterion_id, passed,
    applicable, pass_rate}]}``.
    """
    sums: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0])
    if _use_rollups(session, actor, filters):
        # Whole weeks from the weekly rollup; the few edge days around them from the verdicts.
        weeks, edges = split_period(filters.start, filters.end)
        if weeks is not None:
            w = RollupCriterionWeek
            stmt = (select(w.agent_id, w.criterion_id, func.sum(w.passed), func.sum(w.applicable))
                    .where(*_rollup_scope(w, actor, filters), w.day >= weeks[0], w.day <= weeks[1]))
            if agent_ids is not None:
                stmt = stmt.where(col(w.agent_id).in_(list(agent_ids) or [-1]))
            for agent, crit, p, n in session.exec(stmt.group_by(w.agent_id, w.criterion_id)).all():
                sums[(agent, crit)][0] += int(p or 0)
                sums[(agent, crit)][1] += int(n or 0)
        periods = [_replace(filters, start=a, end=b) for a, b in edges]
    else:
        periods = [filters]
    for f in periods:
        for agent, crit, p, n in _heatmap_rows(session, actor, f, agent_ids):
            sums[(agent, crit)][0] += int(p or 0)
            sums[(agent, crit)][1] += int(n or 0)
    cells = []
    for (agent, crit), (p, a) in sorted(sums.items(), key=lambda kv: (kv[0][0] is not None, kv[0][0] or 0,
                                                                       kv[0][1])):
        if a == 0:
            continue  # a criterion never applicable to this agent is not a weakness
        cells.append({"agent_id": agent, "criterion_id": crit, "passed": p, "applicable": a,
                      "pass_rate": 100.0 * p / a})
    lab = labels(session=session, actor=actor)
    seen_crit = {c["criterion_id"] for c in cells}
    criteria = [[cid, label] for cid, label in lab.criteria.items() if cid in seen_crit]
    criteria += [[cid, cid] for cid in sorted(seen_crit - set(lab.criteria))]
    agent_rate: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for c in cells:
        agent_rate[c["agent_id"]][0] += c["passed"]
        agent_rate[c["agent_id"]][1] += c["applicable"]
    order = sorted(agent_rate, key=lambda a: (agent_rate[a][0] / agent_rate[a][1], lab.agents.get(a, "")))
    agents = [[a, lab.agents.get(a, "Sans agent")] for a in order]
    return {"criteria": criteria, "agents": agents, "cells": cells}


def _heatmap_rows(session: Session, actor: Actor, filters: Filters, agent_ids: list[int] | None) -> list:
    """(agent_id, criterion_id, passed, applicable) of the period's verdicts, from the base tables."""
    cr = CriterionResult
    lo, hi = _bounds(filters.start, filters.end)
    applicable = case((cr.final_verdict != "na", 1), else_=0)
    passed = case((cr.final_verdict == "pass", 1), else_=0)
    stmt = select(cr.agent_id, cr.criterion_id, func.sum(passed).label("p"), func.sum(applicable).label("a"))
    stmt = _scope_child(stmt, cr, actor, filters, lo, hi)
    if agent_ids is not None:
        # An explicit agent list lets the (org, agent, time) index range over each agent in turn.
        stmt = stmt.where(col(cr.agent_id).in_(list(agent_ids) or [-1]))
    return list(session.exec(stmt.group_by(cr.agent_id, cr.criterion_id)).all())


def weakest_criteria(*, session: Session, actor: Actor, filters: Filters, min_applicable: int = 3,
                     per_agent: int = 3) -> dict[int | None, list[dict[str, Any]]]:
    """Coaching priorities: for each agent, the criteria with the lowest pass rates (enough verdicts only)."""
    heat = criterion_agent_heatmap(session=session, actor=actor, filters=filters)
    names = dict((cid, label) for cid, label in heat["criteria"])
    out: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(heat["cells"], key=lambda c: (c["pass_rate"], -c["applicable"])):
        if c["applicable"] >= min_applicable and c["pass_rate"] < 100.0 and len(out[c["agent_id"]]) < per_agent:
            out[c["agent_id"]].append({**c, "label": names.get(c["criterion_id"], c["criterion_id"])})
    return dict(out)


# --- irritants and categories -------------------------------------------------------------------


def irritants_over_time(*, session: Session, actor: Actor, filters: Filters, top: int = TOP_IRRITANTS,
                        granularity: str = "auto") -> dict[str, Any]:
    """Calls per irritant and per day or week (anonymised history included), for the ``top`` most frequent.

    Returns ``{granularity, irritants: [[id, label, calls]], points: [{period, irritant, calls}]}``.
    """
    ih, ri = IrritantHit, RollupIrritantDay
    gran = trend_granularity(filters, granularity)
    lo, hi = _bounds(filters.start, filters.end)
    if _use_rollups(session, actor, filters):
        # Grouped in the index's order, no sort; the loop below adds up per label and UTC day.
        stmt = (select(ri.label, ri.utc_day.label("day"), func.sum(ri.calls).label("n"))
                .where(*_rollup_scope(ri, actor, filters), *_in_days(ri, filters.start, filters.end))
                .group_by(ri.day, ri.utc_day, ri.label))
    else:
        day = _day_expr(session, ih.started_at).label("day")
        stmt = select(ih.label, day, func.count(sa_func.distinct(ih.evaluation_id)).label("n"))
        stmt = _scope_child(stmt, ih, actor, filters, lo, hi).group_by(ih.label, day)
    per: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for r in session.exec(stmt).all():
        d = _as_date(r.day)
        per[r.label][_week_start(d) if gran == "week" else d] += int(r.n)
        totals[r.label] += int(r.n)
    for h in _history_rows(session, actor, filters):
        for label, n in json.loads(h.irritants_json or "{}").items():
            per[label][_week_start(h.day) if gran == "week" else h.day] += int(n)
            totals[label] += int(n)
    names = labels(session=session, actor=actor).irritants
    kept = sorted(totals, key=lambda k: (-totals[k], k))[:top]
    return {
        "granularity": gran,
        "irritants": [[k, names.get(k, k), totals[k]] for k in kept],
        "points": [{"period": d, "irritant": k, "calls": n} for k in kept for d, n in sorted(per[k].items())],
    }


def category_breakdown(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Calls, share, average score and pass rate per call category, most frequent first."""
    e, c = Evaluation, RollupCategory
    if _use_rollups(session, actor, filters):
        r = period_rows(c, _rollup_scope(c, actor, filters), filters.start, filters.end).c
        stmt = (select(r.category, func.sum(r.calls).label("n"), func.sum(r.score_sum).label("s"),
                       func.sum(r.passed).label("p"))
                .group_by(r.category))
    else:
        stmt = (select(e.category, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(_as_int(e.final_passed)).label("p"))
                .where(*_where(actor, filters)).group_by(e.category))
    rows = session.exec(stmt).all()
    total = sum(int(r.n) for r in rows)
    names = labels(session=session, actor=actor).categories
    out = [{"category": r.category, "label": names.get(r.category, r.category or "Non classé"),
            "calls": int(r.n), "share": 100.0 * int(r.n) / total, "avg_score": float(r.s or 0) / int(r.n),
            "pass_rate": 100.0 * int(r.p or 0) / int(r.n)} for r in rows]
    out.sort(key=lambda r: (-r["calls"], r["label"]))
    return out


# --- calls list -----------------------------------------------------------------------------------


def fts_query(text_in: str) -> str:
    """An FTS5 MATCH expression of the user's words, each quoted (no operator or syntax gets through)."""
    words = _WORD_RE.findall(text_in or "")[:FTS_MAX_TERMS]
    return " ".join(f'"{w}"' for w in words)


def _dense_search(session: Session, search: str) -> bool:
    """True when a (SQLite) search matches so many transcripts that walking the list's date index wins."""
    if _dialect(session) != "sqlite" or not fts_query(search):
        return False
    hits = session.exec(text("SELECT count(*) FROM (SELECT rowid FROM transcript_fts WHERE transcript_fts "
                             "MATCH :q LIMIT :cap)").bindparams(q=fts_query(search), cap=DENSE_SEARCH_HITS)).one()
    return int(hits[0]) >= DENSE_SEARCH_HITS


def _search_condition(session: Session, actor: Actor, search: str, *, dense: bool = False):
    t = Transcript
    if _dialect(session) == "sqlite":
        q = fts_query(search)
        if not q:
            return None
        if dense:
            # Checked row by row while walking the evaluations in date order: the first page of a
            # common word is found after a few hundred rows instead of materialising every match.
            return text("EXISTS (SELECT 1 FROM transcript t JOIN transcript_fts f ON f.rowid = t.id "
                        "WHERE t.call_id = evaluation.call_id AND t.org_id = :fts_org "
                        "AND transcript_fts MATCH :fts_dq)").bindparams(fts_org=actor.org_id, fts_dq=q)
        fts = table("transcript_fts")
        matching = (select(literal_column("rowid")).select_from(fts)
                    .where(text("transcript_fts MATCH :fts_q").bindparams(fts_q=q)))
        sub = select(t.call_id).where(t.org_id == actor.org_id, col(t.id).in_(matching))
    else:
        words = _WORD_RE.findall(search or "")[:FTS_MAX_TERMS]
        if not words:
            return None
        # The regconfig is inlined so the expression matches the GIN index of migration 0002; the
        # words alone are passed (every one required, no operator), as on SQLite.
        tsv = sa_func.to_tsvector(literal_column(f"'{PG_TS_CONFIG}'"), t.text)
        tsq = sa_func.plainto_tsquery(literal_column(f"'{PG_TS_CONFIG}'"), " ".join(words))
        sub = select(t.call_id).where(t.org_id == actor.org_id, tsv.op("@@")(tsq))
    return col(Evaluation.call_id).in_(sub)


def _to_review_condition(threshold: float, margin: float):
    e = Evaluation
    return and_(e.validated == False,  # noqa: E712
                or_(e.unverified == True, e.needs_review == True, e.ai_critical_failed == True,  # noqa: E712
                    e.ai_passed == False,  # noqa: E712
                    and_(e.final_score >= threshold - margin, e.final_score < threshold + margin)))


def _calls_conditions(session: Session, actor: Actor, filters: Filters, *, score_min: float | None,
                      score_max: float | None, status: str | None, irritant: str | None, to_review: bool,
                      search: str, failed_criterion: str | None, threshold: float, margin: float,
                      dense_search: bool = False) -> list:
    e = Evaluation
    conds = _where(actor, filters)
    if score_min is not None:
        conds.append(e.final_score >= score_min)
    if score_max is not None:
        conds.append(e.final_score <= score_max)
    if status == "valide":
        conds.append(e.validated == True)  # noqa: E712
    elif status == "a_valider":
        conds.append(e.validated == False)  # noqa: E712
    elif status == "conforme":
        conds.append(e.final_passed == True)  # noqa: E712
    elif status == "non_conforme":
        conds.append(e.final_passed == False)  # noqa: E712
    elif status == "critique":
        conds.append(e.final_critical_failed == True)  # noqa: E712
    if irritant:
        ih = IrritantHit
        conds.append(exists(select(ih.id).where(ih.evaluation_id == e.id, ih.label == irritant)))
    if failed_criterion:
        cr = CriterionResult
        conds.append(exists(select(cr.id).where(cr.evaluation_id == e.id, cr.criterion_id == failed_criterion,
                                                cr.final_verdict == "fail")))
    if to_review:
        conds.append(_to_review_condition(threshold, margin))
    if search and search.strip():
        cond = _search_condition(session, actor, search, dense=dense_search)
        if cond is not None:
            conds.append(cond)
    return conds


def _fetch_calls(session: Session, actor: Actor, conds: list, sort: str, offset: int, limit: int,
                 threshold: float, margin: float) -> list[dict[str, Any]]:
    e = Evaluation
    order = {
        "recent": [col(e.started_at).desc(), col(e.id).desc()],
        "ancien": [col(e.started_at).asc(), col(e.id).asc()],
        "score_asc": [col(e.final_score).asc(), col(e.started_at).desc()],
        "score_desc": [col(e.final_score).desc(), col(e.started_at).desc()],
        "duree_desc": [col(e.duration_s).desc(), col(e.started_at).desc()],
    }.get(sort, [col(e.started_at).desc(), col(e.id).desc()])
    stmt = (select(e.call_id, e.started_at, e.agent_id, e.team_id, e.campaign, e.direction, e.category,
                   e.duration_s, e.final_score, e.final_passed, e.final_critical_failed, e.validated,
                   e.irritant_count, e.unverified, e.needs_review, e.ai_critical_failed, e.ai_passed)
            .where(*conds).order_by(*order).offset(offset).limit(limit))
    rows = session.exec(stmt).all()
    lab = labels(session=session, actor=actor)
    out = []
    for r in rows:
        near = threshold - margin <= r.final_score < threshold + margin
        out.append({
            "call_id": r.call_id, "started_at": r.started_at,
            "agent": lab.agents.get(r.agent_id, "Sans agent") if r.agent_id else "Sans agent",
            "team": lab.teams.get(r.team_id, "") if r.team_id else "",
            "campaign": r.campaign or "", "direction": DIRECTIONS.get(r.direction or "", r.direction or ""),
            "category": lab.categories.get(r.category, r.category or ""),
            "duration_s": r.duration_s, "score": r.final_score, "passed": bool(r.final_passed),
            "critical_failed": bool(r.final_critical_failed), "validated": bool(r.validated),
            "irritants": int(r.irritant_count or 0),
            "to_review": (not r.validated) and bool(r.unverified or r.needs_review or r.ai_critical_failed
                                                    or not r.ai_passed or near),
        })
    return out


def list_calls(*, session: Session, actor: Actor, filters: Filters, score_min: float | None = None,
               score_max: float | None = None, status: str | None = None, irritant: str | None = None,
               to_review: bool = False, search: str = "", sort: str = DEFAULT_SORT, page: int = 1,
               page_size: int = 50, failed_criterion: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of the evaluated calls the actor may see, and the total count, both computed in SQL.

    With a full-text search the count stops at ``SEARCH_COUNT_CAP + 1`` (shown as "plus de …").
    """
    page_size = max(1, min(int(page_size), PAGE_SIZE_MAX))
    page = max(1, int(page))
    threshold = labels_threshold(session=session, actor=actor)
    margin = get_settings().review_margin
    conds = _calls_conditions(session, actor, filters, score_min=score_min, score_max=score_max, status=status,
                              irritant=irritant, to_review=to_review, search=search,
                              failed_criterion=failed_criterion, threshold=threshold, margin=margin)
    if search and search.strip():
        # A common word can match a large share of all calls: count up to a cap, like a search engine.
        capped = select(Evaluation.id).where(*conds).limit(SEARCH_COUNT_CAP + 1).subquery()
        total = int(session.exec(select(func.count()).select_from(capped)).one())
    else:
        total = int(session.exec(select(func.count()).select_from(Evaluation).where(*conds)).one())
    if search and search.strip() and sort in DATE_SORTS and _dense_search(session, search):
        conds = _calls_conditions(session, actor, filters, score_min=score_min, score_max=score_max,
                                  status=status, irritant=irritant, to_review=to_review, search=search,
                                  failed_criterion=failed_criterion, threshold=threshold, margin=margin,
                                  dense_search=True)
    rows = _fetch_calls(session, actor, conds, sort, (page - 1) * page_size, page_size, threshold, margin)
    return rows, total


def export_calls(*, session: Session, actor: Actor, filters: Filters, query: CallQuery,
                 limit: int = EXPORT_MAX_ROWS) -> list[dict[str, Any]]:
    """Every call of the current view (up to ``limit``), in the list's order, for a CSV/Excel download."""
    threshold = labels_threshold(session=session, actor=actor)
    margin = get_settings().review_margin
    conds = _calls_conditions(session, actor, filters, score_min=query.score_min, score_max=query.score_max,
                              status=query.status, irritant=query.irritant, to_review=query.to_review,
                              search=query.search, failed_criterion=query.failed_criterion,
                              threshold=threshold, margin=margin)
    return _fetch_calls(session, actor, conds, query.sort, 0, max(1, min(limit, EXPORT_MAX_ROWS)), threshold, margin)


def query_kwargs(query: CallQuery) -> dict[str, Any]:
    """The :func:`list_calls` keyword arguments of a :class:`CallQuery` (page excluded)."""
    return {"score_min": query.score_min, "score_max": query.score_max, "status": query.status,
            "irritant": query.irritant, "to_review": query.to_review, "search": query.search, "sort": query.sort,
            "failed_criterion": query.failed_criterion}
