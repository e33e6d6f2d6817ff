"""Disputes: an agent contests criteria of a published evaluation; a supervisor accepts or rejects each.

Life cycle: ``open`` (the agent's required comment, within the organisation's deadline after publication,
and under its limit per agent and period), then ``accepted``, ``partial`` or ``rejected``. Accepted
criteria change through the normal review path (:func:`ccr.quality.reviews.validate_review`): a review
row with its comments, the evaluation's final score recomputed, the AI's score kept, the dashboards'
rollups marked. Each step is audited, without the free text (it may quote the call).

One dispute per evaluation: a decision is final for that evaluation (a re-scored call gets a new one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, CriterionResult, Dispute, DisputeItem, Evaluation, Team, User
from ccr.core.users import Actor
from ccr.core.vocab import VERDICT_LABELS
from ccr.quality import reviews
from ccr.quality.evaluations import result_of
from ccr.quality.policy import Policy, get_policy
from ccr.scoring.evaluation import VERDICTS

MAX_COMMENT_CHARS = 2000
DEFAULT_QUEUE_LIMIT = 200


@dataclass(frozen=True)
class DisputeItemView:
    """One contested criterion."""

    criterion_id: str
    label: str
    verdict: str  # the verdict contested
    requested: str  # the verdict the agent asks for
    decision: str | None  # accepted | rejected | None while open


@dataclass(frozen=True)
class DisputeView:
    """A dispute as the agent's page and the supervisors' queue show it."""

    id: int
    evaluation_id: int
    call_id: int
    agent_name: str | None
    team_name: str | None
    opened_at: datetime
    answer_due_at: datetime
    comment: str
    status: str
    resolved_at: datetime | None
    resolver: str | None
    resolution: str | None
    items: tuple[DisputeItemView, ...]

    def overdue(self, now: datetime | None = None) -> bool:
        """True when the answer is late (an open dispute past its due date)."""
        return self.status == "open" and (now or utcnow()) > self.answer_due_at


def contest_deadline(published_at: datetime | None, policy: Policy) -> datetime | None:
    """Until when an agent may contest an evaluation published at ``published_at`` (None for a draft)."""
    return None if published_at is None else published_at + timedelta(days=policy.dispute_days)


def _fr_date(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%d/%m/%Y à %H:%M")


def _clean(text: str | None) -> str:
    return (text or "").strip()[:MAX_COMMENT_CHARS]


# --- the agent's side --------------------------------------------------------------------------------


def open_dispute(*, session: Session, actor: Actor, evaluation_id: int, criteria: dict[str, str], comment: str,
                 now: datetime | None = None) -> DisputeView:
    """Contest criteria of one's own published evaluation: ``criteria`` maps a criterion id to the verdict asked for."""
    if not may(actor.role, "own_evaluations") or actor.agent_id is None:
        raise AccessDenied("Accès refusé : seul le téléconseiller concerné peut contester son évaluation.")
    now = now or utcnow()
    ev = session.get(Evaluation, evaluation_id)
    if (ev is None or ev.org_id != actor.org_id or ev.agent_id != actor.agent_id or ev.published_at is None
            or ev.restricted):
        raise NotFound("Évaluation introuvable.")
    policy = get_policy(session=session, org_id=actor.org_id)
    deadline = contest_deadline(ev.published_at, policy)
    if now > deadline:
        raise InvalidInput(f"Le délai de contestation est dépassé : cette évaluation pouvait être contestée "
                           f"jusqu'au {_fr_date(deadline)} ({policy.dispute_days} jours après sa publication).")
    if not ev.is_current:
        raise InvalidInput("Cet appel a été réévalué depuis : l'évaluation affichée ne peut plus être contestée.")
    if session.exec(select(Dispute.id).where(Dispute.evaluation_id == ev.id)).first() is not None:
        raise InvalidInput("Cette évaluation a déjà été contestée : une seule contestation par évaluation.")
    comment = _clean(comment)
    if not comment:
        raise InvalidInput("Expliquez votre contestation : le commentaire est obligatoire.")
    if not criteria:
        raise InvalidInput("Choisissez au moins un critère à contester.")
    finals = dict(session.exec(select(CriterionResult.criterion_id, CriterionResult.final_verdict).where(
        CriterionResult.evaluation_id == ev.id, CriterionResult.org_id == ev.org_id)).all())
    grid = reviews.grid_of(session=session, evaluation=ev)
    for cid, wanted in criteria.items():
        if cid not in finals:
            raise InvalidInput(f"Critère « {cid} » absent de cette évaluation.")
        if wanted not in VERDICTS:
            raise InvalidInput(f"Verdict demandé invalide pour « {reviews.label_of(grid, cid)} ».")
        if wanted == finals[cid]:
            raise InvalidInput(f"« {reviews.label_of(grid, cid)} » est déjà « {VERDICT_LABELS[wanted]} » : "
                               "demandez un autre verdict.")
    if policy.dispute_limit:
        since = now - timedelta(days=policy.dispute_window_days)
        used = session.exec(select(func.count()).select_from(Dispute).where(
            Dispute.org_id == actor.org_id, Dispute.agent_id == actor.agent_id, Dispute.opened_at >= since)).one()
        if used >= policy.dispute_limit:
            raise InvalidInput(f"Vous avez atteint la limite de {policy.dispute_limit} contestations sur "
                               f"{policy.dispute_window_days} jours fixée par votre organisation.")
    dispute = Dispute(org_id=ev.org_id, evaluation_id=ev.id, call_id=ev.call_id, agent_id=ev.agent_id,
                      team_id=ev.team_id, opened_by=actor.user_id, opened_at=now,
                      answer_due_at=now + timedelta(days=policy.answer_days), comment=comment)
    session.add(dispute)
    session.flush()
    for cid, wanted in criteria.items():
        session.add(DisputeItem(org_id=ev.org_id, dispute_id=dispute.id, criterion_id=cid, verdict=finals[cid],
                                requested=wanted))
    session.flush()
    audit.log_event(session=session, who=actor.who, action="dispute_opened", target_type="call",
                    target_id=ev.call_id, detail={"dispute_id": dispute.id, "evaluation_id": ev.id,
                                                  "criteres": sorted(criteria)})
    return _view(session, dispute)


