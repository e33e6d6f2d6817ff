"""A real API server for tests (``python -m ccr api`` on a free loopback port, in its own data directory), and
the helpers every server test shares: a free port, and attaching the test process to a server's data."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_DEADLINE_S = 120  # migrations and the first imports on a loaded 2-core machine


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ApiServer:
    """A running API process: base URL, data directory, environment, log file."""

    url: str
    port: int
    data_dir: Path
    env: dict
    log_path: Path
    proc: subprocess.Popen | None = None

    def logs(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def prepare(tmp: Path, extra_env: dict | None = None) -> ApiServer:
    """A migrated data directory and the environment of a server on a free port (not started)."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CCR_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "CCR_BACKGROUND_SERVICES": "1", **(extra_env or {})}
    for var in ("DATABASE_URL", "CCR_SECRET_KEY", "CCR_BROKER_URL"):
        env.pop(var, None)
    subprocess.run([sys.executable, "-m", "ccr", "migrate"], cwd=REPO, env=env, check=True, capture_output=True)
    port = free_port()
    return ApiServer(url=f"http://127.0.0.1:{port}", port=port, data_dir=data, env=env, log_path=tmp / "api.log")


def start(server: ApiServer, *args: str) -> ApiServer:
    """Start (or start again) the server process and wait until it answers its health probe."""
    import httpx

    log = open(server.log_path, "a")  # closed when the process ends
    server.proc = subprocess.Popen([sys.executable, "-m", "ccr", "api", "--port", str(server.port), *args],
                                   cwd=REPO, env=server.env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"Le serveur d'API s'est arrêté : {server.logs()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/api/v1/health", timeout=30).status_code in (200, 503):
                return server
        time.sleep(0.3)
    server.proc.kill()
    raise RuntimeError(f"Le serveur d'API n'a pas démarré en {START_DEADLINE_S} s : {server.logs()[-3000:]}")


def stop(server: ApiServer, *, kill: bool = False) -> None:
    """End the server process: SIGTERM (graceful) or SIGKILL (a crash)."""
    if server.proc is None or server.proc.poll() is not None:
        return
    if kill:
        server.proc.kill()
    else:
        server.proc.terminate()
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=30)


@contextlib.contextmanager
def attached_to(server: ApiServer):
    """Point this test process at the server's data directory (database, audio store); undone on exit."""
    from ccr.core import config, db

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CCR_DATA_DIR", str(server.data_dir))
        for var in ("DATABASE_URL", "CCR_SECRET_KEY", "CCR_BROKER_URL"):
            mp.delenv(var, raising=False)
        config.get_settings.cache_clear()
        db.dispose_engines()
        yield
    finally:
        db.dispose_engines()
        mp.undo()
        config.get_settings.cache_clear()
