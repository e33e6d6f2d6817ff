"""Load run, loopback only and bounded: N concurrent sessions against a server holding 100 000 calls
while its worker transcribes.

    python benchmarks/bench_load.py [--calls 100000] [--sessions 20,50] [--rounds 2] [--client ws|browser]
                                    [--think-s 1.0] [--data-dir DIR --reuse] [--py-spy DIR]

The data directory is generated with ``benchmarks/bench_dashboard.py``'s bulk loader (40 teams, 600
agents, evaluated calls). For each session count a fresh server starts (cold caches) and fresh real
recordings are queued for its worker, so it transcribes during the load. The server is the real one
(``tests/e2e/conftest.start_server``, 127.0.0.1 only), with its default settings: the worker in its own
process, the dashboards' rollups refreshed in the background.

Each session logs in through the real form, then ``--rounds`` times opens the dashboard, the calls
list and three calls in the review page, pausing ``--think-s`` (± 50 %) between two clicks as a person
does. Sessions alternate between an administrator (every team) and a team lead (one team); each opens
calls its user may see.

Two clients:
- ``ws`` (default): ``st_client.StreamlitSession`` speaks the browser's websocket protocol. A page time
  is the server's: from the click's message to the end of the run. Twenty of them cost the load
  machine almost nothing, so the figure is the server's, not the load generator's.
- ``browser``: Playwright contexts of one headless Chromium; a page time also includes the paint. On
  this 2-core machine the browsers compete with the server, so use it with few sessions.

Prints, per session count: the machine's load, p50, p95, p99 and max per page and overall, every error
(an exception shown by a page, a refusal, a call not found, a page not found, a timeout), and the
server's own breakdown per page (``CCR_RUN_TIMINGS_FILE``: wall time, CPU time of the run's thread,
waiting, SQL, authentication, figures). ``--py-spy DIR`` also records a flame graph of the server and its
worker. Targets: no error, and p95 < 2 s for every page with 20 sessions, < 4 s with 50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PASSWORD = "Bench-Motdepasse-2026"  # bench_dashboard.setup_org's users
USERS = ("bench.admin", "bench.lead")
ACTION_TIMEOUT_S = 60.0
RECORDINGS = 6  # short real clips queued so the worker transcribes during the run
CALLS_OPENED = 3  # per round and session
ERROR_TEXTS = ("Accès refusé", "introuvable")  # shown by a page, an error of the run for both clients
TARGET_P95_S = {20: 2.0, 50: 4.0}  # every page, login included, with the worker transcribing


def prepare(data_dir: Path, n: int, reuse: bool) -> list[int]:
    """Bulk-generate the organisation and its calls (unless reused), then queue fresh recordings (their ids)."""
    from bench_dashboard import load_sqlite, setup_org

    from ccr.core import config
    from ccr.core.db import dispose_engines
    from ccr.pipeline.ingest import cli_actor, ingest_files
    from tests.audiodata import cut_wav

    os.environ["CCR_DATA_DIR"] = str(data_dir)
    config.get_settings.cache_clear()
    dispose_engines()
    t0 = time.perf_counter()
    if reuse and (data_dir / "ccr.db").exists():
        print("  base existante réutilisée")
    else:
        org_id, _teams, agents, _admin, _lead = setup_org(n)
        dispose_engines()
        load_sqlite(data_dir / "ccr.db", n, org_id, agents)
        print(f"  {n:,} appels générés en {time.perf_counter() - t0:.0f} s")
    con = sqlite3.connect(data_dir / "ccr.db")
    org_id = con.execute("SELECT id FROM organisation ORDER BY id LIMIT 1").fetchone()[0]
    con.close()
    # A new offset per run: the same clip twice would be refused as a duplicate (sha256).
    rng = random.Random()
    files = [(f"charge-{i}.wav", cut_wav(f"a01-00{i % 4}.wav", 8, start=rng.uniform(0, 20)))
             for i in range(RECORDINGS)]
    batch = ingest_files(actor=cli_actor(org_id), files=files)
    dispose_engines()
    print(f"  {len(batch.call_ids)} enregistrements mis en file pour le worker")
    return list(batch.call_ids)


def visible_calls(data_dir: Path, username: str, k: int = 200) -> list[int]:
    """Ids of done calls this user may open (every team for an admin, its own teams for a team lead).

    Restricted calls (a person's objection) are left out: refusing them is the expected answer.
    """
    con = sqlite3.connect(data_dir / "ccr.db")
    try:
        user_id, role = con.execute("SELECT id, role FROM user WHERE username = ?", (username,)).fetchone()
        if role == "team_lead":
            rows = con.execute(
                "SELECT c.id FROM call c JOIN userteam ut ON ut.team_id = c.team_id "
                "WHERE ut.user_id = ? AND c.status = 'done' AND NOT c.restricted ORDER BY random() LIMIT ?", (user_id, k))
        else:
            rows = con.execute("SELECT id FROM call WHERE status = 'done' AND NOT restricted ORDER BY random() LIMIT ?",
                               (k,))
        return [r[0] for r in rows]
    finally:
        con.close()


class Recorder:
    """Page times by label and the errors of the run."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def add(self, label: str, seconds: float) -> None:
        """Record one page time."""
        self.times.setdefault(label, []).append(seconds)


def _call_to_open(call_ids: list[int], idx: int, r: int, k: int) -> int:
    """The k-th call session ``idx`` opens in round ``r``: sessions spread over the list, same plan for both clients."""
    return call_ids[(idx * 7 + r * 3 + k) % len(call_ids)]


def _think(think_s: float) -> float:
    return random.uniform(0.5 * think_s, 1.5 * think_s)


def _problems(result) -> list[str]:
    """What a websocket run showed that a user would call an error."""
    found = [f"exception affichée ({e[:80]})" for e in result.exceptions]
    if result.page_not_found:
        found.append("page introuvable")
    for needle in ERROR_TEXTS:
        if result.has_text(needle):
            found.append(needle.lower())
    return found


async def ws_session(url: str, idx: int, username: str, rounds: int, think_s: float, ramp_s: float,
                     call_ids: list[int], rec: Recorder) -> None:
    """One user's journey over the websocket protocol."""
    from st_client import StreamlitSession

    who = f"session {idx:02d} ({username})"
    await asyncio.sleep(idx * ramp_s)  # arrivals spread out, as users log in over a morning, not at one instant
    try:
        async with StreamlitSession(url) as tab:
            first = await tab.run(timeout=ACTION_TIMEOUT_S)
            rec.add("accueil", first.seconds)
            await asyncio.sleep(_think(think_s))
            done = await tab.run(widgets=tab.login_states(first, username, PASSWORD), timeout=ACTION_TIMEOUT_S)
            rec.add("connexion", done.seconds)
            done.widget("button", "Se déconnecter")  # KeyError: the login did not go through
            for r in range(rounds):
                steps = [("tableau de bord", "dashboard", ""), ("liste des appels", "calls", "")]
                steps += [("appel ouvert", "review", f"call_id={_call_to_open(call_ids, idx, r, k)}")
                          for k in range(CALLS_OPENED)]
                for label, page, query in steps:
                    await asyncio.sleep(_think(think_s))
                    result = await tab.run(page=page, query=query, timeout=ACTION_TIMEOUT_S)
                    rec.add(label, result.seconds)
                    rec.errors += [f"{who} {label} : {p}" for p in _problems(result)]
    except Exception as err:  # a timeout or a failed login is an error of the run, not a crash of the bench
        rec.errors.append(f"{who} : {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")


async def browser_session(browser, url: str, idx: int, username: str, rounds: int, think_s: float,
                          ramp_s: float, call_ids: list[int], rec: Recorder) -> None:
    """One user's journey in a Chromium context (clicks in the real page)."""
    who = f"session {idx:02d} ({username})"
    await asyncio.sleep(idx * ramp_s)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = await ctx.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_S * 1000)

    async def idle(started: bool) -> None:
        if started:  # wait (briefly) for the run a click triggers to show, so its end is what is timed
            with contextlib.suppress(Exception):
                await page.wait_for_function(
                    "() => (document.querySelector('[data-testid=\"stStatusWidget\"]') || {}).innerText"
                    "?.includes('Running')", timeout=1500)
        await page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')")

    async def timed(label: str, action) -> None:
        t0 = time.perf_counter()
        await action()
        await idle(started=True)
        rec.add(label, time.perf_counter() - t0)
        if await page.locator('[data-testid="stException"]').count():
            rec.errors.append(f"{who} {label} : exception affichée")
        body = await page.locator("body").inner_text()
        rec.errors += [f"{who} {label} : {n.lower()}" for n in ERROR_TEXTS if n in body]

    try:
        await page.goto(url)
        # As a person does, type once the page has settled (its components have drawn).
        await page.wait_for_load_state("networkidle")
        await idle(started=False)
        await page.get_by_label("Identifiant").fill(username)
        await page.get_by_label("Mot de passe").fill(PASSWORD)

        async def login() -> None:
            await page.get_by_role("button", name="Se connecter").click()
            await page.get_by_role("button", name="Se déconnecter").wait_for()

        await timed("connexion", login)
        nav = page.locator('[data-testid="stSidebarNav"] a')
        for r in range(rounds):
            for title, label in (("Tableau de bord", "tableau de bord"), ("Appels", "liste des appels")):
                await asyncio.sleep(_think(think_s))
                await timed(label, lambda title=title: nav.filter(has_text=title).first.click())
            for k in range(CALLS_OPENED):
                await asyncio.sleep(_think(think_s))
                call_id = _call_to_open(call_ids, idx, r, k)
                await timed("appel ouvert", lambda call_id=call_id: page.goto(f"{url}/review?call_id={call_id}"))
    except Exception as err:
        rec.errors.append(f"{who} : {type(err).__name__}: {str(err).splitlines()[0][:160]}")
        if os.environ.get("CCR_LOAD_SCREENSHOTS"):  # a folder: what the page showed when it failed
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(Path(os.environ["CCR_LOAD_SCREENSHOTS"]) / f"echec-{idx:02d}.png"))
    finally:
        await ctx.close()