def disputes_of(*, session: Session, actor: Actor, evaluation_ids: list[int]) -> dict[int, DisputeView]:
    """The disputes of the given evaluations, by evaluation id: an agent's own, or any of the organisation's
    for those who answer disputes."""
    own = may(actor.role, "own_evaluations")
    if not own and not may(actor.role, "resolve_disputes"):
        raise AccessDenied("Accès refusé : contestations réservées au téléconseiller et aux superviseurs.")
    out: dict[int, DisputeView] = {}
    for i in range(0, len(evaluation_ids), 500):
        stmt = select(Dispute).where(Dispute.org_id == actor.org_id,
                                     col(Dispute.evaluation_id).in_(evaluation_ids[i:i + 500]))
        if own:
            stmt = stmt.where(Dispute.agent_id == (actor.agent_id or -1))
        out.update((v.evaluation_id, v) for v in _views(session, list(session.exec(stmt).all())))
    return out


# --- the supervisors' side ---------------------------------------------------------------------------


def _require_resolver(actor: Actor) -> None:
    if not may(actor.role, "resolve_disputes"):
        raise AccessDenied("Accès refusé : les contestations sont traitées par les superviseurs et les "
                           "administrateurs.")


def dispute_queue(*, session: Session, actor: Actor, status: str = "open",
                  limit: int = DEFAULT_QUEUE_LIMIT) -> list[DisputeView]:
    """Disputes of the organisation in one state: open ones by answer deadline, decided ones newest first."""
    _require_resolver(actor)
    stmt = select(Dispute).where(Dispute.org_id == actor.org_id, Dispute.status == status)
    stmt = stmt.order_by(Dispute.answer_due_at, Dispute.id) if status == "open" else stmt.order_by(
        col(Dispute.resolved_at).desc(), col(Dispute.id).desc())
    return _views(session, list(session.exec(stmt.limit(limit)).all()))


def count_open_disputes(*, session: Session, actor: Actor) -> int:
    """How many disputes wait for an answer in the organisation (0 for roles that do not answer them)."""
    if not may(actor.role, "resolve_disputes"):
        return 0
    return session.exec(select(func.count()).select_from(Dispute).where(
        Dispute.org_id == actor.org_id, Dispute.status == "open")).one()


def get_dispute(*, session: Session, actor: Actor, dispute_id: int) -> DisputeView:
    """One dispute: for a supervisor of the organisation, or the agent who opened it."""
    d = session.get(Dispute, dispute_id)
    if d is None or d.org_id != actor.org_id:
        raise NotFound("Contestation introuvable.")
    if may(actor.role, "own_evaluations"):
        if d.agent_id is None or d.agent_id != actor.agent_id:
            raise NotFound("Contestation introuvable.")
    else:
        _require_resolver(actor)
    return _view(session, d)


