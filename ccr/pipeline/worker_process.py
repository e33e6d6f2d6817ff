"""The app's worker as a child process: started and watched by the server, niced below the pages.

Transcription and scoring are long CPU runs; as threads of the server they shared its interpreter (the
scorer's Python holds the GIL) and its cores with every page run. A child process of its own, at a
lower scheduling priority, leaves the pages first in line: the kernel serves them before the worker
whenever both want a core. The child is ``python -m ccr worker`` run with exactly the server's settings
(``Settings.to_env``); it watches its parent and stops (giving its call back) if the server dies. A
child that exits unexpectedly is started again after a pause that grows up to a minute.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ccr.core.config import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]  # where ``python -m ccr`` finds the package
RESTART_PAUSES_S = (1.0, 5.0, 15.0, 60.0)
WATCH_EVERY_S = 0.5


def worker_command(settings: Settings, parent_pid: int) -> list[str]:
    """The child's command line: the headless worker, tied to its parent."""
    return [sys.executable, "-m", "ccr", "worker", "--threads", str(max(1, settings.worker_threads)),
            "--parent-pid", str(parent_pid), "--nice", str(settings.worker_nice)]


class WorkerProcess:
    """One supervised ``python -m ccr worker`` child of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._spawned_at = 0.0

    @property
    def pid(self) -> int | None:
        """The running child's pid (None while none runs)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def alive(self) -> int:
        """1 while the child runs, else 0 (as a pool counts its live threads)."""
        return int(self.pid is not None)

    def start(self) -> WorkerProcess:
        """Start the child and the thread that restarts it if it exits on its own."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="ccr-worker-watch", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self) -> None:
        env = {**os.environ, **self.settings.to_env(),
               "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
        with self._lock:
            if self._stop.is_set():
                return
            self._proc = subprocess.Popen(worker_command(self.settings, os.getpid()), env=env,
                                          stdin=subprocess.DEVNULL)
            self._spawned_at = time.monotonic()
        log.info("Worker démarré dans son propre processus (pid %s, priorité +%s).", self._proc.pid,
                 self.settings.worker_nice)

    def _watch(self) -> None:
        failures = 0
        while not self._stop.wait(WATCH_EVERY_S):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            if self._stop.is_set():
                return
            # A child that lived a while was not failing at start-up: its restart comes quickly again.
            failures = 0 if time.monotonic() - self._spawned_at > 120 else failures
            pause = RESTART_PAUSES_S[min(failures, len(RESTART_PAUSES_S) - 1)]
            log.warning("Le processus worker s'est arrêté (code %s) : redémarrage dans %.0f s.", proc.returncode, pause)
            if self._stop.wait(pause):
                return
            self._spawn()
            self.restarts += 1
            failures += 1

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the child to stop (it gives its current call back), then kill it if it outlives ``timeout``."""
        with self._lock:
            self._stop.set()
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("Le processus worker ne s'est pas arrêté en %s s : arrêt forcé.", timeout)
            proc.kill()
            proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
