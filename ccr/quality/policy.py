"""An organisation's rules for disputes and reviews: deadlines, limits, and whether reviews are blind.

Kept as one row per organisation (:class:`~ccr.core.models.QualityPolicy`); an organisation without a row
gets the defaults below, so nothing has to be set up before agents can contest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import QualityPolicy
from ccr.core.users import Actor

MAX_DAYS = 365


@dataclass(frozen=True)
class Policy:
    """The rules in force for one organisation (defaults and their reasons: the model's)."""

    dispute_days: int
    answer_days: int
    dispute_limit: int  # 0 = no limit
    dispute_window_days: int
    blind_review: bool


def get_policy(*, session: Session, org_id: int) -> Policy:
    """The organisation's rules (the defaults when it never changed them)."""
    row = session.get(QualityPolicy, org_id) or QualityPolicy(org_id=org_id)
    return Policy(dispute_days=row.dispute_days, answer_days=row.answer_days, dispute_limit=row.dispute_limit,
                  dispute_window_days=row.dispute_window_days, blind_review=row.blind_review)


def _days(value: int, label: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_DAYS:
        raise InvalidInput(f"{label} : un nombre entier entre {minimum} et {MAX_DAYS}.")
    return value


def update_policy(*, session: Session, actor: Actor, dispute_days: int, answer_days: int, dispute_limit: int,
                  dispute_window_days: int, blind_review: bool) -> Policy:
    """Change the organisation's rules (administrators); the change is audited with its old and new values."""
    if not may(actor.role, "quality_policy"):
        raise AccessDenied("Accès refusé : seuls les administrateurs fixent les règles de contestation et de revue.")
    new = Policy(dispute_days=_days(dispute_days, "Délai de contestation (jours)"),
                 answer_days=_days(answer_days, "Délai de réponse (jours)"),
                 dispute_limit=_days(dispute_limit, "Nombre maximal de contestations", minimum=0),
                 dispute_window_days=_days(dispute_window_days, "Période de ce plafond (jours)"),
                 blind_review=bool(blind_review))
    old = get_policy(session=session, org_id=actor.org_id)
    row = session.get(QualityPolicy, actor.org_id) or QualityPolicy(org_id=actor.org_id)
    for name, value in vars(new).items():
        setattr(row, name, value)
    row.updated_by, row.updated_at = actor.user_id, utcnow()
    session.add(row)
    changes = {k: [getattr(old, k), v] for k, v in vars(new).items() if getattr(old, k) != v}
    audit.log_event(session=session, who=actor.who, action="quality_policy_updated", target_type="organisation",
                    target_id=actor.org_id, detail=changes)
    return new
