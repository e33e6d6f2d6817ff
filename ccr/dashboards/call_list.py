"""The calls list: evaluated calls filtered, searched in their transcripts, sorted and paginated in SQL,
and the export of the current view.

Full-text search runs on the transcripts' own index: SQLite FTS5 (``transcript_fts``) or PostgreSQL's
stored search vector and its GIN index (migration 0005); the user's words are passed as words, never as
query syntax. A common word's newest matches are found by walking the list's date order, a rare word's
from its matches (:func:`_dense_search` chooses), and counts are bounded (:class:`CallPage`), so a search
costs the same at ten million calls as at one. « À revoir » is :mod:`ccr.scoring.triage`'s rule, the review
queue's too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import exists, literal_column, table, text
from sqlmodel import Session, col, func, select

from ccr.core.config import get_settings
from ccr.core.models import CriterionResult, Evaluation, IrritantHit, RollupIrritantDay, RollupTeamDay, Transcript
from ccr.core.users import Actor
from ccr.core.vocab import DIRECTION_LABELS
from ccr.dashboards.buckets import dialect
from ccr.dashboards.filters import DEFAULT_SORT, CallQuery, Filters
from ccr.dashboards.labels import labels
from ccr.dashboards.scope import in_days, rollup_scope, use_rollups, where
from ccr.scoring.triage import grid_thresholds, review_codes, review_condition

PAGE_SIZE_MAX = 200  # the calls list is paginated in the database, never loaded whole
EXPORT_MAX_ROWS = 50_000  # a CSV/Excel of the current view; beyond this, the organisation export is the tool
SEARCH_COUNT_CAP = 1000  # beyond this a search is too broad to browse; counting further costs time
LIST_COUNT_CAP = 10_000  # likewise for filters the rollups cannot count (score range, criterion, « à revoir »)
# A common word's count looks at this many of the view's calls in the list's order at most: beyond, the
# list says "au moins N" with the matches found, so a search costs the same on ten million calls as on one.
SEARCH_COUNT_WINDOW = 20_000
# A match read through the full-text index (its transcript's page, then its evaluation) costs about seven
# times a walk's check of one call (the plans in benchmarks/plans at ten million calls: 10.8 µs and 1.5 µs).
GIN_VISIT_COST = 7
DATE_SORTS = ("recent", "ancien")  # the sorts that walk the date index, where the dense plan pays off
FTS_MAX_TERMS = 12  # a search box query, not a document: longer input is cut
PG_TS_CONFIG = "ccr_french"  # migration 0002: French stemming, accents folded (the search vector's configuration)
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def fts_query(text_in: str) -> str:
    """An FTS5 MATCH expression of the user's words, each quoted (no operator or syntax gets through)."""
    words = _WORD_RE.findall(text_in or "")[:FTS_MAX_TERMS]
    return " ".join(f'"{w}"' for w in words)


def _pg_expected_hits(session: Session, words: list[str]) -> tuple[float, float]:
    """PostgreSQL's estimate of the transcripts holding every word, and of all transcripts, from its statistics.

    ANALYZE keeps the most common lexemes of the search vectors with the share of rows holding each
    (``pg_stats.most_common_elems``); a word not among them is rarer than the rarest listed. Words are
    taken as independent, as the planner does. No statistics yet (a new or small table): no hits expected.
    """
    stats = session.exec(text(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_stats s "
        "JOIN pg_class c ON c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname) "
        "WHERE s.schemaname = current_schema() AND s.tablename = 'transcript' AND s.attname = 'tsv'")).first()
    if stats is None or not stats[0]:
        return 0.0, 0.0
    elems, freqs, rows = stats
    share_of = dict(zip(elems, freqs, strict=False))  # trailing values of freqs: min, max, null share
    floor = min(freqs[:len(elems)])
    lexemes = session.exec(text(f"SELECT tsvector_to_array(to_tsvector('{PG_TS_CONFIG}', :q))")
                           .bindparams(q=" ".join(words))).one()[0] or []
    if not lexemes:
        return 0.0, float(rows)
    share = 1.0
    for lexeme in lexemes:
        share *= share_of.get(lexeme, floor / 2)
    return share * max(float(rows), 0.0), max(float(rows), 0.0)


