"""The « à revoir » rule, written once: which evaluations need a human look, and why.

An evaluation not yet validated by a human is « à revoir » when it failed critically, when the scorer
doubts one of its verdicts (``needs_review``), when it failed, when its LLM verdicts are unverified, or
when its final score lies within ``Settings.review_margin`` (bounds included) of the pass threshold of
*the grid version it was scored with*. Only the ``final_*`` columns are read: until a human validates
them they equal the AI's, and afterwards the evaluation is no longer « à revoir » anyway.

:func:`review_condition` says it in SQL (the calls list's « À revoir » filter) and :func:`review_codes`
for one row (the review queue, the calls list's flag); both take the thresholds of
:func:`grid_thresholds`. Which evaluations are looked at (current, unrestricted, in the actor's scope)
is the caller's query. The review queue (:func:`ccr.quality.reviews.review_queue`) adds a calibration
sample on top, drawn by a keyed HMAC of the call id that SQL cannot compute: that sample is the single,
deliberate difference between the queue and the calls list's filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import Float, and_, case, literal, or_
from sqlalchemy import func as sa_func
from sqlmodel import Session, col, select

from ccr.core.errors import CcrError
from ccr.core.models import Evaluation
from ccr.core.models import Grid as GridRow
from ccr.scoring.grid import default_grid, load_grid_yaml

# Reasons, most urgent first: the order the review queue is sorted in.
REASONS = {
    "critical": "Échec critique",
    # The scorer doubts a verdict (unsure speech recognition, doubtful act): the score itself may be wrong,
    # so it comes before a plain failure, whose verdicts the scorer stands by.
    "needs_review": "Verdict incertain à vérifier",
    "failed": "Échec",
    "unverified": "Verdicts LLM non vérifiés",
    "near_threshold": "Proche du seuil de réussite",
    "sample": "Échantillon de calibration",
}
ORDER = tuple(REASONS)
SAMPLE = "sample"  # the queue's calibration draw: the one reason this module cannot decide


@lru_cache(maxsize=1)
def _builtin_threshold() -> float:
    return float(default_grid().pass_threshold)


@lru_cache(maxsize=64)
def _pass_threshold(definition: str) -> float | None:
    """Pass threshold of a stored grid text, parsed once per distinct text; None when it no longer loads."""
    try:
        return float(load_grid_yaml(definition).pass_threshold)
    except CcrError:
        return None


def grid_thresholds(session: Session, org_id: int, grid_ids: Iterable[int] | None = None) -> dict[int | None, float]:
    """Pass threshold of each grid version of the organisation (all of them, or only ``grid_ids``), by grid id.

    Key None holds the built-in grid's threshold, which judges the evaluations scored without a stored grid,
    with another organisation's or with one that no longer loads (a broken grid must not break a list).
    """
    out: dict[int | None, float] = {None: _builtin_threshold()}
    stmt = select(GridRow.id, GridRow.definition_json).where(GridRow.org_id == org_id)
    if grid_ids is not None:
        stmt = stmt.where(col(GridRow.id).in_(set(grid_ids) or {-1}))
    for grid_id, definition in session.exec(stmt).all():
        threshold = _pass_threshold(definition)
        if threshold is not None:
            out[grid_id] = threshold
    return out


def threshold_for(thresholds: Mapping[int | None, float], grid_id: int | None) -> float:
    """The pass threshold an evaluation scored with ``grid_id`` is judged against."""
    return thresholds.get(grid_id, thresholds[None])


def _threshold_sql(thresholds: Mapping[int | None, float]):
    """:func:`threshold_for` on ``Evaluation.grid_id``, as SQL."""
    default = thresholds[None]
    # Grids with the built-in threshold fall in the ELSE branch: the CASE only names those that differ.
    others = {grid_id: t for grid_id, t in thresholds.items() if grid_id is not None and t != default}
    if not others:
        return literal(default, Float)
    return case(others, value=Evaluation.grid_id, else_=literal(default, Float))


def review_condition(thresholds: Mapping[int | None, float], margin: float):
    """SQL on Evaluation: not validated, and at least one reason of :func:`review_codes` holds."""
    e = Evaluation
    near = sa_func.abs(e.final_score - _threshold_sql(thresholds)) <= margin
    return and_(e.validated == False,  # noqa: E712
                or_(e.final_critical_failed == True, e.final_passed == False,  # noqa: E712
                    e.needs_review == True, e.unverified == True, near))  # noqa: E712


def review_codes(row: Any, thresholds: Mapping[int | None, float], margin: float) -> tuple[str, ...]:
    """Why one evaluation row is « à revoir », most urgent first; empty when it is not (the sample aside).

    ``row`` carries the Evaluation columns ``validated``, ``grid_id``, ``final_score``, ``final_passed``,
    ``final_critical_failed``, ``needs_review`` and ``unverified``.
    """
    if row.validated:
        return ()
    codes = []
    if row.final_critical_failed:
        codes.append("critical")
    elif not row.final_passed:
        codes.append("failed")
    if row.needs_review:
        codes.append("needs_review")
    if row.unverified:
        codes.append("unverified")
    threshold = threshold_for(thresholds, row.grid_id)
    # A critical failure fails whatever the score: being near the threshold adds nothing to it.
    if abs(row.final_score - threshold) <= margin and not row.final_critical_failed:
        codes.append("near_threshold")
    return tuple(sorted(codes, key=ORDER.index))
