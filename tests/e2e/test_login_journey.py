"""Browser journeys of the frame: deep links refused before login, and each role's own navigation."""

import re
import sqlite3
import subprocess
import sys
import time

import pytest

from ccr.core.access import PAGES, pages_for
from ccr.demo import DEMO_PASSWORD
from tests.e2e.conftest import (
    LOGIN_TIMEOUT_MS,
    REPO,
    login,
    run_async,
    screenshot,
    start_server,
    stop_server,
    wait_idle,
    ws_tab,
)

pytestmark = pytest.mark.e2e
DEMO_LOGINS = {"admin": "admin", "dpo": "dpo", "supervisor": "superviseur", "team_lead": "chef.equipe"}
LOCKED_TEXT = "Compte temporairement verrouillé"


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A server nobody has opened yet: Streamlit may still be in its legacy pages/ mode."""
    server = start_server(tmp_path_factory.mktemp("fresh"), seed_args=["--calls", "30", "--days", "10"])
    yield server
    stop_server(server)


def _nav_titles(page, expected: set[str]) -> set[str]:
    """The navigation's page titles, once the sidebar has drawn (or after 20 s)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    more = page.locator('[data-testid="stSidebarNav"]').get_by_role("button", name=re.compile("more|plus", re.I))
    titles: set[str] = set()
    for _ in range(40):
        if more.count():  # Streamlit folds a long menu behind "View N more"
            more.first.click()
        titles = {t.strip().splitlines()[-1].strip() for t in links.all_inner_texts() if t.strip()}  # icon, title
        if titles == expected:
            break
        page.wait_for_timeout(500)
    return titles


def _refusal_or_login(page):
    """Wait until the page shows the guard's refusal or the login form; return which text is shown."""
    shown = page.get_by_text("Accès refusé").or_(page.get_by_label("Identifiant")).first
    shown.wait_for(timeout=30_000)
    return shown


def test_deep_links_refuse_before_any_login(fresh_server, page):
    private = [p for p in PAGES if "public" not in p.roles]
    for spec in private:
        page.goto(f"{fresh_server.url}/{spec.key}")
        _refusal_or_login(page)
        wait_idle(page)
        body = page.locator("body").inner_text()
        assert "Se déconnecter" not in body, f"/{spec.key} rendered a logged-in page"
        assert spec.title not in [h.strip() for h in page.locator("h1").all_inner_texts()], (
            f"/{spec.key} rendered its content without login")
    # the users page's table of accounts never appeared
    page.goto(f"{fresh_server.url}/users")
    wait_idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    screenshot(page, "deep-link-refused")


@pytest.mark.parametrize("role", ["admin", "dpo", "supervisor", "team_lead"])
def test_each_demo_role_sees_its_pages_and_only_those(demo_server, page, role):
    login(page, demo_server, DEMO_LOGINS[role], DEMO_PASSWORD)
    expected = {p.title for p in pages_for(role)}
    assert _nav_titles(page, expected) == expected
    forbidden = [p for p in PAGES if p.title not in expected]
    for spec in forbidden:
        page.goto(f"{demo_server.url}/{spec.key}")
        wait_idle(page)
        # Not listed for this role: the URL falls back to the role's own default page, never the forbidden one.
        assert spec.title not in [h.strip() for h in page.locator("h1").all_inner_texts()]
        assert spec.title not in _nav_titles(page, expected)
    screenshot(page, f"home-{role}")


def test_wrong_password_is_refused_and_counted(demo_server, page):
    page.goto(demo_server.url)
    page.get_by_label("Identifiant").fill("superviseur")
    page.get_by_label("Mot de passe").fill("mauvais-mot-de-passe")
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_text("Identifiant ou mot de passe incorrect").wait_for()


def test_logout_returns_to_the_login_form(demo_server, page):
    login(page, demo_server, "superviseur", DEMO_PASSWORD)
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_label("Identifiant").wait_for()
    page.reload()
    wait_idle(page)
    assert page.get_by_label("Identifiant").count() == 1


@pytest.mark.parametrize("visit", range(3))
def test_what_is_typed_as_soon_as_the_form_appears_is_kept(demo_server, browser, visit):
    """A person types key by key as soon as the form shows, while the fresh page still runs: nothing vanishes.

    The cookie components rerun the page right after it loads; the form used to be redrawn empty then.
    """
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        page = ctx.new_page()
        page.goto(demo_server.url, wait_until="commit")
        page.get_by_label("Identifiant").press_sequentially("superviseur", delay=40, timeout=LOGIN_TIMEOUT_MS)
        page.get_by_label("Mot de passe").press_sequentially(DEMO_PASSWORD, delay=40)
        wait_idle(page)  # every run the load started has ended
        assert page.get_by_label("Identifiant").input_value() == "superviseur"
        assert page.get_by_label("Mot de passe").input_value() == DEMO_PASSWORD
        page.get_by_label("Mot de passe").press("Enter")
        page.get_by_role("button", name="Se déconnecter").wait_for(timeout=LOGIN_TIMEOUT_MS)
    finally:
        ctx.close()


