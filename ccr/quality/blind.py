"""Blind review: when the organisation asks for it, a supervisor scores a call before seeing the AI's verdicts.

Against automation bias (AI Act art. 14(4)(b)): a reviewer shown the AI's verdict tends to confirm it, and
an agreement rate measured that way says little. In blind mode the review page holds no AI verdict, score,
evidence or summary until the reviewer has submitted their own verdicts (:func:`ccr.quality.reviews.
submit_blind`); they are then shown side by side and the reviewer resolves the differences. The stored blind
verdicts are what the calibration page compares with the AI's.
"""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from ccr.core.access import may
from ccr.core.models import BlindScore, Evaluation
from ccr.core.users import Actor
from ccr.quality.policy import get_policy


def own_blind_score(*, session: Session, actor: Actor, evaluation: Evaluation) -> BlindScore | None:
    """The actor's blind verdicts on an evaluation (outside calibration sessions), or None."""
    return session.exec(select(BlindScore).where(
        BlindScore.evaluation_id == evaluation.id, BlindScore.org_id == evaluation.org_id,
        BlindScore.reviewer_id == actor.user_id, col(BlindScore.calibration_id).is_(None),
    ).order_by(col(BlindScore.id).desc())).first()


def blind_pending(*, session: Session, actor: Actor, evaluation: Evaluation) -> bool:
    """True while the AI's verdicts must stay hidden from this reviewer: blind mode is on, they validate
    reviews, nobody has validated the evaluation yet, and they have not submitted their own verdicts."""
    if not may(actor.role, "validate_reviews") or evaluation.validated:
        return False
    if not get_policy(session=session, org_id=evaluation.org_id).blind_review:
        return False
    return own_blind_score(session=session, actor=actor, evaluation=evaluation) is None


def verdicts_of(score: BlindScore) -> dict[str, str]:
    """The verdicts of a blind score, criterion id -> verdict."""
    return json.loads(score.verdicts_json)
