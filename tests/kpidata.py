"""Hand-built dashboard data for tests: calls with their evaluation, verdicts and irritants, inserted directly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count

from ccr.core.db import session
from ccr.core.models import Call, CriterionResult, Evaluation, IrritantHit, Transcript
from ccr.dashboards.filters import filters_from_query
from ccr.dashboards.rollups import mark_dirty

_seq = count(1)
TODAY = date(2026, 3, 31)
MARCH = {"periode": "perso", "du": "2026-03-01", "au": "2026-03-30"}  # 30 days; previous: 30 Jan - 28 Feb


def at(y, m, d, h=10):
    """An aware UTC instant (10:00 by default: the same calendar day in Paris and in UTC)."""
    return datetime(y, m, d, h, tzinfo=UTC)


def march(actor, **extra):
    """The filters of March 2026 (1 to 30) for ``actor``, with ``extra`` URL parameters."""
    return filters_from_query({**MARCH, **extra}, actor, TODAY)


def add_call(org_id, team_id, agent_id, when, score, *, passed=None, critical=False, validated=False,
             ai_score=None, verdicts=None, irritants=(), category="facturation", duration=100.0,
             silence=10.0, agent_talk=50.0, customer_talk=40.0, restricted=False, is_current=True,
             campaign="printemps", direction="entrant", text=None, unverified=False):
    """Insert one call and its evaluation (with verdicts and irritant hits) directly; returns the call id."""
    passed = score >= 70 if passed is None else passed
    with session() as s:
        call = Call(org_id=org_id, team_id=team_id, agent_id=agent_id, sha256=f"kpi-{next(_seq)}",
                    started_at=when, duration_s=duration, silence_s=silence, agent_talk_s=agent_talk,
                    customer_talk_s=customer_talk, restricted=restricted, status="done", campaign=campaign,
                    direction=direction)
        s.add(call)
        s.flush()
        ev = Evaluation(org_id=org_id, call_id=call.id, grid_slug="ccr-standard-fr", grid_version=1, engine="rules",
                        is_current=is_current, ai_score=score if ai_score is None else ai_score,
                        ai_passed=passed, ai_critical_failed=critical, final_score=score, final_passed=passed,
                        final_critical_failed=critical, validated=validated, category=category,
                        irritant_count=len(irritants), unverified=unverified, result_json="{}", team_id=team_id,
                        agent_id=agent_id, started_at=when, campaign=campaign, direction=direction,
                        duration_s=duration, silence_s=silence, agent_talk_s=agent_talk,
                        customer_talk_s=customer_talk, restricted=restricted)
        s.add(ev)
        s.flush()
        for cid, verdict in (verdicts or {}).items():
            s.add(CriterionResult(org_id=org_id, evaluation_id=ev.id, call_id=call.id, criterion_id=cid,
                                  ai_verdict=verdict, final_verdict=verdict, team_id=team_id, agent_id=agent_id,
                                  started_at=when))
        for label in irritants:
            s.add(IrritantHit(org_id=org_id, evaluation_id=ev.id, call_id=call.id, label=label, team_id=team_id,
                              agent_id=agent_id, started_at=when))
        mark_dirty(s, org_id, [when])  # as every real write path does (ccr.dashboards.rollups)
        if text is not None:
            s.add(Transcript(org_id=org_id, call_id=call.id, segments_json="[]", text=text))
        return call.id
