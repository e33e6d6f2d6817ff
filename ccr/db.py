"""The one database engine and a ``session()`` context manager.

SQLite (the embedded default) runs in WAL mode with a busy timeout so the UI,
the worker and the scheduler can write concurrently, and overwrites deleted content
(``secure_delete``); PostgreSQL works through the same ``DATABASE_URL``. The schema
is owned by Alembic (``migrations/``). Creating the engine or migrating makes the data
directory owner-only (``ccr.storage.secure_data_dir``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from ccr.config import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait for each other instead of failing at once
REPO_ROOT = Path(__file__).resolve().parent.parent

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def utcnow() -> datetime:
    """Current time, timezone-aware in UTC: the convention of every stored datetime."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows (purged or erased transcripts, names, phone numbers) are overwritten with zeros in the
    # file instead of lingering in free pages until they are reused.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def get_engine(settings: Settings | None = None) -> Engine:
    """Return the process-wide engine for the configured database URL."""
    from ccr.storage import secure_data_dir

    settings = settings or get_settings()
    url = settings.db_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            secure_data_dir(settings)  # owner-only from now on, and for what an older start left open
            if url.startswith("sqlite"):
                engine = create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
                )
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every engine (tests switch databases between cases)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session(settings: Settings | None = None) -> Iterator[Session]:
    """A transaction: committed when the block succeeds, rolled back when it raises."""
    with Session(get_engine(settings), expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def alembic_config(settings: Settings | None = None):
    """Alembic configuration pointing at ``migrations/`` and the configured database."""
    from alembic.config import Config

    settings = settings or get_settings()
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", settings.db_url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings | None = None) -> None:
    """Apply every Alembic migration up to head (idempotent)."""
    from alembic import command

    from ccr.storage import secure_data_dir

    settings = settings or get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    secure_data_dir(settings)  # Alembic may create the database file: owner-only
    command.upgrade(alembic_config(settings), "head")
