"""Web hardening: the effective Streamlit configuration, upload caps kept consistent, no secret in the logs of a
browser journey, session expiry, and a copied re-login cookie that stops working after logout or deactivation.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccr.core.config import Settings
from ccr.core.db import utcnow
from tests.e2e.conftest import (
    login,
    start_server,
    stop_server,
    wait_idle,
)
from tests.pages.helpers import refused, run_page

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".streamlit" / "config.toml"
DEMO_LOGINS = ("admin", "dpo", "superviseur", "chef.equipe")
COOKIE = "ccr_auth"
COOKIE_CHECKS = {"superviseur": "déconnexion", "chef.equipe": "désactivation"}  # copied-cookie replays


def _effective(option: str):
    """The value Streamlit itself reads from .streamlit/config.toml."""
    from streamlit import config

    config.get_config_options(force_reparse=True, options_from_flags={})
    return config.get_option(option)


def test_effective_streamlit_config_is_hardened(monkeypatch):
    monkeypatch.chdir(REPO)  # Streamlit reads the project's .streamlit/config.toml from the working directory
    assert _effective("server.enableXsrfProtection") is True
    assert _effective("server.enableCORS") is True  # CORS *protection* on: no cross-origin caller
    assert _effective("server.fileWatcherType") == "none"
    assert _effective("server.address") == "127.0.0.1"
    assert _effective("client.showErrorDetails") == "none"  # no traceback, no path, no SQL shown to users
    assert _effective("browser.gatherUsageStats") is False
    assert _effective("server.enableAgentApi") is False  # no HTTP way to drive the app besides the browser's
    # The file says it too (a flag or an environment variable could not silently be the only guard).
    server = tomllib.loads(CONFIG.read_text())["server"]
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert server["enableAgentApi"] is False


def test_no_full_garbage_collection_after_each_script_run(monkeypatch):
    """Streamlit's default full GC after every run was a quarter of the server's time under load."""
    monkeypatch.chdir(REPO)
    assert _effective("runner.postScriptGC") is False


def test_upload_caps_agree_everywhere(monkeypatch):
    monkeypatch.chdir(REPO)
    cap = Settings.model_fields["max_upload_mb"].default
    assert _effective("server.maxUploadSize") == cap
    assert tomllib.loads(CONFIG.read_text())["server"]["maxUploadSize"] == cap
    # A widget may lower the cap (grids: YAML files), never raise it above the server's.
    for path in (REPO / "pages").glob("*.py"):
        for size in re.findall(r"max_upload_size\s*=\s*(\d+)", path.read_text()):
            assert int(size) <= cap, (path.name, size)


@pytest.mark.parametrize(("age_hours", "valid"), [(1, True), (9.5, True), (10.5, False), (72, False)])
def test_a_session_expires_with_the_relogin_cookie_lifetime(tenants, age_hours, valid):
    from ccr.core.db import session
    from ccr.core.users import session_is_valid

    a, _ = tenants
    with session() as s:
        ok = session_is_valid(session=s, user_id=a.users["supervisor"],
                              issued_at=utcnow() - timedelta(hours=age_hours))
    assert ok is valid
    at = run_page("pages/home.py", a.users["supervisor"])  # the guard applies it on every run
    at.session_state["ccr_issued_at"] = utcnow() - timedelta(hours=age_hours)
    at.run()
    assert refused(at) is (not valid)


# --- browser journeys -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("hardening"), seed_args=["--calls", "30", "--days", "10"])
    yield srv
    stop_server(srv)


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def _logged_in_with_cookie(browser, server, cookie: dict) -> bool:
    """Open the app in a NEW browser context holding only a copied re-login cookie."""
    ctx, page = _context(browser)
    try:
        ctx.add_cookies([cookie])
        page.goto(server.url)
        # The page's first run reads the cookie on the server: it draws either the logged-in frame or the form.
        page.get_by_role("button", name="Se déconnecter").or_(page.get_by_role("button", name="Se connecter")) \
            .first.wait_for()
        wait_idle(page)
        return page.get_by_role("button", name="Se déconnecter").count() > 0
    finally:
        ctx.close()


def _wait_cookies(ctx, timeout_s: float = 15) -> dict[str, dict]:
    """The context's cookies once the re-login cookie is written (an iframe component writes it late)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        cookies = {c["name"]: c for c in ctx.cookies()}
        if COOKIE in cookies or time.monotonic() > deadline:
            return cookies
        time.sleep(0.3)