def _dense_search(session: Session, search: str, page_size: int = 50) -> bool:
    """True when a search matches so many transcripts that walking the list's date index wins.

    A walk checks about ``page_size / share`` calls to fill a page; the index plan visits every match, each
    visit costing ``GIN_VISIT_COST`` checks. The walk wins once the matches exceed
    ``sqrt(page_size × transcripts / GIN_VISIT_COST)``: 2,700 of a million transcripts, 8,500 of ten million.
    SQLite counts the matches in its FTS5 index up to that bound; PostgreSQL estimates them from its
    statistics."""
    if not fts_query(search):
        return False
    if dialect(session) != "sqlite":
        hits, rows = _pg_expected_hits(session, _WORD_RE.findall(search)[:FTS_MAX_TERMS])
    else:
        rows = float(session.exec(text("SELECT coalesce(max(id), 0) FROM transcript")).one()[0])
        bound = math.isqrt(int(page_size * rows / GIN_VISIT_COST)) + 1
        hits = float(session.exec(text("SELECT count(*) FROM (SELECT rowid FROM transcript_fts WHERE "
                                       "transcript_fts MATCH :q LIMIT :cap)")
                                  .bindparams(q=fts_query(search), cap=bound)).one()[0])
    return hits > 0 and hits * hits * GIN_VISIT_COST >= page_size * rows


def _search_condition(session: Session, actor: Actor, search: str, *, dense: bool = False,
                      call_id: str = "evaluation.call_id"):
    """The search as a condition on the calls: a per-call check (``dense``) or membership in the matches.

    ``call_id`` names the column of the outer query the per-call check is correlated with."""
    if dialect(session) == "sqlite":
        q = fts_query(search)
        if not q:
            return None
        if dense:
            # Checked row by row while walking the evaluations in date order: the first page of a
            # common word is found after a few hundred rows. The matches' row ids are listed once (a
            # MATCH run per row costs a hundred times more in FTS5), each call's transcript looked up in it.
            return text("EXISTS (SELECT 1 FROM transcript t WHERE t.call_id = "
                        f"{call_id} AND t.org_id = :fts_org AND t.id IN "
                        "(SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH :fts_dq))"
                        ).bindparams(fts_org=actor.org_id, fts_dq=q)
        t = Transcript
        fts = table("transcript_fts")
        matching = (select(literal_column("rowid")).select_from(fts)
                    .where(text("transcript_fts MATCH :fts_q").bindparams(fts_q=q)))
        return col(Evaluation.call_id).in_(select(t.call_id).where(t.org_id == actor.org_id, col(t.id).in_(matching)))
    words = _WORD_RE.findall(search or "")[:FTS_MAX_TERMS]
    if not words:
        return None
    # The stored vector (migration 0005) and its GIN index, French stemming with accents folded; the
    # words alone are passed (every one required, no operator), as on SQLite.
    match = f"t.org_id = :fts_org AND t.tsv @@ plainto_tsquery('{PG_TS_CONFIG}', :fts_q)"
    if dense:
        # A common word: walk the evaluations in date order and check each call's stored vector. A scalar
        # subquery, not EXISTS: the planner cannot turn it into a join that reads every match first.
        return text(f"(SELECT t.tsv @@ plainto_tsquery('{PG_TS_CONFIG}', :fts_q) FROM transcript t "
                    f"WHERE t.call_id = {call_id} AND t.org_id = :fts_org)"
                    ).bindparams(fts_org=actor.org_id, fts_q=" ".join(words))
    # A rare word: its few matches from the GIN index, then their evaluations.
    return text(f"evaluation.call_id IN (SELECT t.call_id FROM transcript t WHERE {match})"
                ).bindparams(fts_org=actor.org_id, fts_q=" ".join(words))


def _calls_conditions(actor: Actor, filters: Filters, *, score_min: float | None,
                      score_max: float | None, status: str | None, irritant: str | None, to_review: bool,
                      failed_criterion: str | None, thresholds: Mapping[int | None, float], margin: float) -> list:
    e = Evaluation
    conds = where(actor, filters)
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
        conds.append(review_condition(thresholds, margin))
    return conds


