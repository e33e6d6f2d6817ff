"""Owner-only modes under the data directory: what every process fixes, and what only a server start does."""

from __future__ import annotations

import sqlalchemy as sa

from ccr.core.db import session

DEEP = "audio/1/" + "a" * 32 + ".enc"


def _open_everything(data) -> None:
    """What an older release (or a umask of 022) left: every folder 0755, every file 0644."""
    (data / DEEP).parent.mkdir(parents=True, exist_ok=True)
    (data / DEEP).write_bytes(b"chiffre")
    (data / "secret.key").write_text("0" * 64)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_opening_the_database_restricts_its_files_but_never_walks_the_recordings(migrated):
    from ccr.core import db

    data = migrated.data_dir
    _open_everything(data)
    db.dispose_engines()  # the first database use of a new process (a `health` run each minute)
    with session() as s:
        s.exec(sa.text("SELECT 1"))
    assert (_mode(data), _mode(data / "secret.key")) == (0o700, 0o600)
    if migrated.is_sqlite:
        assert _mode(data / "ccr.db") == 0o600
    assert (_mode(data / "audio"), _mode(data / DEEP)) == (0o755, 0o644)  # the walk is the server start's


def test_the_server_start_repairs_every_file_under_the_data_directory(migrated, monkeypatch):
    """`python -m ccr serve` prepares the process before Streamlit runs: here Streamlit and the
    background services are stubbed, the preparation itself is real."""
    import logging

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    from ccr.ui import runtime

    data = migrated.data_dir
    _open_everything(data)
    ran = []
    monkeypatch.setattr(streamlit_cli, "main", lambda **kwargs: ran.append(kwargs["args"]))
    monkeypatch.setattr(runtime, "start_services", lambda settings: {"started": False})
    monkeypatch.setattr(runtime, "stop_services", lambda settings: None)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    ccr_log = logging.getLogger("ccr")
    level = ccr_log.level
    try:
        assert runtime.serve([]) == 0
    finally:
        ccr_log.setLevel(level)
    assert ran  # the server would have run after the preparation
    assert [p for p in [data, *data.rglob("*")] if p.stat().st_mode & 0o077] == []
