"""What people see of the queue: counts per status, live workers, the CLI status."""

from __future__ import annotations

import pytest

from ccr import cli
from ccr.core.db import session, utcnow
from ccr.pipeline import lease, queue
from tests.pipeline.calldata import queued_call


def test_queue_stats_count_the_actors_organisation_and_live_workers(tenants):
    alpha, beta = tenants
    for _ in range(3):
        queued_call(alpha.org_id, duration_s=60.0)
    queued_call(beta.org_id, duration_s=60.0)
    queued_call(alpha.org_id, status="done", duration_s=100.0, processing_s=20.0, processed_at=utcnow())
    with session() as s:
        stats = queue.queue_stats(session=s, actor=alpha.actor("supervisor"))
    assert stats["counts"]["queued"] == 3 and stats["counts"]["done"] == 1
    assert stats["live_workers"] == 0 and stats["eta_s"] is None  # nobody works: no estimate
    with session() as s:
        lease.beat(s, "hote:1:w0")
    with session() as s:
        stats = queue.queue_stats(session=s, actor=alpha.actor("supervisor"))
        everyone = queue.queue_stats(session=s, actor=None)
    assert stats["live_workers"] == 1
    assert stats["eta_s"] == pytest.approx(4 * 60.0 * 0.2)  # 4 queued minutes at 0.2 s per audio second
    assert everyone["counts"]["queued"] == 4


def test_cli_status_prints_counts_and_workers(tenants, capsys):
    alpha, _ = tenants
    queued_call(alpha.org_id)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "en file" in out and "Workers actifs : 0" in out
