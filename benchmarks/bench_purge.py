"""Purge throughput: N expired calls (encrypted audio, transcript, evaluation) folded and deleted.

Usage: .venv/bin/python benchmarks/bench_purge.py [N]   (prints figures; never asserted)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(n: int) -> None:
    tmp = tempfile.mkdtemp(prefix="ccr-bench-purge-")
    os.environ["CCR_DATA_DIR"] = tmp
    os.environ.setdefault("CCR_BCRYPT_ROUNDS", "4")
    from ccr.core.db import migrate
    from ccr.privacy import retention
    from tests.conftest import make_tenant
    from tests.retdata import NOW, add_call

    migrate()
    tenant = make_tenant("Bench", "bench")
    t0 = time.perf_counter()
    old = NOW - timedelta(days=400)
    for i in range(n):
        add_call(tenant.org_id, tenant.agent_ids[i % 4], old + timedelta(minutes=i), text=f"appel {i}",
                 irritants=["attente"] * (i % 2))
    print(f"insertion : {n} appels en {time.perf_counter() - t0:.1f} s")
    dry = retention.run_purge(now=NOW, dry_run=True)
    print(f"simulation : {dry.duration_s:.2f} s")
    run = retention.run_purge(now=NOW)
    print(f"purge : {n} appels (audio + transcription + évaluation) en {run.duration_s:.2f} s "
          f"({n / run.duration_s:.0f} appels/s) — {run.deleted_json}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
