"""Load run, loopback only and bounded: N concurrent browser sessions against a server holding 100 000 calls
while its worker transcribes.

    python benchmarks/bench_load.py [--calls 100000] [--sessions 20] [--rounds 2] [--data-dir DIR --reuse]

The data directory is generated with ``benchmarks/bench_dashboard.py``'s bulk loader (40 teams, 600
agents, evaluated calls), plus a few real recordings queued for the in-process worker. The server is the
real one (``tests/e2e/conftest.start_server``, 127.0.0.1 only). Each session is a Playwright context of one
headless Chromium (async API): log in, open the dashboard, the calls list, then open calls in the review
page, ``--rounds`` times. A page time runs from the click to the end of Streamlit's run. Prints p50, p95,
p99 and max per page and overall, and every error (an exception shown by a page, a timeout, a refusal).
Target (issue 9): no error, p95 < 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
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
ACTION_TIMEOUT_MS = 60_000
RECORDINGS = 6  # short real clips queued so the worker transcribes during the run


def prepare(data_dir: Path, n: int, reuse: bool) -> None:
    """Bulk-generate the organisation and its calls, then queue a few real recordings."""
    from bench_dashboard import load_sqlite, setup_org

    from ccr import config
    from ccr.db import dispose_engines
    from ccr.ingest import cli_actor, ingest_files
    from tests.audiodata import cut_wav

    os.environ["CCR_DATA_DIR"] = str(data_dir)
    config.get_settings.cache_clear()
    dispose_engines()
    if reuse and (data_dir / "ccr.db").exists():
        print("  base existante réutilisée")
        return
    t0 = time.perf_counter()
    org_id, _teams, agents, _admin, _lead = setup_org(n)
    dispose_engines()
    load_sqlite(data_dir / "ccr.db", n, org_id, agents)
    files = [(f"charge-{i}.wav", cut_wav(f"a01-00{i % 4}.wav", 8, start=8.0 * (i // 4))) for i in range(RECORDINGS)]
    batch = ingest_files(actor=cli_actor(org_id), files=files)
    dispose_engines()
    print(f"  {n:,} appels générés et {len(batch.call_ids)} enregistrements en file en "
          f"{time.perf_counter() - t0:.0f} s")


async def _idle(page, started: bool = False) -> None:
    if started:  # a click: wait (briefly) for the run it triggers to show, so its end is what is timed
        with contextlib.suppress(Exception):
            await page.wait_for_function(
                "() => (document.querySelector('[data-testid=\"stStatusWidget\"]') || {}).innerText"
                "?.includes('Running')", timeout=1500)
    await page.wait_for_load_state("networkidle")
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=ACTION_TIMEOUT_MS)


async def _check(page, label: str, errors: list[str], who: str) -> None:
    if await page.locator('[data-testid="stException"]').count():
        errors.append(f"{who} {label} : exception affichée")
    body = await page.locator("body").inner_text()
    if "Accès refusé" in body:
        errors.append(f"{who} {label} : accès refusé")


async def _timed(times: dict, label: str, page, action) -> None:
    t0 = time.perf_counter()
    await action()
    await _idle(page, started=True)
    times.setdefault(label, []).append(time.perf_counter() - t0)


async def session_run(browser, url: str, idx: int, rounds: int, times: dict, errors: list[str],
                      call_ids: list[int], users: tuple[str, ...] = USERS, ramp_s: float = 0.0) -> None:
    """One user's journey, ``rounds`` times: dashboard, calls list, three calls opened."""
    username = users[idx % len(users)]
    who = f"session {idx:02d} ({username})"
    await asyncio.sleep(idx * ramp_s)  # arrivals spread out, as users log in over a morning, not at one instant
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = await ctx.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        await page.goto(url)
        for _ in range(3):  # a rerun right after load (cookie components) redraws the form and empties it
            await _idle(page)
            # During a rerun the previous form can linger next to the new one: wait for a single form.
            await page.wait_for_function(
                "() => document.querySelectorAll('input[aria-label=\"Identifiant\"]').length === 1")
            await page.get_by_label("Identifiant").fill(username)
            await page.get_by_label("Mot de passe").fill(PASSWORD)
            if await page.get_by_label("Identifiant").input_value() == username:
                break

        async def login():
            await page.get_by_role("button", name="Se connecter").click()
            await page.get_by_role("button", name="Se déconnecter").wait_for()

        await _timed(times, "connexion", page, login)
        nav = page.locator('[data-testid="stSidebarNav"] a')
        for r in range(rounds):
            for title, label in (("Tableau de bord", "tableau de bord"), ("Appels", "liste des appels")):
                await _timed(times, label, page, lambda title=title: nav.filter(has_text=title).first.click())
                await _check(page, label, errors, who)
            await _timed(times, "revue (ouverture)", page, lambda: nav.filter(has_text="Revue").first.click())
            for k in range(3):
                call_id = call_ids[(idx * 7 + r * 3 + k) % len(call_ids)]

                async def open_call(call_id=call_id):
                    box = page.get_by_label("Numéro de l'appel")
                    if not await box.count():  # a call is already open: back to the empty review page
                        await nav.filter(has_text="Revue").first.click()
                        await _idle(page)
                    await page.get_by_label("Numéro de l'appel").fill(str(call_id))
                    await page.get_by_role("button", name="Ouvrir").click()

                await _timed(times, "appel ouvert", page, open_call)
                await _check(page, "appel ouvert", errors, who)
    except Exception as err:  # a timeout is an error of the run, not a crash of the benchmark
        errors.append(f"{who} : {type(err).__name__}: {str(err).splitlines()[0][:160]}")
        if os.environ.get("CCR_LOAD_DEBUG"):
            print((await page.locator("body").inner_text())[:600])
    finally:
        await ctx.close()


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


