"""The audit log's keyed hash chain: verified, anchored by signed checkpoints, and tampering detected."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from ccr.core import audit
from ccr.core.db import session, utcnow
from ccr.core.models import AuditLog
from ccr.privacy import exports, retention


def _fill(org_id, n=5):
    with session() as s:
        for i in range(n):
            audit.log_event(session=s, who=audit.Who(org_id, 1, "alice"), action="call_opened",
                            target_type="call", target_id=i)


def _chain(org_id) -> list[AuditLog]:
    with session() as s:
        return list(s.exec(select(AuditLog).where(AuditLog.org_id == org_id).order_by(col(AuditLog.id))).all())


def _report(org_id) -> audit.ChainReport:
    with session() as s:
        return audit.verify_chain(session=s, org_id=org_id)


def _delete_ids(ids) -> None:
    with session() as s:
        for i in ids:
            s.exec(text("DELETE FROM auditlog WHERE id=:i").bindparams(i=i))


def _attacker_payload(e: AuditLog, prev: str) -> bytes:
    """What the entry hash covers, as anyone can read it in the source: no secret in it."""
    return json.dumps([e.org_id, e.user_id, e.username, e.action, e.target_type, e.target_id, e.outcome,
                       e.detail_json, e.created_at.isoformat(timespec="microseconds"), prev],
                      ensure_ascii=False, separators=(",", ":")).encode()


ATTACKER_DIGESTS = {
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "hmac-guessed-key": lambda data: hmac.new(b"0" * 32, data, hashlib.sha256).hexdigest(),
}


def test_an_untouched_chain_verifies(tenants):
    a, b = tenants
    _fill(a.org_id)
    _fill(b.org_id)
    with session() as s:
        reports = audit.verify_all(session=s)
    assert all(r.ok for r in reports)
    assert {r.org_id for r in reports} >= {a.org_id, b.org_id}


def test_editing_a_row_is_detected(tenants):
    a, _ = tenants
    _fill(a.org_id)
    with session() as s:
        target = audit.list_events(session=s, org_id=a.org_id, action="call_opened")[2]
        s.exec(text("UPDATE auditlog SET target_id='999' WHERE id=:i").bindparams(i=target.id))
    report = _report(a.org_id)
    assert not report.ok and report.broken_at == [target.id]


def test_deleting_a_row_in_the_middle_is_detected(tenants):
    a, _ = tenants
    _fill(a.org_id)
    with session() as s:
        rows = audit.list_events(session=s, org_id=a.org_id, action="call_opened")
    _delete_ids([rows[2].id])
    assert not _report(a.org_id).ok


@pytest.mark.parametrize("digest", list(ATTACKER_DIGESTS))
def test_an_edit_with_every_hash_recomputed_is_detected(tenants, digest):
    a, b = tenants
    _fill(a.org_id)
    rows = _chain(a.org_id)
    target = rows[-3]
    target.target_id = "999"  # the attacker edits one entry and re-links everything after it
    with session() as s:
        prev = target.prev_hash
        for row in rows[rows.index(target):]:
            row.prev_hash = prev
            row.hash = prev = ATTACKER_DIGESTS[digest](_attacker_payload(row, prev))
            s.exec(text("UPDATE auditlog SET target_id=:t, prev_hash=:p, hash=:h WHERE id=:i").bindparams(
                t=row.target_id, p=row.prev_hash, h=row.hash, i=row.id))
    report = _report(a.org_id)
    assert not report.ok and target.id in report.broken_at
    assert _report(b.org_id).ok


def test_deleting_the_newest_entries_is_detected_against_the_checkpoint(tenants):
    a, b = tenants
    _fill(a.org_id)
    _fill(b.org_id)
    audit.write_checkpoint()
    rows = _chain(a.org_id)
    _delete_ids([r.id for r in rows[-2:]])  # what remains still links up perfectly
    report = _report(a.org_id)
    assert not report.ok and report.broken_at == []
    assert f"l'entrée {rows[-1].id}" in report.problems[0] and "entrées récentes supprimées" in report.problems[0]
    assert _report(b.org_id).ok


def test_a_chain_deleted_whole_is_reported(tenants):
    a, _ = tenants
    _fill(a.org_id)
    audit.write_checkpoint()
    _delete_ids([r.id for r in _chain(a.org_id)])
    _fill(a.org_id, 1)  # the application goes on writing: a new chain starts from nothing
    with session() as s:
        reports = {r.org_id: r for r in audit.verify_all(session=s)}
    assert not reports[a.org_id].ok and "entrées récentes supprimées" in reports[a.org_id].problems[0]


def test_deleting_the_oldest_entries_outside_the_purge_is_detected(tenants):
    a, _ = tenants
    _fill(a.org_id)
    _delete_ids([r.id for r in _chain(a.org_id)[:3]])
    report = _report(a.org_id)
    assert not report.ok and "entrées les plus anciennes supprimées" in report.problems[0]


def test_the_retention_purge_of_the_oldest_entries_still_verifies(tenants):
    a, b = tenants
    _fill(a.org_id, 3)
    audit.write_checkpoint()
    cutoff = utcnow()
    _fill(a.org_id, 3)
    audit.write_checkpoint()
    with session() as s:
        first_kept = s.exec(select(AuditLog.id).where(AuditLog.org_id == a.org_id, AuditLog.created_at >= cutoff)
                            .order_by(col(AuditLog.id))).first()
        deleted = audit.purge_oldest(session=s, org_id=a.org_id, cutoff=cutoff)
    assert deleted > 0 and _chain(a.org_id)[0].id == first_kept
    assert _report(a.org_id).ok
    audit.write_checkpoint()
    # The nightly job deletes everything a year later: every checkpointed head is gone, legitimately.
    retention.run_purge(now=utcnow() + timedelta(days=366))
    with session() as s:
        reports = audit.verify_all(session=s)
    assert [r.problems for r in reports if not r.ok] == []
    assert {r.org_id for r in reports} >= {a.org_id, b.org_id}


def test_a_purge_committed_while_the_chain_is_verified_is_not_taken_for_tampering(tenants):
    a, _ = tenants
    _fill(a.org_id)
    cutoff = utcnow()
    _fill(a.org_id)
    read_before = audit.load_records()  # the verification read the files, then the purge committed
    with session() as s:
        assert audit.purge_oldest(session=s, org_id=a.org_id, cutoff=cutoff) > 0
    with session() as s:
        assert audit.verify_chain(session=s, org_id=a.org_id, records=read_before).ok


def test_a_dry_run_purge_signs_no_anchor(tenants):
    a, _ = tenants
    _fill(a.org_id)
    run = retention.run_purge(now=utcnow() + timedelta(days=366), dry_run=True)
    assert json.loads(run.deleted_json)["audit_log"] > 0
    _delete_ids([r.id for r in _chain(a.org_id)[:3]])  # as the purge would have, but outside it
    assert not _report(a.org_id).ok


def test_checkpoints_are_owner_only_appended_and_per_chain(tenants):
    a, b = tenants
    _fill(a.org_id)
    first = audit.write_checkpoint()
    lines = first.read_text().splitlines()
    _fill(b.org_id)
    assert audit.write_checkpoint() == first  # the same day's file, appended
    after = first.read_text().splitlines()
    assert after[: len(lines)] == lines
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    assert oct(first.parent.stat().st_mode & 0o777) == "0o700"
    assert first.parent == audit.checkpoints_dir() and first.parent.parent == audit.checkpoints_dir().parent
    new = [json.loads(line) for line in after[len(lines):]]
    head_a = _chain(a.org_id)[-1]
    assert {"chain": a.org_id, "head_id": head_a.id, "head_hash": head_a.hash, "count": len(_chain(a.org_id))}.items() \
        <= next(r for r in new if r["chain"] == a.org_id).items()
    assert all(r["kind"] == "checkpoint" and r["sig"] and r["at"] for r in new)


def test_a_forged_checkpoint_is_reported(tenants):
    a, _ = tenants
    _fill(a.org_id)
    path = audit.write_checkpoint()
    forged = json.loads(path.read_text().splitlines()[0])
    forged.update(chain=a.org_id, head_id=10_000, head_hash="0" * 64)  # signature left as it was
    with path.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    report = _report(a.org_id)
    assert not report.ok and "signature invalide" in report.problems[-1]


def test_the_checkpoint_job_logs_its_failure_instead_of_raising(tenants, monkeypatch, caplog):
    def broken(**_kw):
        raise OSError("disque plein")

    monkeypatch.setattr(audit, "write_checkpoint", broken)
    with caplog.at_level(logging.ERROR, logger="ccr.core.audit"):
        audit.checkpoint_job()
    assert "Point de contrôle du journal d'audit en échec" in caplog.text


def test_the_checkpoint_job_writes_a_checkpoint(tenants):
    a, _ = tenants
    assert _report(a.org_id).last_checkpoint is None
    audit.checkpoint_job()
    assert _report(a.org_id).last_checkpoint is not None


def test_the_dpo_export_carries_the_chain_checkpoints_and_detects_a_loss_of_the_server_copy(tenants, tmp_path):
    a, b = tenants
    _fill(a.org_id)
    _fill(b.org_id)
    data = exports.audit_checkpoints_file(actor=a.actor("dpo"))
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert records and {r["chain"] for r in records} == {a.org_id}  # never another organisation's chain
    with session() as s:
        assert audit.count_events(session=s, org_id=a.org_id, action="audit_checkpoints_exported") == 1
    copy = tmp_path / "points.jsonl"
    copy.write_bytes(data)
    for path in audit.checkpoints_dir().iterdir():  # the server's copy is lost
        path.unlink()
    _delete_ids([_chain(a.org_id)[-2].id, _chain(a.org_id)[-1].id])
    with session() as s:
        assert _report(a.org_id).ok  # nothing left on the server to tell
        reports = {r.org_id: r for r in audit.verify_all(session=s, extra=[copy])}
    assert not reports[a.org_id].ok and "entrées récentes supprimées" in reports[a.org_id].problems[0]


def test_the_organisation_export_archive_holds_the_signed_checkpoints(tenants):
    import io
    import zipfile

    a, _ = tenants
    _fill(a.org_id)
    export_id = exports.start_organisation_export(actor=a.actor("dpo"), background=False)
    with zipfile.ZipFile(io.BytesIO(exports.read_export(actor=a.actor("dpo"), export_id=export_id))) as zf:
        records = [json.loads(line) for line in zf.read(exports.AUDIT_CHECKPOINTS_NAME).splitlines()]
    assert records and all(r["chain"] == a.org_id and r["sig"] for r in records)


def test_chains_are_per_organisation(tenants):
    a, b = tenants
    _fill(a.org_id, 3)
    with session() as s:
        assert audit.count_events(session=s, org_id=b.org_id, action="call_opened") == 0
        assert len(audit.list_events(session=s, org_id=a.org_id, action="call_opened")) == 3


def _backdated(monkeypatch, delta: timedelta):
    """Entries and checkpoints written from now on are dated ``delta`` ago; returns the real clock."""
    real = audit.utcnow
    monkeypatch.setattr(audit, "utcnow", lambda: real() - delta)
    return real


@pytest.mark.parametrize("lost", ["every file", "today's file"])
def test_deleting_the_newest_entries_with_the_checkpoint_files_is_detected_after_a_day(tenants, monkeypatch, lost):
    a, b = tenants
    real = _backdated(monkeypatch, timedelta(days=2))
    _fill(a.org_id)
    old_file = audit.write_checkpoint()
    monkeypatch.setattr(audit, "utcnow", real)
    _fill(a.org_id)
    today_file = audit.write_checkpoint()
    assert old_file != today_file and _report(a.org_id).ok
    _delete_ids([r.id for r in _chain(a.org_id)[-5:]])  # today's entries, and the files that named them
    for path in [*audit.checkpoints_dir().iterdir()] if lost == "every file" else [today_file]:
        path.unlink()
    report = _report(a.org_id)
    assert not report.ok and report.broken_at == []
    assert "aucun point de contrôle depuis plus de 26 h" in report.problems[-1]
    assert ("aucun n'a été signé" if lost == "every file" else "le dernier date du") in report.problems[-1]
    assert _report(b.org_id).ok  # its entries are all younger than a day: nothing to anchor yet


@pytest.mark.parametrize("start", ["serve", "boot"])
def test_the_server_start_signs_a_checkpoint_and_starts_even_when_it_fails(tenants, monkeypatch, caplog, start):
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    from ccr.ui import runtime

    monkeypatch.setattr(streamlit_cli, "main", lambda **kwargs: None)
    monkeypatch.setattr(runtime, "start_services", lambda settings: {"started": False})
    monkeypatch.setattr(runtime, "stop_services", lambda settings: None)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    monkeypatch.setattr(logging.getLogger("ccr"), "level", logging.getLogger("ccr").level)

    def run() -> None:
        assert (runtime.serve([]) == 0) if start == "serve" else runtime.boot.__wrapped__() == {"started": False}

    a, _ = tenants
    real = _backdated(monkeypatch, timedelta(days=3))
    _fill(a.org_id)  # the last entries before the server was down for three days
    monkeypatch.setattr(audit, "utcnow", real)
    assert not _report(a.org_id).ok
    run()
    assert _report(a.org_id).ok and _report(a.org_id).last_checkpoint is not None

    def broken(**_kw):
        raise OSError("disque plein")

    monkeypatch.setattr(audit, "write_checkpoint", broken)
    with caplog.at_level(logging.ERROR, logger="ccr.core.audit"):
        run()  # a full disk leaves the log unanchored, and the server starts all the same
    assert "Point de contrôle du journal d'audit en échec" in caplog.text
