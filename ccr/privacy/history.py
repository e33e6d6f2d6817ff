"""Anonymised statistics that outlive purged evaluations: daily totals per organisation and large team.

Invariant used by the dashboards' history: every current, unrestricted evaluation is counted exactly once,
either live (``Evaluation``) or folded (``DailyStat``), never both (see :func:`stats_history`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from ccr.core.config import Settings, get_settings
from ccr.core.models import (
    Agent,
    CriterionResult,
    DailyStat,
    Evaluation,
    IrritantHit,
)
from ccr.dashboards.rollups import local_day

MIN_TEAM_AGENTS = 5  # smaller teams fold into the organisation level to avoid re-identification
BATCH_CALLS = 500  # calls per transaction: bounded memory, short write locks, and under SQLite's bind limit



def reportable_team_ids(*, session: Session, org_id: int) -> set[int]:
    """Teams with at least MIN_TEAM_AGENTS agents: the only ones kept apart in the statistics."""
    rows = session.exec(select(Agent.team_id, func.count()).where(Agent.org_id == org_id,
                                                                 col(Agent.team_id).is_not(None))
                        .group_by(Agent.team_id)).all()
    return {team_id for team_id, n in rows if n >= MIN_TEAM_AGENTS}


def chunks(ids: list[int], size: int = BATCH_CALLS) -> Iterator[list[int]]:
    """``ids`` in consecutive batches of at most ``size``."""
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def fold_into_daily_stats(*, session: Session, org_id: int, call_ids: list[int],
                          settings: Settings | None = None) -> int:
    """Add the current, unrestricted evaluations of ``call_ids`` to DailyStat; returns how many were folded.

    Must run in the same transaction as the deletion of those evaluations, so nothing is counted twice.
    """
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)
    reportable = reportable_team_ids(session=session, org_id=org_id)
    buckets: dict[tuple[date, int | None], dict[str, Any]] = {}
    folded = 0
    for chunk in chunks(list(call_ids)):
        evs = session.exec(select(Evaluation).where(
            Evaluation.org_id == org_id, col(Evaluation.call_id).in_(chunk),
            Evaluation.is_current == True, Evaluation.restricted == False)).all()  # noqa: E712
        if not evs:
            continue
        ev_ids = [e.id for e in evs]
        crits: dict[int, list[tuple[str, str]]] = {}
        for ev_id, crit_id, verdict in session.exec(
                select(CriterionResult.evaluation_id, CriterionResult.criterion_id, CriterionResult.final_verdict)
                .where(col(CriterionResult.evaluation_id).in_(ev_ids))).all():
            crits.setdefault(ev_id, []).append((crit_id, verdict))
        irritants: dict[int, list[str]] = {}
        for ev_id, label in session.exec(select(IrritantHit.evaluation_id, IrritantHit.label)
                                         .where(col(IrritantHit.evaluation_id).in_(ev_ids))).all():
            irritants.setdefault(ev_id, []).append(label)
        for ev in evs:
            team = ev.team_id if ev.team_id in reportable else None
            b = buckets.setdefault((local_day(ev.started_at, tz), team), {
                "calls": 0, "score_sum": 0.0, "passed": 0, "critical_failed": 0, "validated": 0,
                "with_irritant": 0, "duration_sum": 0.0, "silence_sum": 0.0,
                "criteria": {}, "irritants": Counter(), "categories": Counter()})
            b["calls"] += 1
            b["score_sum"] += float(ev.final_score)
            b["passed"] += int(bool(ev.final_passed))
            b["critical_failed"] += int(bool(ev.final_critical_failed))
            b["validated"] += int(bool(ev.validated))
            b["with_irritant"] += int(ev.irritant_count > 0)
            b["duration_sum"] += float(ev.duration_s or 0.0)
            b["silence_sum"] += float(ev.silence_s or 0.0)
            for crit_id, verdict in crits.get(ev.id, []):
                pair = b["criteria"].setdefault(crit_id, [0, 0])
                if verdict != "na":
                    pair[1] += 1
                    pair[0] += int(verdict == "pass")
            b["irritants"].update(irritants.get(ev.id, []))
            if ev.category:
                b["categories"][ev.category] += 1
            folded += 1
    for (day, team), b in buckets.items():
        team_filter = col(DailyStat.team_id).is_(None) if team is None else DailyStat.team_id == team
        row = session.exec(select(DailyStat).where(DailyStat.org_id == org_id, DailyStat.day == day,
                                                   team_filter)).first()
        if row is None:
            row = DailyStat(org_id=org_id, day=day, team_id=team)
        for field in ("calls", "passed", "critical_failed", "validated", "with_irritant"):
            setattr(row, field, getattr(row, field) + b[field])
        for field in ("score_sum", "duration_sum", "silence_sum"):
            setattr(row, field, getattr(row, field) + b[field])
        criteria = json.loads(row.criteria_json or "{}")
        for crit_id, (passed, applicable) in b["criteria"].items():
            old = criteria.get(crit_id, [0, 0])
            criteria[crit_id] = [old[0] + passed, old[1] + applicable]
        row.criteria_json = json.dumps(criteria, sort_keys=True)
        row.irritants_json = json.dumps(dict(Counter(json.loads(row.irritants_json or "{}")) + b["irritants"]),
                                        ensure_ascii=False, sort_keys=True)
        row.categories_json = json.dumps(
            dict(Counter(json.loads(row.categories_json or "{}")) + b["categories"]),
            ensure_ascii=False, sort_keys=True)
        session.add(row)
    session.flush()
    return folded


def stats_history(*, session: Session, org_id: int, since: date, until: date,
                  settings: Settings | None = None) -> list[dict[str, Any]]:
    """Daily totals (calls, mean score, pass rate) from folded statistics plus live evaluations.

    The dashboards' history keeps showing a period after its evaluations were purged.
    """
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)
    days: dict[date, dict[str, float]] = {}
    for row in session.exec(select(DailyStat).where(DailyStat.org_id == org_id, DailyStat.day >= since,
                                                    DailyStat.day <= until)).all():
        d = days.setdefault(row.day, {"calls": 0, "score_sum": 0.0, "passed": 0})
        d["calls"] += row.calls
        d["score_sum"] += row.score_sum
        d["passed"] += row.passed
    start = datetime.combine(since, datetime.min.time(), tz).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    for started_at, score, passed in session.exec(
            select(Evaluation.started_at, Evaluation.final_score, Evaluation.final_passed).where(
                Evaluation.org_id == org_id, Evaluation.is_current == True,  # noqa: E712
                Evaluation.restricted == False, Evaluation.started_at >= start,  # noqa: E712
                Evaluation.started_at < end)).all():
        d = days.setdefault(local_day(started_at, tz), {"calls": 0, "score_sum": 0.0, "passed": 0})
        d["calls"] += 1
        d["score_sum"] += float(score)
        d["passed"] += int(bool(passed))
    return [{"day": day, "calls": int(v["calls"]),
             "mean_score": round(v["score_sum"] / v["calls"], 2) if v["calls"] else None,
             "pass_rate": round(v["passed"] / v["calls"], 4) if v["calls"] else None}
            for day, v in sorted(days.items())]
