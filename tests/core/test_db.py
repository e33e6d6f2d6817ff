"""The schema: migrations apply to an empty database and match the models exactly."""

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import ccr.core.models  # noqa: F401
from ccr.core import db
from ccr.core.db import REPO_ROOT, get_engine, migrate, session, utcnow


def test_migrations_apply_to_an_empty_database(settings_env):
    migrate(settings_env)
    tables = set(sa.inspect(get_engine()).get_table_names())
    assert {"organisation", "user", "call", "transcript", "evaluation", "review", "auditlog",
            "retentionsetting", "dailystat"} <= tables
    migrate(settings_env)  # idempotent


def test_models_and_migrations_do_not_drift(migrated):
    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The search objects of migrations 0002 and 0005 are not models: the SQLite FTS5 shadow tables, and
    # on PostgreSQL the generated search-vector column and its GIN index.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("transcript_fts"))
            and not (d[0] == "remove_index" and d[1].name == "ix_transcript_tsv")
            and not (d[0] == "remove_column" and d[2] == "transcript" and d[3].name == "tsv")]
    assert diff == []


def test_transcripts_stored_before_the_search_vector_get_it_and_lose_nothing_going_back(settings_env):
    """Migration 0005 on PostgreSQL: the stored vector is computed for existing rows, and dropped cleanly."""
    if settings_env.is_sqlite:
        pytest.skip("colonne propre à PostgreSQL")
    from alembic import command

    cfg = db.alembic_config(settings_env)
    command.upgrade(cfg, "0004")
    db.dispose_engines()
    now = utcnow()
    with get_engine().begin() as conn:
        conn.execute(sa.text("INSERT INTO organisation (id, name, slug, status, created_at) "
                             "VALUES (1, 'Alpha', 'alpha', 'active', :now)"), {"now": now})
        conn.execute(sa.text("INSERT INTO call (id, org_id, sha256, started_at, direction, status, attempts, "
                             "needs_llm_retry, restricted, queued_at, created_at) VALUES (1, 1, :h, :now, "
                             "'entrant', 'done', 0, false, false, :now, :now)"), {"h": "a" * 64, "now": now})
        conn.execute(sa.text("INSERT INTO transcript (id, org_id, call_id, language, engine, model, segments_json, "
                             "text, redactions_json, truncated, created_at) VALUES (1, 1, 1, 'fr', 'e', 'm', '[]', "
                             "'Ma facture d''électricité est fausse', '{}', false, :now)"), {"now": now})
    command.upgrade(cfg, "head")
    found = "SELECT count(*) FROM transcript WHERE tsv @@ plainto_tsquery('ccr_french', :q)"
    with get_engine().connect() as conn:
        # stemmed (« factures ») and accents folded (« electricite »), like the index it replaces
        assert conn.execute(sa.text(found), {"q": "factures electricite"}).scalar_one() == 1
    db.dispose_engines()
    command.downgrade(cfg, "0004")
    with get_engine().connect() as conn:
        assert "tsv" not in {c["name"] for c in sa.inspect(conn).get_columns("transcript")}
        assert "ix_transcript_fts" in {i["name"] for i in sa.inspect(conn).get_indexes("transcript")}
        assert conn.execute(sa.text("SELECT count(*) FROM transcript")).scalar_one() == 1
    db.dispose_engines()
    command.upgrade(cfg, "head")


def test_the_agent_space_migration_goes_back_and_forth_keeping_users_and_evaluations(migrated):
    """Migration 0008 (agent logins, publication, disputes, calibration) down and up again, on either database."""
    from alembic import command

    from tests.conftest import make_tenant

    tenant = make_tenant("Alpha Conseil", "alpha")
    cfg = db.alembic_config(migrated)
    db.dispose_engines()
    command.downgrade(cfg, "0007")
    with get_engine().connect() as conn:
        inspector = sa.inspect(conn)
        assert "agent_id" not in {c["name"] for c in inspector.get_columns("user")}
        assert "published_at" not in {c["name"] for c in inspector.get_columns("evaluation")}
        assert not {"dispute", "disputeitem", "blindscore", "calibrationsession", "qualitypolicy"} & set(
            inspector.get_table_names())
        assert conn.execute(sa.text('SELECT count(*) FROM "user" WHERE org_id = :o'),
                            {"o": tenant.org_id}).scalar_one() == len(tenant.users)
    db.dispose_engines()
    command.upgrade(cfg, "head")
    with get_engine().connect() as conn:
        assert "agent_id" in {c["name"] for c in sa.inspect(conn).get_columns("user")}


