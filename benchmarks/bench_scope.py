"""The evaluation scope at scale: the import-time decision (quota draw) and the DPO's bilan, timed.

Usage: python benchmarks/bench_scope.py [--n 1000000] [--agents 600] [--months 12] [--runs 200]

Inserts N calls (one organisation, ``--agents`` agents, spread over ``--months`` months, 1 in 12 left out by
the quota) straight into a fresh SQLite database (or PostgreSQL with ``DATABASE_URL``), then times:
``decide`` for a new call of a random agent under a quota (median and 95th percentile over ``--runs``), and
``coverage_report`` for the last 6 months. Prints the figures and the database's row count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHUNK = 20_000


def main() -> None:
    """Generate, then time the two operations and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=600)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("CCR_DATA_DIR", tempfile.mkdtemp(prefix="ccr-bench-scope-"))

    from sqlalchemy import insert

    from ccr.core import config, db
    from ccr.core.models import Agent, Call, Team
    from ccr.core.orgs import create_organisation
    from ccr.core.users import create_user, load_actor
    from ccr.quality import scope

    settings = config.get_settings()
    db.migrate(settings)
    with db.session() as s:
        org = create_organisation(session=s, name="Banc périmètre")
        team = Team(org_id=org.id, name="Équipe")
        s.add(team)
        s.flush()
        agents = [Agent(org_id=org.id, team_id=team.id, name=f"Agent {i}") for i in range(args.agents)]
        s.add_all(agents)
        s.flush()
        admin = create_user(session=s, org_id=org.id, username="bench.admin", display_name="Admin",
                            password="Banc-de-mesure-2026!", role="admin", check_strength=False)
        org_id, team_id, agent_ids, admin_id = org.id, team.id, [a.id for a in agents], admin.id
    with db.session() as s:
        actor = load_actor(session=s, user_id=admin_id)
        scope.update_rules(session=s, actor=actor, sampling="quota", quota=8, quota_period="month",
                           store_excluded=False, use_periods=False, block_unvalidated_exports=False)

    rng = random.Random(7)
    now = datetime.now(UTC)
    span = args.months * 30 * 86400
    t0 = time.perf_counter()
    engine = db.get_engine(settings)
    for start in range(0, args.n, CHUNK):
        rows = [{"org_id": org_id, "team_id": team_id, "agent_id": rng.choice(agent_ids), "sha256": f"b{i:012d}",
                 "started_at": now - timedelta(seconds=rng.uniform(0, span)), "status": "done",
                 "scope": "in" if i % 12 else "sampled_out", "direction": "entrant", "attempts": 0,
                 "needs_llm_retry": False, "restricted": False, "queued_at": now, "created_at": now}
                for i in range(start, min(args.n, start + CHUNK))]
        with engine.begin() as conn:
            conn.execute(insert(Call), rows)
    load_s = time.perf_counter() - t0
    print(f"{args.n:,} appels chargés en {load_s:.0f} s ({settings.db_url.split(':')[0]})".replace(",", " "))

    timings = []
    for i in range(args.runs):
        with db.session() as s:
            t = time.perf_counter()
            scope.decide(session=s, org_id=org_id, sha256=f"nouveau{i}", agent_id=rng.choice(agent_ids), line=None,
                         campaign=None, started_at=now - timedelta(days=rng.uniform(0, 20)))
            timings.append((time.perf_counter() - t) * 1000)
    timings.sort()
    print(f"decide (quota) : médiane {statistics.median(timings):.1f} ms, "
          f"p95 {timings[int(0.95 * len(timings)) - 1]:.1f} ms sur {args.runs} imports")
    with db.session() as s:
        actor = load_actor(session=s, user_id=admin_id)
        t = time.perf_counter()
        rows = scope.coverage_report(session=s, actor=actor, months=6)
        took = time.perf_counter() - t
    print(f"coverage_report (6 mois) : {took * 1000:.0f} ms, {len(rows)} lignes agent × mois")


if __name__ == "__main__":
    main()
