"""The REST API under load: POST of real recordings (full audio validation) and GET, by concurrent clients.

Usage: python benchmarks/bench_api.py [--calls 200] [--clients 4] [--seconds 8] [--with-workers]

Starts ``python -m ccr api`` on a free loopback port in a fresh data directory (without the background
services unless ``--with-workers``: this measures the API, not transcription), creates one organisation and a
token, then ``--clients`` threads post ``--calls`` distinct recordings of ``--seconds`` seconds (slices of the
public test recordings, so each is decoded in full like any upload), then read each call back with GET and
page through GET /calls. Prints requests per second, median and 95th percentile latency per kind, and the
server's peak memory.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
AUDIO = REPO / "tests" / "fixtures" / "audio"


def _slices(n: int, seconds: float) -> list[bytes]:
    """``n`` distinct WAV files of ``seconds`` each, cut from the public recordings at different offsets."""
    sources = sorted(AUDIO.glob("*.wav"))
    out = []
    for i in range(n):
        with wave.open(str(sources[i % len(sources)]), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            span = int(seconds * rate)
            start = (i // len(sources) * rate // 4) % max(1, w.getnframes() - span)  # a quarter second apart
            w.setpos(start)
            frames = w.readframes(span)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as o:
            o.setnchannels(channels)
            o.setsampwidth(width)
            o.setframerate(rate)
            o.writeframes(frames)
        out.append(buf.getvalue())
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _run(label: str, jobs: list, clients: int, work) -> list[float]:
    """Run ``work(client, job)`` over ``jobs`` with ``clients`` threads; print and return the latencies."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(jobs)

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop()
                t0 = time.perf_counter()
                work(client, job)
                with lock:
                    latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{label:<28} {len(ordered):>5} requêtes  {len(ordered) / wall:7.1f} req/s  "
          f"médiane {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    return ordered


def main() -> None:
    """Start the server, load it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--with-workers", action="store_true")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="ccr-bench-api-"))
    env = {**os.environ, "CCR_DATA_DIR": str(data), "CCR_API_RATE_PER_MIN": "1000000", "PYTHONUNBUFFERED": "1",
           "CCR_BACKGROUND_SERVICES": "1"}
    env.pop("CCR_SECRET_KEY", None)
    os.environ.update({"CCR_DATA_DIR": str(data)})
    os.environ.pop("CCR_SECRET_KEY", None)

    import httpx

    from ccr.core import db
    from ccr.core.api_tokens import issue_token
    from ccr.core.orgs import create_organisation

    db.migrate()
    with db.session() as s:
        org = create_organisation(session=s, name="Banc API")
    with db.session() as s:
        token = issue_token(session=s, org_id=org.id, name="banc",
                            scopes="calls:write,calls:read,evaluations:read").token
    db.dispose_engines()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ccr", "api", "--port", str(port)] + ([] if args.with_workers else ["--no-services"])
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/api/v1/health", timeout=30)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        recordings = _slices(args.calls, args.seconds)
        size_kb = statistics.mean(len(r) for r in recordings) / 1024
        print(f"{args.calls} enregistrements distincts de {args.seconds:g} s ({size_kb:.0f} Ko en moyenne), "
              f"{args.clients} clients, workers {'actifs' if args.with_workers else 'arrêtés'}")
        ids: list[int] = []

        def post(client, item) -> None:
            i, audio = item
            r = client.post(f"{url}/api/v1/calls", headers=headers, files={"audio": (f"b{i}.wav", audio, "audio/wav")},
                            data={"metadata": f'{{"external_id": "BENCH-{i}"}}'})
            if r.status_code != 202:
                raise SystemExit(f"POST refusé ({r.status_code}) : {r.text}")
            ids.append(r.json()["id"])

        def get(client, call_id) -> None:
            r = client.get(f"{url}/api/v1/calls/{call_id}", headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"GET refusé ({r.status_code}) : {r.text}")

        def page(client, _n) -> None:
            r = client.get(f"{url}/api/v1/calls", headers=headers, params={"updated_since": "2000-01-01"})
            if r.status_code != 200:
                raise SystemExit(f"GET liste refusé ({r.status_code}) : {r.text}")

        _run("POST /api/v1/calls", list(enumerate(recordings)), args.clients, post)
        _run("GET /api/v1/calls/{id}", list(ids), args.clients, get)
        _run("GET /api/v1/calls (page)", list(range(max(20, args.calls // 4))), args.clients, page)
        peak = _peak_rss_mb(proc.pid)
        if peak is not None:
            print(f"Mémoire maximale du serveur d'API : {peak:.0f} Mo")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
