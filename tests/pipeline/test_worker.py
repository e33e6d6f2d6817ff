"""The embedded workers: the pool, a real recording end to end, a killed worker, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlmodel import select

from ccr import cli
from ccr.core.db import session
from ccr.core.models import Evaluation, Transcript
from ccr.pipeline import lease, steps, worker
from ccr.pipeline.ingest import ingest_files
from tests.audiodata import cut_wav
from tests.conftest import count_rows
from tests.pipeline.calldata import REPO, call_row, claim, transcribed_call


def test_worker_pool_starts_once_per_process_and_processes_the_queue(tenants, monkeypatch):
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_WORKER_THREADS", "2")
    monkeypatch.setenv("CCR_WORKER_MODE", "thread")
    monkeypatch.setenv("CCR_WORKER_POLL_S", "0.2")
    get_settings.cache_clear()
    monkeypatch.setattr(worker, "_pool", None)
    alpha, _ = tenants
    ids = [transcribed_call(alpha.org_id, name) for name in ("a01-000.json", "a01-001.json", "a01-002.json")]
    pool = worker.start_worker_pool(get_settings())
    try:
        assert worker.start_worker_pool(get_settings()) is pool
        assert pool.alive == 2 and len(set(pool.ids)) == 2
        deadline = time.time() + 60
        while time.time() < deadline and any(call_row(i).status != "done" for i in ids):
            time.sleep(0.2)
        assert [call_row(i).status for i in ids] == ["done"] * 3
        with session() as s:
            assert lease.live_worker_count(session=s) == 2
    finally:
        pool.stop()
    assert pool.alive == 0
    assert count_rows(Evaluation) == 3


@pytest.mark.slow
def test_the_worker_transcribes_redacts_measures_and_scores_a_real_recording(asr_env):
    alpha, _ = asr_env
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", cut_wav("a01-000.wav", 12))])
    call_id = batch.results[0].call_id
    assert cli.main(["worker", "--once"]) == 0
    call = call_row(call_id)
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
        while time.time() < deadline and call_row(call_id).status != "transcribing":
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        assert call_row(call_id).status == "transcribing"
        proc.send_signal(signal.SIGINT)
        # The interrupt is handled once the current native decoding call returns: seconds on an idle machine,
        # a minute or more on a loaded one.
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-4000:]  # the worker's own account of how it stopped
    assert "l'appel en cours est remis en file" in err
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", None, 0)
    assert count_rows(Transcript, call_id=call_id) == 0
    assert claim("suivant:1:w0") == call_id  # at once, without waiting for a lease to expire


def test_the_worker_s_ctrl_c_interrupts_once_and_a_second_one_changes_nothing(monkeypatch):
    # The worker gives its call back after the first Ctrl-C; a second one (or one delivered late) must not
    # raise again in the middle of that, which killed the process with the call half given back.
    monkeypatch.setattr(steps, "_interrupt", type(steps._interrupt)())
    stop = threading.Event()
    handler = worker.interrupt_handler(stop)
    with pytest.raises(KeyboardInterrupt):
        handler(2, None)
    assert stop.is_set() and steps.interrupt_requested()
    try:
        handler(2, None)
    except KeyboardInterrupt:  # not let through: pytest would take it for the user's own Ctrl-C
        pytest.fail("un second Ctrl-C interrompt encore le worker pendant qu'il rend son appel")