def test_the_governance_migration_goes_back_and_forth_keeping_calls_in_scope(migrated):
    """Migration 0009 (scope, periods, exclusions, audit groups, notices) down and up again: calls come back in scope."""
    from alembic import command

    from ccr.core.models import Call
    from tests.conftest import make_tenant

    tenant = make_tenant("Alpha Conseil", "alpha")
    with db.session() as s:
        s.add(Call(org_id=tenant.org_id, sha256="avant-0009", status="done"))
    cfg = db.alembic_config(migrated)
    db.dispose_engines()
    command.downgrade(cfg, "0008")
    governance = {"scopepolicy", "evaluationperiod", "scopeexclusion", "agentgroup", "agentgroupmember",
                  "noticepublication"}
    with get_engine().connect() as conn:
        inspector = sa.inspect(conn)
        assert not {"line", "scope", "scope_draw"} & {c["name"] for c in inspector.get_columns("call")}
        assert not governance & set(inspector.get_table_names())
    db.dispose_engines()
    command.upgrade(cfg, "head")
    with get_engine().connect() as conn:
        assert governance <= set(sa.inspect(conn).get_table_names())
        assert conn.execute(sa.text("SELECT scope FROM call WHERE sha256 = 'avant-0009'")).scalar_one() == "in"


def test_postgresql_sessions_run_without_parallel_workers_or_jit(migrated):
    if migrated.is_sqlite:
        pytest.skip("réglage propre à PostgreSQL")
    with session() as s:
        assert s.exec(sa.text("SHOW max_parallel_workers_per_gather")).one()[0] == "0"
        assert s.exec(sa.text("SHOW jit")).one()[0] == "off"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(migrated):
    if not migrated.is_sqlite:
        pytest.skip("réglage propre à SQLite")
    with session() as s:
        assert s.exec(sa.text("PRAGMA journal_mode")).one()[0] == "wal"
        assert s.exec(sa.text("PRAGMA busy_timeout")).one()[0] >= 5000


