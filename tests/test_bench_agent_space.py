"""``benchmarks/bench_agent_space.py``, tiny: it must keep running as the agents' space and disputes change.

The figures are the benchmark's business; this test asserts that every view was measured and that the
timed dispute was opened then accepted.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
VIEWS = 13  # 4 per agent (list, detail, trend, export) × 2, queue, home count, calibration, open, accept


def test_a_tiny_agent_space_bench_measures_every_view(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CCR_DATA_DIR", "DATABASE_URL")}
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_agent_space.py", "--n", "1500", "--agents", "10", "--heavy", "200",
         "--runs", "1", "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and " ms" in line]
    assert len(rows) == VIEWS, out.stdout[-3000:]
    assert "ouvrir une contestation" in out.stdout and "| accepted |" in out.stdout, out.stdout[-3000:]
    assert "Contestations" in out.stdout and "ZIP" in out.stdout
