"""The agent's journey in Chromium: log in, open a published evaluation, play its evidence, contest a criterion;
a supervisor accepts; the agent sees the new score."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, TEST_PASSWORD
from tests.e2e.conftest import attached_to, choose, login, screenshot, start_server, stop_server, wait_idle
from tests.reviewdata import contract, make_call

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def agent_server(tmp_path_factory):
    """A server with one organisation, a draft and a published AI-only evaluation of the agent login's agent."""
    from ccr.core import db, storage
    from ccr.core.models import Call
    from ccr.quality import reviews
    from tests.conftest import make_tenant

    server = start_server(tmp_path_factory.mktemp("e2e-agent"), extra_env={"CCR_REVIEW_SAMPLE_RATE": "0"})
    try:
        with attached_to(server):
            tenant = make_tenant("Alpha Conseil", "alpha")
            team, agent = tenant.team_ids[0], tenant.agent_ids[0]
            make_call(org_id=tenant.org_id, team_id=team, agent_id=agent, result=contract())  # a draft
            call_id = make_call(org_id=tenant.org_id, team_id=team, agent_id=agent, result=contract(),
                                duration_s=41.9)
            wav = (FIXTURES / "audio" / "a01-000.wav").read_bytes()
            with db.session() as s:
                call = s.get(Call, call_id)
                call.audio_key, call.codec = storage.put_audio(wav, org_id=tenant.org_id), "pcm_s16le"
                s.add(call)
            with db.session() as s:
                ev_id = reviews.publish_evaluation(session=s, actor=tenant.actor("supervisor"), call_id=call_id).id
            yield server, ev_id
    finally:
        stop_server(server)


def test_agent_contests_a_criterion_and_sees_the_accepted_score(browser, agent_server):
    server, ev_id = agent_server
    agent_ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    sup_ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        page = agent_ctx.new_page()
        page.set_default_timeout(30_000)
        login(page, server, "alpha.agent", TEST_PASSWORD)
        page.get_by_role("heading", name="🗂️ Mes évaluations", exact=True).wait_for()
        page.get_by_role("button", name="Ouvrir", exact=True).first.wait_for()
        wait_idle(page)
        assert page.get_by_role("button", name="Ouvrir", exact=True).count() == 1  # the draft is not there
        page.get_by_role("button", name="Ouvrir", exact=True).click()
        page.get_by_text("Évaluation automatique, non revue par un humain").wait_for()
        wait_idle(page)

        # The evidence of « Solution ou étape suivante » (12 s): the recording plays from there.
        page.get_by_role("button", name="⏱ 00:12").first.click()
        page.get_by_text("Lecture à partir de 00:12").wait_for()
        wait_idle(page)
        page.wait_for_function("() => { const a = document.querySelector('audio'); return a && a.currentTime >= 11.9; }")

        choose(page, page.get_by_test_id("stMultiSelect"), page.get_by_role("option", name="Identification du client"))
        page.keyboard.press("Escape")
        wait_idle(page)
        page.get_by_text("Verdict demandé pour « Identification du client »").wait_for()
        box = page.get_by_label("Votre explication (obligatoire)")
        box.fill("J'ai demandé le numéro client au début de l'appel.")
        box.press("Control+Enter")
        wait_idle(page)
        page.get_by_role("button", name="Envoyer la contestation").click()
        page.get_by_text("Contestation envoyée").wait_for()
        page.get_by_text("en attente").first.wait_for()
        screenshot(page, "agent-dispute-open")

        sup = sup_ctx.new_page()
        sup.set_default_timeout(30_000)
        login(sup, server, "alpha.supervisor", TEST_PASSWORD)
        sup.get_by_text("1 contestation de téléconseillers en attente de réponse.").wait_for()
        sup.get_by_test_id("stSidebarNav").get_by_text("Contestations", exact=True).click()
        wait_idle(sup)
        sup.get_by_text("J'ai demandé le numéro client au début de l'appel.").wait_for()
        sup.get_by_text("Accepter « Identification du client »").click()
        wait_idle(sup)
        sup.get_by_role("button", name="Enregistrer la réponse").click()
        sup.get_by_text("Contestation n° 1 : acceptée.").wait_for()
        screenshot(sup, "supervisor-dispute-accepted")

        page.goto(f"{server.url}/my_evaluations?evaluation={ev_id}")
        page.get_by_text("Évaluation validée par un superviseur").wait_for()
        wait_idle(page)
        tile = page.get_by_test_id("stMetric").filter(has_text="Score retenu").first
        assert tile.get_by_test_id("stMetricValue").inner_text().strip() == "87,5"
        page.get_by_text("Score initial du programme : 75").wait_for()
        page.get_by_text("acceptée").first.wait_for()
        screenshot(page, "agent-dispute-accepted")
    finally:
        agent_ctx.close()
        sup_ctx.close()
