"""Cookie consent in a real browser: nothing leaves the app before consent, Matomo only after it, withdrawal.

One journey runs once for the module (visit, refuse, log in, accept, withdraw) against a server whose
Matomo URL points at a stub HTTP server on 127.0.0.1; the tests below read what it recorded. The stub's
``matomo.js`` sets ``_pk_id``/``_pk_ses`` cookies the way the real tracker does.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import REPO, login, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

USERNAME = "parcours.cookies"
PASSWORD = "Motdepasse-Parcours-2026"
SIX_MONTHS_S = 183 * 86_400
# What the real matomo.js does first: a visitor id and a visit cookie on the app's own domain.
STUB_TRACKER_JS = (
    b"document.cookie = '_pk_id.1.c0ff=4f2a9c.1700000000; Max-Age=3600; Path=/; SameSite=Lax';"
    b"document.cookie = '_pk_ses.1.c0ff=1; Max-Age=1800; Path=/; SameSite=Lax';"
)


class _StubMatomo(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path.startswith("/matomo.js"):
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.end_headers()
            self.wfile.write(STUB_TRACKER_JS)
        else:
            self.send_response(204)
            self.end_headers()

    do_POST = do_GET

    def log_message(self, *args) -> None:  # keep the test output clean
        return


@dataclass
class Journey:
    """What the browser did and held at each step of the journey."""

    app_origin: str
    requests: dict[str, list[str]] = field(default_factory=dict)
    cookies: dict[str, list[dict]] = field(default_factory=dict)
    stub_hits: dict[str, list[str]] = field(default_factory=dict)
    banner: dict[str, bool] = field(default_factory=dict)
    inventory: list[dict] = field(default_factory=list)
    storage_inventory: list[dict] = field(default_factory=list)
    storage_keys: set[str] = field(default_factory=set)

    def observed_names(self) -> set[str]:
        return {c["name"] for cookies in self.cookies.values() for c in cookies}


def _foreign(urls: list[str], origin: str) -> list[str]:
    """Requests that went anywhere but the app itself (blob: URLs of the app's own scripts are local)."""
    out = []
    for url in urls:
        inner = url[len("blob:"):] if url.startswith("blob:") else url
        if inner.startswith("data:"):
            continue
        parts = urlsplit(inner)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            out.append(url)
    return out


def _banner_visible(page) -> bool:
    return page.get_by_role("button", name="Tout refuser").count() > 0





def _wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


@pytest.fixture(scope="module")
def journey(browser, tmp_path_factory):
    """Run the whole consent journey once and record requests, cookies and stub hits per step."""
    _StubMatomo.hits = []
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _StubMatomo)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    matomo_url = f"http://127.0.0.1:{stub.server_address[1]}/"
    server = start_server(tmp_path_factory.mktemp("e2e-consent"),
                          extra_env={"CCR_MATOMO_URL": matomo_url, "CCR_MATOMO_SITE_ID": "1"})
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        created = subprocess.run([sys.executable, "-m", "ccr", "create-user", "--org", "Parcours Cookies", "--create-org",
                        "--username", USERNAME, "--role", "supervisor", "--password", PASSWORD],
                       cwd=REPO, env=server.env, check=False, capture_output=True, text=True)
        assert created.returncode == 0, created.stderr[-2000:]
        from ccr.core.config import Settings
        from ccr.privacy.consent import cookie_inventory, storage_inventory

        rec = Journey(app_origin=server.url,
                      inventory=cookie_inventory(Settings(matomo_url=matomo_url, matomo_site_id="1")),
                      storage_inventory=storage_inventory())
        page = context.new_page()
        page.set_default_timeout(30_000)
        seen: list[str] = []
        page.on("request", lambda req: seen.append(req.url))

        def step(name: str) -> None:
            wait_idle(page)
            rec.requests[name] = list(seen)
            seen.clear()
            rec.cookies[name] = context.cookies()
            rec.stub_hits[name] = list(_StubMatomo.hits)
            rec.banner[name] = _banner_visible(page)
            rec.storage_keys.update(page.evaluate(
                "() => Object.keys(window.localStorage).concat(Object.keys(window.sessionStorage))"))

        # 1. First visit, then a public page, before any choice.
        page.goto(server.url)
        page.get_by_role("button", name="Tout refuser").wait_for()
        step("first_visit")
        page.goto(f"{server.url}/cookies")
        page.get_by_role("button", name="Tout refuser").wait_for()
        step("cookie_policy_before_choice")
        screenshot(page, "consent-banner")

        # 2. Refuse: the banner goes, and stays gone after a reload.
        page.get_by_role("button", name="Tout refuser").click()
        _wait_for(lambda: any(c["name"] == "ccr_consent" for c in context.cookies()))
        step("refused")
        page.reload()
        page.get_by_role("button", name="🍪 Gérer mes cookies").wait_for()
        step("refused_reloaded")

        # 3. Log in (the re-login cookie appears), still refused: nothing may leave.
        login(page, server, USERNAME, PASSWORD)
        step("logged_in_refused")

        # 4. Change of mind: accept everything from "Gérer mes cookies".
        page.get_by_role("button", name="🍪 Gérer mes cookies").click()
        page.get_by_role("dialog").get_by_role("button", name="Tout accepter").click()
        _wait_for(lambda: any(c["name"].startswith("_pk_id.") for c in context.cookies()))
        step("accepted")
        screenshot(page, "consent-accepted")

        # 5. Withdraw: cookies deleted, the page reloads, the banner is back.
        page.get_by_role("button", name="🍪 Gérer mes cookies").click()
        page.get_by_role("dialog").get_by_role("button", name="Retirer mon consentement").click()
        _wait_for(lambda: not any(c["name"] == "ccr_consent" for c in context.cookies()))
        page.get_by_role("button", name="Tout refuser").wait_for()
        step("withdrawn")
        hits_before_reload = len(_StubMatomo.hits)
        page.reload()
        page.get_by_role("button", name="Tout refuser").wait_for()
        step("withdrawn_reloaded")
        rec.stub_hits["after_withdrawal"] = _StubMatomo.hits[hits_before_reload:]
        yield rec
    finally:
        context.close()
        stop_server(server)
        stub.shutdown()


