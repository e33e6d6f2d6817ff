"""Dashboard speed on a large organisation: every query of the « Tableau de bord » page, timed.

Usage: python benchmarks/bench_dashboard.py [--n 1000000] [--data-dir DIR] [--reuse] [--generate-only] [--runs 5]
                                            [--naive-runs 1] [--skip-naive] [--skip-page] [--skip-live]

Generates N evaluated calls (40 teams, 600 agents, 2 years; 8 criterion verdicts per call, irritant
hits, transcripts for full-text search) with bulk inserts straight into SQLite (indexes built after
the load) and builds the dashboard rollups (timed, with the refresh of one changed day). Then it
times the dashboard's queries without the rollups (live SQL, "before") and with them, for three
views: a team lead's 30 days, an admin's year over all teams, and a full-text search of the calls list. For each: total time (median of
``--runs``), rows returned, peak Python memory (tracemalloc). Then the naive approach (load the
period into pandas and aggregate there) and the ratio, and the AppTest render of pages/dashboard.py
(time and RSS growth). With ``DATABASE_URL`` pointing at PostgreSQL, the same is measured there
(generation through COPY).

``--reuse`` keeps an existing generated database (``--data-dir``) and only creates missing indexes,
to compare index choices without regenerating.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEAMS, AGENTS, DAYS = 40, 600, 730
CHUNK = 20_000  # calls per executemany batch: bounded memory, few round trips
CRITERIA = [("accueil", 15, False), ("identification", 10, False), ("decouverte", 15, False),
            ("empathie", 10, False), ("solution", 20, False), ("attente", 10, False), ("politesse", 10, True),
            ("conclusion", 10, False)]
NA_RATE = {"empathie": 0.6, "attente": 0.7}  # criteria that often do not apply
CATEGORIES = ["facturation", "livraison", "resiliation", "support_technique", "information"]
IRRITANTS = ["attente_delai", "relances", "erreur_facturation", "menace_depart", "mecontentement"]
CAMPAIGNS = ["Printemps", "Été", "Rentrée", "Fidélisation", "Recouvrement", "Standard"]
SEARCH_RARE = "remboursement"  # planted in ~1 % of transcripts
SEARCH_COMMON = "facture"  # planted in ~15 %
TARGET_PAGE_S, TARGET_RSS_MB = 2.0, 200
# Milliseconds per view (every full-text search alike): at a million calls, and at ten million.
TARGETS_1M = {"lead": 50, "admin": 150, "list": 100, "fts": 100}
TARGETS_10M = {"lead": 100, "admin": 500, "list": 150, "fts": 300}
DASH_TABLES = ("call", "evaluation", "criterionresult", "irritanthit", "transcript")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLite storage format of SQLModel's UTCDateTime


def _words(rng: random.Random) -> list[str]:
    syll = ["ba", "de", "li", "mo", "ru", "sa", "te", "vi", "co", "na", "pe", "lu", "ra", "zo", "fi", "ga"]
    return ["".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(3000)]


# --- generation ---------------------------------------------------------------------------------


def setup_org(n: int):
    """Migrate, create the organisation, teams, agents and two users; returns (org_id, team ids, agent ids...)."""
    from ccr.core.db import migrate, session
    from ccr.core.models import Agent, Team
    from ccr.core.orgs import create_organisation
    from ccr.core.users import create_user

    migrate()
    with session() as s:
        org = create_organisation(session=s, name="Bench Centre")
        teams = [Team(org_id=org.id, name=f"Équipe {i + 1:02d}") for i in range(TEAMS)]
        s.add_all(teams)
        s.flush()
        agents = [Agent(org_id=org.id, team_id=teams[i % TEAMS].id, name=f"Agent {i + 1:03d}") for i in range(AGENTS)]
        s.add_all(agents)
        s.flush()
        pw = "Bench-Motdepasse-2026"
        admin = create_user(session=s, org_id=org.id, username="bench.admin", display_name="Admin", password=pw,
                            role="admin")
        lead = create_user(session=s, org_id=org.id, username="bench.lead", display_name="Chef", password=pw,
                           role="team_lead", team_ids=[teams[0].id])
        return org.id, [t.id for t in teams], [(a.id, a.team_id) for a in agents], admin.id, lead.id


def generate_rows(n: int, org_id: int, agents: list[tuple[int, int]], seed: int = 7):
    """Yield chunks of (calls, evaluations, criteria, irritants, transcripts) row tuples, oldest first."""
    rng = random.Random(seed)
    vocab = _words(rng)
    skill = {a: min(0.97, max(0.4, rng.gauss(0.78, 0.08))) for a, _ in agents}
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS - 1)
    per_day, extra = divmod(n, DAYS)
    cid = crid = ihid = 0
    calls, evals, crits, irrs, trans = [], [], [], [], []
    for d in range(DAYS):
        day = start + timedelta(days=d)
        k = per_day + (1 if d < extra else 0)
        seconds = sorted(rng.randint(6 * 3600, 17 * 3600) for _ in range(k))
        for sec in seconds:
            cid += 1
            when = _ts(day + timedelta(seconds=sec, microseconds=rng.randint(0, 999_999)))
            agent_id, team_id = agents[rng.randrange(AGENTS)]
            sk = skill[agent_id]
            duration = rng.uniform(60, 900)
            silence = duration * rng.uniform(0.03, 0.25)
            agent_talk = (duration - silence) * rng.uniform(0.35, 0.65)
            customer_talk = duration - silence - agent_talk
            direction = "entrant" if rng.random() < 0.8 else "sortant"
            campaign = CAMPAIGNS[rng.randrange(len(CAMPAIGNS))]
            category = CATEGORIES[min(4, int(rng.expovariate(0.8)))]
            restricted = 1 if rng.random() < 0.001 else 0
            got = total = 0
            critical = 0
            for crit, weight, is_critical in CRITERIA:
                if rng.random() < NA_RATE.get(crit, 0.0):
                    verdict = "na"
                else:
                    verdict = "pass" if rng.random() < sk else "fail"
                    total += weight
                    got += weight if verdict == "pass" else 0
                    critical |= int(is_critical and verdict == "fail")
                crid += 1
                crits.append((crid, org_id, cid, cid, crit, verdict, verdict, team_id, agent_id, when))
            score = round(100.0 * got / total, 1) if total else 100.0
            passed = int(score >= 70 and not critical)
            validated = 1 if rng.random() < 0.05 else 0
            final = min(100.0, score + (rng.choice((-10, 0, 10)) if validated else 0))
            final_passed = int(final >= 70 and not critical)
            n_irr = 2 if rng.random() < 0.1 else (1 if rng.random() < 0.35 else 0)
            for label in rng.sample(IRRITANTS, n_irr):
                ihid += 1
                irrs.append((ihid, org_id, cid, cid, label, rng.uniform(0, duration), team_id, agent_id, when))
            calls.append((cid, org_id, team_id, agent_id, f"{cid:064x}", duration, when, direction, campaign,
                          "done", 1, 0, restricted, when, when, agent_talk, customer_talk, silence))
            evals.append((cid, org_id, cid, "ccr-standard-fr", 1, "rules", 1, score, passed, critical, final,
                          final_passed, critical, validated, category, n_irr, 0, "{}", team_id, agent_id, when,
                          campaign, direction, duration, silence, agent_talk, customer_talk, restricted, when))
            words = rng.sample(vocab, 24)
            if rng.random() < 0.01:
                words.append(SEARCH_RARE)
            if rng.random() < 0.15:
                words.append(SEARCH_COMMON)
            trans.append((cid, org_id, cid, "fr", "bench", "bench", "[]", " ".join(words), "{}", 0, when))
            if len(calls) >= CHUNK:
                yield calls, evals, crits, irrs, trans
                calls, evals, crits, irrs, trans = [], [], [], [], []
    if calls:
        yield calls, evals, crits, irrs, trans


INSERTS = {
    "call": "INSERT INTO call (id, org_id, team_id, agent_id, sha256, duration_s, started_at, direction, campaign, "
            "status, attempts, needs_llm_retry, restricted, queued_at, created_at, agent_talk_s, customer_talk_s, "
            "silence_s) VALUES ({})",
    "evaluation": "INSERT INTO evaluation (id, org_id, call_id, grid_slug, grid_version, engine, is_current, ai_score, "
                  "ai_passed, ai_critical_failed, final_score, final_passed, final_critical_failed, validated, "
                  "category, irritant_count, unverified, result_json, team_id, agent_id, started_at, campaign, "
                  "direction, duration_s, silence_s, agent_talk_s, customer_talk_s, restricted, created_at) "
                  "VALUES ({})",
    "criterionresult": "INSERT INTO criterionresult (id, org_id, evaluation_id, call_id, criterion_id, ai_verdict, "
                       "final_verdict, team_id, agent_id, started_at) VALUES ({})",
    "irritanthit": "INSERT INTO irritanthit (id, org_id, evaluation_id, call_id, label, start_s, team_id, agent_id, "
                   "started_at) VALUES ({})",
    "transcript": "INSERT INTO transcript (id, org_id, call_id, language, engine, model, segments_json, text, "
                  "redactions_json, truncated, created_at) VALUES ({})",
}


def _sql(table: str, n_cols: int, pg: bool) -> str:
    marks = ", ".join(["%s" if pg else "?"] * n_cols)
    return INSERTS[table].format(marks)


def load_sqlite(db_path: Path, n: int, org_id: int, agents) -> None:
    """Bulk-load N calls: indexes dropped during the load and rebuilt after (much faster than row by row)."""
    import sqlite3

    con = sqlite3.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    saved = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
        f"({','.join('?' * len(DASH_TABLES))})", DASH_TABLES).fetchall()
    for name, _ in saved:
        con.execute(f'DROP INDEX "{name}"')
    con.execute("DROP TRIGGER IF EXISTS transcript_fts_ai")  # the FTS index is rebuilt once at the end
    t0 = time.perf_counter()
    done = 0
    for chunk in generate_rows(n, org_id, agents):
        for table, rows in zip(("call", "evaluation", "criterionresult", "irritanthit", "transcript"), chunk,
                               strict=True):
            if rows:
                con.executemany(_sql(table, len(rows[0]), False), rows)
        con.commit()
        done += len(chunk[0])
        if done % 200_000 < CHUNK:
            print(f"  … {done:,} appels insérés ({time.perf_counter() - t0:.0f} s)", flush=True)
    t1 = time.perf_counter()
    for _name, sql in saved:
        con.execute(sql)
    con.commit()
    t2 = time.perf_counter()
    con.execute("INSERT INTO transcript_fts(transcript_fts) VALUES ('rebuild')")
    con.execute("""CREATE TRIGGER transcript_fts_ai AFTER INSERT ON transcript BEGIN
           INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END""")
    con.commit()
    t3 = time.perf_counter()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    print(f"  génération {t1 - t0:.0f} s, index {t2 - t1:.0f} s, plein texte {t3 - t2:.0f} s, "
          f"ANALYZE {time.perf_counter() - t3:.0f} s")


def load_postgres(n: int, org_id: int, agents) -> None:
    """Bulk-load N calls into PostgreSQL with COPY: secondary indexes dropped during the load and rebuilt
    after, foreign-key triggers off when the role may (a superuser's bench cluster), then ANALYZE."""
    from ccr.core.db import get_engine

    raw = get_engine().raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                    (list(DASH_TABLES),))
        saved = cur.fetchall()
        for name, _ in saved:
            cur.execute(f'DROP INDEX "{name}"')
        try:
            cur.execute("SET session_replication_role = replica")  # no per-row FK trigger during the load
        except Exception:  # not a superuser: the load keeps the foreign-key checks, only slower
            raw.rollback()
            for name, _ in saved:
                cur.execute(f'DROP INDEX IF EXISTS "{name}"')
        raw.commit()
        cols = {t: INSERTS[t].split("(", 1)[1].split(")", 1)[0] for t in INSERTS}
        bools = {"call": (11, 12), "evaluation": (6, 8, 9, 11, 12, 13, 16, 27), "transcript": (9,)}
        t0 = time.perf_counter()
        done = 0
        for chunk in generate_rows(n, org_id, agents):
            for table, rows in zip(("call", "evaluation", "criterionresult", "irritanthit", "transcript"), chunk,
                                   strict=True):
                b = bools.get(table, ())
                with cur.copy(f"COPY {table} ({cols[table]}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row([bool(v) if i in b else (v + "+00" if isinstance(v, str) and i == len(row) - 1
                                                               and table != "transcript" else v)
                                      for i, v in enumerate(row)])
            raw.commit()
            done += len(chunk[0])
            if done % 500_000 < CHUNK:
                print(f"  … {done:,} appels insérés ({time.perf_counter() - t0:.0f} s)", flush=True)
        t1 = time.perf_counter()
        cur.execute("RESET session_replication_role")
        cur.execute("SET maintenance_work_mem = '512MB'")
        for _name, sql in saved:
            cur.execute(sql)
        raw.commit()
        t2 = time.perf_counter()
        for table in INSERTS:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
        raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
        for table in INSERTS:
            cur.execute(f"VACUUM (ANALYZE) {table}")  # the visibility map lets index-only scans skip the heap
        t3 = time.perf_counter()
        print(f"  génération {t1 - t0:.0f} s, index {t2 - t1:.0f} s, VACUUM ANALYZE {t3 - t2:.0f} s")
    finally:
        raw.close()


