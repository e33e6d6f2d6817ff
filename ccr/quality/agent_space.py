"""The agent's own space: their published evaluations, the evidence, the audio, acknowledgement, trend, notes.

Everything here is read for an "agent" login and only for the agent record it is linked to
(``Actor.agent_id``), and only once a supervisor has published the evaluation (:mod:`ccr.quality.
publication`): drafts, other agents' evaluations and restricted calls are simply not found. Every
opening of an evaluation and every play of its recording is logged, like any access to a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ccr.core import audit, storage
from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, NotFound
from ccr.core.models import Call, CriterionResult, Evaluation, Review, Transcript, User
from ccr.core.users import Actor
from ccr.quality import reviews
from ccr.quality.disputes import DisputeView, contest_deadline, disputes_of
from ccr.quality.evaluations import result_of
from ccr.quality.policy import get_policy
from ccr.quality.publication import publication_label

DEFAULT_LIST_LIMIT = 200  # a year of published evaluations for most agents; older ones are in the export
TREND_WEEKS = 26


@dataclass(frozen=True)
class OwnSummary:
    """One line of « Mes évaluations »."""

    evaluation_id: int
    call_id: int
    started_at: datetime
    published_at: datetime
    score: float
    ai_score: float
    passed: bool
    critical_failed: bool
    validated: bool
    acknowledged_at: datetime | None
    contest_until: datetime
    dispute_status: str | None

    @property
    def contestable(self) -> bool:
        """True while the agent may still open a dispute on it."""
        return self.dispute_status is None and utcnow() <= self.contest_until


@dataclass(frozen=True)
class OwnEvaluation:
    """One published evaluation, as the agent reads it."""

    summary: OwnSummary
    publication: str  # validated by a supervisor, or automatic with that mention
    grid_label: str
    is_current: bool
    duration_s: float | None
    has_audio: bool
    codec: str | None
    segments: list[dict[str, Any]]
    criteria: list[dict[str, Any]]
    reviewer: str | None
    reviewed_at: datetime | None
    summary_text: str
    recommendations: list[str]
    coaching_note: str | None
    dispute: DisputeView | None
    comments: dict[str, str] = field(default_factory=dict)


def _require_agent(actor: Actor) -> int:
    if not may(actor.role, "own_evaluations") or actor.agent_id is None:
        raise AccessDenied("Accès refusé : cet espace est celui des téléconseillers, pour leurs propres évaluations.")
    return actor.agent_id


# What a line of the list needs: never the wide result row, read only when one evaluation is opened.
_SUMMARY_COLUMNS = (Evaluation.id, Evaluation.call_id, Evaluation.started_at, Evaluation.published_at,
                    Evaluation.final_score, Evaluation.ai_score, Evaluation.final_passed,
                    Evaluation.final_critical_failed, Evaluation.validated, Evaluation.acknowledged_at)


def _own_stmt(actor: Actor, agent_id: int, *columns):
    return select(*(columns or (Evaluation,))).where(Evaluation.org_id == actor.org_id, Evaluation.agent_id == agent_id,
                                    col(Evaluation.published_at).is_not(None),
                                    Evaluation.restricted == False)  # noqa: E712


def _own(session: Session, actor: Actor, evaluation_id: int) -> Evaluation:
    agent_id = _require_agent(actor)
    ev = session.exec(_own_stmt(actor, agent_id).where(Evaluation.id == evaluation_id)).first()
    if ev is None:
        raise NotFound("Évaluation introuvable.")
    return ev


def _summary(ev: Any, deadline: datetime, dispute: DisputeView | None) -> OwnSummary:
    """One list line from an evaluation (or a row of its summary columns)."""
    return OwnSummary(evaluation_id=ev.id, call_id=ev.call_id, started_at=ev.started_at,
                      published_at=ev.published_at, score=ev.final_score, ai_score=ev.ai_score,
                      passed=ev.final_passed, critical_failed=ev.final_critical_failed, validated=ev.validated,
                      acknowledged_at=ev.acknowledged_at, contest_until=deadline,
                      dispute_status=dispute.status if dispute else None)


def list_own(*, session: Session, actor: Actor, limit: int = DEFAULT_LIST_LIMIT) -> list[OwnSummary]:
    """The agent's published evaluations, newest call first: for each call, its latest published evaluation."""
    agent_id = _require_agent(actor)
    rows = session.exec(_own_stmt(actor, agent_id, *_SUMMARY_COLUMNS).order_by(
        col(Evaluation.started_at).desc(), col(Evaluation.id).desc())).all()
    latest: dict[int, Any] = {}
    for ev in rows:
        latest.setdefault(ev.call_id, ev)
        if len(latest) >= limit:
            break
    evs = list(latest.values())
    policy = get_policy(session=session, org_id=actor.org_id)
    disputes = disputes_of(session=session, actor=actor, evaluation_ids=[e.id for e in evs])
    return [_summary(e, contest_deadline(e.published_at, policy), disputes.get(e.id)) for e in evs]