def test_the_page_runs_only_when_the_user_acts(demo_server, browser):
    """No cookie component reruns the page behind the user's back: not after the load, not after the login.

    The library's cookie component reported back from an iframe after the load and after each cookie
    write, each time rerunning the page; a login or a click arriving meanwhile was lost.
    """
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        page = ctx.new_page()
        sent: list[int] = []  # messages from the browser to the server: each asks for a run
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(len(payload))))
        page.goto(demo_server.url)
        page.get_by_role("button", name="Se connecter").wait_for(timeout=LOGIN_TIMEOUT_MS)
        wait_idle(page)
        assert len(sent) == 1, "la page s'est relancée d'elle-même après son chargement"
        page.get_by_label("Identifiant").fill("superviseur")
        page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
        page.get_by_label("Mot de passe").press("Enter")
        page.get_by_role("button", name="Se déconnecter").wait_for(timeout=LOGIN_TIMEOUT_MS)
        deadline = time.monotonic() + LOGIN_TIMEOUT_MS / 1000
        while not any(c["name"] == "ccr_auth" for c in ctx.cookies()) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        wait_idle(page)
        assert any(c["name"] == "ccr_auth" for c in ctx.cookies())
        assert len(sent) == 2, "l'écriture du cookie de reconnexion a relancé la page"
        assert page.locator("iframe").count() == 0
    finally:
        ctx.close()


def test_what_is_typed_in_the_first_drawn_form_logs_in(demo_server):
    """The browser sends the ids of the form it drew first; they must still be the form's ids.

    Streamlit derives widget ids from the running page; the form used to be drawn by the frame,
    whose first run on a fresh load ran under another page id than the next, so what a user typed
    right after the page loaded was wiped by the following run.
    """
    async def journey():
        async with ws_tab(demo_server) as tab:
            first = await tab.run()
            second = await tab.run()  # the rerun a cookie component triggers right after the load
            assert second.widget("text_input", "Identifiant").id == first.widget("text_input", "Identifiant").id
            # Submitted with the ids of the form drawn first, as a browser that rendered it then does.
            done = await tab.run(widgets=tab.login_states(first, "superviseur", DEMO_PASSWORD))
            return done

    done = run_async(journey())
    assert done.widget("button", "Se déconnecter")
    assert not done.exceptions


def test_public_pages_show_no_login_form(demo_server):
    """An anonymous visitor reading the privacy notice gets the notice, not a login form above it."""
    async def journey():
        async with ws_tab(demo_server) as tab:
            await tab.run()
            return await tab.run(page="privacy")

    shown = run_async(journey())
    assert any("confidentialité" in t.lower() for t in shown.texts)
    assert not [w for w in shown.widgets if w.kind == "text_input"]


def _add_user(server, username: str) -> None:
    """A login of its own in a separate organisation, so locking it leaves the other journeys alone."""
    subprocess.run([sys.executable, "-m", "ccr", "create-user", "--org", f"Org {username}", "--create-org",
                    "--username", username, "--role", "supervisor", "--password", DEMO_PASSWORD],
                   cwd=REPO, env=server.env, check=True, capture_output=True)


def _lock_state(server, username: str) -> tuple[int, str | None]:
    """(failed_logins, locked_until) as the database holds them."""
    with sqlite3.connect(f"file:{server.data_dir / 'ccr.db'}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT failed_logins, locked_until FROM user WHERE username = ?", (username,)).fetchone()


def _wait_failures(server, username: str, count: int, timeout_s: float = 60) -> tuple[int, str | None]:
    deadline = time.monotonic() + timeout_s
    while (state := _lock_state(server, username))[0] < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return state


def _submit_form(page, username: str, password: str) -> None:
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_label("Mot de passe").press("Enter")


def test_a_lock_holds_against_the_victims_relogin_cookie(demo_server, browser):
    """An attacker's five wrong passwords lock the account for every new way in, the re-login cookie too.

    The victim's open tab keeps working (a lock stops guesses, not a session proved before it); reloading it
    is a new login through the cookie, refused while locked, and it neither resets the count nor the lock,
    so the attacker gets no fresh guesses, and the right password is refused until the lock ends.
    """
    user = "victime.verrou"
    _add_user(demo_server, user)
    victim_ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    attacker_ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        victim, attacker = victim_ctx.new_page(), attacker_ctx.new_page()
        for pg in (victim, attacker):
            pg.set_default_timeout(30_000)
        login(victim, demo_server, user, DEMO_PASSWORD)
        assert any(c["name"] == "ccr_auth" for c in victim_ctx.cookies())

        attacker.goto(demo_server.url)
        wait_idle(attacker)
        for attempt in range(1, 6):
            _submit_form(attacker, user, f"Mauvais-{attempt}!x")
            assert _wait_failures(demo_server, user, attempt)[0] == attempt
            wait_idle(attacker)
        attacker.get_by_text(LOCKED_TEXT).wait_for()
        failures, locked_until = _lock_state(demo_server, user)
        assert failures == 5 and locked_until

        # The victim's open session goes on: a click is a rerun of a session proved before the lock.
        victim.locator('[data-testid="stSidebarNav"] a').filter(has_text="Tableau de bord").first.click()
        wait_idle(victim)
        assert victim.get_by_role("button", name="Se déconnecter").count() == 1

        # A reload is a new login through the re-login cookie: refused while locked, the count untouched.
        victim.reload()
        victim.get_by_text(LOCKED_TEXT).wait_for()
        wait_idle(victim)
        assert victim.get_by_role("button", name="Se déconnecter").count() == 0
        assert _lock_state(demo_server, user) == (5, locked_until)

        # The attacker's sixth try, with the right password, is still refused.
        attacker.reload()
        wait_idle(attacker)
        _submit_form(attacker, user, DEMO_PASSWORD)
        attacker.get_by_text(LOCKED_TEXT).wait_for()
        wait_idle(attacker)
        assert attacker.get_by_role("button", name="Se déconnecter").count() == 0
        assert _lock_state(demo_server, user) == (5, locked_until)
        screenshot(attacker, "verrouillage-tient")
    finally:
        victim_ctx.close()
        attacker_ctx.close()
