"""Calibration: how far the AI agrees with people, and how far people agree with each other.

- **AI against humans** (:func:`ai_agreement`): per criterion, on validated calls, the AI's verdict against
  the validated one, and, where reviews are blind, against the verdict the reviewer gave before seeing the
  AI's. The second is the real agreement; the first can be flattered by reviewers confirming a suggestion.
- **Between humans** (calibration sessions): several supervisors score one call blind, each without seeing
  the AI's verdicts or each other's. Once they have scored, they see the spread per criterion, who is
  stricter or more lenient than the group, and the facilitator records the agreed result, which can become
  the call's validation.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session, col, func, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.calls import scope_calls
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import BlindScore, CalibrationSession, CriterionResult, Evaluation, Review, User
from ccr.core.models import Grid as GridRow
from ccr.core.users import Actor
from ccr.quality import reviews
from ccr.quality.evaluations import result_of
from ccr.scoring.evaluation import VERDICTS
from ccr.scoring.grid import default_grid, load_grid_yaml

TOP_DISAGREEMENTS = 10
TENDENCY_POINTS = 5.0  # an evaluator this far from the group's mean score is called stricter or more lenient
MAX_TITLE_CHARS = 200
MIN_SCORES_TO_CLOSE = 2  # a group of one agrees with itself


def _require(actor: Actor) -> None:
    if not may(actor.role, "calibrate"):
        raise AccessDenied("Accès refusé : la calibration est réservée aux superviseurs et aux administrateurs.")


# --- AI against humans ------------------------------------------------------------------------------


def _bounds(period: tuple[date | datetime, date | datetime] | None) -> tuple[datetime | None, datetime | None]:
    if period is None:
        return None, None
    start, end = period

    def _dt(d: date | datetime, end_of_day: bool) -> datetime:
        if isinstance(d, datetime):
            return d
        # Whole days, inclusive, in UTC like every stored datetime.
        return datetime.combine(d, time.max if end_of_day else time.min, tzinfo=UTC)

    return _dt(start, False), _dt(end, True)


def _labels(session: Session, org_id: int, grid_ids: set[int]) -> dict[str, str]:
    labels = {c.id: c.label for c in default_grid().criteria}
    for g in session.exec(select(GridRow).where(col(GridRow.id).in_(grid_ids or {-1}), GridRow.org_id == org_id)).all():
        labels.update({c.id: c.label for c in load_grid_yaml(g.definition_json).criteria})
    return labels


def _agreement(pairs: list[tuple[str, str, str, int]], labels: dict[str, str]) -> dict[str, Any]:
    """Per-criterion agreement, confusion counts and most frequent disagreements of (criterion, ai, human, call)."""
    confusion: dict[str, Counter] = defaultdict(Counter)
    disagreements: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    calls = set()
    for cid, ai, human, call_id in pairs:
        calls.add(call_id)
        confusion[cid][(ai, human)] += 1
        if ai != human:
            disagreements[(cid, ai, human)].append(call_id)
    order = list(labels)
    criteria = []
    for cid in sorted(confusion, key=lambda k: (order.index(k) if k in labels else len(order), k)):
        counts = confusion[cid]
        n = sum(counts.values())
        agree = sum(v for (a, h), v in counts.items() if a == h)
        criteria.append({
            "criterion_id": cid, "label": labels.get(cid, cid), "n": n, "agree": agree,
            "rate": round(agree / n, 4) if n else None,
            "confusion": {a: {h: counts.get((a, h), 0) for h in VERDICTS} for a in VERDICTS},
        })
    top = sorted(disagreements.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_DISAGREEMENTS]
    return {
        "calls": len(calls),
        "criteria": criteria,
        "disagreements": [{"criterion_id": cid, "label": labels.get(cid, cid), "ai": a, "human": h,
                           "count": len(ids), "call_ids": sorted(set(ids))} for (cid, a, h), ids in top],
    }


def ai_agreement(*, session: Session, actor: Actor,
                 period: tuple[date | datetime, date | datetime] | None = None) -> dict[str, Any]:
    """AI-human agreement per criterion: against validated verdicts, and against blind verdicts (``blind``)."""
    _require(actor)
    start, end = _bounds(period)

    def _period(stmt):
        stmt = scope_calls(stmt, actor, model=Evaluation, include_restricted=False)
        if start is not None:
            stmt = stmt.where(Evaluation.started_at >= start)
        if end is not None:
            stmt = stmt.where(Evaluation.started_at <= end)
        return stmt

    rows = session.exec(_period(
        select(CriterionResult.criterion_id, CriterionResult.ai_verdict, CriterionResult.final_verdict,
               CriterionResult.call_id, Evaluation.grid_id)
        .join(Evaluation, Evaluation.id == CriterionResult.evaluation_id)
        .where(Evaluation.is_current == True, Evaluation.validated == True,  # noqa: E712
               CriterionResult.org_id == actor.org_id))).all()
    blind_rows = session.exec(_period(
        select(BlindScore.evaluation_id, BlindScore.call_id, BlindScore.verdicts_json, Evaluation.grid_id)
        .join(Evaluation, Evaluation.id == BlindScore.evaluation_id)
        .where(Evaluation.is_current == True, BlindScore.org_id == actor.org_id,  # noqa: E712
               col(BlindScore.calibration_id).is_(None)))).all()
    ai_of: dict[tuple[int, str], str] = {}
    ev_ids = sorted({r.evaluation_id for r in blind_rows})
    for i in range(0, len(ev_ids), 500):
        for ev_id, cid, verdict in session.exec(
                select(CriterionResult.evaluation_id, CriterionResult.criterion_id, CriterionResult.ai_verdict)
                .where(col(CriterionResult.evaluation_id).in_(ev_ids[i:i + 500]),
                       CriterionResult.org_id == actor.org_id)).all():
            ai_of[(ev_id, cid)] = verdict
    labels = _labels(session, actor.org_id, {r.grid_id for r in [*rows, *blind_rows] if r.grid_id is not None})
    out = _agreement([(r.criterion_id, r.ai_verdict, r.final_verdict, r.call_id) for r in rows], labels)
    blind_pairs = [(cid, ai_of[(r.evaluation_id, cid)], human, r.call_id)
                   for r in blind_rows for cid, human in json.loads(r.verdicts_json).items()
                   if (r.evaluation_id, cid) in ai_of]
    out["blind"] = _agreement(blind_pairs, labels)
    kept = {}  # evaluation -> (scorer's category, the one its latest review kept, call)
    for ev_id, call_id, ai, human in session.exec(_period(
            select(Review.evaluation_id, Review.call_id, Review.ai_category, Review.category)
            .join(Evaluation, Evaluation.id == Review.evaluation_id)
            .where(Evaluation.is_current == True, Evaluation.validated == True,  # noqa: E712
                   Review.org_id == actor.org_id)).order_by(Review.id)).all():
        kept[ev_id] = (ai, human, call_id)
    out["categories"] = category_agreement([v for v in kept.values() if v[0] and v[1]])
    return out


def category_agreement(pairs: list[tuple[str, str, int]]) -> dict[str, Any]:
    """How often reviewers kept the scorer's category, from (scorer's, kept, call) triples of reviews that
    chose one; the most frequent corrections first, each with its calls."""
    changed: dict[tuple[str, str], list[int]] = defaultdict(list)
    for ai, human, call_id in pairs:
        if ai != human:
            changed[(ai, human)].append(call_id)
    agree = len(pairs) - sum(len(v) for v in changed.values())
    top = sorted(changed.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_DISAGREEMENTS]
    return {"n": len(pairs), "agree": agree, "rate": round(agree / len(pairs), 4) if pairs else None,
            "corrections": [{"ai": a, "human": h, "count": len(ids), "call_ids": sorted(set(ids))}
                            for (a, h), ids in top]}


# --- between humans: calibration sessions -------------------------------------------------------------


@dataclass(frozen=True)
class CriterionSpread:
    """How the group scored one criterion."""

    criterion_id: str
    label: str
    counts: dict[str, int]
    majority: str
    agreement: float  # share of the evaluators who gave the majority verdict
    ai_verdict: str | None


@dataclass(frozen=True)
class EvaluatorSpread:
    """One evaluator of a session against the group."""

    user_id: int | None
    name: str
    score: float
    deviation: float  # points above (lenient) or below (strict) the group's mean score
    off_majority: int  # criteria where they differ from the group's majority

    @property
    def tendency(self) -> str:
        """« plus sévère », « plus indulgent » or « dans la moyenne » than the group."""
        if self.deviation <= -TENDENCY_POINTS:
            return "plus sévère"
        if self.deviation >= TENDENCY_POINTS:
            return "plus indulgent"
        return "dans la moyenne"


@dataclass(frozen=True)
class SessionView:
    """A calibration session as its page shows it; the spread only to those allowed to see it."""

    id: int
    title: str
    call_id: int
    evaluation_id: int
    status: str
    created_by: str
    created_at: datetime
    is_facilitator: bool
    scored: int
    scored_by_me: bool
    results_visible: bool
    criteria: list[dict[str, Any]]  # id, label, critical: what to score (no AI verdict)
    spread: list[CriterionSpread]
    evaluators: list[EvaluatorSpread]
    mean_score: float | None
    score_range: float | None
    ai_score: float | None
    agreed: dict[str, str] | None
    closed_at: datetime | None


def _own_session(session: Session, actor: Actor, session_id: int) -> CalibrationSession:
    _require(actor)
    row = session.get(CalibrationSession, session_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Session de calibration introuvable.")
    return row


def create_session(*, session: Session, actor: Actor, call_id: int, title: str = "") -> CalibrationSession:
    """Open a calibration session on a scored call; its creator facilitates it and scores it too."""
    _require(actor)
    view = reviews.open_call(session=session, actor=actor, call_id=call_id, log=False)
    if not view.scored:
        raise InvalidInput("Cet appel n'a pas encore été évalué : choisissez un appel évalué.")
    title = (title or "").strip()[:MAX_TITLE_CHARS] or f"Calibration de l'appel n° {call_id}"
    row = CalibrationSession(org_id=actor.org_id, evaluation_id=view.evaluation_id, call_id=call_id, title=title,
                             created_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="calibration_session_created",
                    target_type="calibration", target_id=row.id, detail={"call_id": call_id})
    return row


@dataclass(frozen=True)
class SessionLine:
    """A calibration session as the list of sessions shows it."""

    id: int
    title: str
    status: str
    scored: int


def list_sessions(*, session: Session, actor: Actor, limit: int = 50) -> list[SessionLine]:
    """The organisation's calibration sessions, open ones first, newest first, with how many have scored."""
    _require(actor)
    scored = (select(func.count()).select_from(BlindScore)
              .where(BlindScore.calibration_id == CalibrationSession.id).scalar_subquery())
    rows = session.exec(select(CalibrationSession.id, CalibrationSession.title, CalibrationSession.status, scored)
                        .where(CalibrationSession.org_id == actor.org_id)
                        .order_by(col(CalibrationSession.status).desc(), col(CalibrationSession.id).desc())
                        .limit(limit)).all()
    return [SessionLine(id=i, title=t, status=st, scored=n) for i, t, st, n in rows]