async def load(url: str, args, sessions: int, calls_by_user: dict[str, list[int]]) -> Recorder:
    """Run ``sessions`` sessions concurrently with the chosen client."""
    users = args.users.split(",")
    rec = Recorder()
    plan = [(i, users[i % len(users)]) for i in range(sessions)]
    if args.client == "ws":
        await asyncio.gather(*(ws_session(url, i, u, args.rounds, args.think_s, args.ramp_s, calls_by_user[u], rec)
                               for i, u in plan))
        return rec
    from playwright.async_api import async_playwright

    from tests.conftest import CHROMIUM
    from tests.e2e.conftest import CHROMIUM_ARGS

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        await asyncio.gather(*(browser_session(browser, url, i, u, args.rounds, args.think_s, args.ramp_s,
                                               calls_by_user[u], rec) for i, u in plan))
        await browser.close()
    return rec


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


def _load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"charge de la machine : {one:.2f} (1 min), {five:.2f} (5 min) sur {os.cpu_count()} cœurs"


def _own_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` alone; 0 when it is gone."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _cpu_s(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` and its children still running (the worker)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return sum(_own_cpu(p) for p in [pid, *children])


def print_pages(rec: Recorder) -> dict[str, float]:
    """The client's table: p50, p95, p99 and max per page and overall; returns the p95 per page."""
    all_times = [t for v in rec.times.values() for t in v]
    print(f"{'page':<20} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7}")
    p95 = {}
    for label, values in [*rec.times.items(), ("TOUTES", all_times)]:
        if values:
            p95[label] = _pct(values, 95)
            print(f"{label:<20} {len(values):>5} {statistics.median(values):>7.2f} {p95[label]:>7.2f} "
                  f"{_pct(values, 99):>7.2f} {max(values):>7.2f}")
    return p95