def database_size() -> str:
    """The database's size on disk (PostgreSQL) and per million calls."""
    from ccr.core.db import get_engine

    with get_engine().connect() as con:
        size = con.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        calls = con.exec_driver_sql("SELECT count(*) FROM call").scalar()
    return f"{size / 1e9:.2f} Go ({size / 1e9 / max(calls, 1) * 1e6:.2f} Go par million d'appels)"


def ensure_indexes() -> None:
    """Create any index declared in ccr/core/models.py that the database lacks (``--reuse`` after an index change)."""
    from ccr.core.db import get_engine
    from ccr.core.models import SQLModel

    engine = get_engine()
    for name in DASH_TABLES:
        for index in SQLModel.metadata.tables[name].indexes:
            index.create(engine, checkfirst=True)
    with engine.begin() as con:
        con.exec_driver_sql("ANALYZE")  # the planner needs statistics of the new indexes


# --- measurement -------------------------------------------------------------------------------


def page_queries(actor, filters, search: str | None = None):
    """The calls the dashboard page makes (``search``: the calls list with a full-text query instead)."""
    from ccr.dashboards.agents import HEATMAP_MAX_AGENTS, agent_ranking, criterion_agent_heatmap
    from ccr.dashboards.call_list import list_calls
    from ccr.dashboards.figures import (
        category_breakdown,
        irritants_over_time,
        kpi_tiles,
        score_distribution,
        score_trend,
    )
    from ccr.dashboards.labels import campaigns, labels

    if search is not None:
        return [("list_calls (plein texte)", lambda s: list_calls(session=s, actor=actor, filters=filters,
                                                                  search=search, page_size=50))]
    out = [
        ("labels", lambda s: labels(session=s, actor=actor)),
        ("campaigns", lambda s: campaigns(session=s, actor=actor)),
        ("kpi_tiles", lambda s: kpi_tiles(session=s, actor=actor, filters=filters)),
        ("score_trend", lambda s: score_trend(session=s, actor=actor, filters=filters)),
        ("score_distribution", lambda s: score_distribution(session=s, actor=actor, filters=filters)),
        ("agent_ranking", lambda s: agent_ranking(session=s, actor=actor, filters=filters)),
    ]

    def heatmap(s):
        ranking = agent_ranking(session=s, actor=actor, filters=filters)
        weakest = [r["agent_id"] for r in reversed(ranking)][:HEATMAP_MAX_AGENTS]
        t0 = time.perf_counter()
        res = criterion_agent_heatmap(session=s, actor=actor, filters=filters, agent_ids=weakest)
        return res, time.perf_counter() - t0

    out += [
        ("criterion_agent_heatmap", heatmap),
        ("irritants_over_time", lambda s: irritants_over_time(session=s, actor=actor, filters=filters)),
        ("category_breakdown", lambda s: category_breakdown(session=s, actor=actor, filters=filters)),
    ]  # talk/listen comes from the ranking's rows (talk_listen_from_ranking): no query of its own
    return out


