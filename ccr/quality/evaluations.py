"""Evaluations: storing a scoring result with its flattened verdicts, and reading the current one.

A new evaluation of a call becomes the current one; older ones stay for history
(an evaluation records the grid version it used and is never rewritten).
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select, update

from ccr.core.calls import get_call
from ccr.core.errors import NotFound
from ccr.core.models import Call, CriterionResult, Evaluation, IrritantHit
from ccr.core.users import Actor
from ccr.dashboards.rollups import mark_dirty


def unit_share(value: Any) -> float | None:
    """``value`` as a share between 0 and 1, or None when it is not one (a result that does not say)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


def store_evaluation(*, session: Session, call: Call, result: dict[str, Any], grid_id: int | None) -> Evaluation:
    """Save ``result`` (the scoring contract object) as the call's current evaluation, in the caller's transaction."""
    mark_dirty(session, call.org_id, [call.started_at])  # dashboard rollups of that day (ccr.dashboards.rollups)
    session.exec(
        update(Evaluation)
        .where(Evaluation.call_id == call.id, Evaluation.org_id == call.org_id, Evaluation.is_current == True)  # noqa: E712
        .values(is_current=False)
    )
    extra = result.get("extra") or {}
    ev = Evaluation(
        org_id=call.org_id,
        call_id=call.id,
        grid_id=grid_id,
        grid_slug=result["grid"],
        grid_version=int(result["grid_version"]),
        engine=result["engine"],
        is_current=True,
        ai_score=float(result["score"]),
        ai_passed=bool(result["passed"]),
        ai_critical_failed=bool(result["critical_failed"]),
        final_score=float(result["score"]),
        final_passed=bool(result["passed"]),
        final_critical_failed=bool(result["critical_failed"]),
        category=result.get("category"),
        irritant_count=len(result.get("irritants") or []),
        unverified=bool(extra.get("unverified")),
        needs_review=bool(result.get("needs_review")),  # results scored before the flag existed: False
        result_risk=unit_share(result.get("result_risk")),
        result_json=json.dumps(result, ensure_ascii=False),
        usage_json=json.dumps(extra["usage"]) if extra.get("usage") else None,
        team_id=call.team_id,
        agent_id=call.agent_id,
        started_at=call.started_at,
        campaign=call.campaign,
        direction=call.direction,
        duration_s=call.duration_s,
        silence_s=call.silence_s,
        agent_talk_s=call.agent_talk_s,
        customer_talk_s=call.customer_talk_s,
        restricted=call.restricted,
    )
    session.add(ev)
    session.flush()
    for crit in result["criteria"]:
        session.add(CriterionResult(org_id=call.org_id, evaluation_id=ev.id, call_id=call.id,
                                    criterion_id=crit["id"], ai_verdict=crit["verdict"],
                                    final_verdict=crit["verdict"], team_id=call.team_id,
                                    agent_id=call.agent_id, started_at=call.started_at))
    for irr in result.get("irritants") or []:
        session.add(IrritantHit(org_id=call.org_id, evaluation_id=ev.id, call_id=call.id, label=irr["label"],
                                start_s=float(irr.get("start") or 0.0), team_id=call.team_id,
                                agent_id=call.agent_id, started_at=call.started_at))
    return ev


def current_evaluation(*, session: Session, actor: Actor, call_id: int) -> Evaluation | None:
    """The current evaluation of a call the actor may see (None when not scored yet)."""
    call = get_call(session=session, actor=actor, call_id=call_id)
    return session.exec(
        select(Evaluation).where(Evaluation.call_id == call.id, Evaluation.org_id == actor.org_id,
                                 Evaluation.is_current == True)  # noqa: E712
    ).first()


def list_evaluations(*, session: Session, actor: Actor, call_id: int) -> list[Evaluation]:
    """Every evaluation of a call the actor may see, newest first."""
    call = get_call(session=session, actor=actor, call_id=call_id)
    return list(session.exec(
        select(Evaluation).where(Evaluation.call_id == call.id, Evaluation.org_id == actor.org_id)
        .order_by(col(Evaluation.id).desc())
    ).all())


def get_evaluation(*, session: Session, actor: Actor, evaluation_id: int) -> Evaluation:
    """One evaluation, if its call is visible to the actor."""
    ev = session.get(Evaluation, evaluation_id)
    if ev is None or ev.org_id != actor.org_id:
        raise NotFound("Évaluation introuvable.")
    get_call(session=session, actor=actor, call_id=ev.call_id)
    return ev


def result_of(ev: Evaluation) -> dict[str, Any]:
    """The stored scoring contract object of an evaluation."""
    return json.loads(ev.result_json)
