"""Backups: an encrypted round trip of the database and recordings, a capped count, safe restores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from ccr.core import audit, config, storage
from ccr.core.db import dispose_engines, session
from ccr.core.errors import ConfigError, InvalidInput
from ccr.core.models import AuditLog, Call, Organisation
from ccr.privacy import backup
from tests.conftest import REPO
from tests.retdata import NOW, add_call


def test_backup_then_restore_into_an_empty_data_dir_gives_back_rows_and_audio(tenants, tmp_path, monkeypatch):
    a, _ = tenants
    cid = add_call(a.org_id, a.agent_ids[0], NOW, text="sauvegarde")
    with session() as s:
        key = s.get(Call, cid).audio_key
    secret = config.get_settings().secret()
    path = backup.create_backup()
    raw = path.read_bytes()
    assert b"SQLite format 3" not in raw and b"sauvegarde" not in raw  # encrypted at rest
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    other = tmp_path / "restored"
    other.mkdir()
    monkeypatch.setenv("CCR_DATA_DIR", str(other))
    monkeypatch.setenv("CCR_SECRET_KEY", secret)  # the same secret opens the backup
    config.get_settings.cache_clear()
    dispose_engines()
    result = backup.restore_backup(path)
    assert result["audio_files"] == 1
    with session() as s:
        assert s.exec(select(Organisation.name)).all() == ["Alpha Conseil", "Beta Services"]
        call = s.get(Call, cid)
    assert storage.get_audio(call.audio_key, org_id=a.org_id) == storage.get_audio(
        key, org_id=a.org_id, settings=config.get_settings())
    with pytest.raises(InvalidInput):
        backup.restore_backup(path)  # now non-empty: refused without --force
    backup.restore_backup(path, force=True)


def test_a_backup_does_not_open_with_another_secret(tenants, monkeypatch):
    path = backup.create_backup()
    monkeypatch.setenv("CCR_SECRET_KEY", "f" * 64)
    config.get_settings.cache_clear()
    from ccr.core.errors import CcrError

    with pytest.raises(CcrError):
        backup.restore_backup(path, force=True)


def test_backups_are_capped_by_the_setting(migrated, monkeypatch):
    monkeypatch.setenv("CCR_BACKUP_KEEP", "2")
    config.get_settings.cache_clear()
    made = [backup.create_backup() for _ in range(4)]
    assert backup.list_backups() == made[-2:]


def test_postgresql_gets_a_clear_pg_dump_message(monkeypatch, tmp_path):
    monkeypatch.setenv("CCR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@localhost/ccr")
    config.get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="pg_dump"):
            backup.create_backup()
    finally:
        config.get_settings.cache_clear()


def test_cli_backup_and_restore(migrated):
    env = os.environ.copy()
    out = subprocess.run([sys.executable, "-m", "ccr", "backup"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    path = backup.list_backups()[-1]
    out = subprocess.run([sys.executable, "-m", "ccr", "restore", str(path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr  # an empty database may be overwritten


def _fill(org_id: int, n: int) -> None:
    with session() as s:
        for i in range(n):
            audit.log_event(session=s, who=audit.Who(org_id, 1, "alice"), action="call_opened", target_type="call",
                            target_id=i)


def _chain(org_id: int | None) -> list[AuditLog]:
    with session() as s:
        return list(s.exec(select(AuditLog).where(audit._chain_filter(org_id)).order_by(col(AuditLog.id))).all())


def _problems() -> dict[int | None, list]:
    with session() as s:
        return {r.org_id: r.problems + r.broken_at for r in audit.verify_all(session=s) if not r.ok}


@pytest.mark.parametrize("how", ["restore", "by hand"])
def test_restoring_an_older_backup_verifies_and_the_same_truncation_by_hand_does_not(tenants, how):
    a, b = tenants
    _fill(a.org_id, 2)
    audit.write_checkpoint()
    path = backup.create_backup()
    kept = _chain(a.org_id)[-1]
    _fill(a.org_id, 5)
    audit.write_checkpoint()  # names entries the restore will discard
    discarded = _chain(a.org_id)[-1]
    if how == "restore":
        result = backup.restore_backup(path, force=True)
    else:
        with session() as s:
            s.exec(text("DELETE FROM auditlog WHERE id > :i").bindparams(i=kept.id))
    _fill(a.org_id, 5)  # the application goes on: the discarded ids are given to new entries
    assert discarded.id in {r.id for r in _chain(a.org_id)}
    audit.write_checkpoint()
    _fill(a.org_id, 1)
    if how == "by hand":
        assert "ne correspond plus au point de contrôle" in " ".join(_problems()[a.org_id])
        return
    assert _problems() == {}
    assert result["audit_chains"] >= 3  # the system chain and both organisations'
    noted = [r for r in _chain(a.org_id) if r.action == "backup_restored"]
    assert [json.loads(r.detail_json)["derniere_entree_restauree"] for r in noted] == [kept.id]
    assert {r.org_id for r in _chain(None) + _chain(b.org_id) if r.action == "backup_restored"} == {None, b.org_id}
    # A truncation after the restore is still one.
    with session() as s:
        s.exec(text("DELETE FROM auditlog WHERE id = :i").bindparams(i=_chain(a.org_id)[-2].id))
    assert _problems()[a.org_id] != []


def test_a_newer_backup_restored_after_an_older_one_verifies(tenants):
    a, _ = tenants
    _fill(a.org_id, 2)
    older = backup.create_backup()
    _fill(a.org_id, 4)
    newer = backup.create_backup()
    backup.restore_backup(older, force=True)  # the wrong one first
    _fill(a.org_id, 2)  # new entries with the ids the newer backup holds other entries under
    audit.write_checkpoint()
    backup.restore_backup(newer, force=True)
    _fill(a.org_id, 1)
    audit.write_checkpoint()
    assert _problems() == {}