def _count(result) -> int:
    if hasattr(result, "rows") and hasattr(result, "total"):  # a page of the calls list
        return len(result.rows)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):
        return len(result[0])
    if isinstance(result, dict):
        return sum(len(v) for v in result.values() if isinstance(v, list))
    if isinstance(result, list):
        return len(result)
    return 1


def measure_view(name: str, queries, runs: int) -> float:
    """Print every query's median time, rows and the view's total and peak memory; returns total ms."""
    from ccr.core.db import session

    print(f"\n## {name}")
    totals = []
    per_query: dict[str, list[float]] = {q: [] for q, _ in queries}
    rows: dict[str, int] = {}
    peak = 0
    # tracemalloc hooks every allocation and slows Python-bound work several times over: the timed runs
    # go without it, and one more untimed run measures the peak memory.
    for run in range(runs + 1):
        traced = run == runs
        gc.collect()
        if traced:
            tracemalloc.start()
        t_run = 0.0
        with session() as s:
            for qname, fn in queries:
                t0 = time.perf_counter()
                result = fn(s)
                dt = time.perf_counter() - t0
                if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], float):
                    result, dt = result  # the heatmap times itself (the ranking it needs is another query)
                if not traced:
                    per_query[qname].append(dt)
                rows[qname] = _count(result)
                t_run += dt
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            totals.append(t_run)
    for qname in per_query:
        print(f"  {qname:<28} {statistics.median(per_query[qname]) * 1000:8.1f} ms  {rows[qname]:>6} lignes")
    total = statistics.median(totals) * 1000
    print(f"  {'TOTAL (médiane de ' + str(runs) + ')':<28} {total:8.1f} ms  mémoire de pointe {peak / 1e6:.1f} Mo")
    return total


