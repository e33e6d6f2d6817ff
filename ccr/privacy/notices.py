"""The facts the public privacy pages state, read live: retention durations, sub-processors, contacts.

The pages never restate a duration in prose: they show what the retention
settings in force say (the organisation's own for a logged-in user, the
defaults for a visitor), so the notice and the purge job cannot disagree.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from ccr.core.config import Settings
from ccr.privacy import retention
from ccr.privacy.subprocessors import list_subprocessors


def retention_rows(*, session: Session, settings: Settings, org_id: int | None = None) -> list[dict[str, Any]]:
    """Each data category with its duration in force: the organisation's settings, else the defaults."""
    if org_id is None:
        days = {key: retention.default_days(key, settings) for key in retention.CATEGORIES}
    else:
        days = retention.retention_days(session=session, org_id=org_id, settings=settings)
    return [
        {"category": key, "label": rule.label, "days": days[key], "counted_from": rule.counted_from,
         "reference": rule.reference}
        for key, rule in retention.CATEGORIES.items()
    ]


def other_durations(settings: Settings) -> list[dict[str, str]]:
    """Durations that come from the settings rather than the per-organisation retention table."""
    return [
        {"label": "Comptes utilisateurs",
         "duration": f"durée du contrat, puis suppression au plus tard {settings.termination_grace_days} jours "
                     "après la résiliation"},
        {"label": "Sauvegardes chiffrées",
         "duration": f"les {settings.backup_keep} plus récentes ; les plus anciennes sont supprimées"},
        {"label": "Choix sur les cookies (dans votre navigateur)",
         "duration": f"{settings.consent_max_days} jours au plus"},
        {"label": "Cookie de reconnexion", "duration": f"{settings.cookie_expiry_hours:g} heures"},
    ]


def subprocessor_rows(settings: Settings) -> list[dict[str, Any]]:
    """The sub-processors in force (``ccr.privacy.subprocessors.list_subprocessors``), as plain dicts."""
    return [dict(item) for item in list_subprocessors(settings)]