def _logout(page) -> None:
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_label("Identifiant").wait_for(timeout=30_000)
    wait_idle(page)


def _run_cli(server, code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=server.env, check=True, capture_output=True)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made for this test (certificate file, key file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """The app served over HTTPS, as behind a TLS reverse proxy."""
    tmp = tmp_path_factory.mktemp("hardening-https")
    srv = start_server(tmp, seed_args=["--calls", "5", "--days", "5"], tls=_self_signed_certificate(tmp))
    yield srv
    stop_server(srv)


@pytest.mark.e2e
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_relogin_cookie_is_strict_bounded_and_secure_over_https(browser, request, scheme):
    """The re-login cookie is written by JavaScript (no HttpOnly possible): the other attributes are the guard."""
    from ccr.demo import DEMO_PASSWORD

    srv = request.getfixturevalue("https_server" if scheme == "https" else "server")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR", ignore_https_errors=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        login(page, srv, "dpo", DEMO_PASSWORD)
        cookie = _wait_cookies(ctx)[COOKIE]
        assert cookie["secure"] is (scheme == "https")
        assert cookie["sameSite"] == "Strict"
        lifetime_s = Settings.model_fields["cookie_expiry_hours"].default * 3600
        assert abs(cookie["expires"] - (datetime.now(UTC).timestamp() + lifetime_s)) < 300
    finally:
        ctx.close()


@pytest.mark.e2e
def test_no_secret_in_logs_and_copied_cookies_die_with_logout_and_deactivation(browser, server):
    from ccr.demo import DEMO_PASSWORD

    tokens: list[str] = []
    for username in DEMO_LOGINS:
        ctx, page = _context(browser)
        login(page, server, username, DEMO_PASSWORD)
        for title in ("Tableau de bord", "Protection des données")[: 1 if username in COOKIE_CHECKS else 2]:
            link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title)
            if link.count():  # clicks, not page loads: a reload would be a new session
                link.first.click()
                wait_idle(page)
        cookies = _wait_cookies(ctx)
        assert COOKIE in cookies, cookies.keys()
        tokens += [c["value"] for c in cookies.values() if len(c["value"]) >= 16]
        cookie = cookies[COOKIE]
        if username not in COOKIE_CHECKS:
            _logout(page)
            ctx.close()
            continue
        # The copied cookie opens a session in another browser (that is its purpose) ...
        assert _logged_in_with_cookie(browser, server, cookie), username
        if COOKIE_CHECKS[username] == "désactivation":
            # ... until the account is deactivated (not logged out: the cookie itself is still unexpired).
            _run_cli(server, "from ccr.core.db import session; from ccr.core.models import User; from sqlmodel import select\n"
                             "from ccr.core.users import load_actor, update_user\n"
                             "with session() as s:\n"
                             "    admin = s.exec(select(User).where(User.username == 'admin')).one()\n"
                             "    lead = s.exec(select(User).where(User.username == 'chef.equipe')).one()\n"
                             "    update_user(session=s, actor=load_actor(session=s, user_id=admin.id),\n"
                             "                user_id=lead.id, active=False)\n")
        else:
            _logout(page)  # ... until its owner logs out, anywhere
        assert not _logged_in_with_cookie(browser, server, cookie), f"cookie de {username} encore valide"
        ctx.close()

    secret = (server.data_dir / "secret.key").read_text().strip()
    needles = {"clé secrète": secret, "mot de passe de démo": DEMO_PASSWORD}
    needles |= {f"jeton {i}": t for i, t in enumerate(tokens)}
    assert len(tokens) >= len(DEMO_LOGINS)
    haystacks = {"journal du serveur": server.logs()}
    for path in server.data_dir.rglob("*"):
        if path.is_file() and not path.name.startswith(("ccr.db", "secret.key")):
            haystacks[str(path.relative_to(server.data_dir))] = path.read_bytes().decode("latin-1")
    leaks = [f"{what} dans {where}" for where, text in haystacks.items() for what, value in needles.items()
             if value in text]
    assert not leaks, leaks
    assert "Traceback" not in server.logs()
