"""Background services of one server process: the transcription workers, the scheduler, the
dashboards' refresher and the webhook dispatcher.

``start_services`` is idempotent within a process (fixed ids), so a second call
from another session returns the running ones instead of starting duplicates.
``python -m ccr serve`` starts them before the web server accepts its first visitor
(``ccr.ui.runtime.serve``); the UI's ``boot()`` then finds them running.
"""

from __future__ import annotations

import logging
import threading

from ccr.core.config import Settings
from ccr.ops.refresher import RollupRefresher
from ccr.ops.scheduler import shutdown_scheduler, start_scheduler
from ccr.ops.webhooks import WebhookDispatcher
from ccr.pipeline.lease import give_back_leases
from ccr.pipeline.worker import start_worker_pool

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # a worker in the middle of a transcription is not waited for: its call is given back

_lock = threading.Lock()
_running: dict = {}


def start_services(settings: Settings) -> dict:
    """Start (once) and return the background services of this process."""
    with _lock:
        if _running:
            return _running
        if not settings.background_services:  # e.g. in-process page tests: nothing outlives the test
            _running["started"] = False
            return _running
        _running["workers"] = start_worker_pool(settings)  # None when worker_threads is 0 (external worker)
        _running["scheduler"] = start_scheduler(settings)  # daily retention purge (fixed job id)
        _running["refresher"] = RollupRefresher(settings).start()  # dashboards' rollups, never in a page run
        _running["webhooks"] = WebhookDispatcher(settings).start()  # the outbox's events, signed, to the webhook
        _running["started"] = True
        return _running


def stop_services(settings: Settings) -> None:
    """Stop this process's services at shutdown: the scheduler, the refresher, the webhook dispatcher, then the
    workers (their calls are given back)."""
    with _lock:
        if not _running.get("started"):
            return
        shutdown_scheduler()
        _running["refresher"].stop()
        _running["webhooks"].stop()
        workers = _running.get("workers")
        if workers is not None:
            workers.stop(timeout=STOP_WAIT_S)
            try:
                given = give_back_leases(settings)
            except Exception:  # the database is gone too: the leases expire on their own
                log.warning("Appels en cours non rendus à l'arrêt", exc_info=True)
            else:
                if given:
                    log.info("%s appel(s) en cours remis en file à l'arrêt.", given)
        _running.clear()
