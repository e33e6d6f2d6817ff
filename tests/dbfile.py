"""The SQLite database as bytes on disk: what a copy of the data directory would reveal after an erasure
or a purge (freed pages, full-text index blocks, the write-ahead log), beyond what any query shows."""

from __future__ import annotations

import re
from pathlib import Path

SUFFIXES = ("", "-wal", "-shm")


def database_path(settings) -> Path:
    """The SQLite database file of ``settings``."""
    return Path(settings.db_url.removeprefix("sqlite:///"))


def files_holding(settings, word: str) -> list[str]:
    """Names of the database file and its -wal/-shm whose bytes hold ``word`` (any case, UTF-8).

    The files are only read, as a running server leaves them: no connection is closed and no write-ahead
    log is checkpointed first, so whatever the application left in the log is found there."""
    path = database_path(settings)
    pattern = re.compile(re.escape(word.encode()), re.IGNORECASE)
    found = []
    for suffix in SUFFIXES:
        file = path.with_name(path.name + suffix)
        if file.exists() and pattern.search(file.read_bytes()):
            found.append(file.name)
    return found
