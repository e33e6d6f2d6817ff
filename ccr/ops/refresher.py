"""The dashboards' refresher: a thread of the server that keeps the rollups exact, outside every page run.

It builds an organisation's rollups at start-up (a first build, after an upgrade or a timezone change, in
batches of days), then recomputes marked days as soon as a commit of this process marks one, and at
least every ``rollup_refresh_s`` for changes committed by other processes (the worker, Celery, the
CLI). Readers never wait for it: until it has caught up they read the base tables (see
:mod:`ccr.dashboards.rollups`).
"""

from __future__ import annotations

import logging
import threading

from ccr.core.config import Settings
from ccr.dashboards import rollups

log = logging.getLogger(__name__)


class RollupRefresher:
    """The background thread that runs :func:`ccr.dashboards.rollups.refresh_pending` when days are marked."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.passes = 0  # completed refresh passes (tests wait for one after a change)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ccr-rollups", daemon=True)

    def start(self) -> RollupRefresher:
        """Start the thread; its first pass builds what was never built."""
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            rollups.CHANGED.clear()  # before the pass: a commit during it makes the next pass start at once
            try:
                days = rollups.refresh_pending(self.settings)
            except Exception:  # the database is busy or gone for a moment: the next pass tries again
                log.warning("Mise à jour des agrégats du tableau de bord reportée", exc_info=True)
            else:
                if days > 1:
                    log.info("Agrégats du tableau de bord : %s jour(s) recalculé(s).", days)
            self.passes += 1
            rollups.CHANGED.wait(self.settings.rollup_refresh_s)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop after the current pass."""
        self._stop.set()
        rollups.CHANGED.set()
        self._thread.join(timeout=timeout)
