"""The steps on a claimed call: failures and retry, scoring with the right grid, re-scoring, a lost lease."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core import storage
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import Agent, AuditLog, Evaluation, Grid, Transcript
from ccr.pipeline import queue, steps, worker
from ccr.pipeline.ingest import ingest_files
from ccr.scoring import grid
from tests.audiodata import cut_wav
from tests.conftest import count_rows
from tests.pipeline.calldata import REPO, call_row, claim, queued_call, transcribed_call


def test_three_failed_attempts_mark_the_call_failed_with_a_french_reason_then_retry(tenants):
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("abime.wav", cut_wav("a01-000.wav", 2))])
    call_id = batch.results[0].call_id
    path = storage.audio_path(call_row(call_id).audio_key, org_id=alpha.org_id)
    # The stored file is damaged on disk: its last byte flipped (set to a fixed value, it is left intact once in
    # 256 runs, the byte being random in an encrypted file).
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    now = utcnow()
    for attempt in (1, 2, 3):
        assert claim("hote:1:w0", now=now) == call_id
        state = steps.process_call(call_id, owner="hote:1:w0")
        call = call_row(call_id)
        assert call.attempts == attempt and "altéré" in call.last_error and call.lease_owner is None
        if attempt < 3:
            assert state == call.status == "queued"
            assert claim("hote:1:w0", now=now) is None  # waits a little before the next attempt
            now = call.lease_until + timedelta(seconds=1)
    assert state == call.status == "failed"
    assert claim("hote:1:w0", now=now + timedelta(hours=1)) is None
    assert count_rows(Transcript, call_id=call_id) == 0

    with session() as s, pytest.raises(AccessDenied):
        queue.retry_call(session=s, actor=alpha.actor("team_lead"), call_id=call_id)
    with session() as s:
        queue.retry_call(session=s, actor=alpha.actor("supervisor"), call_id=call_id)
    call = call_row(call_id)
    assert (call.status, call.attempts, call.last_error) == ("queued", 0, None)
    assert count_rows(AuditLog, action="call_retried", target_id=str(call_id)) == 1
    with session() as s, pytest.raises(InvalidInput, match="Seul un appel en échec"):
        queue.retry_call(session=s, actor=alpha.actor("supervisor"), call_id=call_id)


def test_a_ctrl_c_swallowed_by_the_decoder_still_stops_the_step_and_gives_the_call_back(tenants, monkeypatch):
    # PyAV can eat the KeyboardInterrupt raised inside its resampler: the recorded request must stop the step.
    monkeypatch.setattr(steps, "_interrupt", type(steps._interrupt)())
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", cut_wav("a01-000.wav", 2))])
    call_id = batch.results[0].call_id
    assert claim("hote:1:w0") == call_id
    steps.request_interrupt()
    with pytest.raises(KeyboardInterrupt):
        steps.process_call(call_id, owner="hote:1:w0")
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", None, 0)
    assert count_rows(Transcript, call_id=call_id) == 0 and steps.interrupt_requested()


def test_a_ctrl_c_turned_into_another_error_by_a_library_is_still_a_clean_stop(tenants, monkeypatch):
    # The decoder may raise its own error when the interrupt lands inside it: the attempt must not count.
    monkeypatch.setattr(steps, "_interrupt", type(steps._interrupt)())
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", cut_wav("a01-000.wav", 2))])
    call_id = batch.results[0].call_id

    def interrupted_decoder(*args, **kwargs):
        steps.request_interrupt()
        raise RuntimeError("decoding interrupted")

    monkeypatch.setattr(steps, "transcribe_step", interrupted_decoder)
    assert claim("hote:1:w0") == call_id
    with pytest.raises(KeyboardInterrupt):
        steps.process_call(call_id, owner="hote:1:w0")
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.attempts, call.last_error) == ("transcribing", None, 0, None)
    with pytest.raises(KeyboardInterrupt):  # the Celery stage claims the call itself
        steps.run_stage(call_id, stage="asr", owner="hote:1:w1")
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.attempts, call.last_error) == ("transcribing", None, 0, None)
    assert claim("hote:1:w2") == call_id  # given back at once, with no retry delay


def test_a_transcribed_call_is_scored_with_the_organisations_active_grid(tenants):
    alpha, _ = tenants
    call_id = transcribed_call(alpha.org_id)
    base = grid.default_grid()
    custom = grid.new_version(base, name="Grille maison")
    with session() as s:
        row = Grid(org_id=alpha.org_id, slug=custom.id, name=custom.name, version=custom.version,
                   definition_json=json.dumps(grid.grid_to_dict(custom)), is_active=True)
        s.add(row)
        s.flush()
        grid_id = row.id
    assert claim("hote:1:w0") == call_id
    assert steps.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    assert (ev.grid_id, ev.grid_version, ev.is_current) == (grid_id, base.version + 1, True)
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.needs_llm_retry) == ("done", None, False)


def test_rescoring_uses_the_other_grid_version_without_transcribing_again(tenants):
    alpha, beta = tenants
    call_id = transcribed_call(alpha.org_id)
    claim("hote:1:w0")
    steps.process_call(call_id, owner="hote:1:w0")
    with session() as s:
        transcript_before = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
        g2 = replace(grid.default_grid(), version=2)  # the organisation's first stored version is 1
        row = Grid(org_id=alpha.org_id, slug=g2.id, name=g2.name, version=g2.version,
                   definition_json=grid.dump_grid_yaml(g2))
        s.add(row)
        s.flush()
        grid_id = row.id
    with session() as s, pytest.raises(steps.NotFound):
        queue.rescore_calls(session=s, actor=beta.actor("admin"), grid_id=grid_id, call_ids=[call_id])
    with session() as s:
        assert queue.rescore_calls(session=s, actor=alpha.actor("supervisor"), grid_id=grid_id,
                                  call_ids=[call_id]) == 1
    call = call_row(call_id)
    assert (call.status, call.rescore_grid_id) == ("scoring", grid_id)
    assert claim("hote:1:w0") == call_id
    assert steps.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        evs = s.exec(select(Evaluation).where(Evaluation.call_id == call_id).order_by(Evaluation.id)).all()
        transcript_after = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
    assert [(e.grid_version, e.is_current) for e in evs] == [(1, False), (2, True)]
    assert evs[1].grid_id == grid_id
    assert transcript_after.id == transcript_before.id and transcript_after.created_at == transcript_before.created_at
    assert call_row(call_id).rescore_grid_id is None


def test_llm_failure_keeps_the_rules_evaluation_and_flags_a_retry(tenants, monkeypatch):
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_SCORING_ENGINE", "llm")  # no endpoint configured: the LLM scorer cannot run
    get_settings.cache_clear()
    alpha, _ = tenants
    call_id = transcribed_call(alpha.org_id)
    claim("hote:1:w0")
    assert steps.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    assert ev.engine == "rules"
    assert call_row(call_id).needs_llm_retry is True


def test_a_worker_that_lost_its_lease_writes_nothing(tenants):
    alpha, _ = tenants
    call_id = transcribed_call(alpha.org_id)
    claim("lent:1:w0")
    later = utcnow() + timedelta(seconds=steps.get_settings().job_lease_s + 1)
    assert claim("rapide:2:w0", now=later) == call_id  # the slow worker's lease expired
    assert steps.process_call(call_id, owner="lent:1:w0") == "lost"
    assert count_rows(Evaluation, call_id=call_id) == 0
    assert steps.process_call(call_id, owner="rapide:2:w0") == "done"
    assert count_rows(Evaluation, call_id=call_id) == 1


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
        while time.time() < deadline and call_row(call_id).status != "transcribing":
            assert proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    call = call_row(call_id)
    assert call.status == "transcribing" and call.lease_owner.endswith(f":{proc.pid}:w0")
    assert count_rows(Transcript, call_id=call_id) == 0  # nothing half-written

    # Another process (not on the dead one's behalf) must wait for the lease to expire.
    assert worker.run_worker("autre:1:w0", once=True) == 0
    time.sleep(max(0.0, (call.lease_until - utcnow()).total_seconds()) + 0.5)
    assert worker.run_worker("autre:1:w0", once=True) == 1
    call = call_row(call_id)
    assert (call.status, call.attempts, call.lease_owner) == ("done", 2, None)
    assert count_rows(Transcript, call_id=call_id) == 1
    assert count_rows(Evaluation, call_id=call_id) == 1 and count_rows(Evaluation, call_id=call_id, is_current=True) == 1


def test_the_worker_scores_with_the_agent_the_call_is_filed_under(tenants):
    alpha, _ = tenants
    with session() as s:
        agent = Agent(org_id=alpha.org_id, team_id=alpha.team_ids[0], name="Gwenaëlle Le Bihan")
        s.add(agent)
        s.flush()
        agent_id = agent.id
    segments = [
        {"speaker": "agent", "start": 0.5, "end": 2.0, "text": "Bonjour, Gwenaëlle, oui ?"},
        {"speaker": "customer", "start": 3.0, "end": 7.0, "text": "Bonjour, j'appelle pour ma facture d'eau."},
        {"speaker": "agent", "start": 8.0, "end": 11.0, "text": "Je regarde votre dossier tout de suite."},
    ]
    verdicts = []
    for filed_under in (agent_id, None):
        call_id = queued_call(alpha.org_id, status="scoring", duration_s=12.0, channels=2, agent_id=filed_under)
        with session() as s:
            s.add(Transcript(org_id=alpha.org_id, call_id=call_id, segments_json=json.dumps(segments), text=""))
        assert claim("hote:1:w0") == call_id
        assert steps.process_call(call_id, owner="hote:1:w0") == "done"
        with session() as s:
            ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
        verdicts.append(next(c["verdict"] for c in json.loads(ev.result_json)["criteria"] if c["id"] == "accueil"))
    # Saying her own first name is her introduction; with no agent on file, that line is only a greeting.
    assert verdicts == ["pass", "fail"]
