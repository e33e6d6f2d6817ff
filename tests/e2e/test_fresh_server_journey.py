"""A server just (re)started, before anyone opens ``/``: services run, only French page labels show, and a
team lead's deep link to their own call opens through the re-login cookie.

Each test here watches what a process does before its first visit, so the server is started for the
module with its data already in place, and the first test opens no page at all.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import FIXTURES, TEST_PASSWORD
from tests.e2e.conftest import REPO, login, run_async, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

SERVICE_DEADLINE_S = 180  # the first probe is due a minute after the start; a loaded 2-core machine is slow
# What Streamlit's legacy pages/ mode would list: the file names of pages/, and "app" for app.py.
RAW_NAMES = {p.stem.replace("_", " ") for p in (REPO / "pages").glob("*.py")} | {"app"}


def _wait_for(predicate, what: str, deadline_s: float = SERVICE_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, f"état jamais atteint : {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """One organisation with a team lead and a scored call of their team, then a server nobody visited yet."""
    from ccr.core import config, db
    from ccr.core.db import migrate
    from tests.conftest import make_tenant
    from tests.reviewdata import contract, make_call

    root = tmp_path_factory.mktemp("e2e-fresh")
    (root / "data").mkdir()
    mp = pytest.MonkeyPatch()
    servers = []
    try:
        mp.setenv("CCR_DATA_DIR", str(root / "data"))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("CCR_SECRET_KEY", raising=False)
        config.get_settings.cache_clear()
        db.dispose_engines()
        migrate()
        tenant = make_tenant("Alpha Conseil", "alpha")
        call_id = make_call(org_id=tenant.org_id, team_id=tenant.team_ids[0], agent_id=tenant.agent_ids[0],
                            result=contract())
        # No model: a call the worker takes fails fast instead of loading Whisper on a 2-core machine.
        env = {"CCR_ASR_MODEL": str(root / "pas-de-modele"), "CCR_WORKER_POLL_S": "0.5"}
        servers.append(start_server(root, extra_env=env))
        yield {"root": root, "env": env, "tenant": tenant, "call_id": call_id, "servers": servers}
    finally:
        for server in servers:
            stop_server(server)
        db.dispose_engines()
        mp.undo()
        config.get_settings.cache_clear()


def test_background_services_run_before_any_visit(fresh):
    from sqlmodel import col, select

    from ccr.core.db import session
    from ccr.core.models import Call, HealthCheck
    from ccr.pipeline import ingest
    from tests.conftest import count_rows

    batch = ingest.ingest_files(actor=ingest.cli_actor(fresh["tenant"].org_id),
                                files=[("appel.wav", (FIXTURES / "audio" / "a01-000.wav").read_bytes())],
                                defaults={})
    queued_id = batch.results[0].call_id
    assert queued_id, batch.results[0].reason

    def taken() -> bool:
        with session() as s:
            call = s.get(Call, queued_id)
            return call.status != "queued" or call.attempts > 0 or call.lease_owner is not None

    _wait_for(taken, "l'appel importé pris par un worker du serveur")
    _wait_for(lambda: count_rows(HealthCheck, source="scheduler") > 0, "une sonde enregistrée par le planificateur")
    with session() as s:
        probes = s.exec(select(HealthCheck).order_by(col(HealthCheck.checked_at))).all()
    assert probes and probes[0].source == "scheduler"


async def _first_run(url: str, page: str, query: str) -> tuple[list[list[str]], list[str]]:
    """The page lists of every navigation message of one script run, and the texts it drew."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect

    done = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
    navigations, texts = [], []
    async with connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                       additional_headers={"Origin": url}, max_size=1 << 26, open_timeout=60) as ws:
        msg = BackMsg()
        msg.rerun_script.page_name = page
        msg.rerun_script.query_string = query
        await ws.send(msg.SerializeToString())
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=120))
            kind = fwd.WhichOneof("type")
            if kind == "navigation":
                navigations.append([p.page_name for p in fwd.navigation.app_pages])
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                body = getattr(element, element.WhichOneof("type") or "", None)
                if hasattr(body, "body"):
                    texts.append(body.body)
            elif kind == "script_finished" and fwd.script_finished in done:
                return navigations, texts


def test_a_fresh_server_lists_only_french_page_labels(fresh):
    from ccr.core.access import PAGES

    server = fresh["servers"][-1]
    french = {p.title for p in PAGES} | {"Connexion"}
    # The very first run of the process is a deep link, then the home page.
    for page, query in [("review", f"call_id={fresh['call_id']}"), ("", "")]:
        navigations, texts = run_async(_first_run(server.url, page, query))
        shown = {name for names in navigations for name in names}
        assert navigations and shown <= french, shown - french
        assert not shown & RAW_NAMES
        assert not any("Accès refusé" in t for t in texts), texts


def test_a_team_leads_deep_link_opens_on_a_restarted_server(page, fresh):
    call_id = fresh["call_id"]
    login(page, fresh["servers"][-1], "alpha.teamlead", TEST_PASSWORD)  # the browser keeps its re-login cookie
    stop_server(fresh["servers"].pop())
    server = start_server(fresh["root"], extra_env=fresh["env"])  # a fresh process on the same data
    fresh["servers"].append(server)

    page.goto(f"{server.url}/review?call_id={call_id}")
    wait_idle(page)
    try:
        page.get_by_text(f"Appel n° {call_id}", exact=True).wait_for(timeout=60_000)
    except Exception:
        screenshot(page, "lien-direct-serveur-neuf")
        raise
    assert page.get_by_text("Accès refusé").count() == 0
    assert "call_id=" in page.url and "/review" in page.url
