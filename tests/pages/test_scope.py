"""« Périmètre d'évaluation », run as its users would run it: the admin changes it, the DPO reads it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccr.core.db import session
from ccr.pipeline.ingest import ingest_files
from ccr.quality import scope
from tests.audiodata import cut_wav
from tests.pages.helpers import refused, run_page


def _text(at) -> str:
    return "\n".join(str(getattr(e, "value", "")) for kind in ("markdown", "caption", "info", "warning", "success")
                     for e in getattr(at, kind))


def test_the_admin_sets_a_quota_and_excludes_an_agent_from_the_page(tenants):
    a, _ = tenants
    at = run_page("pages/scope.py", a.users["admin"])
    assert not at.exception and "Tous les appels importés sont analysés." in _text(at)
    at.radio[0].set_value("quota")
    at.number_input[0].set_value(4)
    next(b for b in at.button if b.label == "Enregistrer les règles").click().run()
    assert not at.exception and not at.error
    assert "Au plus 4 appels par agent et par mois, tirés au sort, sont analysés." in _text(at)
    with session() as s:
        assert scope.get_rules(session=s, org_id=a.org_id).quota == 4
    at.selectbox(key="scope_kind").set_value("agent").run()
    agent_box = next(sb for sb in at.selectbox if sb.label == "Agent")
    agent_box.set_value(a.agent_ids[3])
    next(t for t in at.text_input if t.label.startswith("Motif")).input("Élu du CSE")
    next(b for b in at.button if b.label == "Ajouter l'exclusion").click().run()
    assert not at.exception and not at.error
    with session() as s:
        [exclusion] = scope.get_rules(session=s, org_id=a.org_id).exclusions
    assert (exclusion.kind, exclusion.value, exclusion.reason) == ("agent", str(a.agent_ids[3]), "Élu du CSE")


def test_the_dpo_reads_the_rules_and_the_bilan_but_cannot_change_them(tenants):
    a, _ = tenants
    files = [(f"x{i}.wav", cut_wav("a01-000.wav", 0.6, start=0.4 * i)) for i in range(3)]
    ingest_files(actor=a.actor("supervisor"), files=files,
                 defaults={"agent": "alpha agent 1", "started_at": datetime.now(UTC)})
    at = run_page("pages/scope.py", a.users["dpo"])
    assert not at.exception
    assert all(r.disabled for r in at.radio) and not [b for b in at.button if b.label == "Ajouter l'exclusion"]
    [table] = [df for df in at.dataframe if "Reçus" in df.value.columns]
    row = table.value.iloc[0]
    assert (row["Agent"], row["Reçus"], row["Analysés"], row["Part analysée"]) == ("alpha agent 1", 3, 3, "100\u00a0%")


@pytest.mark.parametrize("role", ["supervisor", "team_lead", "agent"])
def test_other_roles_are_refused(tenants, role):
    a, _ = tenants
    assert refused(run_page("pages/scope.py", a.users[role]))