def open_own(*, session: Session, actor: Actor, evaluation_id: int, log: bool = True) -> OwnEvaluation:
    """One of the agent's published evaluations with its verdicts, evidence, comments and dispute; logged."""
    ev = _own(session, actor, evaluation_id)
    call = session.get(Call, ev.call_id)
    result = result_of(ev)
    grid = reviews.grid_of(session=session, evaluation=ev)
    finals = dict(session.exec(select(CriterionResult.criterion_id, CriterionResult.final_verdict).where(
        CriterionResult.evaluation_id == ev.id, CriterionResult.org_id == ev.org_id)).all())
    review = reviews.latest_review(session=session, evaluation=ev)
    comments = json.loads(review.comments_json) if review else {}
    criteria = [{
        "id": item["id"], "label": reviews.label_of(grid, item["id"]), "weight": item.get("weight"),
        "ai_verdict": item["verdict"], "final_verdict": finals.get(item["id"], item["verdict"]),
        "evidence": item.get("evidence") or [], "explanation": item.get("explanation") or "",
        "comment": comments.get(item["id"], ""),
    } for item in result.get("criteria") or []]
    tr = session.exec(select(Transcript).where(Transcript.call_id == ev.call_id,
                                               Transcript.org_id == ev.org_id)).first()
    reviewer = session.get(User, review.reviewer_id) if review and review.reviewer_id else None
    dispute = disputes_of(session=session, actor=actor, evaluation_ids=[ev.id]).get(ev.id)
    policy = get_policy(session=session, org_id=actor.org_id)
    if log:
        audit.log_event(session=session, who=actor.who, action="evaluation_viewed", target_type="call",
                        target_id=ev.call_id, detail={"evaluation_id": ev.id, "espace": "téléconseiller"})
    return OwnEvaluation(
        summary=_summary(ev, contest_deadline(ev.published_at, policy), dispute), publication=publication_label(ev),
        grid_label=f"{grid.name} v{ev.grid_version}", is_current=ev.is_current,
        duration_s=call.duration_s if call else None, has_audio=bool(call and call.audio_key),
        codec=call.codec if call else None, segments=json.loads(tr.segments_json) if tr else [],
        criteria=criteria, reviewer=reviewer.display_name if reviewer and reviewer.org_id == ev.org_id else None,
        reviewed_at=review.created_at if review else None,
        summary_text=(review.summary if review and review.summary is not None else result.get("summary")) or "",
        recommendations=(json.loads(review.recommendations_json or "[]") if review
                         else list(result.get("recommendations") or [])),
        coaching_note=review.coaching_note if review else None, dispute=dispute, comments=comments)


def own_audio(*, session: Session, actor: Actor, evaluation_id: int) -> bytes:
    """The decrypted recording of the call of one of the agent's published evaluations; the play is logged."""
    ev = _own(session, actor, evaluation_id)
    call = session.get(Call, ev.call_id)
    if call is None or call.restricted:
        raise NotFound("Évaluation introuvable.")
    if not call.audio_key:
        raise NotFound("L'enregistrement de cet appel n'est plus disponible (supprimé à l'échéance de conservation).")
    data = storage.get_audio(call.audio_key, org_id=call.org_id)
    audit.log_event(session=session, who=actor.who, action="audio_played", target_type="call", target_id=call.id,
                    detail={"usage": "lecture", "espace": "téléconseiller"})
    return data


def acknowledge(*, session: Session, actor: Actor, evaluation_id: int) -> datetime:
    """Record that the agent has read one of their evaluations (once; later calls return the first time)."""
    ev = _own(session, actor, evaluation_id)
    if ev.acknowledged_at is None:
        ev.acknowledged_at = utcnow()
        session.add(ev)
        audit.log_event(session=session, who=actor.who, action="evaluation_acknowledged", target_type="call",
                        target_id=ev.call_id, detail={"evaluation_id": ev.id})
    return ev.acknowledged_at


def own_trend(*, session: Session, actor: Actor, weeks: int = TREND_WEEKS,
              today: date | None = None) -> list[tuple[date, float, int]]:
    """The agent's mean published score per calendar week (Monday, mean, evaluations), oldest first."""
    agent_id = _require_agent(actor)
    tz = ZoneInfo(get_settings().timezone)
    today = today or utcnow().astimezone(tz).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    rows = session.exec(select(Evaluation.started_at, Evaluation.final_score, Evaluation.call_id, Evaluation.id)
                        .where(Evaluation.org_id == actor.org_id, Evaluation.agent_id == agent_id,
                               col(Evaluation.published_at).is_not(None), Evaluation.restricted == False,  # noqa: E712
                               Evaluation.started_at >= since)
                        .order_by(col(Evaluation.id).desc())).all()
    seen: set[int] = set()
    weeks_of: dict[date, list[float]] = {}
    for started, score, call_id, _ in rows:
        if call_id in seen:  # the latest published evaluation of each call, as the list shows
            continue
        seen.add(call_id)
        day = started.astimezone(tz).date()
        weeks_of.setdefault(day - timedelta(days=day.weekday()), []).append(score)
    return [(monday, round(sum(s) / len(s), 1), len(s)) for monday, s in sorted(weeks_of.items())]


def own_coaching_notes(*, session: Session, actor: Actor, limit: int = 50) -> list[tuple[datetime, int, str]]:
    """The coaching notes of the agent's published evaluations: (review time, call id, note), newest first;
    the latest review's note for each evaluation."""
    agent_id = _require_agent(actor)
    rows = session.exec(
        select(Review.created_at, Review.call_id, Review.coaching_note, Review.evaluation_id)
        .join(Evaluation, Evaluation.id == Review.evaluation_id)
        .where(Evaluation.org_id == actor.org_id, Evaluation.agent_id == agent_id,
               col(Evaluation.published_at).is_not(None), Evaluation.restricted == False,  # noqa: E712
               Review.org_id == actor.org_id, col(Review.coaching_note).is_not(None))
        .order_by(col(Review.id).desc()).limit(4 * limit)).all()
    seen: set[int] = set()
    out = []
    for at, call_id, note, ev_id in rows:
        if ev_id not in seen and note and note.strip():
            out.append((at, call_id, note))
        seen.add(ev_id)
    return out[:limit]
