"""Retention: settings rules, and a purge that deletes exactly what expired, folds statistics once,
survives a crash between commit and file deletion, and runs in one process at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import select

from ccr.core import audit, storage
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import (
    Agent,
    AuditLog,
    Call,
    DailyStat,
    Evaluation,
    Export,
    Organisation,
    PurgeRun,
    Review,
    Transcript,
    User,
)
from ccr.privacy import retention
from tests import pg
from tests.conftest import REPO
from tests.dbfile import files_holding
from tests.retdata import NOW, PARIS, add_call, aggregates, days_ago, stats_rows


def _audio_files(org_id: int) -> set[str]:
    return set(storage.iter_stored_keys(org_id))


def _fts_hits(word: str) -> list[int]:
    with session() as s:
        return pg.fts_hits(s, word)


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("category", "days", "justification", "ok"), [
    ("recordings", 90, None, True),             # shortening is always allowed
    ("recordings", 183, None, True),            # the CNIL figure itself
    ("recordings", 200, None, False),           # beyond CNIL: a justification is required
    ("recordings", 200, "trop court", False),   # ... a real one
    ("recordings", 200, "Litige prud'homal en cours : conservation demandée par l'avocat.", True),
    ("evaluations_reviews", 366, None, False),
    ("exports", 30, None, True),
    ("exports", 0, None, False),                # zero would delete data on arrival
    ("unknown", 10, None, False),
])
def test_set_retention_follows_the_cnil_limits(tenants, category, days, justification, ok):
    a, _ = tenants
    dpo = a.actor("dpo")
    with session() as s:
        if not ok:
            with pytest.raises(InvalidInput):
                retention.set_retention(session=s, actor=dpo, category=category, days=days,
                                        justification=justification)
            return
        retention.set_retention(session=s, actor=dpo, category=category, days=days, justification=justification)
    with session() as s:
        row = next(r for r in retention.get_retention(session=s, actor=dpo) if r["category"] == category)
        assert row["days"] == days
        assert row["justification"] == (justification if days > row["reference_days"] else None)
        assert retention.retention_days(session=s, org_id=a.org_id)[category] == days
        assert audit.count_events(session=s, org_id=a.org_id, action="retention_set") == 1


@pytest.mark.parametrize("role", ["supervisor", "team_lead"])
def test_only_dpo_and_admin_manage_retention(tenants, role):
    a, _ = tenants
    with session() as s, pytest.raises(AccessDenied):
        retention.set_retention(session=s, actor=a.actor(role), category="recordings", days=30)


def test_every_category_documents_its_default_and_legal_reference():
    for rule in retention.CATEGORIES.values():
        assert rule.default_days <= rule.reference_days
        assert rule.reference and rule.counted_from and rule.label


# --- the purge ------------------------------------------------------------------------------------


def test_purge_deletes_exactly_what_expired_rows_and_files(dataset):
    a, b, calls = dataset
    with session() as s:
        keys = {name: s.get(Call, cid).audio_key for name, cid in calls.items()}
    run = retention.run_purge(now=NOW)
    assert run.status == "ok", run.error
    with session() as s:
        assert s.get(Call, calls["old"]) is None
        mid, new = s.get(Call, calls["mid"]), s.get(Call, calls["new"])
        assert mid.audio_key is None and new.audio_key == keys["new"]
        transcripts = set(s.exec(select(Transcript.call_id)).all())
        assert transcripts == {calls["new"], calls["b_old"]}
        assert set(s.exec(select(Evaluation.call_id)).all()) == {calls["mid"], calls["new"], calls["b_old"]}
        assert s.exec(select(Review)).all() == []
        assert s.get(Call, calls["b_old"]).audio_key == keys["b_old"]  # org B keeps 500 days
    assert _audio_files(a.org_id) == {keys["new"]}
    assert _audio_files(b.org_id) == {keys["b_old"]}
    assert _fts_hits("vieillerie") == [] and _fts_hits("milieu") == []
    assert _fts_hits("recent") and _fts_hits("autreclient")
    deleted = json.loads(run.deleted_json)
    assert deleted["recordings"] == 2 and deleted["transcripts"] == 2 and deleted["evaluations"] == 1
    assert deleted["reviews"] == 1 and deleted["calls"] == 1 and deleted["folded"] == 1


@pytest.mark.parametrize(("age_days", "expired"), [(183, True), (182, False), (184, True), (0, False)])
def test_recordings_expire_on_the_day_they_reach_the_duration(tenants, age_days, expired):
    a, _ = tenants
    cid = add_call(a.org_id, a.agent_ids[0], days_ago(age_days, hour=23))
    retention.run_purge(now=NOW)
    with session() as s:
        assert (s.get(Call, cid).audio_key is None) is expired


# --- call dates outside reason: retention counts from the later of the call and the import ----------

FAR_FUTURE = datetime(2999, 12, 31, 10, tzinfo=UTC)
LONG_AGO = datetime(1900, 1, 1, 10, tzinfo=UTC)
KEPT = {"call", "recording", "transcript", "evaluation"}
ANALYSIS_ONLY = {"call", "evaluation"}  # recording and transcript (6 months) gone, evaluation (1 year) kept


def _left_of(call_id: int) -> set[str]:
    with session() as s:
        call = s.get(Call, call_id)
        if call is None:
            return set()
        left = {"call"} | ({"recording"} if call.audio_key else set())
        if s.exec(select(Transcript).where(Transcript.call_id == call_id)).first():
            left.add("transcript")
        if s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).first():
            left.add("evaluation")
        return left


@pytest.mark.parametrize(("call_date", "days_after_import", "left"), [
    (FAR_FUTURE, 100, KEPT),             # the import date counts: nothing due yet
    (FAR_FUTURE, 200, ANALYSIS_ONLY),    # ... 6 months after the import, the recording goes
    (FAR_FUTURE, 400, set()),            # ... a year after, everything
    (LONG_AGO, 1, KEPT),                 # a call dated 1900 is not deleted at the next purge
    (LONG_AGO, 200, ANALYSIS_ONLY),
    (NOW - timedelta(days=300), 100, KEPT),  # a call imported late gets its full duration
    (NOW - timedelta(days=300), 400, set()),
    (NOW + timedelta(hours=20), 183, KEPT),  # within the clock skew: the call date counts (a day later)
    (NOW + timedelta(hours=20), 185, ANALYSIS_ONLY),
])
def test_retention_counts_from_the_later_of_call_and_import_and_never_trusts_a_future_date(
        tenants, call_date, days_after_import, left):
    a, _ = tenants
    cid = add_call(a.org_id, a.agent_ids[0], call_date)
    with session() as s:
        s.execute(update(Call).where(Call.id == cid).values(created_at=NOW))  # imported at NOW
    run = retention.run_purge(now=NOW + timedelta(days=days_after_import))
    assert run.status == "ok", run.error
    assert _left_of(cid) == left


@pytest.mark.parametrize(("call_date", "error"), [
    (NOW, None),
    (NOW + timedelta(hours=23), None),  # a recorder's clock a few hours ahead
    (NOW + timedelta(days=2), "dans le futur"),
    (FAR_FUTURE, "date de l'appel 31/12/2999 11:00 dans le futur"),
    (NOW - timedelta(days=retention.MAX_DAYS - 1), None),
    (NOW - timedelta(days=retention.MAX_DAYS + 1), "plus ancienne que toute durée de conservation autorisée"),
    (LONG_AGO, "date de l'appel 01/01/1900 10:09 antérieure au 17/06/2016"),
])
def test_call_dates_in_the_future_or_beyond_any_retention_are_refused(migrated, call_date, error):
    found = retention.call_date_error(call_date, now=NOW)
    assert (found is None) if error is None else (error in found), found


def test_a_second_purge_counts_nothing_twice(dataset):
    a, _, _ = dataset
    retention.run_purge(now=NOW)
    first = stats_rows(a.org_id)
    run = retention.run_purge(now=NOW)
    assert stats_rows(a.org_id) == first
    assert not {k for k in json.loads(run.deleted_json) if k not in ("audit_log",)}


def test_dry_run_deletes_nothing_but_reports(dataset):
    a, _, calls = dataset
    run = retention.run_purge(now=NOW, dry_run=True)
    deleted = json.loads(run.deleted_json)
    assert deleted["recordings"] == 2 and deleted["evaluations"] == 1
    with session() as s:
        assert s.get(Call, calls["old"]).audio_key is not None
        assert s.exec(select(DailyStat)).all() == []
    assert len(_audio_files(a.org_id)) == 3


# --- remnants: the database file and the dashboard rollups after a purge ---------------------------

SURNAME = "Xylqorvenz"  # a made-up customer surname: present in the file's bytes only if something kept it


@pytest.mark.skipif(pg.is_postgres(os.environ.get("CCR_TEST_DATABASE_URL")), reason="octets du fichier SQLite")
def test_purged_transcripts_leave_no_byte_in_the_database_file_or_its_log(tenants, settings_env):
    a, _ = tenants
    for i in range(3):
        add_call(a.org_id, a.agent_ids[0], days_ago(200), text=f"bonjour madame {SURNAME} appel {i}")
    add_call(a.org_id, a.agent_ids[1], days_ago(10), text="conversation recente")
    assert files_holding(settings_env, SURNAME)  # the word is really written there first (log or file)
    run = retention.run_purge(now=NOW)
    assert json.loads(run.deleted_json)["transcripts"] == 3
    assert _fts_hits("recente")
    assert files_holding(settings_env, SURNAME) == []  # neither in a freed page nor in an FTS index block


def test_purged_evaluations_leave_no_dashboard_rollup_behind(dataset):
    from ccr.core.models import RollupAgent, RollupDirty
    from ccr.dashboards.rollups import refresh_rollups

    a, _, _calls = dataset
    with session() as s:  # a dashboard was opened: the rollups hold every evaluation's figures
        refresh_rollups(session=s, org_id=a.org_id)
        assert s.exec(select(RollupAgent).where(RollupAgent.agent_id == a.agent_ids[0])).all()
    retention.run_purge(now=NOW)
    with session() as s:  # read as stored, before any dashboard opens again
        assert s.exec(select(RollupAgent).where(RollupAgent.agent_id == a.agent_ids[0])).all() == []
        assert s.exec(select(RollupDirty).where(RollupDirty.org_id == a.org_id)).all() == []
        left = {r.agent_id for r in s.exec(select(RollupAgent).where(RollupAgent.org_id == a.org_id)).all()}
        assert left == {a.agent_ids[1], a.agent_ids[2]}  # the "mid" and "new" calls keep their evaluations


def test_restricted_evaluations_are_deleted_but_not_folded(tenants):
    a, _ = tenants
    add_call(a.org_id, a.agent_ids[0], days_ago(400), restricted=True)
    add_call(a.org_id, a.agent_ids[0], days_ago(400))
    retention.run_purge(now=NOW)
    assert sum(r["calls"] for r in stats_rows(a.org_id).values()) == 1
    with session() as s:
        assert s.exec(select(Call)).all() == []


def test_audit_log_keeps_a_verifiable_chain_after_purge(tenants):
    a, _ = tenants
    with session() as s:
        before = audit.count_events(session=s, org_id=a.org_id)
    assert before > 0
    run = retention.run_purge(now=utcnow() + timedelta(days=366))
    assert json.loads(run.deleted_json)["audit_log"] >= before
    with session() as s:
        remaining = s.exec(select(AuditLog).where(AuditLog.org_id == a.org_id)).all()
        assert [e.action for e in remaining] == ["retention_purge"]  # the purge's own entry anchors the chain
        assert all(r.ok for r in audit.verify_all(session=s))


def test_expired_exports_are_deleted_with_their_files(tenants):
    from ccr.privacy import exports, records

    a, _ = tenants
    export_id = exports.start_organisation_export(actor=a.actor("dpo"), background=False)
    with session() as s:
        ex = s.get(Export, export_id)
        path = records.export_path(retention.get_settings(), a.org_id, ex.file_key)
    assert path.exists()
    retention.run_purge(now=utcnow() + timedelta(days=6))
    assert path.exists()
    retention.run_purge(now=utcnow() + timedelta(days=8))
    assert not path.exists()
    with session() as s:
        assert s.get(Export, export_id) is None


def test_sweep_removes_old_orphans_but_not_fresh_uploads(tenants):
    a, _ = tenants
    old = storage.put_audio(b"orphan", org_id=a.org_id)
    fresh = storage.put_audio(b"upload in progress", org_id=a.org_id)
    old_path = storage.audio_path(old, org_id=a.org_id)
    past = time.time() - 2 * retention.ORPHAN_GRACE_S
    os.utime(old_path, (past, past))
    assert retention.sweep_orphans() == 1
    assert _audio_files(a.org_id) == {fresh}


# --- crash and concurrency (real processes) ---------------------------------------------------------


def _purge_in_subprocess(extra_env: dict, now: datetime = NOW) -> subprocess.Popen:
    code = ("from datetime import datetime; from ccr.privacy.retention import run_purge; "
            f"r = run_purge(now=datetime.fromisoformat('{now.isoformat()}'), trigger='cli'); print(r.status)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **extra_env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_purge_killed_between_commit_and_file_deletion_is_completed_by_the_next(dataset):
    a, _, calls = dataset
    before = aggregates(a.org_id)
    proc = _purge_in_subprocess({retention.CRASH_ENV: "1"})
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 137, err
    with session() as s:
        crashed = s.exec(select(PurgeRun)).one()
        assert crashed.status == "running" and json.loads(crashed.pending_files_json)
        assert s.get(Call, calls["mid"]).audio_key is None  # committed ...
    assert len(_audio_files(a.org_id)) == 3  # ... but the files are still there
    run = retention.run_purge(now=NOW)
    assert run.status == "ok", run.error
    with session() as s:
        keys = set(s.exec(select(Call.audio_key).where(Call.org_id == a.org_id)).all()) - {None}
        assert s.get(PurgeRun, crashed.id).status == "interrupted"
    assert _audio_files(a.org_id) == keys  # no orphan
    day = days_ago(400).astimezone(PARIS).date()
    assert stats_rows(a.org_id)[(day, None)]["calls"] == before[(day, None)]["calls"] == 1  # no double count


@pytest.mark.slow
def test_two_processes_starting_the_purge_together_one_runs_one_skips(dataset):
    env = {"CCR_TEST_PURGE_HOLD_S": "4"}
    procs = [_purge_in_subprocess(env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert sorted(o[0].strip() for o in outs) == ["ok", "skipped"]
    with session() as s:
        assert sorted(r.status for r in s.exec(select(PurgeRun)).all()) == ["ok", "skipped"]
        lock = s.exec(text("SELECT owner FROM joblock WHERE name='purge'")).one()
        assert lock[0] is None  # released


# --- termination ----------------------------------------------------------------------------------


def test_termination_then_purge_30_days_later_deletes_everything_but_statistics(dataset):
    from ccr.core.orgs import set_organisation_status

    a, b, calls = dataset
    b_recent = add_call(b.org_id, b.agent_ids[0], utcnow(), text="clientb")
    with session() as s:
        org = set_organisation_status(session=s, actor=a.actor("admin"), status="terminated")
        terminated_at = org.terminated_at
    with session() as s:
        assert retention.termination_countdown(s.get(Organisation, a.org_id), now=terminated_at) == 30
    retention.run_purge(now=terminated_at + timedelta(days=29))
    with session() as s:
        assert s.get(Call, calls["new"]) is not None  # still within the grace period
    run = retention.run_purge(now=terminated_at + timedelta(days=30, minutes=1))
    assert run.status == "ok", run.error
    with session() as s:
        for model in (Call, Transcript, Evaluation, User, Agent, Export):
            assert s.exec(select(model).where(model.org_id == a.org_id)).all() == [], model.__name__
        assert s.get(Organisation, a.org_id).status == "terminated"
        assert sum(r.calls for r in s.exec(select(DailyStat).where(DailyStat.org_id == a.org_id)).all()) == 3
        assert audit.count_events(session=s, org_id=a.org_id) == 1  # only the purge's own entry
        assert s.get(Call, b_recent) is not None  # another tenant is untouched
        assert s.exec(select(User).where(User.org_id == b.org_id)).all()
    assert _audio_files(a.org_id) == set()
    assert _fts_hits("recent") == []


def test_cli_purge_dry_run_prints_the_counts(dataset):
    out = subprocess.run([sys.executable, "-m", "ccr", "purge", "--dry-run", "--now", NOW.isoformat()],
                         cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "simulation" in out.stdout.lower() and "Enregistrements : 2" in out.stdout
