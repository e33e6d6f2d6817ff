"""Publishing an evaluation to its agent, and the agent's acknowledgement.

An evaluation is a draft until a supervisor publishes it: the agent never sees a draft. It is published
either after a human review (« validée ») or as the AI scored it (« évaluation automatique, non revue par
un humain »), and the agent's screen says which. Publishing never changes a score; the agent can contest
a published evaluation within the organisation's deadline (:mod:`ccr.quality.disputes`), which puts a
human in the loop for any AI-only verdict that matters to them (GDPR art. 22).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import Evaluation
from ccr.core.users import Actor


def is_published(ev: Evaluation) -> bool:
    """True once a supervisor has published the evaluation to its agent."""
    return ev.published_at is not None


def mark_published(*, session: Session, actor: Actor, evaluation: Evaluation, now: datetime | None = None) -> bool:
    """Publish an evaluation the caller already read and checked; False when it already was (nothing logged)."""
    if not may(actor.role, "publish_evaluations"):
        raise AccessDenied("Accès refusé : seuls les superviseurs et les administrateurs publient les évaluations.")
    if evaluation.restricted:
        raise InvalidInput("Le traitement de cet appel est limité : son évaluation ne peut pas être publiée.")
    if evaluation.agent_id is None:
        raise InvalidInput("Cet appel n'est rattaché à aucun agent : il n'y a personne à qui publier l'évaluation.")
    if is_published(evaluation):
        return False
    evaluation.published_at = now or utcnow()
    evaluation.published_by = actor.user_id
    evaluation.published_ai_only = not evaluation.validated
    session.add(evaluation)
    audit.log_event(session=session, who=actor.who, action="evaluation_published", target_type="call",
                    target_id=evaluation.call_id,
                    detail={"evaluation_id": evaluation.id, "ia_seule": evaluation.published_ai_only})
    return True


def publication_label(ev: Evaluation) -> str:
    """How the agent's screen qualifies a published evaluation (validated by a human, or AI only)."""
    if ev.validated:
        return "Évaluation validée par un superviseur"
    return "Évaluation automatique, non revue par un humain"
