"""Browser journeys of the human review: from the queue to a validated score, and hostile text kept as text."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.conftest import FIXTURES, TEST_PASSWORD
from tests.e2e.conftest import attached_to, login, screenshot, start_server, stop_server, wait_idle
from tests.reviewdata import SEGMENTS, contract, make_call

pytestmark = pytest.mark.e2e

XSS_AGENT = "<script>window.__ccr_xss=1;alert('agent')</script> Mallory"
XSS_TEXT = "Voici <img src=x onerror=\"window.__ccr_xss=2;alert(1)\"> et <script>alert('texte')</script> [CARTE]"


@pytest.fixture(scope="module")
def review_server(tmp_path_factory):
    """A server with one organisation (users of every role), a call with audio to review and a hostile one."""
    from ccr.core import db, storage
    from ccr.core.db import utcnow
    from ccr.core.models import Agent, Call
    from tests.conftest import make_tenant

    server = start_server(tmp_path_factory.mktemp("e2e-review"), extra_env={"CCR_REVIEW_SAMPLE_RATE": "0"})
    try:
        with attached_to(server):  # the test process writes into the server's database and audio store
            tenant = make_tenant("Alpha Conseil", "alpha")
            t1, agents = tenant.team_ids[0], tenant.agent_ids
            review_id = make_call(org_id=tenant.org_id, team_id=t1, agent_id=agents[0], result=contract(),
                                  duration_s=41.9)
            hostile = [dict(SEGMENTS[0]), dict(SEGMENTS[1], text=XSS_TEXT)]
            hostile_result = contract()
            hostile_result["criteria"][4]["evidence"] = [{"start": 4.5, "speaker": "customer", "text": XSS_TEXT}]
            # Older than the dashboard's default period, so the dashboard shows the reviewed call alone.
            xss_id = make_call(org_id=tenant.org_id, team_id=t1, agent_id=agents[2], result=hostile_result,
                               segments=hostile, started_at=utcnow() - timedelta(days=60))
            wav = (FIXTURES / "audio" / "a01-000.wav").read_bytes()
            with db.session() as s:
                call = s.get(Call, review_id)
                call.audio_key, call.codec = storage.put_audio(wav, org_id=tenant.org_id), "pcm_s16le"
                s.add(call)
                agent = s.get(Agent, agents[2])
                agent.name = XSS_AGENT
                s.add(agent)
            yield server, {"review": review_id, "xss": xss_id}
    finally:
        stop_server(server)





def _nav(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_idle(page)


def test_supervisor_reviews_a_call_from_the_queue(page, review_server):
    server, ids = review_server
    cid = ids["review"]
    login(page, server, "alpha.supervisor", TEST_PASSWORD)
    _nav(page, "Tableau de bord")
    assert _tile(page, "Score moyen") == "75,0"

    _nav(page, "À revoir")
    page.get_by_role("link", name=f"Revoir l'appel n° {cid}").click()
    page.get_by_text("Score IA uniquement").wait_for()
    wait_idle(page)
    assert re.search(rf"/review\?call_id={cid}$", page.url)

    # Jump to the evidence of "Solution ou étape suivante" (12 s): the player starts there.
    page.get_by_role("button", name="⏱ 00:12").last.click()
    page.get_by_text("Lecture à partir de 00:12").wait_for()
    wait_idle(page)
    page.wait_for_function("() => { const a = document.querySelector('audio'); return a && a.currentTime >= 11.9; }")

    # Override "Identification du client" (AI: non conforme) with a comment; the score is recomputed live.
    page.get_by_test_id("stSelectbox").nth(2).click()  # after the category and « Accueil »
    page.get_by_role("option", name="Conforme", exact=True).click()
    page.get_by_text("Score recalculé : 87,5").wait_for()
    comment = page.get_by_test_id("stTextInput").nth(1).locator("input")
    comment.fill("Le numéro client est demandé à 0:40.")
    comment.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Valider", exact=True).click()
    page.get_by_text("Évaluation validée : score 87,5 (score IA initial : 75).").wait_for()
    wait_idle(page)
    page.get_by_text("score IA initial : 75").first.wait_for()
    screenshot(page, "review-validated")

    # The call leaves the queue, and the dashboard uses the validated score from now on.
    _nav(page, "À revoir")
    page.get_by_text("Appels non encore validés", exact=False).wait_for()
    assert page.get_by_role("link", name=f"Revoir l'appel n° {cid}").count() == 0
    _nav(page, "Tableau de bord")
    assert _tile(page, "Score moyen") == "87,5"
    assert _tile(page, "Validés par un humain") == "100,0\u00a0%"  # a no-break space: the unit never wraps away
    screenshot(page, "review-dashboard")
    assert all(u.startswith((server.url, "data:", "blob:")) for u in page.ccr_requests)


def _tile(page, label: str) -> str:
    tile = page.get_by_test_id("stMetric").filter(has_text=label).first
    tile.wait_for()
    return tile.get_by_test_id("stMetricValue").inner_text().strip()


def test_hostile_transcript_and_agent_name_stay_text_in_the_browser(page, review_server):
    server, ids = review_server
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, server, "alpha.supervisor", TEST_PASSWORD)
    page.goto(f"{server.url}/review?call_id={ids['xss']}")
    page.get_by_text("Transcription", exact=True).wait_for()
    wait_idle(page)
    page.get_by_text("Mallory").first.wait_for()
    screenshot(page, "review-xss")
    assert dialogs == []
    assert page.evaluate("() => window.__ccr_xss === undefined")
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("[data-testid='stMarkdown'] script, [data-testid='stCaptionContainer'] script").count() == 0
    # The payloads are displayed, character for character.
    assert page.get_by_text("<script>window.__ccr_xss=1;alert('agent')</script> Mallory").count() == 1
    assert page.get_by_text('<img src=x onerror="window.__ccr_xss=2;alert(1)">').count() >= 1
