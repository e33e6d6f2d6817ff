"""The calls list: evaluated calls filtered, searched in their transcripts, sorted and paginated in SQL,
and the export of the current view.

Full-text search runs on the transcripts' own index: SQLite FTS5 (``transcript_fts``) or PostgreSQL's
GIN index (migration 0002); the user's words are passed as words, never as query syntax. « À revoir »
is :mod:`ccr.scoring.triage`'s rule, the review queue's too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, literal_column, table, text
from sqlalchemy import func as sa_func
from sqlmodel import Session, col, func, select

from ccr.core.config import get_settings
from ccr.core.models import CriterionResult, Evaluation, IrritantHit, Transcript
from ccr.core.users import Actor
from ccr.core.vocab import DIRECTION_LABELS
from ccr.dashboards.buckets import dialect
from ccr.dashboards.filters import DEFAULT_SORT, CallQuery, Filters
from ccr.dashboards.labels import labels
from ccr.dashboards.scope import where
from ccr.scoring.triage import grid_thresholds, review_codes, review_condition

PAGE_SIZE_MAX = 200  # the calls list is paginated in the database, never loaded whole
EXPORT_MAX_ROWS = 50_000  # a CSV/Excel of the current view; beyond this, the organisation export is the tool
SEARCH_COUNT_CAP = 1000  # beyond this a search is too broad to browse; counting further costs time
# A word in at least this many transcripts is "common": its first page is found by walking the date index
# and checking each call (measured at 300k calls: 18 ms instead of 104 ms), a rare word by its match set.
DENSE_SEARCH_HITS = 20_000
DATE_SORTS = ("recent", "ancien")  # the sorts that walk the date index, where the dense plan pays off
FTS_MAX_TERMS = 12  # a search box query, not a document: longer input is cut
PG_TS_CONFIG = "ccr_french"  # migration 0002: French stemming, accents folded (the GIN index's configuration)
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def fts_query(text_in: str) -> str:
    """An FTS5 MATCH expression of the user's words, each quoted (no operator or syntax gets through)."""
    words = _WORD_RE.findall(text_in or "")[:FTS_MAX_TERMS]
    return " ".join(f'"{w}"' for w in words)


def _dense_search(session: Session, search: str) -> bool:
    """True when a (SQLite) search matches so many transcripts that walking the list's date index wins."""
    if dialect(session) != "sqlite" or not fts_query(search):
        return False
    hits = session.exec(text("SELECT count(*) FROM (SELECT rowid FROM transcript_fts WHERE transcript_fts "
                             "MATCH :q LIMIT :cap)").bindparams(q=fts_query(search), cap=DENSE_SEARCH_HITS)).one()
    return int(hits[0]) >= DENSE_SEARCH_HITS


def _search_condition(session: Session, actor: Actor, search: str, *, dense: bool = False):
    t = Transcript
    if dialect(session) == "sqlite":
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


def _calls_conditions(session: Session, actor: Actor, filters: Filters, *, score_min: float | None,
                      score_max: float | None, status: str | None, irritant: str | None, to_review: bool,
                      search: str, failed_criterion: str | None, thresholds: Mapping[int | None, float],
                      margin: float, dense_search: bool = False) -> list:
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
    if search and search.strip():
        cond = _search_condition(session, actor, search, dense=dense_search)
        if cond is not None:
            conds.append(cond)
    return conds


def _fetch_calls(session: Session, actor: Actor, conds: list, sort: str, offset: int, limit: int,
                 thresholds: Mapping[int | None, float], margin: float) -> list[dict[str, Any]]:
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


def list_calls(*, session: Session, actor: Actor, filters: Filters, score_min: float | None = None,
               score_max: float | None = None, status: str | None = None, irritant: str | None = None,
               to_review: bool = False, search: str = "", sort: str = DEFAULT_SORT, page: int = 1,
               page_size: int = 50, failed_criterion: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of the evaluated calls the actor may see, and the total count, both computed in SQL.

    With a full-text search the count stops at ``SEARCH_COUNT_CAP + 1`` (shown as "plus de …").
    """
    page_size = max(1, min(int(page_size), PAGE_SIZE_MAX))
    page = max(1, int(page))
    thresholds = grid_thresholds(session, actor.org_id)
    margin = get_settings().review_margin
    conds = _calls_conditions(session, actor, filters, score_min=score_min, score_max=score_max, status=status,
                              irritant=irritant, to_review=to_review, search=search,
                              failed_criterion=failed_criterion, thresholds=thresholds, margin=margin)
    if search and search.strip():
        # A common word can match a large share of all calls: count up to a cap, like a search engine.
        capped = select(Evaluation.id).where(*conds).limit(SEARCH_COUNT_CAP + 1).subquery()
        total = int(session.exec(select(func.count()).select_from(capped)).one())
    else:
        total = int(session.exec(select(func.count()).select_from(Evaluation).where(*conds)).one())
    if search and search.strip() and sort in DATE_SORTS and _dense_search(session, search):
        conds = _calls_conditions(session, actor, filters, score_min=score_min, score_max=score_max,
                                  status=status, irritant=irritant, to_review=to_review, search=search,
                                  failed_criterion=failed_criterion, thresholds=thresholds, margin=margin,
                                  dense_search=True)
    rows = _fetch_calls(session, actor, conds, sort, (page - 1) * page_size, page_size, thresholds, margin)
    return rows, total


def export_calls(*, session: Session, actor: Actor, filters: Filters, query: CallQuery,
                 limit: int = EXPORT_MAX_ROWS) -> list[dict[str, Any]]:
    """Every call of the current view (up to ``limit``), in the list's order, for a CSV/Excel download."""
    thresholds = grid_thresholds(session, actor.org_id)
    margin = get_settings().review_margin
    conds = _calls_conditions(session, actor, filters, score_min=query.score_min, score_max=query.score_max,
                              status=query.status, irritant=query.irritant, to_review=query.to_review,
                              search=query.search, failed_criterion=query.failed_criterion,
                              thresholds=thresholds, margin=margin)
    return _fetch_calls(session, actor, conds, query.sort, 0, max(1, min(limit, EXPORT_MAX_ROWS)),
                        thresholds, margin)

