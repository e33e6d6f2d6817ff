"""The load run of ``benchmarks/bench_load.py``, small: it must keep working (it once broke unnoticed).

Four websocket sessions log in, open the dashboard, the calls list and calls, at the same time, on a
generated organisation while the worker transcribes. The figures are the benchmark's business; this
test asserts what must hold at any size: no error, every page timed, no recording lost or failed.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_a_small_load_run_ends_without_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_load.py", "--calls", "3000", "--sessions", "4", "--rounds", "1",
         "--think-s", "0.2", "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "erreurs : 0" in out.stdout, out.stdout[-3000:]
    counts = {m.group(1).strip(): int(m.group(2))
              for m in re.finditer(r"^(\S[\w ]*?)\s+(\d+)\s+[\d.]+\s+[\d.]+", out.stdout, re.M)}
    # 4 sessions: 4 first pages, 4 logins, 1 round each of dashboard, list and 3 calls.
    assert counts["connexion"] == 4 and counts["tableau de bord"] == 4 and counts["appel ouvert"] == 12
    # The server's own breakdown, from the page runs it measured (CCR_RUN_TIMINGS_FILE).
    assert "côté serveur" in out.stdout and counts["Tableau de bord"] == 4, out.stdout[-3000:]
    worker = re.search(r"côté worker : (\{.*\})", out.stdout)
    states = ast.literal_eval(worker.group(1))
    assert sum(states.values()) == 6 and "failed" not in states  # queued during the load, none lost or failed
