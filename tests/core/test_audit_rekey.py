"""Re-keying the audit chains: from unkeyed SHA-256 (migration 0003) and on a master-secret rotation.

Intact entries verify afterwards, altered ones stay altered, a chain already purged stays anchored, and a
truncation after the re-keying is still detected.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import col, select

from ccr.core import audit, db
from ccr.core.config import SECRET_KEY_FILE, get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import ConfigError
from ccr.core.models import AuditLog
from ccr.privacy import keys

LEGACY_HEAD = "0002"


def _legacy_hash(e: AuditLog) -> str:
    """The hash as revision 0002 computed it: plain SHA-256, no key."""
    return hashlib.sha256(json.dumps(
        [e.org_id, e.user_id, e.username, e.action, e.target_type, e.target_id, e.outcome, e.detail_json,
         e.created_at.isoformat(timespec="microseconds"), e.prev_hash],
        ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _legacy_chain(org_id: int | None, n: int, start_prev: str = "") -> list[int]:
    """Append ``n`` entries hashed the old way; returns their ids."""
    ids, prev, t0 = [], start_prev, utcnow() - timedelta(days=3)
    with session() as s:
        for i in range(n):
            e = AuditLog(org_id=org_id, user_id=7, username="alice", action="call_opened", target_type="call",
                         target_id=str(i), detail_json=json.dumps({"i": i}), created_at=t0 + timedelta(minutes=i),
                         prev_hash=prev)
            e.hash = prev = _legacy_hash(e)
            s.add(e)
            s.flush()
            ids.append(e.id)
    return ids


def _chain(org_id) -> list[AuditLog]:
    with session() as s:
        return list(s.exec(select(AuditLog).where(audit._chain_filter(org_id)).order_by(col(AuditLog.id))).all())


def _reports() -> dict[int | None, audit.ChainReport]:
    with session() as s:
        return {r.org_id: r for r in audit.verify_all(session=s)}


def _tamper(entry_id: int) -> None:
    with session() as s:
        s.exec(text("UPDATE auditlog SET target_id = 'falsifié' WHERE id = :i").bindparams(i=entry_id))


def test_upgrade_from_the_previous_head_rekeys_every_chain_and_keeps_altered_entries_altered(settings_env):
    cfg = db.alembic_config(settings_env)
    command.upgrade(cfg, LEGACY_HEAD)
    settings_env.secret()  # the service that wrote this log had its secret
    intact = _legacy_chain(1, 4)
    purged = _legacy_chain(2, 5, start_prev="ab" * 32)  # its first entries were purged by the old retention job
    system = _legacy_chain(None, 2)
    _tamper(purged[2])
    command.upgrade(cfg, "head")
    # Three days old and never checkpointed: unanchored until the server's start signs a checkpoint.
    assert all("aucun point de contrôle depuis plus de 26 h" in r.problems[-1] for r in _reports().values())
    audit.checkpoint_job()

    reports = _reports()
    assert reports[1].ok and reports[None].ok, (reports[1], reports[None])
    assert reports[2].broken_at == [purged[2]] and reports[2].problems == []  # its start is anchored
    for org_id, ids in ((1, intact), (2, purged), (None, system)):
        rows = _chain(org_id)
        assert [r.id for r in rows[:-1]] == ids
        assert rows[-1].action == "audit_rekeyed"
        assert json.loads(rows[-1].detail_json)["nb_alterees"] == (1 if org_id == 2 else 0)
        assert all(r.hash != _legacy_hash(r) for r in rows if r.id != purged[2])  # nothing left unkeyed
    anchors = audit.load_records().anchors[2]
    assert [(a["upto_id"], a["upto_hash"], a["reason"]) for a in anchors] == [(purged[0] - 1, "ab" * 32, "migration")]

    command.downgrade(cfg, LEGACY_HEAD)  # and back: the old code's plain hashes verify again
    assert all(r.hash == _legacy_hash(r) for r in _chain(1))


def test_upgrade_refuses_to_key_the_log_with_a_secret_the_service_does_not_use(settings_env):
    cfg = db.alembic_config(settings_env)
    command.upgrade(cfg, LEGACY_HEAD)
    _legacy_chain(1, 2)
    assert not (settings_env.data_dir / SECRET_KEY_FILE).exists()
    with pytest.raises(ConfigError, match="CCR_SECRET_KEY"):
        command.upgrade(cfg, "head")
    settings_env.secret()  # the service's secret is there: the upgrade goes through
    command.upgrade(cfg, "head")
    audit.checkpoint_job()  # as the server does when it starts
    assert _reports()[1].ok


def _fill(org_id, n=4):
    with session() as s:
        for i in range(n):
            audit.log_event(session=s, who=audit.Who(org_id, 1, "alice"), action="call_opened", target_type="call",
                            target_id=i)


def test_a_key_rotation_rekeys_the_chains_and_truncation_is_still_detected(tenants):
    a, b = tenants
    _fill(a.org_id)
    _fill(b.org_id, 3)
    cutoff = utcnow()
    _fill(b.org_id, 3)
    with session() as s:
        audit.purge_oldest(session=s, org_id=b.org_id, cutoff=cutoff)  # b's chain starts after a purge
    audit.write_checkpoint()
    altered = _chain(a.org_id)[1].id
    _tamper(altered)

    report = keys.rotate_secret()
    assert report.audit_chains >= 2
    reports = _reports()
    assert reports[a.org_id].broken_at == [altered] and reports[a.org_id].problems == []
    assert reports[b.org_id].ok, reports[b.org_id]
    assert all(r.ok for org_id, r in reports.items() if org_id != a.org_id)
    rekeyed = _chain(a.org_id)[-1]
    assert rekeyed.action == "audit_rekeyed" and json.loads(rekeyed.detail_json)["alterees"] == [altered]
    assert reports[b.org_id].last_checkpoint is not None  # signed anew under the new key

    settings = get_settings()
    assert audit.rekey_chains(old=settings, new=settings) == {}  # a second run finds nothing to do

    _fill(b.org_id, 1)
    audit.write_checkpoint()
    with session() as s:
        s.exec(text("DELETE FROM auditlog WHERE id = :i").bindparams(i=_chain(b.org_id)[-1].id))
    assert "entrées récentes supprimées" in _reports()[b.org_id].problems[0]