def save_plans(name: str, queries, out_dir: Path) -> None:
    """Run the view once, catch every SQL statement it sends, and write each one's
    ``EXPLAIN (ANALYZE, BUFFERS)`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) into ``out_dir/name.txt``."""
    from sqlalchemy import event

    from ccr.core.db import get_engine, session

    engine = get_engine()
    caught: list[tuple[str, object]] = []

    def catch(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            caught.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        with session() as s:
            for _qname, fn in queries:
                fn(s)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    pg = engine.dialect.name == "postgresql"
    lines = [f"# {name}", ""]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in caught:
            if "pg_stats" in statement or "sqlite_master" in statement:
                continue
            cur.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + statement, parameters)
            plan = "\n".join(str(r[0]) if pg else f"{r[1]:>4} {r[2]:>4} {r[3]}" for r in cur.fetchall())
            lines += ["```sql", statement.strip(), "```", "```", plan, "```", ""]
        raw.rollback()
    finally:
        raw.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    (out_dir / f"{slug}.md").write_text("\n".join(lines), encoding="utf-8")


def naive(actor, filters, runs: int) -> float:
    """Load the period (evaluations, verdicts, irritants) into pandas and aggregate there; returns median ms."""
    import pandas as pd
    from sqlalchemy import select

    from ccr.core.db import get_engine
    from ccr.core.models import CriterionResult, Evaluation, IrritantHit
    from ccr.dashboards.scope import bounds, where

    times = []
    peak_rss = _rss_mb()
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        conds = where(actor, filters)
        lo, hi = bounds(filters.start, filters.end)
        with get_engine().connect() as con:
            ev = pd.read_sql(select(Evaluation.__table__).where(*conds), con)
            cr = pd.read_sql(select(CriterionResult.__table__).where(CriterionResult.org_id == actor.org_id,
                                                                    CriterionResult.started_at >= lo,
                                                                    CriterionResult.started_at < hi), con)
            ih = pd.read_sql(select(IrritantHit.__table__).where(IrritantHit.org_id == actor.org_id,
                                                                IrritantHit.started_at >= lo,
                                                                IrritantHit.started_at < hi), con)
        cr = cr[cr.evaluation_id.isin(ev.id)]
        ih = ih[ih.evaluation_id.isin(ev.id)]
        ev["day"] = pd.to_datetime(ev.started_at).dt.date
        _ = (ev.final_score.mean(), ev.final_passed.mean(), ev.final_critical_failed.mean(), ev.duration_s.mean(),
             ev.validated.mean(), (ev.irritant_count > 0).sum())
        _ = ev.groupby("day").agg(n=("id", "size"), s=("final_score", "mean"), p=("final_passed", "mean"))
        _ = pd.cut(ev.final_score, range(0, 101, 10), include_lowest=True).value_counts()
        _ = ev.groupby("agent_id").agg(n=("id", "size"), s=("final_score", "mean"), p=("final_passed", "mean"))
        cr = cr[cr.final_verdict != "na"]
        _ = cr.assign(ok=cr.final_verdict == "pass").groupby(["agent_id", "criterion_id"]).ok.mean()
        _ = ih.assign(day=pd.to_datetime(ih.started_at).dt.date).groupby(["label", "day"]).evaluation_id.nunique()
        _ = ev.groupby("category").size()
        _ = ev.groupby("agent_id")[["agent_talk_s", "customer_talk_s", "silence_s", "duration_s"]].sum()
        times.append(time.perf_counter() - t0)
        peak_rss = max(peak_rss, _rss_mb())
        del ev, cr, ih
    med = statistics.median(times) * 1000
    print(f"  approche naïve (pandas, médiane de {runs}) : {med:,.0f} ms ; RSS jusqu'à {peak_rss:,.0f} Mo")
    return med


