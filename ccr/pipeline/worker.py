"""The worker loop, and the thread pool that runs it inside the app's process (``worker_mode=thread``)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from ccr.core.config import Settings, get_settings
from ccr.core.db import session as db_session
from ccr.dashboards.rollups import refresh_pending
from ccr.pipeline.lease import (
    HEARTBEAT_EVERY_S,
    beat,
    claim_next,
    forget_worker,
    release_dead_leases,
    worker_owner_id,
)
from ccr.pipeline.maintenance import release_held_calls
from ccr.pipeline.steps import process_call, request_interrupt
from ccr.pipeline.worker_process import WorkerProcess

log = logging.getLogger(__name__)


def run_worker(owner: str, *, settings: Settings | None = None, stop: threading.Event | None = None,
               once: bool = False) -> int:
    """The worker loop: claim, process, repeat; idle polls every ``worker_poll_s``. Returns calls processed.

    With ``once`` it returns when nothing is left to claim (tests, cron)."""
    settings = settings or get_settings()
    stop = stop or threading.Event()
    processed, last_beat = 0, 0.0
    try:
        while not stop.is_set():
            try:
                if time.monotonic() - last_beat > HEARTBEAT_EVERY_S:
                    with db_session(settings) as s:
                        beat(s, owner)
                        # Held uploads are released here too, so a headless worker without the
                        # UI's scheduler still processes them once the maintenance window ends.
                        release_held_calls(session=s)
                    last_beat = time.monotonic()
                with db_session(settings) as s:
                    call_id = claim_next(session=s, owner=owner, settings=settings)
                if call_id is None:
                    if once:
                        break
                    stop.wait(settings.worker_poll_s)
                    continue
                process_call(call_id, owner=owner, settings=settings)
                processed += 1
                _refresh_dashboards(settings)
            except Exception:  # a worker thread must outlive any single failure
                log.exception("Worker %s : erreur de la boucle", owner)
                if once:
                    raise
                stop.wait(settings.worker_poll_s)
    finally:
        forget_worker(owner, settings)
    return processed


def _refresh_dashboards(settings: Settings) -> None:
    """Bring the dashboards' rollups up to date now, here rather than in the next reader's page run."""
    try:
        refresh_pending(settings, first_builds=False)
    except Exception:  # the server's refresher catches up; the call itself is done and stored
        log.warning("Mise à jour des agrégats du tableau de bord reportée", exc_info=True)


def interrupt_handler(stop: threading.Event):
    """The headless worker's Ctrl-C: stop the loop, record the request for the current step, interrupt it here;
    a second Ctrl-C while the first is handled changes nothing."""

    def handler(signum, frame):
        if stop.is_set():  # the first Ctrl-C is already stopping the worker
            return
        stop.set()
        request_interrupt()
        raise KeyboardInterrupt

    return handler


def stop_with_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """Interrupt this process (as Ctrl-C does: the current call is given back) once ``parent_pid`` is gone.

    A worker started by the server must not outlive it: a crashed server would leave it holding calls."""
    while os.getppid() == parent_pid:
        time.sleep(every_s)
    log.warning("Le serveur (pid %s) s'est arrêté : arrêt du worker.", parent_pid)
    os.kill(os.getpid(), signal.SIGINT)


class WorkerPool:
    """The in-process transcription workers: ``settings.worker_threads`` daemon threads with fixed ids."""

    def __init__(self, settings: Settings, count: int | None = None) -> None:
        self.settings = settings
        self.ids = [worker_owner_id(i) for i in range(settings.worker_threads if count is None else count)]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> WorkerPool:
        """Release leases left by a dead process of this host, then start the threads."""
        try:
            with db_session(self.settings) as s:
                released = release_dead_leases(session=s)
            if released:
                log.info("%s appel(s) repris après l'arrêt brutal d'un processus précédent.", released)
        except Exception:
            log.warning("Reprise des baux orphelins impossible", exc_info=True)
        for owner in self.ids:
            t = threading.Thread(target=run_worker, args=(owner,), kwargs={"settings": self.settings,
                                                                            "stop": self._stop},
                                 name=f"ccr-worker-{owner.rsplit(':', 1)[-1]}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the workers to stop after their current call and wait for them."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)

    @property
    def alive(self) -> int:
        """Threads still running."""
        return sum(t.is_alive() for t in self._threads)


_pool: WorkerPool | WorkerProcess | None = None
_pool_lock = threading.Lock()


def start_worker_pool(settings: Settings) -> WorkerPool | WorkerProcess | None:
    """Start this process's workers once (later calls return them); None when workers are off.

    A child process of their own by default (``worker_mode``), threads of this process otherwise."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            return _pool
        if settings.worker_threads <= 0 or settings.broker_url:
            return None
        _pool = WorkerProcess(settings).start() if settings.worker_mode == "process" else WorkerPool(settings).start()
        return _pool