def get_session(*, session: Session, actor: Actor, session_id: int) -> SessionView:
    """One calibration session; the group's verdicts only once the actor has scored, or once it is closed."""
    return _view(session, actor, _own_session(session, actor, session_id))


def score_session(*, session: Session, actor: Actor, session_id: int, verdicts: dict[str, str],
                  comments: dict[str, str] | None = None) -> BlindScore:
    """Record the actor's blind verdicts in an open session (once per person)."""
    row = _own_session(session, actor, session_id)
    if row.status != "open":
        raise InvalidInput("Cette session de calibration est close : elle ne reçoit plus de verdicts.")
    if _score_of(session, row, actor.user_id) is not None:
        raise InvalidInput("Vous avez déjà noté cet appel dans cette session.")
    ev = _evaluation(session, row)
    grid = reviews.grid_of(session=session, evaluation=ev)
    clean, score = reviews.complete_verdicts(result_of(ev), verdicts, grid)
    blind = BlindScore(org_id=row.org_id, evaluation_id=ev.id, call_id=row.call_id, reviewer_id=actor.user_id,
                       calibration_id=row.id, verdicts_json=json.dumps(clean), score=score,
                       comments_json=json.dumps({k: v.strip()[:reviews.MAX_COMMENT_CHARS]
                                                 for k, v in (comments or {}).items() if v and v.strip()},
                                                ensure_ascii=False))
    session.add(blind)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="calibration_scored", target_type="calibration",
                    target_id=row.id, detail={"call_id": row.call_id, "score": score})
    return blind


