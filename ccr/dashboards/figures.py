"""Dashboard figures: every aggregation runs in SQL on the denormalised, indexed dashboard columns.

Each figure counts the current, unrestricted evaluations of the actor's scope and filters
(:mod:`ccr.dashboards.scope`) with their ``final_*`` values (the human-validated score once a supervisor
has reviewed it), from the rollups when only the period and teams are filtered, from the base tables
otherwise: both give the same answer. Functions return small plain values (dicts, lists, dataclasses),
only what a chart draws, so the UI can cache them (``ccr/ui/dashboard_cache.py``).

Days are bucketed on the UTC date of ``started_at``: call-centre opening hours fall inside the same day
in Paris and in UTC, and a UTC day needs no per-row timezone arithmetic. Period bounds themselves are
computed in ``Settings.timezone``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case
from sqlalchemy import func as sa_func
from sqlmodel import Session, col, func, select

from ccr.core.formats import fr_percent
from ccr.core.models import DailyStat, Evaluation, IrritantHit, RollupCategory, RollupIrritantDay, RollupTeamDay
from ccr.core.users import Actor
from ccr.dashboards.buckets import SCORE_BUCKET, SCORE_BUCKETS, as_int, score_bucket, utc_day, week_start
from ccr.dashboards.filters import Filters
from ccr.dashboards.labels import labels, labels_threshold
from ccr.dashboards.rollups import period_rows
from ccr.dashboards.scope import bounds, in_days, rollup_scope, scope_child, use_rollups, where

DAILY_TREND_MAX_DAYS = 62  # beyond two months a daily trend is unreadable: switch to weeks
TOP_IRRITANTS = 6  # more lines than this on one chart become noise (and exhaust the palette)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def ratio(num: float | None, den: float | None, scale: float = 100.0) -> float | None:
    """``scale * num / den``, or None when either is missing (a share of nothing is no figure)."""
    if not den or num is None:
        return None
    return scale * float(num) / float(den)


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
        "silence_ratio": ratio(row.silence_sum, row.silence_duration_sum),
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
        ).where(*rollup_scope(t, actor, filters), *in_days(t, filters.start, filters.end))).one()
    e = Evaluation
    has_silence = and_(col(e.silence_s).is_not(None), col(e.duration_s).is_not(None))
    stmt = select(
        func.count().label("calls"),
        func.sum(e.final_score).label("score_sum"),
        func.sum(as_int(e.final_passed)).label("passed"),
        func.sum(as_int(e.final_critical_failed)).label("critical"),
        func.sum(e.duration_s).label("duration_sum"),
        func.count(e.duration_s).label("duration_n"),
        func.sum(case((has_silence, e.silence_s), else_=None)).label("silence_sum"),
        func.sum(case((has_silence, e.duration_s), else_=None)).label("silence_duration_sum"),
        func.sum(as_int(e.validated)).label("validated"),
        func.sum(case((e.irritant_count > 0, 1), else_=0)).label("with_irritant"),
    ).where(*where(actor, filters))
    return session.exec(stmt).one()


def kpi_tiles(*, session: Session, actor: Actor, filters: Filters) -> list[Tile]:
    """The 8 KPI tiles of the period, each with the previous period of equal length."""
    # Two plain aggregates rather than one GROUP BY on the period: no sort, each a single index range.
    rollups = use_rollups(session, actor, filters)
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
    if use_rollups(session, actor, filters):
        # Grouped in the index's (local day, UTC day) order, no sort; the loop below adds up UTC days.
        stmt = (select(t.utc_day.label("day"), func.sum(t.calls).label("n"), func.sum(t.score_sum).label("s"),
                       func.sum(t.passed).label("p"))
                .where(*rollup_scope(t, actor, filters), *in_days(t, filters.start, filters.end))
                .group_by(t.day, t.utc_day))
    else:
        day = utc_day(session, e.started_at).label("day")
        stmt = (select(day, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(as_int(e.final_passed)).label("p"))
                .where(*where(actor, filters)).group_by(day))
    # period -> [calls, score sum, passed, calls from history]
    buckets: dict[date, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])

    def key(d: date) -> date:
        return week_start(d) if gran == "week" else d

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


# --- distribution ----------------------------------------------------------------------------------


def score_distribution(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Histogram of final scores in buckets of 10 points (100 falls in the last one): [{start, end, calls}]."""
    e, t = Evaluation, RollupTeamDay
    nb = SCORE_BUCKETS
    if use_rollups(session, actor, filters):
        sums = session.exec(select(*[func.sum(getattr(t, f"b{i}")) for i in range(nb)])
                            .where(*rollup_scope(t, actor, filters), *in_days(t, filters.start, filters.end))).one()
        return [{"start": i * SCORE_BUCKET, "end": (i + 1) * SCORE_BUCKET, "calls": int(sums[i] or 0)}
                for i in range(nb)]
    bucket = score_bucket(e.final_score).label("b")
    stmt = select(bucket, func.count().label("n")).where(*where(actor, filters)).group_by(bucket)
    counts = {int(b): int(n) for b, n in session.exec(stmt).all() if b is not None}
    return [{"start": i * SCORE_BUCKET, "end": (i + 1) * SCORE_BUCKET, "calls": counts.get(i, 0)}
            for i in range(nb)]


