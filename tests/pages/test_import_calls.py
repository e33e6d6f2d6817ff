"""Import page: who may open it, what it shows, and the progress of a batch with « Relancer » on failures."""

from __future__ import annotations

import uuid

import pytest

from ccr.core.db import session
from ccr.core.models import Call
from tests.pages.helpers import refused, run_page

PAGE = "pages/import_calls.py"


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_get_the_uploaders_and_the_defaults_form(tenants, role):
    alpha, _ = tenants
    at = run_page(PAGE, alpha.users[role])
    assert not at.exception and not refused(at)
    assert at.title[0].value == "📥 Import d'appels"
    assert [s.label for s in at.selectbox] == ["Agent", "Équipe", "Sens"]
    agent_box = at.selectbox[0]
    assert agent_box.options[1:] == [
        "alpha agent 0", "alpha agent 1", "alpha agent 2", "alpha agent 3"]  # own organisation only
    assert "Importer" in [b.label for b in at.button]
    panel = {m.label: m.value for m in at.sidebar.metric}
    assert panel == {"En file": "0", "En cours": "0", "Terminés": "0", "Échecs": "0"}


@pytest.mark.parametrize("role", ["team_lead", "dpo"])
def test_other_roles_are_refused(tenants, role):
    alpha, _ = tenants
    at = run_page(PAGE, alpha.users[role])
    assert refused(at)
    assert not at.selectbox


def _call(org_id: int, name: str, **fields) -> int:
    with session() as s:
        call = Call(org_id=org_id, sha256=uuid.uuid4().hex, source_name=name, **fields)
        s.add(call)
        s.flush()
        return call.id


def test_a_batch_shows_each_state_and_a_failed_call_can_be_relaunched(tenants):
    from streamlit.testing.v1 import AppTest

    from ccr.core.db import utcnow
    from tests.pages.helpers import REPO

    alpha, beta = tenants
    done = _call(alpha.org_id, "fini.wav", status="done")
    queued = _call(alpha.org_id, "attente.wav", status="queued", duration_s=30.0)
    failed = _call(alpha.org_id, "echec.wav", status="failed", attempts=3,
                   last_error="Le fichier audio chiffré a été altéré.")
    foreign = _call(beta.org_id, "autre.wav", status="failed")
    at = AppTest.from_file(str(REPO / PAGE), default_timeout=60)
    at.session_state["ccr_user_id"] = alpha.users["supervisor"]
    at.session_state["ccr_issued_at"] = utcnow()
    at.session_state["ccr_import_batch"] = {
        "results": [{"fichier": "fini.wav", "statut": "accepté", "raison": "", "appel": done},
                    {"fichier": "bruit.wav", "statut": "refusé", "raison": "Le fichier est vide (0 octet).",
                     "appel": None}],
        "line_errors": [{"ligne": 3, "fichier": "x.wav", "erreur": "Agent « X » inconnu."}],
        "call_ids": [done, queued, failed, foreign],
    }
    at.run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Fichiers reçus", "Lignes du fichier de métadonnées non appliquées",
                                               "Traitement"]
    progress = at.dataframe[2].value
    assert list(progress["fichier"]) == ["fini.wav", "attente.wav", "echec.wav"]  # another tenant's call is hidden
    assert list(progress["statut"]) == ["terminé", "en file", "échec"]
    assert "inconnu (aucun worker actif)" in at.get("progress")[0].proto.text
    assert any("altéré" in e.value for e in at.error)
    relaunch = [b for b in at.button if b.label == "Relancer"]
    assert len(relaunch) == 1
    relaunch[0].click().run()
    with session() as s:
        assert s.get(Call, failed).status == "queued"
        assert s.get(Call, foreign).status == "failed"
    assert any("relancé" in i.value for i in at.info)


def test_a_supervisor_asks_for_the_analysis_of_a_call_the_quota_left_aside(tenants):
    from ccr.pipeline.ingest import ingest_files
    from ccr.quality import scope
    from tests.audiodata import cut_wav

    a, _ = tenants
    with session() as s:
        scope.update_rules(session=s, actor=a.actor("admin"), sampling="quota", quota=1, quota_period="month",
                           store_excluded=False, use_periods=False, block_unvalidated_exports=False)
    files = [(f"q{i}.wav", cut_wav("a01-000.wav", 0.6, start=0.4 * i)) for i in range(4)]
    results = ingest_files(actor=a.actor("supervisor"), files=files, defaults={"agent": "alpha agent 0"}).results
    with session() as s:
        stored = [r.call_id for r in results if s.get(Call, r.call_id).status == "stored"]
    assert len(stored) >= 3  # the quota is a ceiling: one call at most was drawn
    at = run_page(PAGE, a.users["supervisor"])
    assert not at.exception
    assert any(h.value.startswith(f"Appels conservés sans analyse ({len(stored)})") for h in at.subheader)
    box = next(sb for sb in at.selectbox if sb.label == "Appel")
    assert len(box.options) == len(stored) and all(o.startswith("Appel n° ") for o in box.options)
    box.set_value(stored[0])
    next(t for t in at.text_input if t.label == "Motif de la demande").input("Réclamation du client par courrier")
    next(b for b in at.button if b.label == "Demander l'analyse").click().run()
    assert not at.exception and not at.error
    with session() as s:
        call = s.get(Call, stored[0])
    assert (call.scope, call.status) == ("requested", "queued")


def test_the_batch_marks_a_call_whose_channels_seem_swapped_and_links_to_its_review(tenants):
    from streamlit.testing.v1 import AppTest

    from ccr.core.db import utcnow
    from tests.pages.helpers import REPO

    alpha, _ = tenants
    fine = _call(alpha.org_id, "droit.wav", status="done", channels=2, channel_check="ok")
    swapped = _call(alpha.org_id, "inverse.wav", status="done", channels=2, channel_check="suspect")
    at = AppTest.from_file(str(REPO / PAGE), default_timeout=60)
    at.session_state["ccr_user_id"] = alpha.users["supervisor"]
    at.session_state["ccr_issued_at"] = utcnow()
    at.session_state["ccr_import_batch"] = {
        "results": [{"fichier": n, "statut": "accepté", "raison": "", "appel": i}
                    for n, i in (("droit.wav", fine), ("inverse.wav", swapped))],
        "line_errors": [], "call_ids": [fine, swapped]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    progress = at.dataframe[1].value
    assert list(progress["canaux"]) == ["", "⚠️ canaux inversés ?"]
    (warning,) = [w.value for w in at.warning if "canal de l'agent" in w.value]
    assert warning.startswith(f"Appel n° {swapped} (inverse\\.wav) : le client semble être sur le canal de l'agent")
    # A link to the call's review page, where a supervisor may swap the channels (a plain link outside navigation).
    assert any(f"/review?call_id={swapped})" in m.value for m in at.markdown)


def test_the_channels_column_stays_hidden_when_no_call_needs_a_look(tenants):
    from streamlit.testing.v1 import AppTest

    from ccr.core.db import utcnow
    from tests.pages.helpers import REPO

    alpha, _ = tenants
    done = _call(alpha.org_id, "fini.wav", status="done", channels=2, channel_check="ok")
    at = AppTest.from_file(str(REPO / PAGE), default_timeout=60)
    at.session_state["ccr_user_id"] = alpha.users["supervisor"]
    at.session_state["ccr_issued_at"] = utcnow()
    at.session_state["ccr_import_batch"] = {"results": [], "line_errors": [], "call_ids": [done]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "canaux" not in at.dataframe[-1].value.columns
