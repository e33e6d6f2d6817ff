"""Dashboard rollups: pre-aggregated daily and weekly figures, recomputed for the days that changed.

Every write path that changes what a dashboard shows (a new evaluation, a review, a restriction, an
erasure, the purge, a rectified call) calls :func:`mark_dirty` with the instants of the calls it
touches, in its own transaction. A background refresher (:func:`refresh_pending`, run by the server's
refresher thread and by the worker after each call) recomputes only the dirty local days (and the
weeks containing them) from the base tables and clears their markers, in one transaction. A page run
never writes here: :func:`rollups_ready` tells a reader whether the rollups are exact right now (built
in the current timezone, no marker set), and a reader that finds a marker reads the base tables
instead. Rollups are therefore exact: a marker and its data change commit together, and no day whose
marker is still set is ever read. Deletions (erasure, purge) do not wait for the refresher:
:func:`settle_rollups` runs in their own transaction, so no per-agent figure outlives the evaluations it
was made of.

Agents' and categories' sums also have week and month rows, added up from their day rows, so a year is
read in 12 rows per agent; a period is read as whole months, whole weeks and edge days
(:func:`period_rows`). ``RollupState.layout`` says which of these rows exist: an organisation rolled up in
an older layout gets the missing rows from its day rows, without reading the base tables again.

Days are local calendar days (``Settings.timezone``), as the dashboard's periods are; a change of
timezone (or an organisation never rolled up, e.g. after the upgrade that adds these tables)
rebuilds the organisation's rollups from scratch, in batches of days so the database is never held
for long. Only current, unrestricted evaluations count,
with their final (human-validated) values, exactly as in :mod:`ccr.dashboards.figures`' live queries;
days, weeks and score bins come from :mod:`ccr.dashboards.buckets`, as theirs do.
"""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, String, and_, case, delete, event, insert, literal, union_all, update
from sqlalchemy import func as sa_func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from ccr.core.config import Settings, get_settings
from ccr.core.db import as_utc, hold_write_lock, utcnow
from ccr.core.db import session as db_session
from ccr.core.models import (
    ROLLUP_LAYOUT,
    CriterionResult,
    Evaluation,
    IrritantHit,
    Organisation,
    RollupAgent,
    RollupCategory,
    RollupCriterionWeek,
    RollupDirty,
    RollupIrritantDay,
    RollupState,
    RollupTeamDay,
)
from ccr.dashboards.buckets import SCORE_BUCKETS, as_int, day_bounds, dialect, score_bucket, utc_day, week_start

# PostgreSQL: concurrent refreshes of one organisation would both delete then insert the same day;
# a transaction-scoped advisory lock (one bigint: this key in the high half, the org id in the low
# half) makes them take turns. SQLite serialises writers by itself.
PG_LOCK_KEY = 0x0CC2
MARK_CHUNK = 500  # call ids per IN (...) when marking from ids: stays under every driver's bound limit
ROLLUP_MODELS = (RollupTeamDay, RollupIrritantDay, RollupCategory, RollupAgent, RollupCriterionWeek)
# Days recomputed per transaction by the refresher: a first build of years of calls never holds the
# database (SQLite's single writer) for more than a moment, so logins and reviews keep writing.
REFRESH_BATCH_DAYS = 3
BATCH_PAUSE_S = 0.02  # between two batches of a first build: the other writers' turn
# Set after any commit that marked a day dirty, so this process's refresher starts at once.
CHANGED = threading.Event()


# --- days ------------------------------------------------------------------------------------------


def _tz(settings: Settings | None = None) -> ZoneInfo:
    return ZoneInfo((settings or get_settings()).timezone)


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The local calendar day of a stored instant (naive values are UTC)."""
    return as_utc(instant).astimezone(tz).date()


def split_months(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole calendar months inside [start, end] (first days of the first and last) and the day ranges
    around them."""
    first = start if start.day == 1 else (start.replace(day=1) + timedelta(days=32)).replace(day=1)
    stop = (end + timedelta(days=1)).replace(day=1)  # whole months are those starting in [first, stop)
    if stop <= first:
        return None, [(start, end)]
    edges = []
    if start < first:
        edges.append((start, first - timedelta(days=1)))
    if stop <= end:
        edges.append((stop, end))
    return (first, (stop - timedelta(days=1)).replace(day=1)), edges