def close_session(*, session: Session, actor: Actor, session_id: int, agreed: dict[str, str],
                  apply: bool = False, note: str = "") -> SessionView:
    """Record the group's agreed verdicts and close the session (its facilitator or an administrator).

    With ``apply``, the agreed verdicts become the call's validation (the AI's score stays visible)."""
    row = _own_session(session, actor, session_id)
    if row.status != "open":
        raise InvalidInput("Cette session de calibration est déjà close.")
    if row.created_by != actor.user_id and actor.role != "admin":
        raise AccessDenied("Seul l'animateur de la session (ou un administrateur) peut la clore.")
    scores = _scores(session, row)
    if len(scores) < MIN_SCORES_TO_CLOSE:
        raise InvalidInput(f"Il faut au moins {MIN_SCORES_TO_CLOSE} évaluations pour clore une session.")
    ev = _evaluation(session, row)
    grid = reviews.grid_of(session=session, evaluation=ev)
    clean, score = reviews.complete_verdicts(result_of(ev), agreed, grid)
    if apply:
        if not ev.is_current:
            raise InvalidInput("L'appel a été re-noté depuis l'ouverture de la session : le résultat convenu ne "
                               "peut plus devenir sa validation.")
        reason = (note or "").strip() or f"Résultat convenu en session de calibration n° {row.id}"
        reviews.validate_review(session=session, actor=actor, call_id=row.call_id, overrides=clean,
                                comments={cid: reason for cid in clean})
    row.status, row.agreed_json = "closed", json.dumps(clean)
    row.closed_by, row.closed_at = actor.user_id, utcnow()
    session.add(row)
    audit.log_event(session=session, who=actor.who, action="calibration_session_closed",
                    target_type="calibration", target_id=row.id,
                    detail={"call_id": row.call_id, "score_convenu": score, "applique": bool(apply),
                            "evaluations": len(scores)})
    return _view(session, actor, row)


