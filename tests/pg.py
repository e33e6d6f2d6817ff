"""PostgreSQL for the test suite: one fresh, empty database per test, like a fresh SQLite data directory.

``CCR_TEST_DATABASE_URL`` names a server (its maintenance database, e.g. ``postgresql://postgres@host:port/
postgres``, as ``scripts/with_postgres.sh`` exports it); each test gets ``CREATE DATABASE`` of its own, and
the database is dropped after the test (``WITH (FORCE)``: a connection left open by a test never blocks it).
"""

from __future__ import annotations

import itertools
import os
import uuid
from urllib.parse import urlsplit, urlunsplit

PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_counter = itertools.count()
_RUN = uuid.uuid4().hex[:6]  # parallel pytest processes on one server never collide
_template: list[str] = []


def is_postgres(url: str | None) -> bool:
    """True when ``url`` points at a PostgreSQL server."""
    return bool(url) and urlsplit(url).scheme in PG_SCHEMES


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin(url: str):
    import psycopg

    parts = urlsplit(url)
    plain = urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))
    return psycopg.connect(plain, autocommit=True)


def _create(server_url: str, name: str, template: str) -> None:
    # FILE_COPY: a plain copy of the template's files, ten times faster than WAL_LOG for a small database
    # on a cluster without fsync.
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server of ``server_url``; its URL (same credentials)."""
    name = f"ccr_t_{_RUN}_{os.getpid()}_{next(_counter)}"
    _create(server_url, name, "template0")
    return _with_db(server_url, name)


def _migrated_template(server_url: str, settings) -> str:
    """A database migrated to head, made once per process: the model of every ``migrated`` test database."""
    if not _template:
        from ccr.core import db

        url = fresh_database(server_url)
        db.migrate(settings.model_copy(update={"database_url": url}))
        db.dispose_engines()  # a template must have no connection when it is copied
        _template.append(urlsplit(url).path.lstrip("/"))
    return _template[0]


def replace_with_migrated(server_url: str, url: str, settings) -> None:
    """Turn the empty test database ``url`` into a copy of the migrated template (0.1 s, migrations take 1 s)."""
    from ccr.core import db

    db.dispose_engines()
    template = _migrated_template(server_url, settings)
    drop_database(server_url, url)
    _create(server_url, urlsplit(url).path.lstrip("/"), template)


def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by :func:`fresh_database`, closing its remaining connections."""
    name = urlsplit(url).path.lstrip("/")
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fts_hits(session, word: str) -> list[int]:
    """Ids of the transcripts the full-text index finds for ``word``, on SQLite (FTS5) or PostgreSQL (GIN)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        from ccr.dashboards.call_list import PG_TS_CONFIG

        sql = (f"SELECT id FROM transcript WHERE to_tsvector('{PG_TS_CONFIG}', text) "
               f"@@ plainto_tsquery('{PG_TS_CONFIG}', :w)")
    else:
        sql = "SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH :w"
    return [r[0] for r in session.exec(text(sql).bindparams(w=word)).all()]


def pg_bindir() -> str | None:
    """The directory of PostgreSQL's server programs (initdb, pg_ctl), or None when it is not installed."""
    import glob
    import shutil
    import subprocess

    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if found and os.path.exists(os.path.join(found, "initdb")):
            return found
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return dirs[-1] if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")) else None


def start_cluster() -> tuple[str, object]:
    """A throwaway cluster (as ``scripts/with_postgres.sh`` makes one); its URL and a stop() that deletes it."""
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = pg_bindir()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    # Directly under /tmp: the "postgres" user cannot enter pytest's root-only temporary directories.
    directory = tempfile.mkdtemp(prefix="ccr-pg.")
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the "postgres" system user
        shutil.chown(directory, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(directory, "data")
    subprocess.run([*prefix, f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True)
    opts = (f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off")
    subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(directory, "server.log"),
                    "-w", "-t", "60", "-o", opts, "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop
