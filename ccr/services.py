"""Background services of one server process: the transcription worker pool and the scheduler.

``start_services`` is idempotent within a process (fixed ids), so a second call
from another session returns the running ones instead of starting duplicates.
"""

from __future__ import annotations

import threading

from ccr.config import Settings

_lock = threading.Lock()
_running: dict = {}


def start_services(settings: Settings) -> dict:
    """Start (once) and return the background services of this process."""
    from ccr.jobs import start_worker_pool
    from ccr.scheduler import start_scheduler

    with _lock:
        if _running:
            return _running
        if not settings.background_services:  # e.g. in-process page tests: nothing outlives the test
            _running["started"] = False
            return _running
        _running["workers"] = start_worker_pool(settings)  # None when worker_threads is 0 (external worker)
        _running["scheduler"] = start_scheduler(settings)  # daily retention purge (fixed job id)
        _running["started"] = True
        return _running