async def load(url: str, sessions: int, rounds: int, call_ids: list[int], chromium: str,
               users: tuple[str, ...] = USERS, ramp_s: float = 0.0) -> tuple[dict, list]:
    """Run the sessions concurrently in one headless Chromium."""
    from playwright.async_api import async_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS

    times: dict[str, list[float]] = {}
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        await asyncio.gather(*(session_run(browser, url, i, rounds, times, errors, call_ids, users, ramp_s)
                               for i in range(sessions)))
        await browser.close()
    return times, errors


def main() -> None:
    """Prepare, start the server, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--ramp-s", type=float, default=3.0, help="délai entre deux arrivées de session")
    parser.add_argument("--users", default=",".join(USERS), help="comptes utilisés tour à tour")
    args = parser.parse_args()

    from tests.e2e.conftest import CHROMIUM, start_server, stop_server

    root = Path(args.data_dir).parent if args.data_dir else Path(tempfile.mkdtemp(prefix="ccr-load-"))
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"# CCR bench_load — {args.calls:,} appels, {args.sessions} sessions, {args.rounds} tour(s) ; {root}")
    prepare(data_dir, args.calls, args.reuse)

    import sqlite3

    con = sqlite3.connect(data_dir / "ccr.db")
    call_ids = [r[0] for r in con.execute("SELECT id FROM call WHERE status='done' ORDER BY random() LIMIT 200")]
    con.close()
    server = start_server(root)
    try:
        t0 = time.perf_counter()
        times, errors = asyncio.run(load(server.url, args.sessions, args.rounds, call_ids, CHROMIUM,
                                          tuple(args.users.split(",")), args.ramp_s))
        wall = time.perf_counter() - t0
        con = sqlite3.connect(data_dir / "ccr.db")
        queue = dict(con.execute("SELECT status, count(*) FROM call WHERE source_name LIKE 'charge-%' "
                                 "GROUP BY status").fetchall())
        con.close()
    finally:
        stop_server(server)
    all_times = [t for v in times.values() for t in v]
    print(f"\n{'page':<20} {'n':>5} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7}")
    for label, values in [*times.items(), ("TOUTES", all_times)]:
        if values:
            print(f"{label:<20} {len(values):>5} {statistics.median(values):>7.2f} {_pct(values, 95):>7.2f} "
                  f"{_pct(values, 99):>7.2f} {max(values):>7.2f}")
    print(f"\ndurée {wall:.0f} s ; enregistrements du worker pendant la charge : {queue}")
    print(f"erreurs : {len(errors)}")
    for e in errors[:30]:
        print(f"  - {e}")
    p95 = _pct(all_times, 95) if all_times else float("nan")
    print(f"objectif (aucune erreur, p95 < 3 s) : {'atteint' if not errors and p95 < 3 else 'NON atteint'}")


if __name__ == "__main__":
    main()