def _evaluation(session: Session, row: CalibrationSession) -> Evaluation:
    ev = session.get(Evaluation, row.evaluation_id)
    if ev is None or ev.org_id != row.org_id:
        raise NotFound("L'évaluation de cette session n'existe plus (effacée à l'échéance de conservation).")
    return ev


def _scores(session: Session, row: CalibrationSession) -> list[BlindScore]:
    return list(session.exec(select(BlindScore).where(BlindScore.calibration_id == row.id,
                                                      BlindScore.org_id == row.org_id)
                             .order_by(BlindScore.id)).all())


def _score_of(session: Session, row: CalibrationSession, user_id: int) -> BlindScore | None:
    return session.exec(select(BlindScore).where(BlindScore.calibration_id == row.id,
                                                 BlindScore.org_id == row.org_id,
                                                 BlindScore.reviewer_id == user_id)).first()


def _view(session: Session, actor: Actor, row: CalibrationSession) -> SessionView:
    ev = session.get(Evaluation, row.evaluation_id)
    grid = reviews.grid_of(session=session, evaluation=ev) if ev is not None else default_grid()
    result = result_of(ev) if ev is not None else {"criteria": []}
    criteria = [{"id": c["id"], "label": reviews.label_of(grid, c["id"])} for c in result.get("criteria") or []]
    scores = _scores(session, row)
    names = dict(session.exec(select(User.id, User.display_name).where(
        col(User.id).in_({s.reviewer_id for s in scores if s.reviewer_id} | {row.created_by or -1}),
        User.org_id == row.org_id)).all())
    mine = any(s.reviewer_id == actor.user_id for s in scores)
    visible = mine or row.status == "closed"
    spread: list[CriterionSpread] = []
    evaluators: list[EvaluatorSpread] = []
    mean = rng = None
    if visible and scores:
        ai = {c["id"]: c["verdict"] for c in result.get("criteria") or []}
        verdicts = [json.loads(s.verdicts_json) for s in scores]
        majority: dict[str, str] = {}
        for c in criteria:
            counts = Counter(v.get(c["id"], "na") for v in verdicts)
            # Ties go to the verdict order pass < fail < na, so the same votes always give the same majority.
            top = max(VERDICTS, key=lambda v: (counts.get(v, 0), -VERDICTS.index(v)))
            majority[c["id"]] = top
            spread.append(CriterionSpread(criterion_id=c["id"], label=c["label"],
                                          counts={v: counts.get(v, 0) for v in VERDICTS}, majority=top,
                                          agreement=round(counts[top] / len(verdicts), 4),
                                          ai_verdict=ai.get(c["id"])))
        mean = round(statistics.fmean(s.score for s in scores), 1)
        rng = round(max(s.score for s in scores) - min(s.score for s in scores), 1)
        for s, v in zip(scores, verdicts, strict=True):
            evaluators.append(EvaluatorSpread(
                user_id=s.reviewer_id, name=names.get(s.reviewer_id, "—"), score=s.score,
                deviation=round(s.score - mean, 1),
                off_majority=sum(1 for cid, m in majority.items() if v.get(cid, "na") != m)))
    return SessionView(
        id=row.id, title=row.title, call_id=row.call_id, evaluation_id=row.evaluation_id, status=row.status,
        created_by=names.get(row.created_by, "—"), created_at=row.created_at,
        is_facilitator=row.created_by == actor.user_id, scored=len(scores), scored_by_me=mine,
        results_visible=visible, criteria=criteria, spread=spread, evaluators=evaluators, mean_score=mean,
        score_range=rng, ai_score=ev.ai_score if visible and ev is not None else None,
        agreed=json.loads(row.agreed_json) if row.agreed_json else None, closed_at=row.closed_at)
