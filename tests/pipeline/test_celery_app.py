"""Celery mode end to end: PostgreSQL, Redis and two real worker processes, one killed mid-call.

Every call must end done exactly once (one transcript, one evaluation) with the same transcript and
scores as the embedded mode (SQLite and ``ccr.pipeline.worker`` in process) gives for the same recordings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import func, select

from ccr.core import config, db
from ccr.core.owners import proc_stat
from tests import pg
from tests.audiodata import cut_wav, offline_model_dir
from tests.conftest import REPO, make_tenant

CLIPS = [(name, start) for name in ("a01-000.wav", "a01-001.wav", "a01-002.wav", "a01-003.wav")
         for start in (1.0, 6.0, 11.0, 16.0, 21.0)]  # 20 distinct recordings (distinct sha256)
CLIP_S = 3.0  # short clips: the test is about dispatch, not about Whisper (2 cores in CI)
VISIBILITY_S = 8  # a killed worker's message comes back this fast (production: 30 min)
DEADLINE_S = 420


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _missing_binaries() -> str | None:
    if not shutil.which("redis-server"):
        return "redis-server absent (paquet Debian « redis-server »)"
    if not pg.pg_bindir():
        return "PostgreSQL absent (paquet Debian « postgresql »)"
    return None


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """A throwaway PostgreSQL cluster and Redis server for this module."""
    missing = _missing_binaries()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} : `make test` l'installe (APT_PACKAGES)")
        pytest.skip(missing)
    server_url, stop_pg = pg.start_cluster()
    port = _free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(broker)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield server_url, broker
    finally:
        redis_proc.kill()
        redis_proc.wait()
        stop_pg()


def _use(monkeypatch, data_dir: Path, database_url: str | None, broker: str | None, model: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("CCR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CCR_SECRET_KEY", "a" * 64)
    monkeypatch.setenv("CCR_ASR_MODEL", model)
    monkeypatch.setenv("CCR_ASR_CPU_THREADS", "1")
    monkeypatch.setenv("CCR_WORKER_THREADS", "0")
    monkeypatch.setenv("CCR_BROKER_VISIBILITY_S", str(VISIBILITY_S))
    for var, value in (("DATABASE_URL", database_url), ("CCR_BROKER_URL", broker)):
        if value:
            monkeypatch.setenv(var, value)
        else:
            monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("CCR_DATABASE_URL", raising=False)
    config.get_settings.cache_clear()
    db.dispose_engines()


def _ingest(clips: list[tuple[str, bytes]]) -> dict[str, int]:
    from ccr.pipeline import ingest

    db.migrate()
    tenant = make_tenant("Alpha Conseil", "alpha")
    batch = ingest.ingest_files(actor=ingest.cli_actor(tenant.org_id), files=clips)
    assert [r.status for r in batch.results] == ["accepted"] * len(clips), [r.reason for r in batch.results]
    return {r.filename: r.call_id for r in batch.results}


def _results(ids: dict[str, int]) -> dict[str, dict]:
    """Per file: status, the number of transcripts and evaluations, the transcript and the scoring result."""
    from ccr.core.models import Call, Evaluation, Transcript

    out = {}
    with db.session() as s:
        for name, call_id in ids.items():
            call = s.get(Call, call_id)
            transcripts = s.exec(select(Transcript).where(Transcript.call_id == call_id)).all()
            evaluations = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).all()
            out[name] = {
                "status": call.status, "error": call.last_error,
                "transcripts": len(transcripts), "evaluations": len(evaluations),
                "current": sum(e.is_current for e in evaluations),
                "segments": json.loads(transcripts[0].segments_json) if transcripts else None,
                "result": json.loads(evaluations[0].result_json) if evaluations else None,
            }
    return out


def _processes() -> dict[int, list[str]]:
    """Every process of this machine and its ``/proc/PID/stat`` fields (state, parent, process group...)."""
    stats = {int(e.name): proc_stat(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    return {pid: fields for pid, fields in stats.items() if fields}


def _group_pids(pgid: int) -> set[int]:
    return {pid for pid, fields in _processes().items() if int(fields[2]) == pgid}  # fields[2]: the process group


def _start_worker(name: str, env: dict, log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "w")  # kept open for the worker's lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ccr.pipeline.celery_app", "worker", "-Q", "asr,score", "-c", "1",
         "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


PR_SET_CHILD_SUBREAPER = 36  # prctl option (Linux)


class _OrphansUnreaped:
    """Like a container whose PID 1 never reaps: this process adopts its descendants' orphans and leaves them
    zombies until ``close``. A killed worker's pool process is one, and must not keep its lease (it did, for
    15 minutes, until a zombie counted as dead)."""

    def __init__(self) -> None:
        import ctypes

        self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        self.active = self._prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

    def close(self) -> None:
        if not self.active:
            return
        self._prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid, fields in _processes().items():  # the workers were waited for: zombies left are adopted orphans
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass


def _wait(predicate, timeout: float, what: str, workers=()) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"délai dépassé : {what}")


@pytest.mark.parametrize(("status", "lease_owner", "lease_in_s", "stage", "expected"), [
    ("done", None, None, "asr", "skip"),  # a redelivered task of a finished call does nothing
    ("failed", None, None, "score", "skip"),
    ("held", None, None, "asr", "skip"),  # maintenance: released later, with its own dispatch
    ("scoring", None, None, "asr", "forward"),  # transcribed, its score message lost: sent to score
    ("queued", None, None, "score", "forward"),
    ("transcribing", "other-host:1:celery-x", 600, "asr", "retry"),  # a live lease elsewhere: look again
    ("queued", None, 60, "asr", "retry"),  # waiting before a new attempt
])
def test_a_task_does_nothing_unless_the_row_says_so(tenants, status, lease_owner, lease_in_s, stage, expected):
    from datetime import timedelta

    from ccr.core.models import Call
    from ccr.pipeline import steps

    a, _b = tenants
    with db.session() as s:
        call = Call(org_id=a.org_id, sha256="0" * 64, status=status, lease_owner=lease_owner, attempts=1,
                    lease_until=db.utcnow() + timedelta(seconds=lease_in_s) if lease_in_s else None,
                    queued_at=db.utcnow(), started_at=db.utcnow())
        s.add(call)
        s.flush()
        call_id = call.id
    outcome, delay = steps.run_stage(call_id, stage=stage, owner="here:1:celery-y")
    assert outcome == expected
    assert (delay > 0) == (expected == "retry")
    with db.session() as s:
        after = s.get(Call, call_id)
        assert (after.status, after.lease_owner, after.attempts) == (status, lease_owner, 1)  # untouched


def test_without_a_broker_nothing_is_sent_and_uploads_queue_in_process(tenants, monkeypatch):
    from ccr.pipeline import celery_app, ingest

    sent: list = []
    monkeypatch.setattr(celery_app, "send", lambda *args, **kwargs: sent.append(args))
    a, _b = tenants
    batch = ingest.ingest_files(actor=ingest.cli_actor(a.org_id), files=[("x.wav", cut_wav("a01-000.wav", 1.0))])
    assert batch.results[0].call_status == "queued" and sent == []


@pytest.mark.slow
def test_two_celery_workers_one_killed_process_every_call_once_like_the_embedded_mode(
        services, tmp_path, tmp_path_factory, monkeypatch):
    from ccr.core.models import Call
    from ccr.pipeline import celery_app, queue, worker

    server_url, broker = services
    model = str(offline_model_dir(tmp_path_factory))
    clips = [(f"{Path(n).stem}-{int(start):02d}.wav", cut_wav(n, CLIP_S, start)) for n, start in CLIPS]

    # --- distributed: PostgreSQL + Redis + 2 Celery workers ---------------------------------------
    database_url = pg.fresh_database(server_url)
    _use(monkeypatch, tmp_path / "shared-data", database_url, broker, model)
    db.migrate()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [_start_worker(f"w{i}", env, tmp_path) for i in (1, 2)]
    unreaped = _OrphansUnreaped()
    try:
        _wait(lambda: celery_app.broker_status(max_age_s=0)["workers"] == 2, 120, "démarrage des 2 workers")
        ids = _ingest(clips)

        def done() -> int:
            with db.session() as s:
                return s.exec(select(func.count()).select_from(Call).where(Call.status.in_(("done", "failed")))).one()

        # Kill worker 1 (its whole process tree, like a lost machine) while it holds a call.
        def w1_busy() -> bool:
            pids = _group_pids(workers[0].pid)
            with db.session() as s:
                owners = s.exec(select(Call.lease_owner).where(Call.lease_owner.is_not(None))).all()
            return any(int(o.split(":")[1]) in pids for o in owners) and done() >= 3

        _wait(w1_busy, DEADLINE_S, "worker 1 au travail")
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        assert done() < len(clips), "tout était fini avant l'arrêt brutal : le test ne prouve rien"
        _wait(lambda: done() == len(clips), DEADLINE_S, "traitement des 20 appels")
        status = celery_app.broker_status(max_age_s=0)
        assert status["workers"] == 1 and status["by_queue"] == {"asr": 1, "score": 1}
        with db.session() as s:
            stats = queue.queue_stats(session=s, actor=None)
        assert stats["live_workers"] == 1 and stats["broker"]["queued"] == {"asr": 0, "score": 0}
        distributed = _results(ids)
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                try:
                    w.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(w.pid, signal.SIGKILL)
        unreaped.close()
        db.dispose_engines()

    for name, r in distributed.items():
        assert (r["status"], r["transcripts"], r["evaluations"], r["current"]) == ("done", 1, 1, 1), (name, r)

    # --- embedded: SQLite, the in-process job queue -------------------------------------------------
    _use(monkeypatch, tmp_path / "embedded-data", None, None, model)
    local_ids = _ingest(clips)
    assert worker.run_worker("embedded:1:w0", once=True) == len(clips)
    embedded = _results(local_ids)
    db.dispose_engines()

    for name in distributed:
        assert distributed[name]["segments"] == embedded[name]["segments"], name
        assert distributed[name]["result"] == embedded[name]["result"], name
