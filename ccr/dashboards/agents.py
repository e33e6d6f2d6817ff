"""Per-agent dashboard figures: the ranking with its weekly sparkline, talk/listen shares, the
criterion × agent heatmap and the coaching priorities drawn from it.

Same rules as :mod:`ccr.dashboards.figures`: current, unrestricted evaluations of the actor's scope and
filters, ``final_*`` values and verdicts, from the rollups when only the period and teams are filtered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from ccr.core.models import Agent, CriterionResult, Evaluation, RollupAgent, RollupCriterionWeek, Team
from ccr.core.users import Actor
from ccr.dashboards.buckets import as_int, week_start
from ccr.dashboards.figures import ratio
from ccr.dashboards.filters import Filters
from ccr.dashboards.labels import labels
from ccr.dashboards.rollups import period_rows, split_period
from ccr.dashboards.scope import (
    bounds,
    day_index_expr,
    local_week_expr,
    rollup_scope,
    scope_child,
    use_rollups,
    where,
)

SPARKLINE_WEEKS = 12  # the recent trend of an agent: a quarter, week by week, whatever the period
HEATMAP_MAX_AGENTS = 25  # a heatmap taller than this is no longer read; the weakest agents come first


# --- ranking, talk/listen -----------------------------------------------------------------------------


def agent_ranking(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Per agent: calls, average score, pass rate, critical rate, a weekly score sparkline, best first.

    The sparkline has one point per calendar week, the last ``SPARKLINE_WEEKS`` of the period (its own,
    smaller scan); the first and last may be partial weeks, cut to the period.
    Each row also carries the talk-time sums (``talk``) so the page derives the talk/listen chart
    from the same scan (:func:`talk_listen_from_ranking`).
    """
    e, a = Evaluation, RollupAgent
    # Calendar weeks (Monday to Sunday), the last SPARKLINE_WEEKS of them up to the period's end, cut to
    # the period: whole weeks are read from the weekly rollup rows, not from seven day rows each.
    first_monday = max(week_start(filters.start), week_start(filters.end) - timedelta(days=7 * (SPARKLINE_WEEKS - 1)))
    window = replace(filters, start=max(filters.start, first_monday))
    n_points = (week_start(filters.end) - first_monday).days // 7 + 1
    if use_rollups(session, actor, filters):
        r = period_rows(a, rollup_scope(a, actor, filters), filters.start, filters.end).c
        stmt = (select(r.agent_id, func.sum(r.calls).label("n"), func.sum(r.score_sum).label("s"),
                       func.sum(r.passed).label("p"), func.sum(r.critical).label("c"),
                       func.sum(r.talk_duration).label("td"), func.sum(r.agent_talk).label("ta"),
                       func.sum(r.customer_talk).label("tc"), func.sum(r.talk_silence).label("ts"))
                .group_by(r.agent_id))
        w = period_rows(a, rollup_scope(a, actor, window), window.start, window.end, months=False).c
        week = day_index_expr(session, w.day, first_monday, 7).label("w")  # a week row's day is its Monday
        spark_stmt = (select(w.agent_id, week, func.sum(w.score_sum).label("s"), func.sum(w.calls).label("n"))
                      .group_by(w.agent_id, week))
    else:
        known = col(e.agent_talk_s).is_not(None)
        stmt = (select(e.agent_id, func.count().label("n"), func.sum(e.final_score).label("s"),
                       func.sum(as_int(e.final_passed)).label("p"),
                       func.sum(as_int(e.final_critical_failed)).label("c"),
                       func.sum(case((known, e.duration_s), else_=None)).label("td"),
                       func.sum(e.agent_talk_s).label("ta"), func.sum(e.customer_talk_s).label("tc"),
                       func.sum(case((known, e.silence_s), else_=None)).label("ts"))
                .where(*where(actor, filters)).group_by(e.agent_id))
        lo, hi = bounds(window.start, window.end)
        week = local_week_expr(e.started_at, first_monday, n_points).label("w")
        spark_stmt = (select(e.agent_id, week, func.sum(e.final_score).label("s"), func.count().label("n"))
                      .where(*where(actor, window, lo, hi)).group_by(e.agent_id, week))
    totals = session.exec(stmt).all()
    spark: dict[int | None, dict[int, float]] = defaultdict(dict)
    for r in session.exec(spark_stmt).all():
        spark[r.agent_id][int(r.w)] = float(r.s) / int(r.n)
    names = _agent_names(session, actor, [r.agent_id for r in totals if r.agent_id is not None])
    out = []
    for r in totals:
        n = int(r.n)
        name, team_id, team = names.get(r.agent_id, ("Sans agent", None, ""))
        out.append({
            "agent_id": r.agent_id, "agent": name, "team_id": team_id, "team": team, "calls": n,
            "avg_score": float(r.s or 0) / n, "pass_rate": 100.0 * int(r.p or 0) / n,
            "critical_rate": 100.0 * int(r.c or 0) / n,
            "trend": [spark[r.agent_id].get(i) for i in range(n_points)],
            "talk": {"duration": float(r.td or 0), "agent": float(r.ta or 0), "customer": float(r.tc or 0),
                     "silence": float(r.ts or 0)},
        })
    out.sort(key=lambda r: (-r["avg_score"], r["agent"]))
    return out


def _agent_names(session: Session, actor: Actor, agent_ids: list[int]) -> dict[int, tuple[str, int | None, str]]:
    if not agent_ids:
        return {}
    stmt = (select(Agent.id, Agent.name, Agent.team_id, Team.name)
            .join(Team, Team.id == Agent.team_id, isouter=True)
            .where(Agent.org_id == actor.org_id, col(Agent.id).in_(agent_ids)))
    return {aid: (name, tid, tname or "") for aid, name, tid, tname in session.exec(stmt).all()}