def test_sqlite_overwrites_deleted_content(migrated):
    """Purged or erased text must not survive in the file's free pages (read back from the file itself)."""
    if not migrated.is_sqlite:
        pytest.skip("réglage propre à SQLite")
    with session() as s:
        s.exec(sa.text("CREATE TABLE scratch (body TEXT)"))
        s.exec(sa.text("INSERT INTO scratch VALUES (:b)"), params={"b": "Numéro secret 0612345678 " * 200})
    with session() as s:
        s.exec(sa.text("DELETE FROM scratch"))
    with session() as s:
        s.exec(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    raw = (migrated.data_dir / "ccr.db").read_bytes()
    assert b"0612345678" not in raw


def test_every_connection_turns_secure_delete_on_whatever_the_sqlite_build(tmp_path):
    """Debian builds SQLite with secure delete on, others do not: the app sets it on every connection."""
    conn = sqlite3.connect(str(tmp_path / "x.db"))
    conn.execute("PRAGMA secure_delete=OFF")  # a build whose default is off
    db._sqlite_pragmas(conn, None)
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    conn.close()


def test_every_command_restricts_the_database_files_and_migrate_repairs_everything(tmp_path):
    """An older release (or a umask of 022) left the database, the key and recordings readable by all.
    Any command closes the database files at once; the walk over every recording is `migrate`'s (and the
    server start's), not that of a `health` run each minute."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_") and k != "DATABASE_URL"}
    env |= {"CCR_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}

    def cli(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "ccr", *args], cwd=REPO_ROOT, env=env, check=True, timeout=120,
                       capture_output=True, preexec_fn=lambda: os.umask(0o022))

    def opened() -> set[str]:
        return {str(p.relative_to(data)) for p in [data, *data.rglob("*")] if p.stat().st_mode & 0o077}

    cli("migrate")
    (data / "secret.key").write_text("0" * 64)
    (data / "audio" / "1").mkdir(parents=True)
    (data / "audio" / "1" / ("a" * 32 + ".enc")).write_bytes(b"chiffre")
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    cli("status")
    assert opened() == {"audio", "audio/1", "audio/1/" + "a" * 32 + ".enc"}
    cli("migrate")
    assert opened() == set()


def test_checkpoint_waits_briefly_for_a_reader_then_gives_up_with_a_warning(migrated, monkeypatch, caplog):
    """A page's query in the middle of an erasure must not fail it: the log stays until the next try."""
    if not migrated.is_sqlite:
        pytest.skip("journal propre à SQLite")
    monkeypatch.setattr(db, "CHECKPOINT_TRIES", 2)
    with session() as s:
        s.exec(sa.text("CREATE TABLE scratch (body TEXT)"))
        s.exec(sa.text("INSERT INTO scratch VALUES ('x')"))
    reader = sqlite3.connect(migrated.data_dir / "ccr.db")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM scratch").fetchone()  # holds its snapshot of the log
    try:
        with session() as s:
            s.exec(sa.text("INSERT INTO scratch VALUES ('y')"))
        assert db.checkpoint_wal(migrated) is False
        assert "journal WAL" in caplog.text
    finally:
        reader.close()
    assert db.checkpoint_wal(migrated) is True
    assert (migrated.data_dir / "ccr.db-wal").stat().st_size == 0


def test_utcnow_is_aware_utc():
    assert utcnow().utcoffset().total_seconds() == 0


def test_the_write_gate_serves_writers_in_arrival_order():
    """A holder that releases and asks again (the rollup refresher) goes behind those already waiting."""
    from ccr.core.db import FairLock

    gate, order = FairLock(), []
    assert gate.acquire(timeout=1)

    def writer(name: str) -> None:
        assert gate.acquire(timeout=30)
        order.append(name)
        gate.release()

    threads = []
    for name in ("b", "c", "d"):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        deadline = time.time() + 30
        while len(gate._queue) < len(threads) + 1 and time.time() < deadline:  # queued before the next starts
            time.sleep(0.01)
    gate.release()
    assert gate.acquire(timeout=30)  # asked again: served after the three waiting writers
    order.append("a")
    gate.release()
    for t in threads:
        t.join(30)
    assert order == ["b", "c", "d", "a"]


def test_a_writer_that_times_out_leaves_the_queue():
    from ccr.core.db import FairLock

    gate = FairLock()
    assert gate.acquire(timeout=1)
    assert gate.acquire(timeout=0.05) is False
    assert len(gate._queue) == 1
    gate.release()
    assert gate.acquire(timeout=1)


def test_the_sqlite_write_gate_opens_when_the_transaction_ends(migrated):
    """Committed or rolled back, a transaction that took the write lock lets the next writer in at once."""
    from ccr.core import db

    if not migrated.is_sqlite:
        pytest.skip("file de rédacteurs propre à SQLite")
    for outcome in ("commit", "rollback"):
        try:
            with db.session() as s:
                db.hold_write_lock(s, 1)
                gate = db._write_gate(s)
                assert gate.acquire(timeout=0.05) is False  # held by this transaction
                s.exec(sa.text("SELECT 1"))
                if outcome == "rollback":
                    raise RuntimeError("échec volontaire")
        except RuntimeError:
            pass
        assert gate.acquire(timeout=1)
        gate.release()


def test_the_integrations_migration_goes_back_and_forth_keeping_calls(migrated):
    """Migration 0010 (call.updated_at, API tokens, webhook outbox) down and up again: calls stay, and
    ``updated_at`` comes back from the processing time, else the import time."""
    from datetime import timedelta

    from alembic import command

    from ccr.core import api_tokens, outbox
    from ccr.core.models import Call
    from tests.conftest import make_tenant

    tenant = make_tenant("Alpha Conseil", "alpha")
    created, processed = utcnow() - timedelta(days=3), utcnow() - timedelta(days=2)
    with db.session() as s:
        s.add(Call(org_id=tenant.org_id, sha256="traite-avant-0010", status="done", created_at=created,
                   processed_at=processed))
        s.add(Call(org_id=tenant.org_id, sha256="en-file-avant-0010", status="queued", created_at=created))
        api_tokens.issue_token(session=s, org_id=tenant.org_id, name="Téléphonie")
        outbox.emit(s, org_id=tenant.org_id, kind="call.failed", call_id=None, data={})  # no webhook: no row
    cfg = db.alembic_config(migrated)
    db.dispose_engines()
    command.downgrade(cfg, "0009")
    integrations = {"apitoken", "webhookendpoint", "webhookevent", "webhookattempt"}
    with get_engine().connect() as conn:
        inspector = sa.inspect(conn)
        assert "updated_at" not in {c["name"] for c in inspector.get_columns("call")}
        assert not {"ix_call_org_external", "ix_call_org_updated"} & {i["name"] for i in inspector.get_indexes("call")}
        assert not integrations & set(inspector.get_table_names())
        assert conn.execute(sa.text("SELECT COUNT(*) FROM call")).scalar_one() == 2
    db.dispose_engines()
    command.upgrade(cfg, "head")
    with get_engine().connect() as conn:
        assert integrations <= set(sa.inspect(conn).get_table_names())
        rows = conn.execute(sa.text("SELECT sha256, updated_at, processed_at, created_at FROM call")).all()
    by_sha = {r[0]: r for r in rows}
    assert set(by_sha) == {"traite-avant-0010", "en-file-avant-0010"}
    assert by_sha["traite-avant-0010"][1] == by_sha["traite-avant-0010"][2]  # processing time
    assert by_sha["en-file-avant-0010"][1] == by_sha["en-file-avant-0010"][3]  # import time
    with db.session() as s:
        assert {c.updated_at for c in s.exec(sa.select(Call)).scalars()} == {processed, created}