def _order(sort: str) -> list:
    e = Evaluation
    return {
        "recent": [col(e.started_at).desc(), col(e.id).desc()],
        "ancien": [col(e.started_at).asc(), col(e.id).asc()],
        "score_asc": [col(e.final_score).asc(), col(e.started_at).desc()],
        "score_desc": [col(e.final_score).desc(), col(e.started_at).desc()],
        "duree_desc": [col(e.duration_s).desc(), col(e.started_at).desc()],
    }.get(sort, [col(e.started_at).desc(), col(e.id).desc()])


def _fetch_calls(session: Session, actor: Actor, conds: list, order: list, offset: int, limit: int,
                 thresholds: Mapping[int | None, float], margin: float) -> list[dict[str, Any]]:
    e = Evaluation
    stmt = (select(e.call_id, e.started_at, e.agent_id, e.team_id, e.campaign, e.direction, e.category,
                   e.duration_s, e.final_score, e.final_passed, e.final_critical_failed, e.validated,
                   e.irritant_count, e.unverified, e.needs_review, e.grid_id)
            .where(*conds).order_by(*order).offset(offset).limit(limit))
    rows = session.exec(stmt).all()
    lab = labels(session=session, actor=actor)
    out = []
    for r in rows:
        out.append({
            "call_id": r.call_id, "started_at": r.started_at,
            "agent": lab.agents.get(r.agent_id, "Sans agent") if r.agent_id else "Sans agent",
            "team": lab.teams.get(r.team_id, "") if r.team_id else "",
            "campaign": r.campaign or "", "direction": DIRECTION_LABELS.get(r.direction or "", r.direction or ""),
            "category": lab.categories.get(r.category, r.category or ""),
            "duration_s": r.duration_s, "score": r.final_score, "passed": bool(r.final_passed),
            "critical_failed": bool(r.final_critical_failed), "validated": bool(r.validated),
            "irritants": int(r.irritant_count or 0),
            "to_review": bool(review_codes(r, thresholds, margin)),
        })
    return out


class CallPage(NamedTuple):
    """One page of the calls list and how many calls the view holds.

    ``count``: ``exact``; ``more_than`` (the count stopped at its cap: the view holds more than ``total``);
    ``at_least`` (a common word's count walked a bounded window: the view holds ``total`` or more)."""

    rows: list[dict[str, Any]]
    total: int
    count: str = "exact"

    @property
    def capped(self) -> bool:
        """True when ``total`` is a bound, not the count."""
        return self.count != "exact"


def _rollup_count(session: Session, actor: Actor, filters: Filters, status: str | None,
                  irritant: str | None) -> int:
    """The exact count of the view from the daily rollups (period, teams, one status or one irritant)."""
    if irritant:
        r = RollupIrritantDay
        return int(session.exec(select(func.coalesce(func.sum(r.calls), 0)).where(
            *rollup_scope(r, actor, filters), *in_days(r, filters.start, filters.end), r.label == irritant)).one())
    t = RollupTeamDay
    counted = {None: t.calls, "valide": t.validated, "a_valider": t.calls - t.validated, "conforme": t.passed,
               "non_conforme": t.calls - t.passed, "critique": t.critical}[status]
    return int(session.exec(select(func.coalesce(func.sum(counted), 0)).where(
        *rollup_scope(t, actor, filters), *in_days(t, filters.start, filters.end))).one())


