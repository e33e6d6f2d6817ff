"""The app's worker in a child process: niced, doing the queue's work, restarted, stopped with the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlmodel import select

from ccr.core.db import session
from ccr.core.models import JobLock
from ccr.core.owners import pid_alive
from ccr.pipeline import worker
from ccr.pipeline.lease import WORKER_LOCK_PREFIX
from ccr.pipeline.worker_process import WorkerProcess
from tests.pipeline.calldata import REPO, call_row, transcribed_call

DEADLINE_S = 120  # a loaded 2-core machine starts a Python process with the whole app in seconds, not minutes


def _wait(predicate, what: str, deadline_s: float = DEADLINE_S):
    end = time.time() + deadline_s
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"délai dépassé : {what}")


def _heartbeat_pids() -> set[int]:
    with session() as s:
        owners = s.exec(select(JobLock.owner).where(JobLock.name.like(f"{WORKER_LOCK_PREFIX}%"))).all()
    return {int(o.split(":")[1]) for o in owners}


def _settings(migrated, **extra):
    return migrated.model_copy(update={"worker_threads": 1, "worker_poll_s": 0.2, "worker_mode": "process", **extra})


def test_the_worker_process_is_niced_does_the_queue_and_is_restarted_after_a_crash(tenants, migrated, monkeypatch):
    monkeypatch.setattr(worker, "_pool", None)
    alpha, _ = tenants
    first = transcribed_call(alpha.org_id, "a01-000.json")
    proc = worker.start_worker_pool(_settings(migrated))
    assert isinstance(proc, WorkerProcess)
    try:
        pid = proc.pid
        assert pid and pid != os.getpid()
        niced = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # set by the child itself, first thing
        _wait(lambda: os.getpriority(os.PRIO_PROCESS, pid) == niced, "priorité abaissée du worker")
        _wait(lambda: call_row(first).status == "done", "appel traité par le processus worker")
        assert pid in _heartbeat_pids()  # its own heartbeat: the queue panel counts it as a live worker

        os.kill(pid, signal.SIGKILL)  # a crash (out of memory, a native library): the server starts another
        second_pid = _wait(lambda: proc.pid if proc.pid not in (None, pid) else None, "worker redémarré")
        assert proc.restarts == 1
        second = transcribed_call(alpha.org_id, "a01-001.json")
        _wait(lambda: call_row(second).status == "done", "appel traité après le redémarrage")
        assert second_pid in _heartbeat_pids()
    finally:
        proc.stop(timeout=30)
    assert proc.alive == 0 and not pid_alive(second_pid)
    assert second_pid not in _heartbeat_pids()  # a clean stop removes its heartbeat


def test_the_worker_process_stops_when_the_server_that_started_it_dies(migrated):
    """A killed server (no clean shutdown) must not leave its worker running, holding calls."""
    parent_code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'ccr', 'worker', '--parent-pid', str(os.getpid())])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, **migrated.to_env(), "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        _wait(lambda: child_pid in _heartbeat_pids(), "worker en marche")
        parent.kill()
        parent.wait()
        _wait(lambda: not pid_alive(child_pid), "worker arrêté après son serveur")  # a zombie counts as dead
    finally:
        parent.kill()
    assert child_pid not in _heartbeat_pids()
