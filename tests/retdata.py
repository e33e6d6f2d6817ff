"""Test data for retention, exports and data-subject tests: calls with encrypted audio, transcripts
and evaluations inserted through the real storage and evaluation code."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from ccr.core import storage
from ccr.core.calls import flatten_text
from ccr.core.db import session
from ccr.core.models import Agent, Call, CriterionResult, Evaluation, IrritantHit, Transcript
from ccr.quality.evaluations import store_evaluation

# 10:00 in Paris: the reference clock of the retention tests.
NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "  # content does not matter: it is only encrypted and deleted


def contract(score: float, verdicts: dict[str, str], category: str | None, irritants: list[str]) -> dict:
    """A scoring contract object as the scorer returns it."""
    return {
        "grid": "ccr-standard-fr", "grid_version": 1, "engine": "rules", "score": score,
        "passed": score >= 70, "critical_failed": verdicts.get("politesse") == "fail",
        "criteria": [{"id": k, "verdict": v, "weight": 1, "evidence": [], "explanation": "test"}
                     for k, v in verdicts.items()],
        "category": category,
        "irritants": [{"label": label, "start": 2.0, "text": "c'est inadmissible"} for label in irritants],
        "summary": "Résumé de test.", "recommendations": [],
    }


def add_call(org_id: int, agent_id: int, started_at: datetime, *, text: str = "bonjour madame",
             score: float = 80.0, verdicts: dict | None = None, category: str | None = "facturation",
             irritants: list[str] | None = None, phone: str | None = None, audio: bool = True,
             evaluate: bool = True, restricted: bool = False, source_name: str = "appel.wav") -> int:
    """Insert one call with its encrypted recording, transcript and evaluation; returns the call id."""
    verdicts = verdicts if verdicts is not None else {"accueil": "pass", "politesse": "pass", "empathie": "na"}
    with session() as s:
        agent = s.get(Agent, agent_id)
        key = storage.put_audio(AUDIO + str(started_at).encode(), org_id=org_id) if audio else None
        call = Call(org_id=org_id, team_id=agent.team_id, agent_id=agent_id, sha256=uuid.uuid4().hex,
                    audio_key=key, started_at=started_at, created_at=started_at,  # imported as it ended
                    duration_s=60.0, silence_s=5.0, status="done",
                    customer_phone=phone, restricted=restricted, source_name=source_name, campaign="Service client")
        s.add(call)
        s.flush()
        segments = [{"start": 0.0, "end": 2.0, "speaker": "agent", "text": text},
                    {"start": 2.0, "end": 4.0, "speaker": "client", "text": "merci au revoir"}]
        s.add(Transcript(org_id=org_id, call_id=call.id, segments_json=json.dumps(segments),
                         text=flatten_text(segments)))
        if evaluate:
            store_evaluation(session=s, call=call, result=contract(score, verdicts, category, irritants or []),
                             grid_id=None)
        return call.id


def aggregates(org_id: int, team_of=lambda team_id: None) -> dict:
    """The statistics the purge must produce, computed from live rows: (day, team) -> totals."""
    out: dict = defaultdict(lambda: {"calls": 0, "score_sum": 0.0, "passed": 0, "critical_failed": 0,
                                     "with_irritant": 0, "criteria": defaultdict(lambda: [0, 0]),
                                     "irritants": Counter(), "categories": Counter()})
    with session() as s:
        evs = s.exec(select(Evaluation).where(Evaluation.org_id == org_id, Evaluation.is_current == True,  # noqa: E712
                                              Evaluation.restricted == False)).all()  # noqa: E712
        for ev in evs:
            b = out[(ev.started_at.astimezone(PARIS).date(), team_of(ev.team_id))]
            b["calls"] += 1
            b["score_sum"] += ev.final_score
            b["passed"] += ev.final_passed
            b["critical_failed"] += ev.final_critical_failed
            b["with_irritant"] += ev.irritant_count > 0
            for cr in s.exec(select(CriterionResult).where(CriterionResult.evaluation_id == ev.id)).all():
                pair = b["criteria"][cr.criterion_id]  # a criterion never applicable still shows as [0, 0]
                if cr.final_verdict != "na":
                    pair[1] += 1
                    pair[0] += cr.final_verdict == "pass"
            b["irritants"].update(h.label for h in s.exec(
                select(IrritantHit).where(IrritantHit.evaluation_id == ev.id)).all())
            if ev.category:
                b["categories"][ev.category] += 1
    return {k: {**v, "criteria": {c: list(p) for c, p in v["criteria"].items()},
                "irritants": dict(v["irritants"]), "categories": dict(v["categories"])} for k, v in out.items()}


def stats_rows(org_id: int) -> dict:
    """The DailyStat rows of an organisation, in the shape of :func:`aggregates`."""
    from ccr.core.models import DailyStat

    with session() as s:
        rows = s.exec(select(DailyStat).where(DailyStat.org_id == org_id)).all()
        return {(r.day, r.team_id): {"calls": r.calls, "score_sum": r.score_sum, "passed": r.passed,
                                     "critical_failed": r.critical_failed, "with_irritant": r.with_irritant,
                                     "criteria": json.loads(r.criteria_json), "irritants": json.loads(r.irritants_json),
                                     "categories": json.loads(r.categories_json)} for r in rows}


def days_ago(days: int, hour: int = 11) -> datetime:
    """A call time ``days`` local days before NOW, at ``hour`` Paris time."""
    day = NOW.astimezone(PARIS).date() - timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(NOW.tzinfo)
