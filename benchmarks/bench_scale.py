"""Scale-out throughput: calls per minute with 1 and 2 Celery workers (PostgreSQL + Redis), and the ratio.

Starts a throwaway PostgreSQL cluster and a Redis server, then for each worker count: a fresh database,
N Celery worker processes (``-Q asr,score -c 1``, ``--threads`` CPU threads each for faster-whisper, the
default offline model), imports the same calls (cut from the public fixture recordings) and times them
from the import to the last call done. Prints calls per minute, the real-time factor (processing seconds
per audio second, per worker) and the sizing figure: calls per hour per worker for a call of ``--call-min``.

Usage: .venv/bin/python benchmarks/bench_scale.py [--calls 8] [--seconds 20] [--threads 1] [--call-min 4.8]
(4.8 min: 4,000 hours of audio for 50,000 calls a day, the average call of the sizing example.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlmodel import func, select  # noqa: E402

from ccr.core import config, db  # noqa: E402
from tests import pg  # noqa: E402
from tests.audiodata import cut_wav  # noqa: E402

SOURCES = ["a01-000.wav", "a01-001.wav", "a01-002.wav", "a01-003.wav"]


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _clips(n: int, seconds: float) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        name = SOURCES[i % len(SOURCES)]
        start = 1.0 + (i // len(SOURCES)) * 3.0  # a different offset per round: every clip is a new recording
        out.append((f"bench-{i:02d}.wav", cut_wav(name, seconds, start)))
    return out


def _env(data: Path, database_url: str, broker: str, threads: int, model: str) -> None:
    os.environ.update({"CCR_DATA_DIR": str(data), "DATABASE_URL": database_url, "CCR_BROKER_URL": broker,
                       "CCR_SECRET_KEY": "b" * 64, "CCR_ASR_CPU_THREADS": str(threads), "CCR_ASR_MODEL": model,
                       "CCR_WORKER_THREADS": "0"})
    config.get_settings.cache_clear()
    db.dispose_engines()


def run(workers: int, clips: list[tuple[str, bytes]], server_url: str, broker: str, threads: int,
        model: str, tmp: Path) -> tuple[float, float]:
    """Seconds from import to the last call done with ``workers`` workers, and the summed processing seconds."""
    from ccr.core.models import Call
    from ccr.core.orgs import create_organisation
    from ccr.pipeline import celery_app, ingest

    _env(tmp / f"data-{workers}", pg.fresh_database(server_url), broker, threads, model)
    db.migrate()
    procs = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "ccr.pipeline.celery_app", "worker", "-Q", "asr,score",
                               "-c", "1", "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle",
                               "--loglevel", "WARNING"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
             for i in range(workers)]
    try:
        while celery_app.broker_status(max_age_s=0)["workers"] < workers:
            time.sleep(0.5)
        with db.session() as s:
            org = create_organisation(session=s, name=f"Bench {workers}")
        t0 = time.monotonic()
        ingest.ingest_files(actor=ingest.cli_actor(org.id), files=clips)
        while True:
            with db.session() as s:
                finished = s.exec(select(func.count()).select_from(Call)
                                  .where(Call.status.in_(("done", "failed")))).one()
            if finished == len(clips):
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - t0
        with db.session() as s:
            failed = s.exec(select(func.count()).select_from(Call).where(Call.status == "failed")).one()
            busy = s.exec(select(func.sum(Call.processing_s))).one() or 0.0
        if failed:
            print(f"  attention : {failed} appel(s) en échec", file=sys.stderr)
        return elapsed, float(busy)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        db.dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each call (s)")
    parser.add_argument("--threads", type=int, default=1, help="faster-whisper CPU threads per worker")
    parser.add_argument("--call-min", type=float, default=4.8, help="average call length of the sizing figure")
    args = parser.parse_args()

    from ccr.speech.transcription import ensure_offline_model

    tmp = Path(tempfile.mkdtemp(prefix="ccr-bench-scale."))
    model = str(ensure_offline_model(tmp / "models"))
    clips = _clips(args.calls, args.seconds)
    audio_s = args.calls * args.seconds
    server_url, stop_pg = pg.start_cluster()
    port = _port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL)
    broker = f"redis://127.0.0.1:{port}/0"
    try:
        time.sleep(0.5)
        print(f"{args.calls} appels de {args.seconds:.0f} s ({audio_s:.0f} s d'audio), modèle par défaut, "
              f"{args.threads} fil(s) CPU par worker, {os.cpu_count()} cœurs")
        per_min = {}
        for workers in (1, 2):
            elapsed, busy = run(workers, clips, server_url, broker, args.threads, model, tmp)
            per_min[workers] = args.calls / elapsed * 60
            rtf = busy / audio_s  # transcription seconds per audio second, per worker
            per_hour = 3600 / (rtf * args.call_min * 60) if rtf else float("nan")
            print(f"{workers} worker(s) : {elapsed:6.1f} s, {per_min[workers]:5.1f} appels/min, "
                  f"RTF par worker {rtf:.3f} -> {per_hour:.0f} appels/h/worker de {args.call_min} min")
        print(f"Rapport 2 workers / 1 worker : {per_min[2] / per_min[1]:.2f}")
    finally:
        redis_proc.kill()
        stop_pg()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