def resolve_dispute(*, session: Session, actor: Actor, dispute_id: int, accepted: list[str] | set[str],
                    reason: str = "", now: datetime | None = None) -> DisputeView:
    """Answer a dispute: the ``accepted`` criteria take the verdict the agent asked for, the others are
    rejected (a reason is then required). Accepted verdicts go through the review path."""
    _require_resolver(actor)
    d = session.get(Dispute, dispute_id)
    if d is None or d.org_id != actor.org_id:
        raise NotFound("Contestation introuvable.")
    if d.status != "open":
        raise InvalidInput("Cette contestation a déjà reçu une réponse.")
    items = list(session.exec(select(DisputeItem).where(DisputeItem.dispute_id == d.id,
                                                        DisputeItem.org_id == d.org_id)).all())
    accepted = set(accepted)
    unknown = accepted - {i.criterion_id for i in items}
    if unknown:
        raise InvalidInput("Seuls les critères contestés peuvent être acceptés.")
    reason = _clean(reason)
    if accepted != {i.criterion_id for i in items} and not reason:
        raise InvalidInput("Motivez le refus : un motif est obligatoire pour chaque contestation rejetée, même "
                           "en partie.")
    ev = session.get(Evaluation, d.evaluation_id)
    before = ev.final_score
    if accepted:
        if not ev.is_current:
            raise InvalidInput("L'appel a été réévalué depuis la contestation : seul un rejet motivé est "
                               "possible, l'agent pourra contester la nouvelle évaluation.")
        _apply(session, actor, d, ev, [i for i in items if i.criterion_id in accepted], reason)
    for item in items:
        item.decision = "accepted" if item.criterion_id in accepted else "rejected"
        session.add(item)
    d.status = "accepted" if accepted == {i.criterion_id for i in items} else ("partial" if accepted else "rejected")
    d.resolved_by, d.resolved_at, d.resolution = actor.user_id, now or utcnow(), reason or None
    session.add(d)
    session.flush()
    session.refresh(ev)
    audit.log_event(session=session, who=actor.who, action="dispute_resolved", target_type="call",
                    target_id=d.call_id,
                    detail={"dispute_id": d.id, "evaluation_id": d.evaluation_id, "issue": d.status,
                            "acceptes": sorted(accepted),
                            "rejetes": sorted(i.criterion_id for i in items if i.criterion_id not in accepted),
                            "score_avant": before, "score_apres": ev.final_score, "score_ia": ev.ai_score})
    return _view(session, d)


def _apply(session: Session, actor: Actor, d: Dispute, ev: Evaluation, items: list[DisputeItem],
           reason: str) -> None:
    """Re-validate the evaluation with the accepted verdicts, keeping the previous review's other changes."""
    finals = dict(session.exec(select(CriterionResult.criterion_id, CriterionResult.final_verdict).where(
        CriterionResult.evaluation_id == ev.id, CriterionResult.org_id == ev.org_id)).all())
    previous = reviews.latest_review(session=session, evaluation=ev)
    comments = json.loads(previous.comments_json) if previous else {}
    why = f"Contestation n° {d.id} acceptée" + (f" : {reason}" if reason else "")
    for item in items:
        finals[item.criterion_id] = item.requested
        comments[item.criterion_id] = why
    result = result_of(ev)
    kept = {"summary": previous.summary if previous else result.get("summary"),
            "recommendations": (json.loads(previous.recommendations_json or "[]") if previous
                                else result.get("recommendations") or []),
            "coaching_note": previous.coaching_note if previous else None}
    reviews.validate_review(session=session, actor=actor, call_id=ev.call_id, overrides=finals, comments=comments,
                            publish=True, **kept)


def _view(session: Session, d: Dispute) -> DisputeView:
    return _views(session, [d])[0]


def _views(session: Session, rows: list[Dispute]) -> list[DisputeView]:
    """Disputes as shown, read together: one query per kind of row, each grid version parsed once."""
    if not rows:
        return []
    org_id = rows[0].org_id
    ids = [d.id for d in rows]
    items: dict[int, list[DisputeItem]] = {}
    for item in session.exec(select(DisputeItem).where(col(DisputeItem.dispute_id).in_(ids),
                                                       DisputeItem.org_id == org_id).order_by(DisputeItem.id)).all():
        items.setdefault(item.dispute_id, []).append(item)
    grid_of_ev = dict(session.exec(select(Evaluation.id, Evaluation.grid_id).where(
        col(Evaluation.id).in_({d.evaluation_id for d in rows}), Evaluation.org_id == org_id)).all())
    grids = {gid: reviews.grid_by_row_id(session=session, org_id=org_id, grid_id=gid)
             for gid in set(grid_of_ev.values())}
    agents = dict(session.exec(select(Agent.id, Agent.name).where(
        col(Agent.id).in_({d.agent_id for d in rows if d.agent_id}), Agent.org_id == org_id)).all())
    teams = dict(session.exec(select(Team.id, Team.name).where(
        col(Team.id).in_({d.team_id for d in rows if d.team_id}), Team.org_id == org_id)).all())
    users = dict(session.exec(select(User.id, User.display_name).where(
        col(User.id).in_({d.resolved_by for d in rows if d.resolved_by}), User.org_id == org_id)).all())
    out = []
    for d in rows:
        grid = grids[grid_of_ev.get(d.evaluation_id)]
        out.append(DisputeView(
            id=d.id, evaluation_id=d.evaluation_id, call_id=d.call_id, agent_name=agents.get(d.agent_id),
            team_name=teams.get(d.team_id), opened_at=d.opened_at, answer_due_at=d.answer_due_at, comment=d.comment,
            status=d.status, resolved_at=d.resolved_at, resolver=users.get(d.resolved_by), resolution=d.resolution,
            items=tuple(DisputeItemView(criterion_id=i.criterion_id, label=reviews.label_of(grid, i.criterion_id),
                                        verdict=i.verdict, requested=i.requested, decision=i.decision)
                        for i in items.get(d.id, []))))
    return out