def _search_count(session: Session, actor: Actor, conds: list, search: str, order: list,
                  dense: bool) -> tuple[int, str]:
    """How many calls of the view match the search, up to ``SEARCH_COUNT_CAP``, and the kind of count.

    A rare word's matches are few: they are counted. A common word is counted while walking the view in
    the list's order, over ``SEARCH_COUNT_WINDOW`` calls at most; a view longer than that whose count
    has not reached the cap gets "at least the matches found", never a guess."""
    e = Evaluation
    if not dense:
        first = select(e.id).where(*conds, _search_condition(session, actor, search)).limit(SEARCH_COUNT_CAP + 1)
        n = int(session.exec(select(func.count()).select_from(first.subquery())).one())
        return (SEARCH_COUNT_CAP, "more_than") if n > SEARCH_COUNT_CAP else (n, "exact")
    window = select(e.call_id).where(*conds).order_by(*order).limit(SEARCH_COUNT_WINDOW).subquery("w")
    found = (select(window.c.call_id)
             .where(_search_condition(session, actor, search, dense=True, call_id="w.call_id"))
             .limit(SEARCH_COUNT_CAP + 1).subquery())
    n = int(session.exec(select(func.count()).select_from(found)).one())
    if n > SEARCH_COUNT_CAP:
        return SEARCH_COUNT_CAP, "more_than"
    seen = select(e.id).where(*conds).limit(SEARCH_COUNT_WINDOW + 1).subquery()
    walked_all = int(session.exec(select(func.count()).select_from(seen)).one()) <= SEARCH_COUNT_WINDOW
    return n, "exact" if walked_all else "at_least"


def list_calls(*, session: Session, actor: Actor, filters: Filters, score_min: float | None = None,
               score_max: float | None = None, status: str | None = None, irritant: str | None = None,
               to_review: bool = False, search: str = "", sort: str = DEFAULT_SORT, page: int = 1,
               page_size: int = 50, failed_criterion: str | None = None) -> CallPage:
    """One page of the evaluated calls the actor may see, and how many there are, both computed in SQL.

    The count is exact from the rollups when only the period, teams, a status or an irritant filter the
    view; otherwise it stops after ``LIST_COUNT_CAP`` calls, and a full-text search's as
    :func:`_search_count` says, like a search engine's: a broad view of ten million calls costs no more
    than a narrow one.
    """
    page_size = max(1, min(int(page_size), PAGE_SIZE_MAX))
    page = max(1, int(page))
    thresholds = grid_thresholds(session, actor.org_id)
    margin = get_settings().review_margin
    conds = _calls_conditions(actor, filters, score_min=score_min, score_max=score_max, status=status,
                              irritant=irritant, to_review=to_review, failed_criterion=failed_criterion,
                              thresholds=thresholds, margin=margin)
    order = _order(sort)
    searching = bool(fts_query(search))
    dense = searching and sort in DATE_SORTS and _dense_search(session, search, page_size)
    if searching:
        total, kind = _search_count(session, actor, conds, search, order, dense)
    elif (score_min is None and score_max is None and not to_review and not failed_criterion
          and not (status and irritant) and use_rollups(session, actor, filters)):
        total, kind = _rollup_count(session, actor, filters, status, irritant), "exact"
    else:
        first = select(Evaluation.id).where(*conds).limit(LIST_COUNT_CAP + 1).subquery()
        n = int(session.exec(select(func.count()).select_from(first)).one())
        total, kind = (LIST_COUNT_CAP, "more_than") if n > LIST_COUNT_CAP else (n, "exact")
    if searching:
        conds.append(_search_condition(session, actor, search, dense=dense))
    offset = (page - 1) * page_size
    rows = _fetch_calls(session, actor, conds, order, offset, page_size, thresholds, margin)
    if kind != "exact" and offset + len(rows) > total:
        total, kind = offset + len(rows), "at_least"  # the pages walked so far are in the view too
    return CallPage(rows, total, kind)


def export_calls(*, session: Session, actor: Actor, filters: Filters, query: CallQuery,
                 limit: int = EXPORT_MAX_ROWS) -> list[dict[str, Any]]:
    """Every call of the current view (up to ``limit``), in the list's order, for a CSV/Excel download."""
    thresholds = grid_thresholds(session, actor.org_id)
    margin = get_settings().review_margin
    conds = _calls_conditions(actor, filters, score_min=query.score_min, score_max=query.score_max,
                              status=query.status, irritant=query.irritant, to_review=query.to_review,
                              failed_criterion=query.failed_criterion, thresholds=thresholds, margin=margin)
    if fts_query(query.search):
        conds.append(_search_condition(session, actor, query.search))
    return _fetch_calls(session, actor, conds, _order(query.sort), 0, max(1, min(limit, EXPORT_MAX_ROWS)),
                        thresholds, margin)

