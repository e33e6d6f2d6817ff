"""The dashboards' refresher: builds the rollups at start, catches up after a change, never a reader's job."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ccr.core.db import session
from ccr.dashboards.rollups import rollups_ready
from ccr.ops.refresher import RollupRefresher
from tests.kpidata import add_call

DEADLINE_S = 60


def _ready(org_id: int) -> bool:
    with session() as s:
        return rollups_ready(s, org_id)


def _wait_ready(org_id: int) -> None:
    end = time.time() + DEADLINE_S
    while time.time() < end and not _ready(org_id):
        time.sleep(0.05)
    assert _ready(org_id)


def test_the_refresher_builds_at_start_then_follows_each_change(tenants, migrated):
    a, _b = tenants
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], datetime(2026, 5, 4, 9, tzinfo=UTC), 80.0)
    assert not _ready(a.org_id)  # never built: readers use the base tables
    # A long poll interval: only the commit's signal can wake it in time for the deadline below.
    refresher = RollupRefresher(migrated.model_copy(update={"rollup_refresh_s": 3600.0})).start()
    try:
        _wait_ready(a.org_id)
        add_call(a.org_id, a.team_ids[1], a.agent_ids[1], datetime(2026, 5, 6, 15, tzinfo=UTC), 40.0)
        _wait_ready(a.org_id)
        assert refresher.alive
    finally:
        refresher.stop()
    assert not refresher.alive