def talk_listen_from_ranking(ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent: share of the call time where the agent talks, the customer talks, and nobody does."""
    out = []
    for r in ranking:
        t = r["talk"]
        if not t["duration"]:
            continue
        out.append({"agent_id": r["agent_id"], "agent": r["agent"], "calls": r["calls"],
                    "agent_talk_ratio": ratio(t["agent"], t["duration"]),
                    "customer_talk_ratio": ratio(t["customer"], t["duration"]),
                    "silence_ratio": ratio(t["silence"], t["duration"])})
    out.sort(key=lambda r: (-(r["agent_talk_ratio"] or 0), r["agent"]))
    return out


def talk_listen_by_agent(*, session: Session, actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Per agent: talk/listen/silence shares (see :func:`talk_listen_from_ranking`, which saves a scan)."""
    return talk_listen_from_ranking(agent_ranking(session=session, actor=actor, filters=filters))


# --- criteria heatmap -----------------------------------------------------------------------------


def criterion_agent_heatmap(*, session: Session, actor: Actor, filters: Filters,
                            agent_ids: list[int] | None = None) -> dict[str, Any]:
    """Pass rate per (criterion, agent) on applicable verdicts (``na`` excluded).

    ``agent_ids`` narrows the query to the agents drawn (the weakest of the ranking); the answer is
    ``{criteria: [[id, label]], agents: [[id, name]], cells: [{agent_id, criterion_id, passed,
    applicable, pass_rate}]}``.
    """
    sums: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0, 0])
    if use_rollups(session, actor, filters):
        # Whole weeks from the weekly rollup; the few edge days around them from the verdicts.
        weeks, edges = split_period(filters.start, filters.end)
        if weeks is not None:
            w = RollupCriterionWeek
            stmt = (select(w.agent_id, w.criterion_id, func.sum(w.passed), func.sum(w.applicable))
                    .where(*rollup_scope(w, actor, filters), w.day >= weeks[0], w.day <= weeks[1]))
            if agent_ids is not None:
                stmt = stmt.where(col(w.agent_id).in_(list(agent_ids) or [-1]))
            for agent, crit, p, n in session.exec(stmt.group_by(w.agent_id, w.criterion_id)).all():
                sums[(agent, crit)][0] += int(p or 0)
                sums[(agent, crit)][1] += int(n or 0)
        periods = [replace(filters, start=a, end=b) for a, b in edges]
    else:
        periods = [filters]
    for f in periods:
        for agent, crit, p, n in _heatmap_rows(session, actor, f, agent_ids):
            sums[(agent, crit)][0] += int(p or 0)
            sums[(agent, crit)][1] += int(n or 0)
    cells = []
    for (agent, crit), (p, a) in sorted(sums.items(), key=lambda kv: (kv[0][0] is not None, kv[0][0] or 0,
                                                                       kv[0][1])):
        if a == 0:
            continue  # a criterion never applicable to this agent is not a weakness
        cells.append({"agent_id": agent, "criterion_id": crit, "passed": p, "applicable": a,
                      "pass_rate": 100.0 * p / a})
    lab = labels(session=session, actor=actor)
    seen_crit = {c["criterion_id"] for c in cells}
    criteria = [[cid, label] for cid, label in lab.criteria.items() if cid in seen_crit]
    criteria += [[cid, cid] for cid in sorted(seen_crit - set(lab.criteria))]
    agent_rate: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for c in cells:
        agent_rate[c["agent_id"]][0] += c["passed"]
        agent_rate[c["agent_id"]][1] += c["applicable"]
    order = sorted(agent_rate, key=lambda a: (agent_rate[a][0] / agent_rate[a][1], lab.agents.get(a, "")))
    agents = [[a, lab.agents.get(a, "Sans agent")] for a in order]
    return {"criteria": criteria, "agents": agents, "cells": cells}


def _heatmap_rows(session: Session, actor: Actor, filters: Filters, agent_ids: list[int] | None) -> list:
    """(agent_id, criterion_id, passed, applicable) of the period's verdicts, from the base tables."""
    cr = CriterionResult
    lo, hi = bounds(filters.start, filters.end)
    applicable = case((cr.final_verdict != "na", 1), else_=0)
    passed = case((cr.final_verdict == "pass", 1), else_=0)
    stmt = select(cr.agent_id, cr.criterion_id, func.sum(passed).label("p"), func.sum(applicable).label("a"))
    stmt = scope_child(stmt, cr, actor, filters, lo, hi)
    if agent_ids is not None:
        # An explicit agent list lets the (org, agent, time) index range over each agent in turn.
        stmt = stmt.where(col(cr.agent_id).in_(list(agent_ids) or [-1]))
    return list(session.exec(stmt.group_by(cr.agent_id, cr.criterion_id)).all())


def weakest_criteria(*, session: Session, actor: Actor, filters: Filters, min_applicable: int = 3,
                     per_agent: int = 3) -> dict[int | None, list[dict[str, Any]]]:
    """Coaching priorities: for each agent, the criteria with the lowest pass rates (enough verdicts only)."""
    heat = criterion_agent_heatmap(session=session, actor=actor, filters=filters)
    names = dict((cid, label) for cid, label in heat["criteria"])
    out: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(heat["cells"], key=lambda c: (c["pass_rate"], -c["applicable"])):
        if c["applicable"] >= min_applicable and c["pass_rate"] < 100.0 and len(out[c["agent_id"]]) < per_agent:
            out[c["agent_id"]].append({**c, "label": names.get(c["criterion_id"], c["criterion_id"])})
    return dict(out)

