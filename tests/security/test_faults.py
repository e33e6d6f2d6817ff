"""Faults of a bad day: a worker killed anywhere in its work, a database held by another writer, a full disk
during an upload, the LLM endpoint down or silent. (The purge killed between its commit and its file
deletions is covered by ``tests/privacy/test_retention.py::test_a_purge_killed_between_commit_and_file_deletion_is_
completed_by_the_next``.)

The crash test is real processing (faster-whisper on 2-3 s clips) in subprocess workers that die either by
SIGKILL at a random moment or by ``os._exit`` at a named step (``ccr.pipeline.steps._crash_point``, armed by
``CCR_TEST_CRASH_AT``), including inside the transaction that writes the transcript or the evaluation.
"""

from __future__ import annotations

import errno
import http.server
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from ccr.core import storage
from ccr.core.db import session
from ccr.core.models import AuditLog, Call, Evaluation, Transcript
from ccr.pipeline import lease, steps
from ccr.pipeline.ingest import ingest_files
from tests.audiodata import cut_wav, offline_model_dir
from tests.conftest import count_rows

REPO = Path(__file__).resolve().parents[2]
CRASH_POINTS = ("claimed", "decrypted", "transcribed", "transcript_uncommitted", "transcript_committed",
                "evaluation_uncommitted", "evaluation_committed")
ITERATIONS = 14  # each is one worker process killed somewhere; the last run drains the queue
CALLS = 4
LOCK_HOLD_S = 2.0  # shorter than the busy timeout, long enough to be sure the app had to wait


@pytest.fixture
def asr_env(tenants, tmp_path_factory, monkeypatch):
    """Tenants, plus the offline Whisper model assembled once for the session."""
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_ASR_MODEL", str(offline_model_dir(tmp_path_factory)))
    get_settings.cache_clear()
    return tenants


