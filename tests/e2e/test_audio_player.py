"""Browser journeys of the recording player: no URL serves a decrypted recording to a client without a session.

``st.audio(bytes)`` served the recording at ``/media/<hash>.wav`` to anyone holding that address while
the player was open. The player now sends it inside the page (a ``data:`` URL); only a recording too large
for one websocket message still gets a media URL, and that one dies as soon as its page is left.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from tests.audiodata import cut_wav
from tests.conftest import FIXTURES, TEST_PASSWORD
from tests.e2e.conftest import attached_to, login, start_server, stop_server, wait_idle
from tests.reviewdata import contract, make_call

pytestmark = pytest.mark.e2e

# A small websocket message limit (MB) so a fixture recording of 2.7 MB is "too large for one message".
MAX_MESSAGE_MB = "3"


@pytest.fixture(scope="module")
def player_server(tmp_path_factory):
    """One organisation with two calls to review: a short recording and one over the inline limit."""
    from ccr.core import db, storage
    from ccr.core.models import Call
    from tests.conftest import make_tenant

    server = start_server(tmp_path_factory.mktemp("e2e-player"),
                          extra_env={"CCR_REVIEW_SAMPLE_RATE": "0", "STREAMLIT_SERVER_MAX_MESSAGE_SIZE": MAX_MESSAGE_MB})
    try:
        with attached_to(server):  # the test process writes into the server's database and audio store
            tenant = make_tenant("Alpha Conseil", "alpha")
            recordings = {"short": cut_wav("a01-000.wav", 8), "large": (FIXTURES / "audio" / "a01-000.wav").read_bytes()}
            ids = {}
            for name, wav in recordings.items():
                call_id = make_call(org_id=tenant.org_id, team_id=tenant.team_ids[0], agent_id=tenant.agent_ids[0],
                                    result=contract(), duration_s=8 if name == "short" else 41.9)
                with db.session() as s:
                    call = s.get(Call, call_id)
                    call.audio_key, call.codec = storage.put_audio(wav, org_id=tenant.org_id), "pcm_s16le"
                    s.add(call)
                ids[name] = call_id
            yield server, ids
    finally:
        stop_server(server)


def _open_player(page, server, call_id: int) -> str:
    """Open a call's review page, press play; the player's source URL."""
    page.goto(f"{server.url}/review?call_id={call_id}")
    page.get_by_role("button", name="▶️ Écouter l'enregistrement").click()
    page.locator("audio").wait_for(state="attached")
    wait_idle(page)
    # The browser decoded it: the player knows the recording's length.
    page.wait_for_function("() => { const a = document.querySelector('audio'); return a && a.duration > 5; }")
    return page.evaluate("() => document.querySelector('audio').src")


def _status_without_session(url: str) -> int:
    """The HTTP status a client with no cookie and no websocket session gets for ``url``."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_a_recording_reaches_the_player_without_any_address(page, player_server):
    server, ids = player_server
    login(page, server, "alpha.supervisor", TEST_PASSWORD)
    source = _open_player(page, server, ids["short"])
    assert source.startswith("data:audio/wav;base64,"), source[:80]
    assert not [u for u in page.ccr_requests if u.startswith(f"{server.url}/media/")]


def test_a_recording_too_large_for_the_page_is_served_only_while_its_page_is_shown(page, player_server):
    server, ids = player_server
    login(page, server, "alpha.supervisor", TEST_PASSWORD)
    source = _open_player(page, server, ids["large"])
    assert source.startswith(f"{server.url}/media/"), source[:80]
    # The remaining risk the README states: while the player is on screen, the address answers anyone.
    assert _status_without_session(source) == 200

    page.get_by_test_id("stSidebarNav").get_by_text("Tableau de bord", exact=True).click()
    wait_idle(page)
    deadline = time.monotonic() + 30
    while (status := _status_without_session(source)) != 404 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 404, "l'enregistrement reste servi après avoir quitté la page"
