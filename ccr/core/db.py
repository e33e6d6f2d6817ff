"""The one database engine and a ``session()`` context manager.

SQLite (the embedded default) runs in WAL mode with a busy timeout so the UI,
the worker and the scheduler can write concurrently, and overwrites deleted content
(``secure_delete``); PostgreSQL works through the same ``DATABASE_URL``. The schema
is owned by Alembic (``migrations/``). Creating the engine or migrating makes the database files,
the secret key and the data folder owner-only (``ccr.core.filemodes.secure_database_files``, a few paths);
the walk over every file below runs where the server starts and in ``python -m ccr migrate``.

After an erasure or a purge, :func:`checkpoint_wal` copies SQLite's write-ahead log back into the
database file and empties it: until then the log keeps the old images of the rewritten pages, and
the database file the pages as they were before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

from ccr.core import timings
from ccr.core.config import Settings, get_settings
from ccr.core.filemodes import secure_database_files

SQLITE_POOL_SIZE = 32  # kept open (and as many more on a peak): about one per concurrent page run
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait for each other instead of failing at once
# A reader in the middle of a query blocks the log's truncation; pages' queries end within a second or
# two. Each try waits this long for them (not the writers' 30 s), then the erasure goes on with a warning.
CHECKPOINT_TRIES = 5
CHECKPOINT_BUSY_MS = 1_000
CHECKPOINT_PAUSE_S = 0.5

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def utcnow() -> datetime:
    """Current time, timezone-aware in UTC: the convention of every stored datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored datetime made timezone-aware: SQLite hands them back naive, and they are stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def _pg_session_settings(dbapi_conn, _record) -> None:
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    with dbapi_conn.cursor() as cur:
        cur.execute("SET max_parallel_workers_per_gather = 0")
        # JIT compiles a query for 0.2 to 0.9 s once its estimated cost is high: longer than the queries
        # CCR sends take to run.
        cur.execute("SET jit = off")
    dbapi_conn.autocommit = autocommit


def get_engine(settings: Settings | None = None) -> Engine:
    """Return the process-wide engine for the configured database URL."""
    settings = settings or get_settings()
    url = settings.db_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            # Owner-only from now on, and the database files an older start left open; the full walk
            # (recordings, exports) belongs to the server's start and to `migrate`, not to every command.
            secure_database_files(settings)
            if url.startswith("sqlite"):
                # One connection per concurrent page run: with the default pool (5 + 10), the sixteenth user
                # waited for a free connection, and each overflow connection was opened (pragmas) and closed
                # again at every run. SQLite connections are cheap; writers still take turns on the file.
                engine = create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                    pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE,
                )
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # No parallel workers and no JIT per query: CCR's reads are short (the rollups answer the
                # large ones), a worker costs more to start (10 to 30 ms) than it saves, and with many
                # people logged in the cores are better spent on their queries side by side.
                # Set on each new connection rather than as a startup option, which PgBouncer refuses.
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
                event.listen(engine, "connect", _pg_session_settings)
            _engines[url] = engine
        return engine


def checkpoint_wal(settings: Settings | None = None) -> bool:
    """Copy SQLite's write-ahead log into the database file and truncate it (after an erasure or a purge);
    True when done. Readers in the way: a few brief retries, then a warning; it never raises."""
    engine = get_engine(settings)
    if engine.dialect.name != "sqlite":
        return True  # PostgreSQL: see optimize_search_index and the README on what its files keep
    for attempt in range(1, CHECKPOINT_TRIES + 1):
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
                try:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except DBAPIError as err:  # "database is locked" or the like: the same as busy
            busy, reason = 1, str(err.orig)
        else:
            reason = "lecteurs en cours"
        if not busy:
            return True
        if attempt < CHECKPOINT_TRIES:
            time.sleep(CHECKPOINT_PAUSE_S)
    log.warning("Le journal WAL n'a pas pu être vidé (%s) : des pages effacées y restent jusqu'au prochain "
                "point de contrôle de SQLite.", reason)
    return False


def dispose_engines() -> None:
    """Close every engine (tests switch databases between cases)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# A write that changes nothing: it makes SQLite take the database write lock now (the Alembic table exists
# in every migrated database).
SQLITE_TAKE_WRITE_LOCK = "UPDATE alembic_version SET version_num = version_num WHERE 0"


# SQLite writers of one process queue on a lock of their own before asking the database for its write lock.
# SQLite's busy handler polls with sleeps of up to 100 ms and no order: with twenty users logging call
# openings, writers slept while the lock was free and a short append waited seconds. A queue in the process
# wakes the next writer the moment the previous transaction ends; other processes (the worker) still meet
# them at the database's lock.
_GATE_KEY = "ccr_sqlite_write_gate"


class FairLock:
    """A lock granted in arrival order: a thread that releases it and asks again (the rollup refresher's
    batches) goes behind those already waiting, instead of taking it back before they wake."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[object] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait for this caller's turn (at most ``timeout`` seconds); True when it holds the lock."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            if self._cond.wait_for(lambda: self._queue[0] is ticket, timeout=timeout):
                return True
            self._queue.remove(ticket)
            self._cond.notify_all()
            return False

    def release(self) -> None:
        """Hand the lock to the next caller in line."""
        with self._cond:
            self._queue.popleft()
            self._cond.notify_all()


_gates: dict[str, FairLock] = {}


def _write_gate(session: Session) -> FairLock:
    url = str(session.get_bind().url)
    with _engines_lock:
        return _gates.setdefault(url, FairLock())


@event.listens_for(Session, "after_transaction_end")
def _open_write_gate(session: Session, transaction) -> None:
    if transaction.parent is None and session.info.pop(_GATE_KEY, False):
        _write_gate(session).release()


def hold_write_lock(session: Session, key: int) -> None:
    """Hold a write lock for ``key`` until the transaction ends, before reading what the write depends on.

    PostgreSQL: a transaction-level advisory lock on ``key``. SQLite: first this process's writers' queue
    (released when the transaction ends), then the database write lock, taken now rather than at the first
    INSERT (pysqlite opens its transactions lazily, so a read alone holds nothing): ``BEGIN IMMEDIATE`` when
    no transaction is open yet, else a statement that writes nothing; either waits the busy timeout."""
    dialect = session.get_bind().dialect.name
    with timings.section("write_lock"):
        if dialect == "postgresql":
            session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=key))
        elif dialect == "sqlite":
            driver = session.connection().connection.driver_connection
            if _GATE_KEY not in session.info:
                # Bounded: a thread that nests a second writing session waits the busy timeout, as before.
                session.info[_GATE_KEY] = _write_gate(session).acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            if driver.in_transaction:
                session.exec(text(SQLITE_TAKE_WRITE_LOCK))
            else:
                driver.execute("BEGIN IMMEDIATE")


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

    settings = settings or get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    secure_database_files(settings)  # Alembic may create the database file: owner-only
    command.upgrade(alembic_config(settings), "head")