def print_breakdown(path: Path) -> None:
    """The server's side, from ``CCR_RUN_TIMINGS_FILE``: per page, where a run's time went (means, in s)."""
    if not path.exists():
        print("(aucune mesure côté serveur)")
        return
    by_page: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_page.setdefault(row["page"] or "(sans page)", []).append(row)
    print("\ncôté serveur, par exécution de page (moyennes en s ; attente = durée - CPU du fil : verrou de "
          "l'interpréteur, verrou d'écriture de la base, disque ; verrou = attente du verrou d'écriture, dans SQL "
          "ou avant)")
    print(f"{'page':<22} {'n':>5} {'p95 s':>7} {'durée':>7} {'CPU':>7} {'attente':>8} {'SQL':>7} {'requêtes':>9} "
          f"{'verrou':>7} {'auth':>7} {'figures':>8}")
    worst = max(by_page, key=lambda k: _pct([r["wall_s"] for r in by_page[k]], 95))
    for page, rows in sorted(by_page.items(), key=lambda kv: -len(kv[1])):
        def mean(key: str, rows=rows) -> float:
            return statistics.fmean(r.get(key, 0.0) for r in rows)
        mark = "  ← la plus lente" if page == worst else ""
        print(f"{page[:22]:<22} {len(rows):>5} {_pct([r['wall_s'] for r in rows], 95):>7.2f} {mean('wall_s'):>7.2f} "
              f"{mean('cpu_s'):>7.2f} {mean('wall_s') - mean('cpu_s'):>8.2f} {mean('sql_s'):>7.2f} "
              f"{mean('sql_n'):>9.0f} {mean('write_lock_s'):>7.2f} {mean('auth_s'):>7.2f} {mean('figures_s'):>8.2f}{mark}")


