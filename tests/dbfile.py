"""The SQLite database as bytes on disk: what a copy of the data directory would reveal after an erasure
or a purge (freed pages, full-text index blocks, the write-ahead log), beyond what any query shows."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

SUFFIXES = ("", "-wal", "-shm")


def database_path(settings) -> Path:
    """The SQLite database file of ``settings``."""
    return Path(settings.db_url.removeprefix("sqlite:///"))


def files_holding(settings, word: str) -> list[str]:
    """Names of the database file and its -wal/-shm whose bytes hold ``word`` (any case, UTF-8).

    The write-ahead log is checkpointed into the database and truncated first, once every pooled
    connection is closed, as a backup or a stopped server would leave the files."""
    from ccr import db

    db.dispose_engines()
    path = database_path(settings)
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the write-ahead log could not be checkpointed: a connection is still open"
    finally:
        conn.close()
    pattern = re.compile(re.escape(word.encode()), re.IGNORECASE)
    found = []
    for suffix in SUFFIXES:
        file = path.with_name(path.name + suffix)
        if file.exists() and pattern.search(file.read_bytes()):
            found.append(file.name)
    return found
