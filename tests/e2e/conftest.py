"""Browser journeys: a real Streamlit server on a free loopback port and Debian's headless Chromium.

Playwright drives ``/usr/bin/chromium`` (never ``playwright install``). Every
request the browser makes is recorded on ``page.ccr_requests`` so tests can
assert that nothing leaves 127.0.0.1. Screenshots go to tests/e2e/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.apiserver import attached_to, free_port  # noqa: F401 - the journeys import attached_to from here

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "tests" / "e2e" / "screenshots"
DEMO_PASSWORD_ENV = "CCR_DEMO_PASSWORD"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

LOGIN_TIMEOUT_MS = 60_000  # a login's runs on a loaded 2-core machine, the Whisper model loading beside them
pytestmark = pytest.mark.e2e


@dataclass
class Server:
    """A running CCR server: its base URL, data directory, environment and log file."""

    url: str
    data_dir: Path
    env: dict
    log_path: Path
    proc: subprocess.Popen

    def logs(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, *, seed_args: list[str] | None = None, extra_env: dict | None = None,
                 tls: tuple[Path, Path] | None = None) -> Server:
    """Migrate and seed a data directory, then start the server (``python -m ccr serve``) on a free port."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CCR_DATA_DIR": str(data), "CCR_DEMO_MODE": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "CCR_BACKGROUND_SERVICES": "1", **(extra_env or {})}
    if tls:  # (certificate file, key file): served over HTTPS, as behind a TLS reverse proxy
        env |= {"STREAMLIT_SERVER_SSL_CERT_FILE": str(tls[0]), "STREAMLIT_SERVER_SSL_KEY_FILE": str(tls[1])}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "ccr", "migrate"], cwd=REPO, env=env, check=True,
                   capture_output=True)
    if seed_args is not None:
        subprocess.run([sys.executable, "-m", "ccr", "seed-demo", *seed_args], cwd=REPO, env=env, check=True,
                       capture_output=True)
    port = free_port()
    log_path = tmp / "server.log"
    log = open(log_path, "w")  # closed when the process ends
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccr", "serve", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=tls[0]) if tls else None  # the test's own self-signed certificate
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Le serveur s'est arrêté : {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2, context=trust) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("Le serveur n'a pas démarré en 90 s.")
    return Server(url=url, data_dir=data, env=env, log_path=log_path, proc=proc)


def stop_server(server: Server) -> None:
    """Terminate the server process."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """A server seeded with a small demo organisation, shared by the journeys of this session."""
    server = start_server(tmp_path_factory.mktemp("e2e-demo"), seed_args=["--calls", "120", "--days", "30"])
    yield server
    stop_server(server)


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished the current run (no running indicator).

    The network going quiet is only a hint: a slow third-party request (the analytics stub) must not
    fail a step whose Streamlit run has ended, so its timeout is swallowed and the run's end decides.
    """
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout,
    )
    page.wait_for_timeout(300)


def choose(page, box, option, deadline_s: float = 60) -> None:
    """Open ``box`` (a select or multiselect locator) and click ``option``. A run that ends while the list is
    open draws the box again and closes it (a fragment's refresh, the page's own rerun), so the list is
    opened again until the option can be picked, within a deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        wait_idle(page)
        box.click()
        try:
            option.click(timeout=5_000)
            return
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")


def login(page, server: Server, username: str, password: str) -> None:
    """Log in once through the real form of the app, typing as soon as the form is drawn, as a person does.

    One attempt: what is typed right after the page loads is kept (``test_login_journey`` types it key by
    key), so a refusal here is the app's failure, saved as a screenshot.
    """
    page.goto(server.url)
    try:
        page.get_by_label("Identifiant").fill(username, timeout=LOGIN_TIMEOUT_MS)  # as soon as it is drawn
        page.get_by_label("Mot de passe").fill(password)
        page.get_by_label("Mot de passe").press("Enter")  # submits the form with what was typed
        page.get_by_role("button", name="Se déconnecter").wait_for(timeout=LOGIN_TIMEOUT_MS)
    except Exception:
        screenshot(page, f"echec-connexion-{username}")
        raise
    # The page writes the re-login cookie itself once the logged-in run has drawn (no rerun follows).
    deadline = time.monotonic() + LOGIN_TIMEOUT_MS / 1000
    while not any(c["name"] == "ccr_auth" for c in page.context.cookies()) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    wait_idle(page)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_async(coro):
    """Run a coroutine to its end in its own thread: the session's Playwright browser owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def ws_tab(server: Server):
    """A browser-like tab speaking Streamlit's websocket protocol (``benchmarks/st_client.py``)."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    from st_client import StreamlitSession

    return StreamlitSession(server.url)
