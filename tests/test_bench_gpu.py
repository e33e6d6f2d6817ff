"""``benchmarks/bench_gpu.py``, tiny and on the CPU: it is run once, by hand, on a lent GPU machine, so it must
keep running as transcription changes; and ``--device cuda`` without a GPU must refuse in French, at once.

The figures are the benchmark's business; these tests assert that a row with an RTF is printed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = "benchmarks/bench_gpu.py"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CCR_") and k != "DATABASE_URL"}


@pytest.mark.slow
def test_a_tiny_cpu_run_prints_a_batched_row_with_an_rtf(tmp_path):
    out = subprocess.run(
        [sys.executable, BENCH, "--device", "cpu", "--calls", "1", "--modes", "batched",
         "--data-dir", str(tmp_path / "data")],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=_env(),
    )
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("batched ")]
    assert len(rows) == 1, out.stdout[-3000:]
    # mode, calls, audio_h, wall_s, rtf, calls/h, wer_mean, gpu_peak, rss_peak
    mode, calls, _audio_h, _wall_s, rtf, *_ = rows[0]
    assert mode == "batched" and calls == "1"
    assert 0 < float(rtf) < 10, rows[0]
    assert "ctranslate2" in out.stdout and "faster-whisper" in out.stdout


def test_cuda_without_a_gpu_is_refused_in_french():
    ctranslate2 = pytest.importorskip("ctranslate2")
    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("CTranslate2 voit un GPU : le refus ne peut pas être vérifié ici")
    out = subprocess.run([sys.executable, BENCH, "--device", "cuda", "--calls", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, env=_env())
    assert out.returncode != 0
    assert "CTranslate2 ne voit aucun GPU CUDA" in out.stderr, out.stderr[-2000:]
    assert "--device cpu" in out.stderr


def test_the_wer_normalisation_is_bench_asrs():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_asr
        import bench_gpu
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    text = "Bonjour, je m’appelle Nadia : c'est-à-dire… 06 12 ?"
    assert bench_gpu.normalise(text) == bench_asr.normalise(text)