def run_load(root: Path, data_dir: Path, args, sessions: int, queued: list[int],
             calls_by_user: dict[str, list[int]]) -> tuple[Recorder, dict[str, float]]:
    """Start a fresh server (cold caches, its worker transcribing ``queued``), run the sessions, print the tables."""
    from tests.e2e.conftest import start_server, stop_server

    timings = root / f"timings-{sessions}.jsonl"
    timings.unlink(missing_ok=True)
    server = start_server(root, extra_env={"CCR_RUN_TIMINGS_FILE": str(timings)})
    profiler = None
    print(f"\n## {sessions} sessions — {_load_line()}")
    try:
        if args.py_spy:  # a flame graph of the server (and its worker process) over the whole run
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            suffix = {"flamegraph": ".svg", "speedscope": ".json", "raw": ".txt"}[args.py_spy_format]
            out = Path(args.py_spy) / f"flamegraph-{sessions}-sessions{suffix}"
            profiler = subprocess.Popen([spy, "record", "--pid", str(server.proc.pid), "--subprocesses", "--rate",
                                         "50", "--idle", "--format", args.py_spy_format, "--output", str(out)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        cpu0 = (_own_cpu(server.proc.pid), _cpu_s(server.proc.pid), time.process_time())
        rec = asyncio.run(load(server.url, args, sessions, calls_by_user))
        wall = time.perf_counter() - t0
        cpu = (_own_cpu(server.proc.pid) - cpu0[0], _cpu_s(server.proc.pid) - cpu0[1], time.process_time() - cpu0[2])
        con = sqlite3.connect(data_dir / "ccr.db")
        marks = ",".join("?" * len(queued)) or "NULL"
        queue = dict(con.execute(f"SELECT status, count(*) FROM call WHERE id IN ({marks}) GROUP BY status",
                                 queued).fetchall())
        con.close()
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its flame graph on SIGINT
            profiler.wait(timeout=60)
        stop_server(server)
    p95 = print_pages(rec)
    print(f"durée {wall:.0f} s ; enregistrements de cette charge côté worker : {queue} ; {_load_line()}")
    print(f"temps CPU pendant la charge ({os.cpu_count()} cœurs × {wall:.0f} s = {os.cpu_count() * wall:.0f} s) : "
          f"serveur {cpu[0]:.0f} s, worker {cpu[1] - cpu[0]:.0f} s, client de charge {cpu[2]:.0f} s")
    print_breakdown(timings)
    print(f"erreurs : {len(rec.errors)}")
    for e in rec.errors[:30]:
        print(f"  - {e}")
    return rec, p95


def main() -> None:
    """Prepare, then for each session count start a server, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--sessions", default="20,50", help="nombres de sessions, une charge chacun (ex. 20,50)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client", choices=("ws", "browser"), default="ws")
    parser.add_argument("--think-s", type=float, default=1.0, help="pause moyenne entre deux clics (± 50 %%)")
    parser.add_argument("--ramp-s", type=float, default=0.5, help="délai entre deux arrivées de session")
    parser.add_argument("--users", default=",".join(USERS), help="comptes utilisés tour à tour")
    parser.add_argument("--data-dir")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--py-spy", metavar="DOSSIER", help="enregistre un flame graph du serveur (py-spy) ici")
    parser.add_argument("--py-spy-format", default="flamegraph", choices=("flamegraph", "raw", "speedscope"))
    args = parser.parse_args()

    root = Path(args.data_dir).parent if args.data_dir else Path(tempfile.mkdtemp(prefix="ccr-load-"))
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    counts = [int(n) for n in args.sessions.split(",")]
    print(f"# CCR bench_load — {args.calls:,} appels, sessions {counts} ({args.client}), "
          f"{args.rounds} tour(s), pause {args.think_s} s ; {root}")
    verdicts = []
    for i, sessions in enumerate(counts):
        queued = prepare(data_dir, args.calls, args.reuse or i > 0)
        if i == 0:
            con = sqlite3.connect(data_dir / "ccr.db")
            print(f"{con.execute('SELECT count(*) FROM call').fetchone()[0]:,} appels en base")
            con.close()
            calls_by_user = {u: visible_calls(data_dir, u) for u in args.users.split(",")}
        rec, p95 = run_load(root, data_dir, args, sessions, queued, calls_by_user)
        worst = max((v for k, v in p95.items() if k != "TOUTES"), default=float("nan"))
        if args.client == "browser":  # a check of what a person sees, not a target: Chromium shares these cores
            verdicts.append(f"navigateur, {sessions} sessions : {len(rec.errors)} erreur(s) ; pire p95 {worst:.2f} s "
                            "rendu compris (Chromium sur la même machine que le serveur)")
            continue
        target = TARGET_P95_S.get(sessions, max(TARGET_P95_S.values()))
        ok = not rec.errors and worst < target
        verdicts.append(f"{sessions} sessions : aucune erreur et p95 < {target:g} s pour chaque page "
                        f"(pire p95 {worst:.2f} s) : {'atteint' if ok else 'NON atteint'}")
    print()
    for v in verdicts:
        print(f"objectif {v}")


if __name__ == "__main__":
    main()