def split_period(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole ISO weeks inside [start, end] (first and last Monday) and the edge day ranges around them."""
    first = start + timedelta(days=(7 - start.weekday()) % 7)
    last = week_start(end + timedelta(days=1)) - timedelta(days=7)
    if last < first:
        return None, [(start, end)]
    edges = []
    if start < first:
        edges.append((start, first - timedelta(days=1)))
    if last + timedelta(days=6) < end:
        edges.append((last + timedelta(days=7), end))
    return (first, last), edges


# --- marking -----------------------------------------------------------------------------------------


def mark_dirty(session: Session, org_id: int, instants: Iterable[datetime] = (), *,
               call_ids: Iterable[int] | None = None) -> None:
    """Mark the local days of ``instants`` (or of the evaluations of ``call_ids``) for recomputation.

    Call it in the transaction that changes the data, before deleting rows (their days are read here).
    """
    tz = _tz()
    days = {local_day(i, tz) for i in instants if i is not None}
    if call_ids is not None:
        ids = list(call_ids)
        for i in range(0, len(ids), MARK_CHUNK):
            stmt = select(Evaluation.started_at).where(Evaluation.org_id == org_id,
                                                       col(Evaluation.call_id).in_(ids[i:i + MARK_CHUNK]))
            days |= {local_day(t, tz) for t in session.exec(stmt).all()}
    if not days:
        return
    # ON CONFLICT DO NOTHING: two writers of the same day (PostgreSQL) must not fail each other.
    upsert = sqlite_insert if dialect(session) == "sqlite" else pg_insert
    session.exec(upsert(RollupDirty).values([{"org_id": org_id, "day": d} for d in sorted(days)])
                 .on_conflict_do_nothing())
    if not event.contains(session, "after_commit", _signal_changed):
        event.listen(session, "after_commit", _signal_changed)


def _signal_changed(_session) -> None:
    CHANGED.set()


# --- refresh -----------------------------------------------------------------------------------------


def _live(e=Evaluation) -> list:
    return [e.is_current == True, e.restricted == False]  # noqa: E712


def excluded_evaluations(org_id: int, lo: datetime, hi: datetime):
    """The evaluations of [lo, hi) that never count: superseded, or current and restricted by the DPO.

    Few, and found by two index ranges (one OR makes PostgreSQL scan the table). A verdict or irritant
    hit carries its call's instant, as its evaluation does, so ``NOT IN`` this set filters a child table
    without joining the evaluations of the period (a join PostgreSQL answers by hashing all of them)."""
    e = Evaluation
    period = [e.org_id == org_id, e.started_at >= lo, e.started_at < hi]
    return union_all(select(e.id).where(*period, e.is_current == False),  # noqa: E712
                     select(e.id).where(*period, e.is_current == True, e.restricted == True))  # noqa: E712


def _rebuild_day(session: Session, org_id: int, d: date, tz: ZoneInfo) -> None:
    """Delete and recompute the day rows of local day ``d`` from the base tables."""
    e, ih = Evaluation, IrritantHit
    lo, hi = day_bounds(d, d, tz)
    org, day = literal(org_id, Integer), literal(d, Date)
    for model in (RollupTeamDay, RollupIrritantDay):
        session.exec(delete(model).where(model.org_id == org_id, model.day == d))
    for model in (RollupCategory, RollupAgent):
        session.exec(delete(model).where(model.org_id == org_id, model.span == "d", model.day == d))
    period = [e.org_id == org_id, *_live(), e.started_at >= lo, e.started_at < hi]
    utc = utc_day(session, e.started_at)
    has_silence = and_(col(e.silence_s).is_not(None), col(e.duration_s).is_not(None))
    nb = SCORE_BUCKETS
    bucket = score_bucket(e.final_score)
    t = RollupTeamDay
    session.exec(insert(t).from_select(
        ["org_id", "day", "utc_day", "team_id", "calls", "score_sum", "passed", "critical", "validated",
         "with_irritant", "duration_sum", "duration_n", "silence_sum", "silence_duration_sum",
         *[f"b{i}" for i in range(nb)]],
        select(org, day, utc, e.team_id, func.count(), func.sum(e.final_score), func.sum(as_int(e.final_passed)),
               func.sum(as_int(e.final_critical_failed)), func.sum(as_int(e.validated)),
               func.sum(case((e.irritant_count > 0, 1), else_=0)), func.sum(e.duration_s), func.count(e.duration_s),
               func.sum(case((has_silence, e.silence_s), else_=None)),
               func.sum(case((has_silence, e.duration_s), else_=None)),
               *[func.sum(case((bucket == i, 1), else_=0)) for i in range(nb)])
        .where(*period).group_by(utc, e.team_id)))
    ih_utc = utc_day(session, ih.started_at)
    session.exec(insert(RollupIrritantDay).from_select(
        ["org_id", "day", "utc_day", "team_id", "label", "calls"],
        select(org, day, ih_utc, ih.team_id, ih.label, func.count(sa_func.distinct(ih.evaluation_id)))
        .where(ih.org_id == org_id, ih.started_at >= lo, ih.started_at < hi,
               col(ih.evaluation_id).not_in(excluded_evaluations(org_id, lo, hi)))
        .group_by(ih_utc, ih.team_id, ih.label)))
    span = literal("d", String)
    session.exec(insert(RollupCategory).from_select(
        ["org_id", "span", "day", "team_id", "category", "calls", "score_sum", "passed"],
        select(org, span, day, e.team_id, e.category, func.count(), func.sum(e.final_score),
               func.sum(as_int(e.final_passed)))
        .where(*period).group_by(e.team_id, e.category)))
    known = col(e.agent_talk_s).is_not(None)
    session.exec(insert(RollupAgent).from_select(
        ["org_id", "span", "day", "team_id", "agent_id", "calls", "score_sum", "passed", "critical",
         "talk_duration", "agent_talk", "customer_talk", "talk_silence"],
        select(org, span, day, e.team_id, e.agent_id, func.count(), func.sum(e.final_score),
               func.sum(as_int(e.final_passed)), func.sum(as_int(e.final_critical_failed)),
               func.sum(case((known, e.duration_s), else_=None)), func.sum(e.agent_talk_s),
               func.sum(e.customer_talk_s), func.sum(case((known, e.silence_s), else_=None)))
        .where(*period).group_by(e.team_id, e.agent_id)))


def _sum_day_rows(session: Session, org_id: int, span: str, first: date, last: date) -> None:
    """Replace the ``span`` rows starting ``first`` (categories and agents) by the sums of their day rows
    from ``first`` to ``last``: weeks and months are both added up this way, never read from base tables."""
    org, day, literal_span = literal(org_id, Integer), literal(first, Date), literal(span, String)
    for model in (RollupCategory, RollupAgent):
        session.exec(delete(model).where(model.org_id == org_id, model.span == span, model.day == first))
    c = RollupCategory
    session.exec(insert(c).from_select(
        ["org_id", "span", "day", "team_id", "category", "calls", "score_sum", "passed"],
        select(org, literal_span, day, c.team_id, c.category, func.sum(c.calls), func.sum(c.score_sum),
               func.sum(c.passed))
        .where(c.org_id == org_id, c.span == "d", c.day >= first, c.day <= last)
        .group_by(c.team_id, c.category)))
    a = RollupAgent
    session.exec(insert(a).from_select(
        ["org_id", "span", "day", "team_id", "agent_id", "calls", "score_sum", "passed", "critical",
         "talk_duration", "agent_talk", "customer_talk", "talk_silence"],
        select(org, literal_span, day, a.team_id, a.agent_id, func.sum(a.calls), func.sum(a.score_sum),
               func.sum(a.passed), func.sum(a.critical), func.sum(a.talk_duration), func.sum(a.agent_talk),
               func.sum(a.customer_talk), func.sum(a.talk_silence))
        .where(a.org_id == org_id, a.span == "d", a.day >= first, a.day <= last)
        .group_by(a.team_id, a.agent_id)))


def _rebuild_week(session: Session, org_id: int, monday: date, tz: ZoneInfo) -> None:
    """Recompute the week rows starting ``monday``: categories and agents from their day rows, criteria
    from the base verdicts (no day rows for them: there would be more than there are evaluations)."""
    sunday = monday + timedelta(days=6)
    _sum_day_rows(session, org_id, "w", monday, sunday)
    session.exec(delete(RollupCriterionWeek).where(RollupCriterionWeek.org_id == org_id,
                                                   RollupCriterionWeek.day == monday))
    cr = CriterionResult
    lo, hi = day_bounds(monday, sunday, tz)
    session.exec(insert(RollupCriterionWeek).from_select(
        ["org_id", "day", "team_id", "agent_id", "criterion_id", "passed", "applicable"],
        select(literal(org_id, Integer), literal(monday, Date), cr.team_id, cr.agent_id, cr.criterion_id,
               func.sum(case((cr.final_verdict == "pass", 1), else_=0)),
               func.sum(case((cr.final_verdict != "na", 1), else_=0)))
        .where(cr.org_id == org_id, cr.started_at >= lo, cr.started_at < hi,
               col(cr.evaluation_id).not_in(excluded_evaluations(org_id, lo, hi)))
        .group_by(cr.team_id, cr.agent_id, cr.criterion_id)))


def _month_end(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _rebuild_month(session: Session, org_id: int, first: date) -> None:
    """Recompute the month rows starting ``first`` (categories and agents) from their day rows."""
    _sum_day_rows(session, org_id, "m", first, _month_end(first))


def _add_month_rows(session: Session, org_id: int) -> None:
    """Bring layout-1 rollups to the current layout: month rows from the day rows already built."""
    days = session.exec(select(RollupAgent.day).where(RollupAgent.org_id == org_id, RollupAgent.span == "d")
                        .distinct()).all()
    days = set(days) | set(session.exec(select(RollupCategory.day).where(
        RollupCategory.org_id == org_id, RollupCategory.span == "d").distinct()).all())
    for first in sorted({d.replace(day=1) for d in days}):
        _rebuild_month(session, org_id, first)
    session.exec(update(RollupState).where(RollupState.org_id == org_id).values(layout=ROLLUP_LAYOUT))


def _all_days(session: Session, org_id: int, tz: ZoneInfo) -> set[date]:
    """The local days of the organisation's evaluations: those each UTC day holding one straddles.

    Never the whole span from the oldest to the newest: one call dated 1900 beside today's made that
    46 000 days to rebuild, on a dashboard's first opening."""
    days: set[date] = set()
    for value in session.exec(select(utc_day(session, Evaluation.started_at))
                              .where(Evaluation.org_id == org_id).distinct()).all():
        d = value if isinstance(value, date) else date.fromisoformat(str(value))
        days.add(local_day(datetime.combine(d, time.min, tzinfo=UTC), tz))
        days.add(local_day(datetime.combine(d, time.max, tzinfo=UTC), tz))
    return days


def _state(session: Session, org_id: int) -> tuple[str | None, int | None]:
    row = session.exec(select(RollupState.timezone, RollupState.layout).where(RollupState.org_id == org_id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def rollups_ready(session: Session, org_id: int, settings: Settings | None = None) -> bool:
    """True when the organisation's rollups are exact now: built in the current timezone and layout, no day
    marked.

    Reads only; a reader that gets False reads the base tables (the refresher catches up in the background)."""
    if _state(session, org_id) != ((settings or get_settings()).timezone, ROLLUP_LAYOUT):
        return False
    return session.exec(select(RollupDirty.day).where(RollupDirty.org_id == org_id).limit(1)).first() is None


def refresh_rollups(*, session: Session, org_id: int, settings: Settings | None = None,
                    max_days: int | None = None) -> int:
    """Recompute the organisation's dirty days (all of them on first use or after a timezone change).

    Runs in ``session``'s transaction; with ``max_days`` it recomputes at most that many (the newest first)
    and leaves the others marked for the next transaction. Returns the days recomputed.
    """
    settings = settings or get_settings()
    tz_name = settings.timezone
    state, layout = _state(session, org_id)
    if state == tz_name and layout == ROLLUP_LAYOUT and session.exec(
            select(RollupDirty.day).where(RollupDirty.org_id == org_id).limit(1)).first() is None:
        return 0
    if dialect(session) != "sqlite":
        session.exec(select(sa_func.pg_advisory_xact_lock((PG_LOCK_KEY << 32) + org_id)))
        state, layout = _state(session, org_id)
    if state == tz_name and layout != ROLLUP_LAYOUT:
        _add_month_rows(session, org_id)
    tz = ZoneInfo(tz_name)
    days = set(session.exec(select(RollupDirty.day).where(RollupDirty.org_id == org_id)).all())
    if state != tz_name:
        for model in (*ROLLUP_MODELS, RollupDirty):
            session.exec(delete(model).where(model.org_id == org_id))
        days |= _all_days(session, org_id, tz)
        session.exec(delete(RollupState).where(RollupState.org_id == org_id))
        session.add(RollupState(org_id=org_id, timezone=tz_name, refreshed_at=utcnow()))
        if max_days is not None and len(days) > max_days:
            # The rest is left marked: readers use the base tables until the last batch commits.
            upsert = sqlite_insert if dialect(session) == "sqlite" else pg_insert
            rest = sorted(days)[:-max_days]
            for i in range(0, len(rest), MARK_CHUNK):
                session.exec(upsert(RollupDirty).values([{"org_id": org_id, "day": d} for d in rest[i:i + MARK_CHUNK]])
                             .on_conflict_do_nothing())
    days = set(sorted(days)[-max_days:]) if max_days is not None and days else days
    if days:
        session.exec(delete(RollupDirty).where(RollupDirty.org_id == org_id, col(RollupDirty.day).in_(sorted(days))))
    for d in sorted(days):
        _rebuild_day(session, org_id, d, tz)
    for monday in sorted({week_start(d) for d in days}):
        _rebuild_week(session, org_id, monday, tz)
    for first in sorted({d.replace(day=1) for d in days}):
        _rebuild_month(session, org_id, first)
    session.flush()
    return len(days)


def _orgs_to_refresh(settings: Settings, *, first_builds: bool) -> list[int]:
    """Organisations with a day marked, and (``first_builds``) those never built in the current timezone and
    layout (a layout change is quick: rows added from the day rows)."""
    with db_session(settings) as s:
        current = select(RollupState.org_id).where(RollupState.timezone == settings.timezone,
                                                   RollupState.layout == ROLLUP_LAYOUT)
        dirty = select(RollupDirty.org_id).distinct()
        if not first_builds:
            dirty = dirty.where(col(RollupDirty.org_id).in_(current))
        orgs = set(s.exec(dirty).all())
        if first_builds:
            orgs |= set(s.exec(select(Organisation.id).where(col(Organisation.id).not_in(current))).all())
    return sorted(orgs)


def refresh_pending(settings: Settings | None = None, *, batch_days: int = REFRESH_BATCH_DAYS,
                    first_builds: bool = True) -> int:
    """Bring every organisation's rollups up to date, ``batch_days`` days per transaction; the days recomputed.

    The background refresher's work (never a page run's): each batch takes the write lock first, so two
    refreshers (the server's and a worker's) take turns instead of failing each other, and pauses between
    batches so other writers pass. Without ``first_builds`` it only catches up on rollups already built (a
    worker after its call), leaving a first build, long, to the server's refresher."""
    settings = settings or get_settings()
    total = 0
    for org_id in _orgs_to_refresh(settings, first_builds=first_builds):
        while True:
            with db_session(settings) as s:
                hold_write_lock(s, (PG_LOCK_KEY << 32) + org_id)
                done = refresh_rollups(session=s, org_id=org_id, settings=settings, max_days=batch_days)
            total += done
            if done < batch_days:
                break
            clock.sleep(BATCH_PAUSE_S)
    return total


def settle_rollups(*, session: Session, org_id: int, settings: Settings | None = None) -> int:
    """Bring the rollups in step with rows just deleted (erasure, purge), in the deleting transaction.

    Current rollups get their dirty days recomputed; stale ones (never built, or another timezone) are
    dropped instead, as a reader would rebuild them all anyway. Returns the days recomputed."""
    settings = settings or get_settings()
    if dialect(session) != "sqlite":
        session.exec(select(sa_func.pg_advisory_xact_lock((PG_LOCK_KEY << 32) + org_id)))
    state, _layout = _state(session, org_id)
    if state != settings.timezone:
        for model in (*ROLLUP_MODELS, RollupDirty, RollupState):
            session.exec(delete(model).where(model.org_id == org_id))
        return 0
    return refresh_rollups(session=session, org_id=org_id, settings=settings)


def period_rows(model, conds: list, start: date, end: date, *, months: bool = True):
    """Subquery of the rows of a ``span`` model covering exactly [start, end]: whole months (``months``),
    then whole weeks, then edge days.

    A UNION ALL of index ranges: the same ranges OR-ed together make SQLite scan the organisation.
    """
    whole, rest = split_months(start, end) if months else (None, [(start, end)])
    parts = []
    if whole is not None:
        parts.append(select(model).where(*conds, model.span == "m", model.day >= whole[0], model.day <= whole[1]))
    for a, b in rest:
        weeks, edges = split_period(a, b)
        parts += [select(model).where(*conds, model.span == "d", model.day >= x, model.day <= y) for x, y in edges]
        if weeks is not None:
            parts.append(select(model).where(*conds, model.span == "w", model.day >= weeks[0],
                                             model.day <= weeks[1]))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