# --- irritants and categories -------------------------------------------------------------------


def irritants_over_time(*, session: Session, actor: Actor, filters: Filters, top: int = TOP_IRRITANTS,
                        granularity: str = "auto") -> dict[str, Any]:
    """Calls per irritant and per day or week (anonymised history included), for the ``top`` most frequent.

    Returns ``{granularity, irritants: [[id, label, calls]], points: [{period, irritant, calls}]}``.
    """
    ih, ri = IrritantHit, RollupIrritantDay
    gran = trend_granularity(filters, granularity)
    lo, hi = bounds(filters.start, filters.end)
    if use_rollups(session, actor, filters):
        # Grouped in the index's order, no sort; the loop below adds up per label and UTC day.
        stmt = (select(ri.label, ri.utc_day.label("day"), func.sum(ri.calls).label("n"))
                .where(*rollup_scope(ri, actor, filters), *in_days(ri, filters.start, filters.end))
                .group_by(ri.day, ri.utc_day, ri.label))
    else:
        day = utc_day(session, ih.started_at).label("day")
        stmt = select(ih.label, day, func.count(sa_func.distinct(ih.evaluation_id)).label("n"))
        stmt = scope_child(stmt, ih, actor, filters, lo, hi).group_by(ih.label, day)
    per: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for r in session.exec(stmt).all():
        d = _as_date(r.day)
        per[r.label][week_start(d) if gran == "week" else d] += int(r.n)
        totals[r.label] += int(r.n)
    for h in _history_rows(session, actor, filters):
        for label, n in json.loads(h.irritants_json or "{}").items():
            per[label][week_start(h.day) if gran == "week" else h.day] += int(n)
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
    if use_rollups(session, actor, filters):
        r = period_rows(c, rollup_scope(c, actor, filters), filters.start, filters.end).c
        stmt = (select(r.category, func.sum(r.calls).label("n"), func.sum(r.score_sum).label("s"),
                       func.sum(r.passed).label("p"))
                .group_by(r.category))
    else:
        stmt = (select(e.category, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(as_int(e.final_passed)).label("p"))
                .where(*where(actor, filters)).group_by(e.category))
    rows = session.exec(stmt).all()
    total = sum(int(r.n) for r in rows)
    names = labels(session=session, actor=actor).categories
    out = [{"category": r.category, "label": names.get(r.category, r.category or "Non classé"),
            "calls": int(r.n), "share": 100.0 * int(r.n) / total, "avg_score": float(r.s or 0) / int(r.n),
            "pass_rate": 100.0 * int(r.p or 0) / int(r.n)} for r in rows]
    out.sort(key=lambda r: (-r["calls"], r["label"]))
    return out


@dataclass(frozen=True)
class Validation:
    """How many of a view's scores a human validated: the rest are the AI's alone."""

    total: int
    unvalidated: int
    by_agent: dict[int | None, int]  # unvalidated evaluations per agent

    @property
    def note(self) -> str | None:
        """The French mention a figure or export carries when AI-only scores are in it (None when none are)."""
        if not self.unvalidated:
            return None
        share = fr_percent(self.unvalidated / self.total, 0, ratio=True)
        return (f"Dont {self.unvalidated} évaluation(s) ({share}) qu'aucun humain n'a validée(s) : "
                "ce sont les scores de l'IA seule.")


def validation_counts(*, session: Session, actor: Actor, filters: Filters) -> Validation:
    """Evaluations of the view, and those no human validated, in all and per agent (one grouped query)."""
    e = Evaluation
    rows = session.exec(select(e.agent_id, func.count(), func.sum(as_int(e.validated)))
                        .where(*where(actor, filters)).group_by(e.agent_id)).all()
    by_agent = {agent: int(n) - int(ok or 0) for agent, n, ok in rows}
    return Validation(total=sum(int(n) for _, n, _ in rows), unvalidated=sum(by_agent.values()),
                      by_agent={k: v for k, v in by_agent.items() if v})
