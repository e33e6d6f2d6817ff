"""Memory and time of a huge metadata CSV sent with a small batch, as the Import page sends it.

The CSV's bytes are built first (Streamlit holds an upload in memory before the page sees it); then
``ccr.pipeline.ingest.ingest_files`` imports three short recordings with it. Prints the CSV size, the seconds
taken, the process's resident memory before the import and its peak during the import (VmHWM, reset
once the CSV is built): what the import itself adds to the server's memory.

Usage: .venv/bin/python benchmarks/bench_metadata_csv.py [LINES]   (default 1 000 000; never asserted)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), in MB (Linux)."""
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith(field + ":"))
    return int(line.split()[1]) / 1e3


def _reset_peak() -> None:
    """Forget the peak so far (building the CSV in this script): only the import's own peak is reported."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def main(n: int) -> None:
    """Import a 3-file batch with an ``n``-line metadata CSV and print the time and peak memory."""
    os.environ["CCR_DATA_DIR"] = tempfile.mkdtemp(prefix="ccr-bench-csv-")
    os.environ.setdefault("CCR_BCRYPT_ROUNDS", "4")
    from ccr.core.db import migrate
    from ccr.core.errors import CcrError
    from ccr.pipeline.ingest import ingest_files
    from tests.audiodata import cut_wav
    from tests.conftest import make_tenant

    migrate()
    tenant = make_tenant("Bench", "bench")
    files = [(f"appel-{i:07d}.wav", cut_wav("a01-000.wav", 2, start=2 * i)) for i in range(3)]
    lines = ["fichier;agent;date;direction;campagne"]
    lines += [f"appel-{i:07d}.wav;bench agent {i % 4};15/03/2026 10:00;entrant;Campagne {i % 7}" for i in range(n)]
    data = "\n".join(lines).encode()
    del lines
    actor = tenant.actor("supervisor")
    before = _status_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    try:
        batch = ingest_files(actor=actor, files=files, metadata_csv=data)
        outcome = f"{sum(r.status == 'accepted' for r in batch.results)} fichier(s) accepté(s)"
    except CcrError as err:
        outcome = f"refusé : {err}"
    elapsed = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    print(f"CSV : {n} lignes, {len(data) / 1e6:.0f} Mo ; import en {elapsed:.1f} s ; {outcome}")
    print(f"mémoire résidente : {before:.0f} Mo avant l'import, pic {peak:.0f} Mo (+{peak - before:.0f} Mo)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
