"""The administrator's scope journey in Chromium: a quota of one call per agent and month, a staff representative
excluded, then an import: the representative's call refused, the agent's calls beyond the draw kept without
analysis, and one of them asked for."""

from __future__ import annotations

import pytest

from tests.audiodata import cut_wav
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import attached_to, choose, login, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scope_server(tmp_path_factory):
    """A fresh server with one organisation and no calls."""
    from tests.conftest import make_tenant

    server = start_server(tmp_path_factory.mktemp("e2e-scope"))
    try:
        with attached_to(server):
            make_tenant("Alpha Conseil", "alpha")
            yield server
    finally:
        stop_server(server)


def _open(page, server, key: str) -> None:
    """Open a page by its address: the admin's long menu folds some entries behind « View more »."""
    page.goto(f"{server.url}/{key}")
    wait_idle(page)


def _pick(page, label: str, option: str | None = None) -> None:
    """Choose ``option`` (the first when None) in the selectbox labelled ``label``."""
    options = page.get_by_role("option", name=option, exact=True) if option else page.get_by_role("option").first
    choose(page, page.get_by_label(label, exact=True), options)
    wait_idle(page)


def test_admin_sets_a_quota_excludes_an_agent_and_sees_the_import_follow(page, scope_server):
    server = scope_server
    login(page, server, "alpha.admin", TEST_PASSWORD)
    _open(page, server, "scope")
    page.get_by_role("heading", name="🧭 Périmètre d'évaluation").wait_for()
    page.get_by_text("Tous les appels importés sont analysés.").wait_for()

    page.get_by_text("Un quota d'appels par agent et par période").click()
    page.get_by_label("Quota par agent").fill("1")
    page.get_by_role("button", name="Enregistrer les règles").click()
    page.get_by_text("Règles enregistrées").wait_for()
    page.get_by_text("Au plus 1 appel par agent et par mois, tiré au sort, est analysé.").wait_for()

    page.get_by_role("tab", name="Exclusions (0)").click()
    wait_idle(page)
    _pick(page, "Agent", "alpha agent 2")
    page.get_by_label("Motif (visible des administrateurs et du DPO seulement)").fill("Élue du CSE")
    page.get_by_role("button", name="Ajouter l'exclusion").click()
    page.get_by_text("Exclusion ajoutée.").wait_for()
    page.get_by_role("tab", name="Exclusions (1)").wait_for()
    screenshot(page, "perimetre-exclusion")

    _open(page, server, "import")
    page.get_by_text("Import d'appels").first.wait_for()
    files = [{"name": f"20260315-1{i}3005_alpha-agent-1_entrant_Fibre.wav", "mimeType": "audio/wav",
              "buffer": cut_wav("a01-000.wav", 2, start=3.0 * i)} for i in range(3)]
    files.append({"name": "20260315-150000_alpha-agent-2_entrant_Fibre.wav", "mimeType": "audio/wav",
                  "buffer": cut_wav("a01-002.wav", 2)})
    page.locator("input[type=file][multiple]").set_input_files(files)
    page.get_by_text("_Fibre.wav").nth(3).wait_for()  # every file listed (long names are shortened)
    page.get_by_role("button", name="Importer").click()
    page.get_by_text("3 accepté(s), 1 non importé(s).").wait_for(timeout=60_000)
    refusal = page.get_by_test_id("stAlert").filter(has_text="alpha-agent-2")
    refusal.wait_for()
    assert "exclus de l'évaluation" in refusal.inner_text() and "CSE" not in refusal.inner_text()
    # The quota is a ceiling: one call at most is drawn, the others are kept without analysis.
    page.get_by_text("conservé(s) sans analyse (périmètre d'évaluation)").wait_for()
    page.get_by_text("Appels conservés sans analyse (").wait_for()
    screenshot(page, "import-quota")

    _pick(page, "Appel")
    page.get_by_label("Motif de la demande").fill("Réclamation écrite du client sur cet appel")
    page.get_by_role("button", name="Demander l'analyse").click()
    page.get_by_text("mis en file d'analyse").wait_for()

    from sqlmodel import select

    from ccr.core.db import session
    from ccr.core.models import Call

    with session() as s:
        calls = s.exec(select(Call).order_by(Call.id)).all()
    assert [c.source_name for c in calls] == [f["name"] for f in files[:3]]  # the representative's was refused
    assert sum(c.scope == "in" for c in calls) <= 1 and sum(c.scope == "requested" for c in calls) == 1
    assert {c.scope for c in calls} <= {"in", "requested", "sampled_out"}