def build_rollups(org_id: int) -> None:
    """Build the dashboard rollups (all days on a fresh database), then time the refresh of one changed day."""
    from ccr.core.db import get_engine, session, utcnow
    from ccr.core.models import RollupDirty
    from ccr.dashboards.rollups import ROLLUP_MODELS, mark_dirty, refresh_rollups

    t0 = time.perf_counter()
    with session() as s:
        days = refresh_rollups(session=s, org_id=org_id)
    print(f"  agrégats du tableau de bord : {days} jours recalculés en {time.perf_counter() - t0:.1f} s")
    with session() as s:
        mark_dirty(s, org_id, [utcnow()])  # what a new evaluation of today does
    t0 = time.perf_counter()
    with session() as s:
        refresh_rollups(session=s, org_id=org_id)
    print(f"  rafraîchissement après une nouvelle évaluation (1 jour + sa semaine) : "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of a build: statistics for the planner, and the visibility
        # map that lets index-only scans skip the table.
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
            for model in (*ROLLUP_MODELS, RollupDirty):
                con.exec_driver_sql(f"VACUUM (ANALYZE) {model.__table__.name}")
        print(f"  VACUUM ANALYZE des agrégats (ce que fait l'autovacuum) : {time.perf_counter() - t0:.1f} s")


def page_render(user_id: int, label: str, query: dict | None = None) -> None:
    """Render pages/dashboard.py with AppTest: cold (empty cache) then warm; time and RSS growth."""
    from streamlit.testing.v1 import AppTest

    from ccr.core.db import utcnow

    page = str(Path(__file__).resolve().parents[1] / "pages" / "dashboard.py")
    rss0 = _rss_mb()
    for attempt in ("à froid", "en cache"):
        at = AppTest.from_file(page, default_timeout=120)
        at.session_state["ccr_user_id"] = user_id
        at.session_state["ccr_issued_at"] = utcnow()
        for key, value in (query or {}).items():
            at.query_params[key] = value
        t0 = time.perf_counter()
        at.run()
        dt = time.perf_counter() - t0
        ok = "ok" if not at.exception else f"ERREUR {at.exception[0].value}"
        print(f"  rendu AppTest {label} {attempt} : {dt:.2f} s (cible < {TARGET_PAGE_S} s), {ok}")
    print(f"  croissance RSS du processus : {_rss_mb() - rss0:+.0f} Mo (cible < {TARGET_RSS_MB} Mo)")


def run(args) -> None:
    from datetime import date

    from ccr.core import config
    from ccr.core.db import dispose_engines, session
    from ccr.core.users import load_actor
    from ccr.dashboards.call_list import list_calls
    from ccr.dashboards.filters import filters_from_query

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="ccr-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CCR_DATA_DIR"] = str(data_dir)
    config.get_settings.cache_clear()
    dispose_engines()
    settings = config.get_settings()
    pg = not settings.is_sqlite
    print(f"# CCR bench_dashboard — {args.n:,} appels, {'PostgreSQL' if pg else 'SQLite'}, données : {data_dir}")
    db_path = data_dir / "ccr.db"
    if args.reuse and (pg or db_path.exists()):
        from sqlmodel import select

        from ccr.core.db import migrate
        from ccr.core.models import User

        migrate()  # a database generated before a schema change gets it (e.g. a new rollup table)

        with session() as s:
            admin_id = s.exec(select(User.id).where(User.username == "bench.admin")).one()
            lead_id = s.exec(select(User.id).where(User.username == "bench.lead")).one()
        ensure_indexes()
        print("  base existante réutilisée (index manquants créés)")
    else:
        t0 = time.perf_counter()
        org_id, _teams, agents, admin_id, lead_id = setup_org(args.n)
        dispose_engines()
        if pg:
            load_postgres(args.n, org_id, agents)
        else:
            load_sqlite(db_path, args.n, org_id, agents)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
        print(f"  base prête en {time.perf_counter() - t0:.0f} s, "
              + (database_size() if pg else f"{db_path.stat().st_size / 1e9:.2f} Go")
              + f" ; mémoire de pointe du générateur {peak:.0f} Mo (lots de {CHUNK:,} appels)", flush=True)
    dispose_engines()
    if args.generate_only:
        return
    with session() as s:
        admin = load_actor(session=s, user_id=admin_id)
        lead = load_actor(session=s, user_id=lead_id)
    build_rollups(admin.org_id)
    today = date.today()
    lead_f = filters_from_query({"periode": "30j"}, lead, today)
    admin_f = filters_from_query({"periode": "perso", "du": (today - timedelta(days=364)).isoformat(),
                                  "au": today.isoformat()}, admin, today)
    results = {}
    if not args.skip_live:
        os.environ["CCR_DASHBOARD_ROLLUPS"] = "false"  # before: every figure from the base tables
        config.get_settings.cache_clear()
        results["lead_live"] = measure_view("Chef d'équipe, 30 jours — SQL direct, sans agrégats",
                                            page_queries(lead, lead_f), args.runs)
        results["admin_live"] = measure_view("Administrateur, 1 an — SQL direct, sans agrégats",
                                             page_queries(admin, admin_f), args.runs)
        os.environ.pop("CCR_DASHBOARD_ROLLUPS")
        config.get_settings.cache_clear()
    mid = _words(random.Random(7))[0]  # a generated word: in ~0.8 % of transcripts, the planner's hardest case
    views = [
        ("lead", "Chef d'équipe, 30 jours (1 équipe)", page_queries(lead, lead_f)),
        ("admin", "Administrateur, 1 an, toutes équipes", page_queries(admin, admin_f)),
        ("list", "Liste des appels, page 1 (admin, 1 an)",
         [("list_calls (page 1)", lambda s: list_calls(session=s, actor=admin, filters=admin_f, page_size=50))]),
        ("fts", f"Recherche plein texte « {SEARCH_RARE} » (admin, 1 an)",
         page_queries(admin, admin_f, search=SEARCH_RARE)),
        ("fts_common", f"Recherche plein texte « {SEARCH_COMMON} » (admin, 1 an)",
         page_queries(admin, admin_f, search=SEARCH_COMMON)),
        ("fts_mid", f"Recherche plein texte « {mid} » (admin, 1 an)", page_queries(admin, admin_f, search=mid)),
        ("fts_lead", f"Recherche plein texte « {SEARCH_COMMON} » (chef d'équipe, 30 jours)",
         page_queries(lead, lead_f, search=SEARCH_COMMON)),
        ("fts_two", f"Recherche plein texte « {SEARCH_RARE} {SEARCH_COMMON} » (admin, 1 an)",
         page_queries(admin, admin_f, search=f"{SEARCH_RARE} {SEARCH_COMMON}")),
        ("fts_scarce", f"Recherche plein texte « {SEARCH_RARE} {mid} » (admin, 1 an)",
         page_queries(admin, admin_f, search=f"{SEARCH_RARE} {mid}")),
    ]
    for key, title, queries in views:
        results[key] = measure_view(title, queries, args.runs)
        if args.plans:
            save_plans(f"{'pg' if pg else 'sqlite'}-{args.n // 1_000_000}m-{key}", queries, Path(args.plans))
    if not args.skip_page:
        print("\n## Rendu de la page (AppTest)")
        page_render(lead_id, "chef d'équipe")
        page_render(admin_id, "admin (30 j)")
        page_render(admin_id, "admin (1 an)", {"periode": "perso", "du": admin_f.start.isoformat(),
                                               "au": admin_f.end.isoformat()})
    if not args.skip_naive:
        print("\n## Approche naïve (tout charger dans pandas)")
        for key, actor, f, label in (("lead", lead, lead_f, "chef d'équipe 30 j"),
                                     ("admin", admin, admin_f, "admin 1 an")):
            ms = naive(actor, f, args.naive_runs if key == "admin" else max(args.naive_runs, 3))
            print(f"  {label} : SQL {results[key]:,.0f} ms contre pandas {ms:,.0f} ms → ×{ms / results[key]:.0f}")
    print("\n## Cibles")
    if "admin_live" in results:
        print(f"  sans agrégats : vue chef d'équipe {results['lead_live']:.0f} ms, vue admin "
              f"{results['admin_live']:.0f} ms")
    targets = TARGETS_10M if args.n >= 10_000_000 else TARGETS_1M
    print(f"  | vue | {'PostgreSQL' if pg else 'SQLite'}, {args.n:,} appels | cible |")
    print("  |---|---|---|")
    missed = 0
    for key, title, _queries in views:
        ms, target = results[key], targets.get(key.split("_")[0] if key.startswith("fts") else key)
        ok = target is None or ms < target
        missed += not ok
        print(f"  | {title} | {ms:,.0f} ms | < {target} ms {'✓' if ok else '✗ MANQUÉE'} |")
    print(f"  {missed} cible(s) manquée(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="evaluated calls to generate")
    parser.add_argument("--data-dir", help="where to build the database (default: a new temporary directory)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database already in --data-dir")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per view (the median is printed)")
    parser.add_argument("--naive-runs", type=int, default=1, help="runs of the naive pandas approach (admin view)")
    parser.add_argument("--generate-only", action="store_true",
                        help="stop after generating the database (measure later with --reuse)")
    parser.add_argument("--plans", help="write each view's query plans (EXPLAIN ANALYZE) into this directory")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-page", action="store_true")
    parser.add_argument("--skip-live", action="store_true", help="do not time the views without rollups")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