def _worker(env: dict, crash_at: str | None) -> subprocess.Popen:
    env = {**env, **({steps.CRASH_ENV: crash_at} if crash_at else {})}
    env.pop(steps.CRASH_ENV, None) if not crash_at else None
    return subprocess.Popen([sys.executable, "-m", "ccr", "worker", "--once"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_workers_killed_at_random_points_leave_every_call_done_or_failed_once(asr_env, capsys):
    from ccr.core.config import get_settings

    alpha, _ = asr_env
    settings = get_settings()
    clips = [(f"appel-{i}.wav", cut_wav(f"a01-00{i % 4}.wav", 2.5, start=3.0 * (i // 4))) for i in range(CALLS)]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=clips)
    call_ids = batch.call_ids
    assert len(call_ids) == CALLS
    env = {**os.environ, "CCR_DATA_DIR": str(settings.data_dir), "CCR_ASR_MODEL": settings.asr_model,
           "HF_HUB_OFFLINE": "1", "CCR_JOB_MAX_ATTEMPTS": "4", "CCR_JOB_LEASE_S": "30"}
    rng = random.Random(int(os.environ.get("CCR_FAULT_SEED", "9")))
    outcomes: dict[str, int] = {}
    for i in range(ITERATIONS):
        if i % 2 == 0:
            point = rng.choice(CRASH_POINTS)
            proc = _worker(env, point)
            rc = proc.wait(timeout=120)
            label = f"os._exit à « {point} »" if rc == steps.CRASH_EXIT else f"fini sans atteindre « {point} »"
        else:
            delay = rng.uniform(0.5, 6.0)
            proc = _worker(env, None)
            try:
                proc.wait(timeout=delay)
                label = "fini avant le SIGKILL"
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                label = "SIGKILL"
        outcomes[label] = outcomes.get(label, 0) + 1
        # Between two crashes nothing may be half-written: a transcript only with its call in scoring or later.
        with session() as s:
            for call in s.exec(select(Call).where(Call.id.in_(call_ids))).all():
                has_tr = count_rows(Transcript, call_id=call.id) == 1
                assert call.status in ("queued", "transcribing", "scoring", "done", "failed"), call.status
                if call.status in ("scoring", "done"):
                    assert has_tr, (i, call.id, call.status)
                if call.status in ("queued", "transcribing"):
                    assert not has_tr, (i, call.id, call.status)
    assert _worker(env, None).wait(timeout=240) == 0  # the survivor drains the queue

    with session() as s:
        calls = s.exec(select(Call).where(Call.id.in_(call_ids))).all()
    statuses = {c.id: c.status for c in calls}
    with capsys.disabled():
        print(f"\n[pannes] {ITERATIONS} arrêts brutaux : {outcomes} ; appels : {statuses} ; "
              f"tentatives : {[c.attempts for c in calls]}")
    for call in calls:
        assert call.status in ("done", "failed"), (call.id, call.status)
        assert call.lease_owner is None
        assert count_rows(Transcript, call_id=call.id) == (1 if call.status == "done" else count_rows(
            Transcript, call_id=call.id))
        assert count_rows(Transcript, call_id=call.id) <= 1
        evals = count_rows(Evaluation, call_id=call.id)
        if call.status == "done":
            assert evals == 1 and count_rows(Evaluation, call_id=call.id, is_current=True) == 1, call.id
        else:
            assert evals == 0, call.id
    # No orphan: every file on disk is a call's recording, every call's recording is on disk, no temporary.
    on_disk = {p.name for p in (settings.audio_dir / str(alpha.org_id)).iterdir()}
    assert on_disk == {f"{c.audio_key}.enc" for c in calls}
    assert sum(s == "done" for s in statuses.values()) >= 1  # the test exercised real completions


def test_a_database_held_by_another_writer_makes_the_app_wait_then_succeed(tenants, settings_env):
    from ccr.core import audit

    alpha, _ = tenants
    db_path = settings_env.data_dir / "ccr.db"
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None, check_same_thread=False)
    assert other.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    other.execute("BEGIN IMMEDIATE")  # the write lock, as a long transaction of another process would take
    other.execute("UPDATE organisation SET name = name WHERE id = ?", (alpha.org_id,))
    released = threading.Event()

    def release():
        time.sleep(LOCK_HOLD_S)
        other.execute("COMMIT")
        released.set()

    threading.Thread(target=release, daemon=True).start()
    t0 = time.monotonic()
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", cut_wav("a01-000.wav", 2))])
    with session() as s:
        audit.log_event(session=s, who=alpha.actor("supervisor").who, action="test_lock", target_type="test")
    waited = time.monotonic() - t0
    assert released.is_set() and waited >= LOCK_HOLD_S * 0.8, waited
    assert batch.results[0].status == "accepted"
    assert count_rows(Call, org_id=alpha.org_id) == 1 and count_rows(AuditLog, action="test_lock") == 1
    other.close()


def test_a_full_disk_during_upload_refuses_the_file_in_french_and_leaves_nothing(tenants, settings_env,
                                                                                  monkeypatch):
    alpha, _ = tenants
    real_fsync = os.fsync
    full = {"on": True}

    def fsync(fd):  # ENOSPC surfaces when the data is flushed to the full device
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", fsync)
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("plein.wav", cut_wav("a01-000.wav", 2))])
    result = batch.results[0]
    assert (result.status, result.call_id) == ("rejected", None)
    assert "Espace disque insuffisant" in result.reason
    assert count_rows(Call) == 0
    folder = settings_env.audio_dir / str(alpha.org_id)
    assert not folder.exists() or not any(folder.iterdir())  # no partial file, no temporary
    full["on"] = False  # space freed: the same file goes through
    assert ingest_files(actor=alpha.actor("supervisor"),
                        files=[("plein.wav", cut_wav("a01-000.wav", 2))]).results[0].status == "accepted"


class _Llm(http.server.BaseHTTPRequestHandler):
    mode = "503"
    hits = 0

    def do_POST(self):
        type(self).hits += 1
        if self.mode == "silent":
            time.sleep(5)  # longer than the client's timeout: the request is abandoned
            return
        body = json.dumps({"error": {"message": "overloaded"}}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode", ["503", "silent"])
def test_llm_endpoint_down_or_silent_keeps_the_rules_evaluation_and_flags_a_retry(tenants, monkeypatch, mode):
    from ccr.core.config import get_settings

    handler = type("Llm", (_Llm,), {"mode": mode, "hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CCR_SCORING_ENGINE", "llm")
        monkeypatch.setenv("CCR_OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        monkeypatch.setenv("CCR_OPENAI_API_KEY", "sk-test-local")
        monkeypatch.setenv("CCR_LLM_TIMEOUT_S", "1")
        monkeypatch.setenv("CCR_LLM_MAX_RETRIES", "1")
        get_settings.cache_clear()
        alpha, _ = tenants
        tr = json.loads((REPO / "tests/fixtures/eval/public/transcripts/a01-000.json").read_text(encoding="utf-8"))
        with session() as s:
            call = Call(org_id=alpha.org_id, sha256=uuid.uuid4().hex, status="scoring",
                        duration_s=tr["duration_s"], channels=2)
            s.add(call)
            s.flush()
            s.add(Transcript(org_id=alpha.org_id, call_id=call.id, segments_json=json.dumps(tr["segments"]),
                             text="\n".join(seg["text"] for seg in tr["segments"])))
            call_id = call.id
        with session() as s:
            assert lease.claim_next(session=s, owner="hote:1:w0") == call_id
        t0 = time.monotonic()
        assert steps.process_call(call_id, owner="hote:1:w0") == "done"
        elapsed = time.monotonic() - t0
    finally:
        server.shutdown()
    assert handler.hits >= 1  # the endpoint was really tried
    assert elapsed < 30, elapsed  # bounded by the timeout and retries, not by the silent server
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
        call = s.get(Call, call_id)
    assert ev.engine == "rules" and ev.is_current
    assert call.needs_llm_retry is True and call.status == "done"
