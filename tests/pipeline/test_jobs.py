"""The durable job queue: atomic claims and leases, crash recovery, failures and retry, re-scoring, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from ccr import cli
from ccr.core import storage
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import AuditLog, Call, Evaluation, Grid, Organisation, Transcript
from ccr.pipeline import jobs
from ccr.pipeline.ingest import ingest_files
from ccr.scoring import grid
from tests.audiodata import cut_wav, offline_model_dir
from tests.conftest import count_rows

REPO = Path(__file__).resolve().parents[2]
PUBLIC = REPO / "tests" / "fixtures" / "eval" / "public" / "transcripts"


@pytest.fixture
def asr_env(tenants, tmp_path_factory, monkeypatch):
    """Tenants, plus the offline Whisper model assembled once for the session (not per data dir)."""
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_ASR_MODEL", str(offline_model_dir(tmp_path_factory)))
    get_settings.cache_clear()
    return tenants


def _queued_call(org_id: int, **fields) -> int:
    """A queued call row without audio (claims never look at the audio)."""
    with session() as s:
        call = Call(org_id=org_id, sha256=uuid.uuid4().hex, status=fields.pop("status", "queued"), **fields)
        s.add(call)
        s.flush()
        return call.id


def _transcribed_call(org_id: int, name: str = "a01-000.json", **fields) -> int:
    """A call whose redacted transcript is stored: the worker only has to score it."""
    tr = json.loads((PUBLIC / name).read_text(encoding="utf-8"))
    call_id = _queued_call(org_id, status=fields.pop("status", "scoring"), duration_s=tr["duration_s"],
                           channels=2, **fields)
    with session() as s:
        s.add(Transcript(org_id=org_id, call_id=call_id, segments_json=json.dumps(tr["segments"]),
                         text="\n".join(seg["text"] for seg in tr["segments"])))
    return call_id


def _call(call_id: int) -> Call:
    with session() as s:
        return s.get(Call, call_id)


def _claim(owner: str, now=None) -> int | None:
    with session() as s:
        return jobs.claim_next(session=s, owner=owner, now=now)


# --- claims and leases -----------------------------------------------------------------------


def test_a_claim_leases_the_oldest_queued_call_to_one_owner(tenants):
    alpha, _ = tenants
    first, second = _queued_call(alpha.org_id), _queued_call(alpha.org_id)
    assert _claim("hote:1:w0") == first
    call = _call(first)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", "hote:1:w0", 1)
    assert call.lease_until > utcnow() + timedelta(seconds=800)
    assert _claim("hote:2:w0") == second
    assert _claim("hote:3:w0") is None  # both are leased


def test_an_expired_lease_is_claimed_again_and_counts_as_an_attempt(tenants):
    alpha, _ = tenants
    call_id = _queued_call(alpha.org_id)
    assert _claim("mort:1:w0") == call_id
    assert _claim("vivant:2:w0") is None
    later = utcnow() + timedelta(seconds=jobs.get_settings().job_lease_s + 1)
    assert _claim("vivant:2:w0", now=later) == call_id
    call = _call(call_id)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", "vivant:2:w0", 2)


def test_concurrent_workers_never_claim_the_same_call(tenants):
    alpha, beta = tenants
    ids = {_queued_call(alpha.org_id if i % 2 else beta.org_id) for i in range(24)}
    claimed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            while (call_id := _claim(f"hote:1:w{n}")) is not None:
                claimed.append(call_id)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == sorted(ids)  # every call once, none twice


def test_restricted_calls_and_inactive_organisations_are_not_claimed(tenants):
    alpha, beta = tenants
    _queued_call(alpha.org_id, restricted=True)
    _queued_call(beta.org_id)
    with session() as s:
        org = s.get(Organisation, beta.org_id)
        org.status = "suspended"
        s.add(org)
    assert _claim("hote:1:w0") is None


def test_lease_renewal_only_works_for_the_owner(tenants):
    alpha, _ = tenants
    call_id = _queued_call(alpha.org_id)
    _claim("a:1:w0")
    with session() as s:
        assert jobs.renew_lease(session=s, call_id=call_id, owner="a:1:w0") is True
        assert jobs.renew_lease(session=s, call_id=call_id, owner="b:1:w0") is False


def test_leases_of_a_dead_process_on_this_host_are_released_at_start(tenants):
    alpha, _ = tenants
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    host = socket.gethostname()
    mine = _queued_call(alpha.org_id)
    theirs = _queued_call(alpha.org_id)
    other_host = _queued_call(alpha.org_id)
    for call_id, owner in ((mine, f"{host}:{dead.pid}:w0"), (theirs, f"{host}:{os.getppid()}:w0"),
                           (other_host, f"ailleurs:{dead.pid}:w0")):
        assert _claim(owner) == call_id  # oldest first
    with session() as s:
        assert jobs.release_dead_leases(session=s) == 1
    assert _call(mine).lease_owner is None
    assert _call(theirs).lease_owner is not None and _call(other_host).lease_owner is not None


def test_a_clean_stop_gives_back_this_processs_calls_wherever_the_interrupt_landed(tenants):
    alpha, _ = tenants
    first, second, foreign = (_queued_call(alpha.org_id) for _ in range(3))
    assert _claim(jobs.worker_owner_id(0)) == first  # claimed, but the step's own handler never ran
    assert _claim(jobs.worker_owner_id(1)) == second
    assert _claim(f"ailleurs:{os.getpid()}:w0") == foreign
    assert jobs.give_back_leases() == 2
    assert [(_call(c).lease_owner, _call(c).attempts) for c in (first, second)] == [(None, 0), (None, 0)]
    assert _call(foreign).lease_owner is not None
    assert _claim("suivant:1:w0") == first  # at once, without waiting for the lease to expire


def test_calls_interrupted_at_every_attempt_end_failed(tenants):
    alpha, _ = tenants
    call_id = _queued_call(alpha.org_id, status="transcribing", attempts=3, lease_owner="x:1:w0",
                           lease_until=utcnow() - timedelta(seconds=5))
    assert _claim("hote:1:w0") is None
    call = _call(call_id)
    assert call.status == "failed" and "interrompu à chaque tentative" in call.last_error


# --- failures and retry -------------------------------------------------------------------------


def test_three_failed_attempts_mark_the_call_failed_with_a_french_reason_then_retry(tenants):
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("abime.wav", cut_wav("a01-000.wav", 2))])
    call_id = batch.results[0].call_id
    path = storage.audio_path(_call(call_id).audio_key, org_id=alpha.org_id)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")  # the stored file is damaged on disk
    now = utcnow()
    for attempt in (1, 2, 3):
        assert _claim("hote:1:w0", now=now) == call_id
        state = jobs.process_call(call_id, owner="hote:1:w0")
        call = _call(call_id)
        assert call.attempts == attempt and "altéré" in call.last_error and call.lease_owner is None
        if attempt < 3:
            assert state == call.status == "queued"
            assert _claim("hote:1:w0", now=now) is None  # waits a little before the next attempt
            now = call.lease_until + timedelta(seconds=1)
    assert state == call.status == "failed"
    assert _claim("hote:1:w0", now=now + timedelta(hours=1)) is None
    assert count_rows(Transcript, call_id=call_id) == 0

    with session() as s, pytest.raises(AccessDenied):
        jobs.retry_call(session=s, actor=alpha.actor("team_lead"), call_id=call_id)
    with session() as s:
        jobs.retry_call(session=s, actor=alpha.actor("supervisor"), call_id=call_id)
    call = _call(call_id)
    assert (call.status, call.attempts, call.last_error) == ("queued", 0, None)
    assert count_rows(AuditLog, action="call_retried", target_id=str(call_id)) == 1
    with session() as s, pytest.raises(InvalidInput, match="Seul un appel en échec"):
        jobs.retry_call(session=s, actor=alpha.actor("supervisor"), call_id=call_id)


# --- scoring, re-scoring, LLM fallback ------------------------------------------------------------


def test_a_transcribed_call_is_scored_with_the_organisations_active_grid(tenants):
    alpha, _ = tenants
    call_id = _transcribed_call(alpha.org_id)
    base = grid.default_grid()
    custom = grid.new_version(base, name="Grille maison")
    with session() as s:
        row = Grid(org_id=alpha.org_id, slug=custom.id, name=custom.name, version=custom.version,
                   definition_json=json.dumps(grid.grid_to_dict(custom)), is_active=True)
        s.add(row)
        s.flush()
        grid_id = row.id
    assert _claim("hote:1:w0") == call_id
    assert jobs.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    assert (ev.grid_id, ev.grid_version, ev.is_current) == (grid_id, base.version + 1, True)
    call = _call(call_id)
    assert (call.status, call.lease_owner, call.needs_llm_retry) == ("done", None, False)


def test_rescoring_uses_the_other_grid_version_without_transcribing_again(tenants):
    alpha, beta = tenants
    call_id = _transcribed_call(alpha.org_id)
    _claim("hote:1:w0")
    jobs.process_call(call_id, owner="hote:1:w0")
    with session() as s:
        transcript_before = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
        g2 = replace(grid.default_grid(), version=2)  # the organisation's first stored version is 1
        row = Grid(org_id=alpha.org_id, slug=g2.id, name=g2.name, version=g2.version,
                   definition_json=grid.dump_grid_yaml(g2))
        s.add(row)
        s.flush()
        grid_id = row.id
    with session() as s, pytest.raises(jobs.NotFound):
        jobs.rescore_calls(session=s, actor=beta.actor("admin"), grid_id=grid_id, call_ids=[call_id])
    with session() as s:
        assert jobs.rescore_calls(session=s, actor=alpha.actor("supervisor"), grid_id=grid_id,
                                  call_ids=[call_id]) == 1
    call = _call(call_id)
    assert (call.status, call.rescore_grid_id) == ("scoring", grid_id)
    assert _claim("hote:1:w0") == call_id
    assert jobs.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        evs = s.exec(select(Evaluation).where(Evaluation.call_id == call_id).order_by(Evaluation.id)).all()
        transcript_after = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
    assert [(e.grid_version, e.is_current) for e in evs] == [(1, False), (2, True)]
    assert evs[1].grid_id == grid_id
    assert transcript_after.id == transcript_before.id and transcript_after.created_at == transcript_before.created_at
    assert _call(call_id).rescore_grid_id is None


def test_llm_failure_keeps_the_rules_evaluation_and_flags_a_retry(tenants, monkeypatch):
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_SCORING_ENGINE", "llm")  # no endpoint configured: the LLM scorer cannot run
    get_settings.cache_clear()
    alpha, _ = tenants
    call_id = _transcribed_call(alpha.org_id)
    _claim("hote:1:w0")
    assert jobs.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    assert ev.engine == "rules"
    assert _call(call_id).needs_llm_retry is True


def test_a_worker_that_lost_its_lease_writes_nothing(tenants):
    alpha, _ = tenants
    call_id = _transcribed_call(alpha.org_id)
    _claim("lent:1:w0")
    later = utcnow() + timedelta(seconds=jobs.get_settings().job_lease_s + 1)
    assert _claim("rapide:2:w0", now=later) == call_id  # the slow worker's lease expired
    assert jobs.process_call(call_id, owner="lent:1:w0") == "lost"
    assert count_rows(Evaluation, call_id=call_id) == 0
    assert jobs.process_call(call_id, owner="rapide:2:w0") == "done"
    assert count_rows(Evaluation, call_id=call_id) == 1


# --- statistics -------------------------------------------------------------------------------


def test_queue_stats_count_the_actors_organisation_and_live_workers(tenants):
    alpha, beta = tenants
    for _ in range(3):
        _queued_call(alpha.org_id, duration_s=60.0)
    _queued_call(beta.org_id, duration_s=60.0)
    _queued_call(alpha.org_id, status="done", duration_s=100.0, processing_s=20.0, processed_at=utcnow())
    with session() as s:
        stats = jobs.queue_stats(session=s, actor=alpha.actor("supervisor"))
    assert stats["counts"]["queued"] == 3 and stats["counts"]["done"] == 1
    assert stats["live_workers"] == 0 and stats["eta_s"] is None  # nobody works: no estimate
    with session() as s:
        jobs._beat(s, "hote:1:w0")
    with session() as s:
        stats = jobs.queue_stats(session=s, actor=alpha.actor("supervisor"))
        everyone = jobs.queue_stats(session=s, actor=None)
    assert stats["live_workers"] == 1
    assert stats["eta_s"] == pytest.approx(4 * 60.0 * 0.2)  # 4 queued minutes at 0.2 s per audio second
    assert everyone["counts"]["queued"] == 4


def test_cli_status_prints_counts_and_workers(tenants, capsys):
    alpha, _ = tenants
    _queued_call(alpha.org_id)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "en file" in out and "Workers actifs : 0" in out


def test_worker_pool_starts_once_per_process_and_processes_the_queue(tenants, monkeypatch):
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_WORKER_THREADS", "2")
    monkeypatch.setenv("CCR_WORKER_POLL_S", "0.2")
    get_settings.cache_clear()
    monkeypatch.setattr(jobs, "_pool", None)
    alpha, _ = tenants
    ids = [_transcribed_call(alpha.org_id, name) for name in ("a01-000.json", "a01-001.json", "a01-002.json")]
    pool = jobs.start_worker_pool(get_settings())
    try:
        assert jobs.start_worker_pool(get_settings()) is pool
        assert pool.alive == 2 and len(set(pool.ids)) == 2
        deadline = time.time() + 60
        while time.time() < deadline and any(_call(i).status != "done" for i in ids):
            time.sleep(0.2)
        assert [_call(i).status for i in ids] == ["done"] * 3
        with session() as s:
            assert jobs.live_worker_count(session=s) == 2
    finally:
        pool.stop()
    assert pool.alive == 0
    assert count_rows(Evaluation) == 3


# --- the real pipeline --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_worker_transcribes_redacts_measures_and_scores_a_real_recording(asr_env):
    alpha, _ = asr_env
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", cut_wav("a01-000.wav", 12))])
    call_id = batch.results[0].call_id
    assert cli.main(["worker", "--once"]) == 0
    call = _call(call_id)
    assert (call.status, call.attempts, call.last_error) == ("done", 1, None)
    assert call.agent_talk_s > 0 and call.customer_talk_s > 0 and call.processing_s > 0
    with session() as s:
        tr = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    segments = json.loads(tr.segments_json)
    assert {seg["speaker"] for seg in segments} == {"agent", "customer"}
    assert "bonjour" in tr.text.lower()
    assert ev.is_current and 0 <= ev.ai_score <= 100


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_call_to_be_processed_exactly_once(asr_env):
    alpha, _ = asr_env
    from ccr.core.config import get_settings

    settings = get_settings()
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("long.wav", cut_wav("a01-001.wav", 25))])
    call_id = batch.results[0].call_id
    env = {**os.environ, "CCR_DATA_DIR": str(settings.data_dir), "CCR_JOB_LEASE_S": "6",
           "CCR_ASR_MODEL": settings.asr_model, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ccr", "worker", "--once"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Killed as soon as it holds the call (claim and lease are one commit): a loaded machine can take
        # minutes to start the worker, so the wait is for the claim, however long it takes.
        deadline = time.time() + 300
        while time.time() < deadline and _call(call_id).status != "transcribing":
            assert proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    call = _call(call_id)
    assert call.status == "transcribing" and call.lease_owner.endswith(f":{proc.pid}:w0")
    assert count_rows(Transcript, call_id=call_id) == 0  # nothing half-written

    # Another process (not on the dead one's behalf) must wait for the lease to expire.
    assert jobs.run_worker("autre:1:w0", once=True) == 0
    time.sleep(max(0.0, (call.lease_until - utcnow()).total_seconds()) + 0.5)
    assert jobs.run_worker("autre:1:w0", once=True) == 1
    call = _call(call_id)
    assert (call.status, call.attempts, call.lease_owner) == ("done", 2, None)
    assert count_rows(Transcript, call_id=call_id) == 1
    assert count_rows(Evaluation, call_id=call_id) == 1 and count_rows(Evaluation, call_id=call_id, is_current=True) == 1


@pytest.mark.slow
def test_ctrl_c_stops_the_headless_worker_cleanly_and_gives_the_call_back(asr_env):
    alpha, _ = asr_env
    from ccr.core.config import get_settings

    settings = get_settings()
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("long.wav", cut_wav("a01-003.wav", 25))])
    call_id = batch.results[0].call_id
    env = {**os.environ, "CCR_DATA_DIR": str(settings.data_dir), "CCR_ASR_MODEL": settings.asr_model,
           "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ccr", "worker"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # A loaded machine can take minutes to start the worker: wait for the claim, however long it takes.
        deadline = time.time() + 300
        while time.time() < deadline and _call(call_id).status != "transcribing":
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        assert _call(call_id).status == "transcribing"
        proc.send_signal(signal.SIGINT)
        # The interrupt is handled once the current native decoding call returns: seconds on an idle machine,
        # a minute or more on a loaded one.
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "l'appel en cours est remis en file" in err
    call = _call(call_id)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", None, 0)
    assert count_rows(Transcript, call_id=call_id) == 0
    assert _claim("suivant:1:w0") == call_id  # at once, without waiting for a lease to expire
