"""Reads behind the public privacy pages, so the pages stay free of sessions and queries."""

from __future__ import annotations

from typing import Any

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.users import Actor
from ccr.privacy.notices import other_durations, retention_rows, subprocessor_rows
from ccr.quality.scope import get_rules

# French column titles of the sub-processor table; keys not listed keep their own name.
SUBPROCESSOR_COLUMNS = {
    "name": "Sous-traitant", "purpose": "Finalité", "data": "Données transmises", "location": "Localisation",
    "country": "Pays", "host": "Adresse", "guarantees": "Garanties", "transfer": "Transfert hors UE",
    "enabled": "Actif", "since": "Depuis",
}


def retention_table(actor: Actor | None) -> list[dict[str, Any]]:
    """Durations in force, as table rows: the actor's organisation, else the defaults (not cached: always live)."""
    settings = get_settings()
    with session() as s:
        rows = retention_rows(session=s, settings=settings, org_id=actor.org_id if actor else None)
    table = [{"Données": r["label"], "Durée de conservation": f"{r['days']} jours",
              "À compter de": r["counted_from"]} for r in rows]
    table += [{"Données": o["label"], "Durée de conservation": o["duration"], "À compter de": ""}
              for o in other_durations(settings)]
    return table


def subprocessor_table() -> list[dict[str, Any]]:
    """The sub-processors in force, with French column titles."""
    return [{SUBPROCESSOR_COLUMNS.get(k, k): v for k, v in row.items()} for row in subprocessor_rows(get_settings())]


def scope_lines(actor: Actor | None) -> list[str]:
    """What the viewer's organisation analyses, for the agents' notice: the rule, then each announced period."""
    if actor is None:
        return []
    with session() as s:
        rules = get_rules(session=s, org_id=actor.org_id)
    lines = [rules.summary()]
    if rules.use_periods:
        lines += [f"Du {p.starts_on:%d/%m/%Y} au {p.ends_on:%d/%m/%Y}" + (f" : {p.label}" if p.label else "")
                  for p in rules.periods] or ["Aucune période annoncée pour le moment : aucun appel n'est analysé."]
    return lines