NO_CONSENT_STEPS = ("first_visit", "cookie_policy_before_choice", "refused", "refused_reloaded", "logged_in_refused")


@pytest.mark.parametrize("step", NO_CONSENT_STEPS)
def test_nothing_leaves_the_app_before_consent_or_after_refusal(journey, step):
    assert journey.requests[step], "the browser made no request at all: the step did not run"
    assert _foreign(journey.requests[step], journey.app_origin) == []
    assert journey.stub_hits[step] == []
    assert not [c["name"] for c in journey.cookies[step] if c["name"].startswith("_pk_")]


def test_the_banner_shows_on_every_page_until_a_choice(journey):
    assert journey.banner["first_visit"] and journey.banner["cookie_policy_before_choice"]
    assert not journey.banner["refused"] and not journey.banner["refused_reloaded"]
    assert not journey.banner["logged_in_refused"]


def test_accepting_requests_the_tag_and_sets_analytics_cookies(journey):
    assert any(hit.startswith("/matomo.js") for hit in journey.stub_hits["accepted"])
    names = {c["name"] for c in journey.cookies["accepted"]}
    assert any(n.startswith("_pk_id.") for n in names) and "ccr_consent" in names
    # The only foreign host ever contacted is the configured tracker.
    stub_origin = {urlsplit(u).netloc for u in _foreign(journey.requests["accepted"], journey.app_origin)}
    assert len(stub_origin) == 1


@pytest.mark.parametrize("step", ["refused", "accepted"])
def test_the_consent_cookie_lasts_at_most_six_months(journey, step):
    [cookie] = [c for c in journey.cookies[step] if c["name"] == "ccr_consent"]
    lifetime = cookie["expires"] - time.time()
    assert 0 < lifetime <= SIX_MONTHS_S
    assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["httpOnly"]


def test_withdrawal_deletes_the_cookies_and_brings_the_banner_back(journey):
    for step in ("withdrawn", "withdrawn_reloaded"):
        names = {c["name"] for c in journey.cookies[step]}
        assert "ccr_consent" not in names
        assert not [n for n in names if n.startswith("_pk_")]
        assert journey.banner[step]
    assert journey.stub_hits["after_withdrawal"] == []  # the reloaded page no longer loads the tracker
    assert "ccr_auth" in {c["name"] for c in journey.cookies["withdrawn_reloaded"]}  # still logged in


def test_the_cookie_policy_lists_every_cookie_the_browser_saw(journey):
    patterns = [c["name"] for c in journey.inventory]
    observed = journey.observed_names()
    assert {"_streamlit_xsrf", "ccr_auth", "ccr_consent"} <= observed
    unlisted = {name for name in observed if not any(fnmatch.fnmatchcase(name, p) for p in patterns)}
    assert unlisted == set()


def test_the_cookie_policy_lists_every_browser_storage_entry_seen(journey):
    patterns = [c["name"] for c in journey.storage_inventory]
    assert "ccr-consent-reloaded" in journey.storage_keys  # written by the withdrawal
    unlisted = {key for key in journey.storage_keys if not any(fnmatch.fnmatchcase(key, p) for p in patterns)}
    assert unlisted == set()
