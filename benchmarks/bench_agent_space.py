"""The agents' space and the disputes at scale: « Mes évaluations », the explained export, the « Contestations »
queue and a dispute's opening and answer, timed.

Usage: python benchmarks/bench_agent_space.py [--n 100000] [--agents 200] [--heavy 2000] [--runs 3]
                                              [--data-dir DIR]

Generates, in a throwaway ``CCR_DATA_DIR`` (SQLite), one organisation with ``--agents`` agents (10 teams) and
``--n`` evaluated calls over 2 years, through the project's models with bulk inserts: transcripts, evaluations
(scoring-contract JSON with evidence and explanations), criterion verdicts, 70 % published, 12 % of those
validated with a review (comments, coaching notes, some overridden verdicts), 2 % of calls re-scored, 3 % of
calls with an open dispute (on the last 45 days' publications, many overdue) and 2 % with a decided one. One agent has a heavy history
(``--heavy`` published evaluations over the 2 years); another is typical (~n / agents calls).

Then it calls the data functions the pages call, with their arguments and real logins (an "agent" login per
agent, a supervisor): for the heavy and the typical agent, pages/my_evaluations.py's list (get_policy,
list_own, own_trend, own_coaching_notes), one evaluation opened (open_own, logged), the weekly trend alone and
the explained export (own_export: ZIP, time and size); for the supervisor, pages/disputes.py's queue
(dispute_queue open + the 3 decided states + get_policy), pages/home.py's open-dispute count, the calibration
page's AI-human agreement over 90 days; and one dispute opened by the heavy agent then accepted by the
supervisor (each on a new evaluation). Each: median of ``--runs`` (the transaction's commit included), then
one more run under tracemalloc for the peak Python memory. Prints a table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEAMS, DAYS = 10, 730
CHUNK = 5_000  # calls per bulk insert: bounded memory, few round trips
PUBLISHED, VALIDATED, RESCORED, RESTRICTED = 0.70, 0.12, 0.02, 0.001
OPEN_DISPUTES, DECIDED_DISPUTES = 0.03, 0.02  # shares of the calls
SLOW_MS = 500
PASSWORD = "Banc-de-mesure-2026!"
SENTENCES = [
    ("agent", "Bonjour, {name} du service client, que puis-je faire pour vous ?"),
    ("customer", "Bonjour, j'appelle au sujet de ma dernière facture, le montant ne correspond pas."),
    ("agent", "Je vais vérifier cela avec vous, pouvez-vous me donner votre numéro client ?"),
    ("customer", "Oui, c'est le [NUMÉRO], au nom de [NOM]."),
    ("agent", "Merci, je vois votre dossier. Je vous mets un instant en attente, je reviens vers vous."),
    ("agent", "Merci de votre patience. Il y a bien eu une double facturation du forfait en octobre."),
    ("customer", "C'est la deuxième fois que ça arrive, c'est vraiment pénible."),
    ("agent", "Je comprends tout à fait votre agacement, je fais le nécessaire pour le remboursement."),
    ("agent", "Le remboursement apparaîtra sur votre prochaine facture, sous dix jours ouvrés."),
    ("customer", "D'accord, merci pour votre aide."),
    ("agent", "Puis-je faire autre chose pour vous aujourd'hui ?"),
    ("customer", "Non, ce sera tout, au revoir."),
    ("agent", "Je vous souhaite une excellente journée, au revoir."),
]
CATEGORIES = ["facturation", "livraison", "resiliation", "support_technique", "information"]
NOTES = ["Reformulez la demande avant de proposer la solution.", "Annoncez la mise en attente et remerciez.",
         "Vérifiez l'identité du client dès le début de l'appel.", "Très bonne gestion d'un client mécontent."]


def _n(x: int) -> str:
    """A count the French way: 100 000."""
    return f"{x:,}".replace(",", "\u202f")


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# --- generation ---------------------------------------------------------------------------------


def setup(args):
    """Migrate, then the organisation, its grid, teams, agents, one login per agent and a supervisor."""
    from sqlalchemy import insert

    from ccr.core import db
    from ccr.core.models import Agent, Team, User
    from ccr.core.orgs import create_organisation
    from ccr.core.users import create_user, hash_password
    from ccr.scoring.grid_store import active_grid

    db.migrate()
    with db.session() as s:
        org = create_organisation(session=s, name="Banc espace agent")
        grid_row, grid = active_grid(session=s, org_id=org.id)
        teams = [Team(org_id=org.id, name=f"Équipe {i + 1:02d}") for i in range(TEAMS)]
        s.add_all(teams)
        s.flush()
        agents = [Agent(org_id=org.id, team_id=teams[i % TEAMS].id, name=f"Agent {i + 1:03d}")
                  for i in range(args.agents)]
        s.add_all(agents)
        s.flush()
        supervisor = create_user(session=s, org_id=org.id, username="bench.superviseur", display_name="Superviseur",
                                 password=PASSWORD, role="supervisor", check_strength=False)
        heavy = create_user(session=s, org_id=org.id, username="bench.agent.lourd", display_name="Agent lourd",
                            password=PASSWORD, role="agent", check_strength=False, agent_id=agents[0].id)
        typical = create_user(session=s, org_id=org.id, username="bench.agent.type", display_name="Agent type",
                              password=PASSWORD, role="agent", check_strength=False, agent_id=agents[1].id)
        ids = dict(org=org.id, grid_id=grid_row.id, supervisor=supervisor.id, heavy=heavy.id, typical=typical.id)
        agent_rows = [(a.id, a.team_id, a.name) for a in agents]
    # The other agents' logins, in one insert (one bcrypt hash shared: hashing 200 passwords says nothing here).
    pw_hash = hash_password(PASSWORD)
    now = datetime.now(UTC)
    with db.get_engine().begin() as conn:
        conn.execute(insert(User), [
            {"org_id": ids["org"], "username": f"bench.agent.{a_id}", "display_name": name, "password_hash": pw_hash,
             "role": "agent", "agent_id": a_id, "active": True, "failed_logins": 0, "created_at": now}
            for a_id, _, name in agent_rows[2:]])
    return ids, grid, agent_rows


def _result(rng: random.Random, grid, verdicts: dict[str, str], score: float, passed: bool, critical: bool,
            category: str, segments: list[dict]) -> dict:
    """A scoring-contract object like the rules engine stores: evidence, explanation and confidence per criterion."""
    criteria = []
    for c in grid.criteria:
        v = verdicts[c.id]
        seg = segments[rng.randrange(len(segments))]
        evidence = [] if v == "na" else [{"speaker": seg["speaker"], "start": seg["start"], "end": seg["end"],
                                          "text": seg["text"][:80]}]
        unsure = rng.random() < 0.08
        criteria.append({"id": c.id, "verdict": v, "weight": c.weight, "evidence": evidence,
                         "explanation": f"{c.label} : {'constaté' if v == 'pass' else 'absent'} dans l'échange "
                                        f"({'passage cité' if evidence else 'sans objet pour cet appel'}).",
                         "confidence": round(rng.uniform(0.55, 0.8) if unsure else rng.uniform(0.85, 1.0), 2),
                         "needs_review": unsure, "review_reason": "formulation ambiguë" if unsure else ""})
    irritants = ([{"label": "mecontentement", "start": segments[6]["start"], "text": segments[6]["text"]}]
                 if rng.random() < 0.3 else [])
    return {"grid": grid.id, "grid_version": grid.version, "engine": "rules", "score": score, "passed": passed,
            "critical_failed": critical, "criteria": criteria, "category": category, "irritants": irritants,
            "summary": f"Motif de l'appel : {category}. Demande traitée pendant l'appel.",
            "recommendations": ["Reformulez la demande du client.", "Annoncez les délais précisément."],
            "needs_review": any(c["needs_review"] for c in criteria),
            "review_reasons": [f"{c['id']} : formulation ambiguë" for c in criteria if c["needs_review"]]}


def generate(args, ids: dict, grid, agent_rows) -> dict:
    """Bulk-insert calls, transcripts, evaluations, verdicts, reviews and disputes; returns what the timing needs."""
    from sqlalchemy import insert

    from ccr.core import db
    from ccr.core.models import Call, CriterionResult, Dispute, DisputeItem, Evaluation, Review, Transcript
    from ccr.scoring.evaluation import compute_score

    rng = random.Random(7)
    org_id, grid_id, sup_id = ids["org"], ids["grid_id"], ids["supervisor"]
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    heavy_agent, typical_agent = agent_rows[0][0], agent_rows[1][0]
    measured = {heavy_agent, typical_agent}
    heavy_n = min(args.heavy, args.n)
    others = agent_rows[1:]
    skill = {a: min(0.97, max(0.45, rng.gauss(0.8, 0.08))) for a, _, _ in agent_rows}
    score_cache: dict[tuple, tuple[float, bool, bool]] = {}
    engine = db.get_engine()
    ev_id = args.n  # re-scoring's extra evaluations take ids after the calls' first ones
    # (evaluation id, call id, agent, team, published_at, verdicts) of published current evaluations, for disputes
    published: list[tuple] = []
    validated_user = {"heavy": 0, "typical": 0}
    crit_ids = [c.id for c in grid.criteria]

    def score_of(verdicts: dict[str, str]) -> tuple[float, bool, bool]:
        key = tuple(verdicts[c] for c in crit_ids)
        if key not in score_cache:
            score_cache[key] = compute_score(verdicts, grid)
        return score_cache[key]

    for lo in range(0, args.n, CHUNK):
        calls, trans, evals, crits, revs = [], [], [], [], []
        for i in range(lo, min(args.n, lo + CHUNK)):
            call_id = i + 1
            if i < heavy_n:
                agent_id, team_id, agent_name = agent_rows[0]
                when = start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
            else:
                agent_id, team_id, agent_name = others[rng.randrange(len(others))]
                when = start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
            duration = rng.uniform(90, 900)
            restricted = rng.random() < RESTRICTED
            segments, t = [], 0.5
            for speaker, text in SENTENCES:
                length = duration / len(SENTENCES)
                segments.append({"speaker": speaker, "start": round(t, 2), "end": round(t + length * 0.9, 2),
                                 "text": text.format(name=agent_name.split()[0])})
                t += length
            calls.append({"id": call_id, "org_id": org_id, "team_id": team_id, "agent_id": agent_id,
                          "sha256": f"{call_id:064x}", "duration_s": duration, "channels": 2, "sample_rate": 8000,
                          "codec": "pcm_s16le", "audio_key": None, "started_at": when, "direction": "entrant",
                          "campaign": "Standard", "status": "done", "attempts": 1, "needs_llm_retry": False,
                          "restricted": restricted, "scope": "in", "queued_at": when, "processed_at": when,
                          "created_at": when, "updated_at": when, "channels_swapped": False})
            trans.append({"id": call_id, "org_id": org_id, "call_id": call_id, "language": "fr", "engine": "bench",
                          "model": "bench", "segments_json": json.dumps(segments, ensure_ascii=False),
                          "text": " ".join(s["text"] for s in segments), "redactions_json": "{}",
                          "truncated": False, "created_at": when})
            category = CATEGORIES[min(4, int(rng.expovariate(0.8)))]
            versions = 2 if rng.random() < RESCORED else 1
            for version in range(versions):
                current = version == versions - 1
                eid = call_id if version == 0 else (ev_id := ev_id + 1)
                sk = skill[agent_id]
                verdicts = {c: ("na" if c in ("empathie", "attente") and rng.random() < 0.6
                                else ("pass" if rng.random() < sk else "fail")) for c in crit_ids}
                ai_score, ai_passed, ai_crit = score_of(verdicts)
                pub = (i < heavy_n or rng.random() < PUBLISHED) and not restricted
                published_at = min(now, when + timedelta(hours=rng.uniform(2, 96))) if pub else None
                validated = pub and rng.random() < VALIDATED
                finals = dict(verdicts)
                comments = {}
                if validated and rng.random() < 0.3:
                    changed = next((c for c in crit_ids if verdicts[c] == "fail"), None)
                    if changed:
                        finals[changed] = "pass"
                        comments[changed] = "Vérifié à l'écoute : la demande a bien été faite."
                score, passed, crit = score_of(finals)
                result = _result(rng, grid, verdicts, ai_score, ai_passed, ai_crit, category, segments)
                evals.append({
                    "id": eid, "org_id": org_id, "call_id": call_id, "grid_id": grid_id, "grid_slug": grid.id,
                    "grid_version": grid.version, "engine": "rules", "is_current": current, "ai_score": ai_score,
                    "ai_passed": ai_passed, "ai_critical_failed": ai_crit, "final_score": score,
                    "final_passed": passed, "final_critical_failed": crit, "validated": validated,
                    "category": category, "irritant_count": len(result["irritants"]), "unverified": False,
                    "needs_review": result["needs_review"], "published_at": published_at,
                    "published_by": sup_id if pub else None, "published_ai_only": pub and not validated,
                    "acknowledged_at": (published_at + timedelta(hours=rng.uniform(1, 72))
                                        if pub and rng.random() < 0.6 else None),
                    "result_json": json.dumps(result, ensure_ascii=False), "usage_json": None,
                    "team_id": team_id, "agent_id": agent_id, "started_at": when, "campaign": "Standard",
                    "direction": "entrant", "duration_s": duration, "silence_s": None, "agent_talk_s": None,
                    "customer_talk_s": None, "restricted": restricted, "created_at": when})
                for c in crit_ids:
                    crits.append({"org_id": org_id, "evaluation_id": eid, "call_id": call_id, "criterion_id": c,
                                  "ai_verdict": verdicts[c], "final_verdict": finals[c], "team_id": team_id,
                                  "agent_id": agent_id, "started_at": when})
                if validated:
                    revs.append({"org_id": org_id, "call_id": call_id, "evaluation_id": eid, "reviewer_id": sup_id,
                                 "ai_score": ai_score, "final_score": score, "final_passed": passed,
                                 "overrides_json": json.dumps({c: finals[c] for c in comments}),
                                 "comments_json": json.dumps(comments, ensure_ascii=False),
                                 "summary": result["summary"], "recommendations_json": json.dumps(
                                     result["recommendations"], ensure_ascii=False),
                                 "coaching_note": rng.choice(NOTES) if rng.random() < 0.5 else None,
                                 "created_at": published_at})
                    if agent_id == heavy_agent:
                        validated_user["heavy"] += 1
                    elif agent_id == typical_agent:
                        validated_user["typical"] += 1
                if pub and current:
                    published.append((eid, call_id, agent_id, team_id, published_at, finals))
        with engine.begin() as conn:
            conn.execute(insert(Call), calls)
            conn.execute(insert(Transcript), trans)
            conn.execute(insert(Evaluation), evals)
            conn.execute(insert(CriterionResult), crits)
            if revs:
                conn.execute(insert(Review), revs)

    # Disputes: open ones on recent publications (some past their answer date), decided ones on older ones.
    # The two measured agents get decided ones only, older than the dispute window, so that the timed
    # opening stays under the organisation's limit (5 per 30 days).
    recent = [p for p in published if p[4] >= now - timedelta(days=45) and p[2] not in measured]
    older = [p for p in published if p[4] < now - timedelta(days=45)]
    n_open = min(len(recent), int(args.n * OPEN_DISPUTES))
    n_decided = min(len(older), int(args.n * DECIDED_DISPUTES))
    chosen_open = rng.sample(recent, n_open)
    chosen_decided = rng.sample(older, n_decided)
    disputes, items = [], []
    for k, (eid, call_id, agent_id, team_id, pub_at, finals) in enumerate(chosen_open + chosen_decided):
        did = k + 1
        is_open = k < n_open
        opened = min(now, pub_at + timedelta(days=rng.uniform(0, 14)))
        decided = None if is_open else opened + timedelta(days=rng.uniform(1, 9))
        contested = rng.sample(crit_ids, rng.randint(1, 3))
        decisions = {c: (None if is_open else rng.choice(("accepted", "rejected"))) for c in contested}
        status = "open" if is_open else ("accepted" if all(d == "accepted" for d in decisions.values()) else
                                         "rejected" if all(d == "rejected" for d in decisions.values()) else "partial")
        disputes.append({"id": did, "org_id": org_id, "evaluation_id": eid, "call_id": call_id, "agent_id": agent_id,
                         "team_id": team_id, "opened_by": None, "opened_at": opened,
                         "answer_due_at": opened + timedelta(days=10),
                         "comment": "J'ai bien reformulé la demande du client, voir le passage à 01:20. " * 2,
                         "status": status, "resolved_by": None if is_open else sup_id, "resolved_at": decided,
                         "resolution": None if is_open or status == "accepted" else "Le passage cité ne suffit pas."})
        for c in contested:
            v = finals[c]
            items.append({"org_id": org_id, "dispute_id": did, "criterion_id": c, "verdict": v,
                          "requested": "pass" if v != "pass" else "na", "decision": decisions[c]})
    with engine.begin() as conn:
        if disputes:
            conn.execute(insert(Dispute), disputes)
            conn.execute(insert(DisputeItem), items)
        conn.exec_driver_sql("ANALYZE")
    heavy_pub = sum(1 for p in published if p[2] == heavy_agent)
    typical_pub = sum(1 for p in published if p[2] == typical_agent)
    overdue = sum(1 for d in disputes[:n_open] if d["answer_due_at"] < now)
    return {"open": n_open, "decided": n_decided, "overdue": overdue, "evaluations": ev_id,
            "heavy_published": heavy_pub, "typical_published": typical_pub, "validated": validated_user,
            "published": len(published)}


# --- measurement ---------------------------------------------------------------------------------


def measure(label: str, fn, runs: int, table: list, detail: bool = False) -> None:
    """Median of ``runs`` calls of ``fn(run) -> (extra text, {section: seconds})``, then one traced run."""
    times: list[float] = []
    sections: dict[str, list[float]] = {}
    extra = ""
    for run in range(runs + 1):
        traced = run == runs
        gc.collect()
        if traced:
            tracemalloc.start()
        t0 = time.perf_counter()
        extra, parts = fn(run)
        dt = time.perf_counter() - t0
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            times.append(dt)
            for name, sec in parts.items():
                sections.setdefault(name, []).append(sec)
    ms = statistics.median(times) * 1000
    table.append((label, ms, peak / 1e6, extra))
    flag = "  ⚠ > 500 ms" if ms > SLOW_MS else ""
    print(f"  {label:<58} {ms:9.1f} ms  {peak / 1e6:7.1f} Mo  {extra}{flag}", flush=True)
    if detail or ms > SLOW_MS:
        for name, secs in sections.items():
            print(f"      {name:<54} {statistics.median(secs) * 1000:9.1f} ms")


def timed(parts: dict, name: str, fn):
    t0 = time.perf_counter()
    out = fn()
    parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
    return out


def run(args) -> None:
    from datetime import date

    from sqlmodel import select

    from ccr.core import config, db
    from ccr.core.models import Dispute, Evaluation
    from ccr.core.users import load_actor
    from ccr.privacy import explanations
    from ccr.quality import agent_space, calibration, disputes
    from ccr.quality.policy import get_policy

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="ccr-bench-agent-space-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CCR_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)  # SQLite in the throwaway folder, whatever the shell says
    config.get_settings.cache_clear()
    db.dispose_engines()
    load = os.getloadavg()
    print(f"# CCR bench_agent_space — {_n(args.n)} appels, {args.agents} agents, SQLite, données : {data_dir}")
    print(f"  machine : {os.cpu_count()} cœurs, charge moyenne {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
          "(1 / 5 / 15 min)")
    t0 = time.perf_counter()
    ids, grid, agent_rows = setup(args)
    info = generate(args, ids, grid, agent_rows)
    gen_s = time.perf_counter() - t0
    size = (data_dir / "ccr.db").stat().st_size / 1e6 if (data_dir / "ccr.db").exists() else 0.0
    print(f"  génération : {gen_s:.0f} s, base {_n(round(size))} Mo, mémoire de pointe du générateur "
          f"{_rss_peak_mb():.0f} Mo ; {_n(info['evaluations'])} évaluations, {_n(info['published'])} publiées "
          f"(courantes), contestations ouvertes {_n(info['open'])} (dont {_n(info['overdue'])} en retard), "
          f"traitées {_n(info['decided'])}")
    print(f"  agent lourd : {_n(info['heavy_published'])} évaluations publiées (courantes) ; agent type : "
          f"{_n(info['typical_published'])}")

    with db.session() as s:
        sup = load_actor(session=s, user_id=ids["supervisor"])
        agents = {"lourd": load_actor(session=s, user_id=ids["heavy"]),
                  "type": load_actor(session=s, user_id=ids["typical"])}
    from ccr.core.models import Grid as GridRow
    from ccr.scoring.grid import load_grid_yaml

    with db.session() as s:
        definition = s.get(GridRow, ids["grid_id"]).definition_json
    parses = []
    for _ in range(5):
        t0 = time.perf_counter()
        load_grid_yaml(definition)
        parses.append(time.perf_counter() - t0)
    print(f"  référence : une lecture (YAML) de la grille de l'organisation, {len(definition)} caractères : "
          f"{statistics.median(parses) * 1000:.1f} ms (médiane de 5)")
    table: list = []
    print(f"\n## Mesures (médiane de {args.runs}, commit compris ; mémoire Python de pointe : une exécution de plus "
          "sous tracemalloc)")
    print(f"  {'vue':<58} {'temps':>12}  {'mémoire':>10}")
    for key, actor in agents.items():
        def page(_run, actor=actor):
            parts: dict = {}
            with db.session() as s:
                timed(parts, "get_policy", lambda: get_policy(session=s, org_id=actor.org_id))
                items = timed(parts, "list_own", lambda: agent_space.list_own(session=s, actor=actor))
                trend = timed(parts, "own_trend", lambda: agent_space.own_trend(session=s, actor=actor))
                notes = timed(parts, "own_coaching_notes",
                              lambda: agent_space.own_coaching_notes(session=s, actor=actor))
            return f"{len(items)} lignes, {len(trend)} semaines, {len(notes)} notes", parts

        measure(f"Agent {key} : « Mes évaluations » (page entière)", page, args.runs, table, detail=True)
        with db.session() as s:
            latest = agent_space.list_own(session=s, actor=actor)[0].evaluation_id

        def detail(_run, actor=actor, latest=latest):
            with db.session() as s:
                view = agent_space.open_own(session=s, actor=actor, evaluation_id=latest)
            return f"{len(view.criteria)} critères, {len(view.segments)} répliques", {}

        measure(f"Agent {key} : une évaluation ouverte (open_own)", detail, args.runs, table)

        def trend(_run, actor=actor):
            with db.session() as s:
                weeks = agent_space.own_trend(session=s, actor=actor)
            return f"{len(weeks)} semaines", {}

        measure(f"Agent {key} : tendance hebdomadaire (own_trend)", trend, args.runs, table)

        def export(_run, actor=actor):
            with db.session() as s:
                zipped = explanations.own_export(session=s, actor=actor)
            return f"ZIP {len(zipped) / 1e6:.2f} Mo ({_n(len(zipped))} octets)", {}

        measure(f"Agent {key} : export expliqué (own_export, ZIP)", export, args.runs, table)
        if table[-1][1] > SLOW_MS:
            export_steps(db, explanations, actor)

    def queue(_run):
        parts: dict = {}
        with db.session() as s:
            waiting = timed(parts, "dispute_queue (ouvertes)", lambda: disputes.dispute_queue(session=s, actor=sup))
            decided = timed(parts, "dispute_queue (traitées, 3 états × 50)", lambda: [
                d for status in ("accepted", "partial", "rejected")
                for d in disputes.dispute_queue(session=s, actor=sup, status=status, limit=50)])
            timed(parts, "get_policy", lambda: get_policy(session=s, org_id=sup.org_id))
        return f"{len(waiting)} à traiter affichées, {len(decided)} traitées", parts

    measure("Superviseur : « Contestations » (file)", queue, args.runs, table, detail=True)

    def home(_run):
        with db.session() as s:
            n = disputes.count_open_disputes(session=s, actor=sup)
        return f"{n} ouvertes", {}

    measure("Superviseur : accueil, nombre de contestations ouvertes", home, args.runs, table)

    def agreement(_run):
        today = date.today()
        with db.session() as s:
            cal = calibration.ai_agreement(session=s, actor=sup, period=(today - timedelta(days=90), today))
        return f"{cal['calls']} appels validés", {}

    measure("Superviseur : calibration IA / humains (90 jours)", agreement, args.runs, table)

    # One dispute opened by the heavy agent, then accepted by the supervisor: each run on a new evaluation.
    heavy = agents["lourd"]
    cutoff = datetime.now(UTC) - timedelta(days=get_policy_days(db, heavy) - 1)
    with db.session() as s:
        taken = set(s.exec(select(Dispute.evaluation_id).where(Dispute.agent_id == heavy.agent_id)).all())
        candidates = [e for e in s.exec(select(Evaluation).where(
            Evaluation.agent_id == heavy.agent_id, Evaluation.is_current == True,  # noqa: E712
            Evaluation.restricted == False, Evaluation.published_at >= cutoff)  # noqa: E712
            .order_by(Evaluation.id.desc())).all() if e.id not in taken]
        targets = []
        for ev in candidates:
            crits = json.loads(ev.result_json)["criteria"]
            failed = [c["id"] for c in crits if c["verdict"] == "fail"]
            if failed:
                targets.append((ev.id, failed[0]))
    opened: list[int] = []
    if len(targets) < args.runs + 1:
        print(f"  (ouverture de contestation non mesurée : {len(targets)} évaluations contestables seulement)")
    else:
        def open_one(run):
            ev_id, crit = targets[run]
            parts: dict = {}
            with db.session() as s:
                d = disputes.open_dispute(session=s, actor=heavy, evaluation_id=ev_id, criteria={crit: "pass"},
                                          comment="J'ai bien fait cette étape, voir le passage cité.")
            opened.append((d.id, [i.criterion_id for i in d.items]))
            return f"contestation n° {d.id}", parts

        measure("Agent lourd : ouvrir une contestation (open_dispute)", open_one, args.runs, table)

        def accept_one(run):
            d_id, contested = opened[run]
            with db.session() as s:  # what the page's « Enregistrer la réponse » does, every item accepted
                out = disputes.resolve_dispute(session=s, actor=sup, dispute_id=d_id, accepted=contested)
            return f"{out.status}", {}

        measure("Superviseur : accepter une contestation (resolve_dispute)", accept_one, args.runs, table)

    print("\n## Tableau")
    print(f"| Vue ({_n(args.n)} appels, {args.agents} agents) | Médiane ({args.runs} exécutions) | Mémoire Python "
          "de pointe | Détail |")
    print("|---|---|---|---|")
    for label, ms, mb, extra in table:
        print(f"| {label} | {ms:.1f} ms{' ⚠' if ms > SLOW_MS else ''} | {mb:.1f} Mo | {extra} |")
    slow = [t[0] for t in table if t[1] > SLOW_MS]
    print(f"\n  {len(slow)} vue(s) au-delà de {SLOW_MS} ms" + (f" : {', '.join(slow)}" if slow else ""))
    load = os.getloadavg()
    print(f"  charge moyenne à la fin : {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} ; mémoire de pointe du "
          f"processus {_rss_peak_mb():.0f} Mo")


def export_steps(db, explanations, actor) -> None:
    """own_export's steps, one by one (its body, replayed): which one makes a slow export slow."""
    import io
    import zipfile

    from sqlalchemy import event

    engine = db.get_engine()
    sql = [0.0]

    def before(conn, *_):
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, *_):
        sql[0] += time.perf_counter() - conn.info.pop("bench_t0")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    parts: dict = {}
    try:
        with db.session() as s:
            data = timed(parts, "explanation_data (lecture et assemblage)", lambda: explanations.explanation_data(
                session=s, org_id=actor.org_id, agent_id=actor.agent_id, include_restricted=False))
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    text = timed(parts, "explanation_text (explication.txt)", lambda: explanations.explanation_text(data))
    js = timed(parts, "json.dumps(indent=2) (evaluations.json)",
               lambda: json.dumps(data, ensure_ascii=False, indent=2))
    csv = timed(parts, "explanation_csv (evaluations.csv)", lambda: explanations.explanation_csv(data))

    def deflate():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("explication.txt", text)
            zf.writestr("evaluations.json", js)
            zf.writestr("evaluations.csv", csv)

    timed(parts, "compression ZIP", deflate)
    print(f"      étapes d'own_export, une exécution ({len(data['evaluations'])} évaluations) :")
    for name, sec in parts.items():
        print(f"      {name:<54} {sec * 1000:9.1f} ms")
    print(f"        dont requêtes SQL (exécution, hors lecture des lignes) {sql[0] * 1000:7.1f} ms ; "
          f"fichiers : texte {len(text.encode()) / 1e6:.2f} Mo, JSON {len(js.encode()) / 1e6:.2f} Mo, "
          f"CSV {len(csv) / 1e6:.2f} Mo")


def get_policy_days(db, actor) -> int:
    from ccr.quality.policy import get_policy

    with db.session() as s:
        return get_policy(session=s, org_id=actor.org_id).dispute_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="evaluated calls to generate")
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--heavy", type=int, default=2_000, help="published evaluations of the heavy agent")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per view (the median is printed)")
    parser.add_argument("--data-dir", help="where to build the database (default: a new temporary directory)")
    args = parser.parse_args()
    if args.agents < 3:
        parser.error("--agents : 3 au moins (un agent lourd, un agent type, les autres)")
    run(args)


if __name__ == "__main__":
    main()
