"""Human oversight of AI verdicts: open a call, validate or correct its evaluation, publish it, the review queue.

The AI evaluation is never rewritten: ``ai_score``, ``result_json`` and each ``ai_verdict`` stay as
scored. A validation stores a :class:`~ccr.core.models.Review` and sets the evaluation's ``final_*`` columns
and each criterion's ``final_verdict``, which is what dashboards read from then on.

Irritants concern the customer only; CCR infers no emotion about agents (EU AI Act, art. 5(1)(f)).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from ccr.core import audit, outbox, storage
from ccr.core.access import may
from ccr.core.calls import get_call, scope_calls
from ccr.core.config import get_settings
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.formats import fr_percent
from ccr.core.models import (
    Agent,
    BlindScore,
    Call,
    CriterionResult,
    Evaluation,
    IrritantHit,
    Review,
    Team,
    Transcript,
    User,
)
from ccr.core.models import Grid as GridRow
from ccr.core.users import Actor
from ccr.dashboards.rollups import mark_dirty
from ccr.quality.blind import blind_pending, own_blind_score, verdicts_of
from ccr.quality.evaluations import result_of, unit_share
from ccr.quality.publication import mark_published
from ccr.scoring.evaluation import VERDICTS, compute_score
from ccr.scoring.grid import Grid, default_grid, load_grid_yaml
from ccr.scoring.grid_store import active_taxonomy
from ccr.scoring.triage import ORDER, REASONS, SAMPLE, grid_thresholds, review_codes

MAX_REVIEW_REASONS = 20  # one per criterion at most; a longer list is a malformed result, cut for the screen
SAMPLE_BUCKETS = 10_000  # 0.01 % resolution, enough for any sample rate a supervisor would set
DEFAULT_QUEUE_LIMIT = 200  # one screen of work; more would not be reviewed the same day anyway
MAX_COMMENT_CHARS = 2000  # a comment explains a verdict; longer text belongs to the coaching note
MAX_NOTE_CHARS = 10_000
AUDIO_MIME = {"wav": "audio/wav", "pcm_s16le": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg",
              "vorbis": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac", "m4a": "audio/mp4",
              "aac": "audio/mp4", "webm": "audio/webm"}


@dataclass(frozen=True)
class ReviewView:
    """A stored human review, as the review page shows it."""

    id: int
    evaluation_id: int
    reviewer: str
    created_at: datetime
    ai_score: float
    final_score: float
    final_passed: bool
    overrides: dict[str, str]
    comments: dict[str, str]
    summary: str | None
    recommendations: list[str]
    coaching_note: str | None


@dataclass(frozen=True)
class CallView:
    """Everything the review page shows about one call: header, transcript, evaluation, latest review."""

    call_id: int
    agent_name: str | None
    team_name: str | None
    started_at: datetime
    duration_s: float | None
    direction: str | None
    campaign: str | None
    status: str
    codec: str | None
    has_audio: bool
    segments: list[dict[str, Any]]
    evaluation_id: int | None = None
    grid_id: int | None = None
    grid_label: str | None = None
    category: str | None = None  # the one kept: the scorer's, or a reviewer's correction
    ai_category: str | None = None
    category_doubt: str = ""  # why the scorer was unsure of its category, when it was
    irritants: list[str] = field(default_factory=list)  # the labels counted now: the scorer's or a correction
    ai_score: float | None = None
    ai_passed: bool | None = None
    ai_critical_failed: bool | None = None
    final_score: float | None = None
    final_passed: bool | None = None
    final_critical_failed: bool | None = None
    validated: bool = False
    unverified: bool = False
    needs_review: bool = False
    review_reasons: list[str] = field(default_factory=list)
    result_risk: float | None = None  # the scorer's chance that its pass or fail is wrong; None: not said
    result: dict[str, Any] | None = None
    grid: Grid | None = None
    criteria: list[dict[str, Any]] = field(default_factory=list)
    latest_review: ReviewView | None = None
    published_at: datetime | None = None
    published_ai_only: bool = False
    # Blind review: the AI's verdicts, score, evidence and summary are left out of this view until the
    # reviewer has submitted their own verdicts; ``blind_verdicts`` are those, once submitted.
    blind: bool = False
    blind_verdicts: dict[str, str] | None = None

    @property
    def scored(self) -> bool:
        """True once the call has an evaluation."""
        return self.evaluation_id is not None


@dataclass(frozen=True)
class QueueItem:
    """One call of the "À revoir" queue and why it is there."""

    call_id: int
    evaluation_id: int
    started_at: datetime
    agent_name: str | None
    team_name: str | None
    score: float
    passed: bool
    critical_failed: bool
    codes: tuple[str, ...]
    review_reasons: tuple[str, ...] = ()  # the scorer's own French reasons, when it flagged a verdict as unsure
    result_risk: float | None = None  # the scorer's chance that its pass or fail is wrong; None: not said

    @property
    def reasons(self) -> list[str]:
        """The French labels of the reasons, most urgent first."""
        return [REASONS[c] for c in self.codes]


# --- grids --------------------------------------------------------------------------------


def grid_of(*, session: Session, evaluation: Evaluation) -> Grid:
    """The grid version an evaluation was scored with (the shipped default grid when it has no row)."""
    return grid_by_row_id(session=session, org_id=evaluation.org_id, grid_id=evaluation.grid_id)


def grid_by_row_id(*, session: Session, org_id: int, grid_id: int | None) -> Grid:
    """A stored grid version of ``org_id`` (the shipped default grid for None or another organisation's)."""
    if grid_id is not None:
        row = session.get(GridRow, grid_id)
        if row is not None and row.org_id == org_id:
            return _parse_grid(row.definition_json)
    return default_grid()


def _parse_grid(text: str) -> Grid:
    # Grid rows hold YAML (the grid editor) or JSON; YAML reads both.
    return load_grid_yaml(text)


def rescore_grids(*, session: Session, actor: Actor) -> list[tuple[int, str]]:
    """Grid versions of the actor's organisation a call can be re-scored with: (grid id, French label)."""
    rows = session.exec(select(GridRow).where(GridRow.org_id == actor.org_id)
                        .order_by(GridRow.slug, col(GridRow.version).desc())).all()
    return [(r.id, f"{r.name} v{r.version}" + (" (active)" if r.is_active else "")) for r in rows]


# --- score arithmetic -----------------------------------------------------------------------


def recompute(result: dict[str, Any], overrides: dict[str, str], grid: Grid) -> tuple[float, bool, bool]:
    """Score, passed and critical_failed of an AI result once ``overrides`` (criterion id -> verdict) apply."""
    verdicts = {c["id"]: c["verdict"] for c in result.get("criteria") or []}
    known = {c.id for c in grid.criteria}
    for cid, verdict in overrides.items():
        if cid not in known:
            raise InvalidInput(f"Critère « {cid} » inconnu dans la grille « {grid.name} ».")
        if verdict not in VERDICTS:
            raise InvalidInput(f"Verdict « {verdict} » invalide pour le critère « {cid} » (pass, fail ou na).")
        verdicts[cid] = verdict
    return compute_score(verdicts, grid)


def changed_verdicts(result: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """The overrides that differ from the AI verdict (the only ones that need a comment)."""
    ai = {c["id"]: c["verdict"] for c in result.get("criteria") or []}
    return {cid: v for cid, v in overrides.items() if ai.get(cid, "na") != v}


# --- opening a call -----------------------------------------------------------------------


def _readable_call(session: Session, actor: Actor, call_id: int) -> Call:
    if not may(actor.role, "read_reviews"):
        raise AccessDenied("Accès refusé : la revue des appels est réservée aux superviseurs, "
                           "administrateurs et chefs d'équipe.")
    call = get_call(session=session, actor=actor, call_id=call_id)
    if call.restricted:
        # The caller's transaction is rolled back by the error: the refusal is kept in its own one.
        with db_session() as own:
            audit.log_event(session=own, who=actor.who, action="call_opened", target_type="call",
                            target_id=call.id, outcome="refused", detail={"raison": "traitement limité"})
        raise AccessDenied("Accès refusé : le traitement de cet appel est limité (demande d'une personne "
                           "concernée) ; il ne peut pas être consulté.")
    return call


def _current_eval(session: Session, call: Call) -> Evaluation | None:
    return session.exec(
        select(Evaluation).where(Evaluation.call_id == call.id, Evaluation.org_id == call.org_id,
                                 Evaluation.is_current == True)  # noqa: E712
    ).first()


def _review_view(session: Session, review: Review) -> ReviewView:
    reviewer = session.get(User, review.reviewer_id) if review.reviewer_id else None
    return ReviewView(
        id=review.id,
        evaluation_id=review.evaluation_id,
        reviewer=reviewer.display_name if reviewer else "—",
        created_at=review.created_at,
        ai_score=review.ai_score,
        final_score=review.final_score,
        final_passed=review.final_passed,
        overrides=json.loads(review.overrides_json or "{}"),
        comments=json.loads(review.comments_json or "{}"),
        summary=review.summary,
        recommendations=json.loads(review.recommendations_json) if review.recommendations_json else [],
        coaching_note=review.coaching_note,
    )


def latest_review(*, session: Session, evaluation: Evaluation) -> Review | None:
    """The most recent review of an evaluation, or None."""
    return session.exec(
        select(Review).where(Review.evaluation_id == evaluation.id, Review.org_id == evaluation.org_id)
        .order_by(col(Review.id).desc())
    ).first()


def open_call(*, session: Session, actor: Actor, call_id: int, log: bool = True, hide_ai: bool = False) -> CallView:
    """Everything the review page shows about a call the actor may see; logs ``call_opened`` when ``log``.

    ``hide_ai`` leaves the AI's output out whatever the organisation's rule (a calibration session's scoring)."""
    call = _readable_call(session, actor, call_id)
    agent = session.get(Agent, call.agent_id) if call.agent_id else None
    team = session.get(Team, call.team_id) if call.team_id else None
    tr = session.exec(select(Transcript).where(Transcript.call_id == call.id,
                                               Transcript.org_id == call.org_id)).first()
    segments = json.loads(tr.segments_json) if tr else []
    base = dict(
        call_id=call.id,
        agent_name=agent.name if agent and agent.org_id == call.org_id else None,
        team_name=team.name if team and team.org_id == call.org_id else None,
        started_at=call.started_at, duration_s=call.duration_s, direction=call.direction,
        campaign=call.campaign, status=call.status, codec=call.codec, has_audio=bool(call.audio_key),
        segments=segments,
    )
    ev = _current_eval(session, call)
    if ev is None:
        _log_opened(session, actor, call.id, None, log)
        return CallView(**base)
    result = result_of(ev)
    grid = grid_of(session=session, evaluation=ev)
    review = latest_review(session=session, evaluation=ev)
    latest = _review_view(session, review) if review else None
    if hide_ai or blind_pending(session=session, actor=actor, evaluation=ev):
        _log_opened(session, actor, call.id, ev.id, log)
        # Nothing the AI produced is in this view: the page cannot show what it never receives.
        criteria = [{"id": item["id"], "label": label_of(grid, item["id"]), "critical": _critical(grid, item["id"]),
                     "weight": item.get("weight")} for item in result.get("criteria") or []]
        return CallView(**base, evaluation_id=ev.id, grid_id=ev.grid_id,
                        grid_label=f"{grid.name} v{ev.grid_version}", grid=grid, criteria=criteria,
                        latest_review=latest, published_at=ev.published_at, blind=True)
    finals = dict(session.exec(select(CriterionResult.criterion_id, CriterionResult.final_verdict)
                               .where(CriterionResult.evaluation_id == ev.id,
                                      CriterionResult.org_id == ev.org_id)).all())
    criteria = []
    for item in result.get("criteria") or []:
        # Results stored before the scorer rated its own confidence have none: not flagged, no confidence.
        flagged = item.get("needs_review") is True
        criteria.append({
            "id": item["id"], "label": label_of(grid, item["id"]), "critical": _critical(grid, item["id"]),
            "weight": item.get("weight"),
            "ai_verdict": item["verdict"], "final_verdict": finals.get(item["id"], item["verdict"]),
            "evidence": item.get("evidence") or [], "explanation": item.get("explanation") or "",
            "confidence": confidence_of(item), "needs_review": flagged,
            "review_reason": _text(item.get("review_reason")) if flagged else "",
            "review_at": _seconds(item.get("review_at")) if flagged else None,
        })
    mine = own_blind_score(session=session, actor=actor, evaluation=ev)
    _log_opened(session, actor, call.id, ev.id, log)
    return CallView(
        **base,
        evaluation_id=ev.id, grid_id=ev.grid_id, grid_label=f"{grid.name} v{ev.grid_version}",
        category=ev.category, ai_category=ai_category(result), category_doubt=category_doubt_of(result),
        irritants=kept_irritants(session=session, evaluation=ev),
        ai_score=ev.ai_score, ai_passed=ev.ai_passed,
        ai_critical_failed=ev.ai_critical_failed, final_score=ev.final_score, final_passed=ev.final_passed,
        final_critical_failed=ev.final_critical_failed, validated=ev.validated, unverified=ev.unverified,
        needs_review=ev.needs_review, review_reasons=review_reasons_of(result), result_risk=ev.result_risk,
        result=result, grid=grid, criteria=criteria,
        latest_review=latest, published_at=ev.published_at, published_ai_only=ev.published_ai_only,
        blind_verdicts=verdicts_of(mine) if mine else None,
    )


def _critical(grid: Grid, cid: str) -> bool:
    try:
        return grid.criterion(cid).critical
    except KeyError:
        return False


def _log_opened(session: Session, actor: Actor, call_id: int, evaluation_id: int | None, log: bool) -> None:
    """Log the opening last, once everything is read: the audit chain's write lock is then held only
    for the append and the commit, not while the page reads, so other users' writes do not queue behind."""
    if log:
        audit.log_event(session=session, who=actor.who, action="call_opened", target_type="call",
                        target_id=call_id, detail={"evaluation_id": evaluation_id})


def _seconds(value: Any) -> float | None:
    """A call time in seconds from a stored result, or None when absent or not a plain number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def category_doubt_of(result: dict[str, Any]) -> str:
    """The scorer's French reason for doubting its category, or "" when it was sure (or older results)."""
    if result.get("category_needs_review") is not True:
        return ""
    return _text(result.get("category_review_reason"))


def result_risk_label(risk: float) -> str:
    """The French line saying how likely the scorer's pass or fail is wrong (« … : 40 % »)."""
    return f"Risque que la réussite ou l'échec donné par l'IA soit faux : {fr_percent(risk, 0, ratio=True)}"


def confidence_of(criterion: dict[str, Any]) -> float | None:
    """How sure the scorer is of a criterion's verdict (0 to 1), or None when the result does not say."""
    return unit_share(criterion.get("confidence"))


def review_reasons_of(result: dict[str, Any]) -> list[str]:
    """The French reasons the scorer gave for flagging a result as unsure (empty when it did not)."""
    reasons = result.get("review_reasons")
    if not result.get("needs_review") or not isinstance(reasons, list):
        return []
    return [r for r in (_text(x) for x in reasons[:MAX_REVIEW_REASONS]) if r]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def record_audio_play(*, session: Session, actor: Actor, call_id: int) -> None:
    """Log that the actor listened to a call's recording (``audio_played``)."""
    call = _readable_call(session, actor, call_id)
    audit.log_event(session=session, who=actor.who, action="audio_played", target_type="call", target_id=call.id)


def load_audio(*, session: Session, actor: Actor, call_id: int) -> bytes:
    """The decrypted recording of a call, in memory only; the play is logged (``audio_played``)."""
    _readable_call(session, actor, call_id)
    # load_call_audio writes the "audio_played" entry itself: logging here too would count each play twice.
    return storage.load_call_audio(session=session, actor=actor, call_id=call_id, purpose="lecture")


def audio_mime(codec: str | None) -> str:
    """The MIME type the browser player needs for a stored codec name."""
    return AUDIO_MIME.get((codec or "").lower(), "audio/wav")


# --- validation -----------------------------------------------------------------------------


def _clean_text(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def validate_review(
    *,
    session: Session,
    actor: Actor,
    call_id: int,
    overrides: dict[str, str],
    comments: dict[str, str],
    summary: str | None = None,
    recommendations: list[str] | None = None,
    coaching_note: str | None = None,
    publish: bool = False,
    category: str | None = None,
    irritants: list[str] | None = None,
) -> Review:
    """Store a supervisor's review of the current evaluation; its final score then feeds the dashboards.

    ``category`` corrects the call's category and ``irritants`` the customer irritants' labels (None keeps
    the current ones). With ``publish``, the evaluation is also published to its agent (validated by a human)."""
    call, ev = _scored_call(session, actor, call_id, "validate_reviews", "valident les évaluations",
                            "il n'y a rien à valider")
    result = result_of(ev)
    grid = grid_of(session=session, evaluation=ev)
    kept_category = _kept_category(session, ev, result, category)
    chosen_irritants = None if irritants is None else _kept_irritants(session, ev, result, irritants)
    changed = changed_verdicts(result, overrides)
    score, passed, critical = recompute(result, changed, grid)
    clean_comments = {cid: c for cid, c in ((k, _clean_text(v, MAX_COMMENT_CHARS)) for k, v in comments.items())
                      if c and cid in changed}
    missing = [cid for cid in changed if cid not in clean_comments]
    if missing:
        labels = ", ".join(f"« {label_of(grid, cid)} »" for cid in missing)
        raise InvalidInput(f"Un commentaire est obligatoire pour chaque verdict modifié : {labels}.")
    recos = [r.strip() for r in (recommendations or []) if r and r.strip()]
    review = Review(
        org_id=call.org_id, call_id=call.id, evaluation_id=ev.id, reviewer_id=actor.user_id,
        ai_score=ev.ai_score, final_score=score, final_passed=passed,
        overrides_json=json.dumps(changed, ensure_ascii=False),
        comments_json=json.dumps(clean_comments, ensure_ascii=False),
        summary=_clean_text(summary, MAX_NOTE_CHARS),
        recommendations_json=json.dumps(recos, ensure_ascii=False),
        coaching_note=_clean_text(coaching_note, MAX_NOTE_CHARS),
        category=kept_category, ai_category=ai_category(result),
        irritants_json=None if chosen_irritants is None else json.dumps(chosen_irritants, ensure_ascii=False),
        created_at=utcnow(),
    )
    session.add(review)
    ev.final_score, ev.final_passed, ev.final_critical_failed, ev.validated = score, passed, critical, True
    ev.category = kept_category
    if chosen_irritants is not None:
        ev.irritant_count = _replace_irritant_hits(session, call, ev, result, chosen_irritants)
    mark_dirty(session, ev.org_id, [ev.started_at])  # dashboard rollups of that day (ccr.dashboards.rollups)
    session.add(ev)
    for row in session.exec(select(CriterionResult).where(CriterionResult.evaluation_id == ev.id,
                                                          CriterionResult.org_id == ev.org_id)).all():
        # A later review may revert an earlier override: every final verdict is reset from this one.
        row.final_verdict = changed.get(row.criterion_id, row.ai_verdict)
        session.add(row)
    session.flush()
    ai = {c["id"]: c["verdict"] for c in result.get("criteria") or []}
    # Comments stay out of the audit log: they may quote the call; the log keeps who changed what.
    changes = {k: [ai.get(k, "na"), v] for k, v in changed.items()}
    detail = {"evaluation_id": ev.id, "review_id": review.id, "score_ia": ev.ai_score, "score_final": score,
              "modifications": changes}
    if kept_category != ai_category(result):
        detail["categorie"] = [ai_category(result), kept_category]
    if chosen_irritants is not None and chosen_irritants != ai_irritants(result):
        detail["irritants"] = [ai_irritants(result), chosen_irritants]
    audit.log_event(session=session, who=actor.who, action="call_validated", target_type="call",
                    target_id=call.id, detail=detail)
    outbox.review_validated(session, call, ev, review, list(changed), kept_irritants(session=session, evaluation=ev))
    if publish:
        mark_published(session=session, actor=actor, evaluation=ev)
    return review


def ai_category(result: dict[str, Any]) -> str | None:
    """The category the scorer gave, as stored in its result (None when it gave none)."""
    value = result.get("category")
    return value if isinstance(value, str) and value else None


def _kept_category(session: Session, ev: Evaluation, result: dict[str, Any], chosen: str | None) -> str | None:
    """The category a review keeps: the current one when none is chosen, else one the organisation has."""
    if chosen is None:
        return ev.category
    chosen = chosen.strip()
    if chosen == ai_category(result) or chosen == ev.category:
        return chosen
    known = {c.id for c in active_taxonomy(session=session, org_id=ev.org_id).categories}
    if chosen not in known:
        raise InvalidInput(f"Catégorie inconnue : « {chosen[:80]} ». Choisissez une catégorie de la taxonomie "
                           "de votre organisation.")
    return chosen


def ai_irritants(result: dict[str, Any]) -> list[str]:
    """The distinct irritant labels the scorer found, sorted."""
    return sorted({i["label"] for i in result.get("irritants") or []
                   if isinstance(i, dict) and isinstance(i.get("label"), str) and i["label"]})


def kept_irritants(*, session: Session, evaluation: Evaluation) -> list[str]:
    """The distinct irritant labels an evaluation counts now (the scorer's, or a review's correction), sorted."""
    return sorted(set(session.exec(select(IrritantHit.label).where(
        IrritantHit.evaluation_id == evaluation.id, IrritantHit.org_id == evaluation.org_id)).all()))


def _kept_irritants(session: Session, ev: Evaluation, result: dict[str, Any], chosen: list[str]) -> list[str]:
    """The irritant labels a review keeps: each one the scorer found, counts now or the organisation has."""
    labels = sorted({str(x).strip() for x in chosen if str(x).strip()})
    allowed = set(ai_irritants(result)) | set(kept_irritants(session=session, evaluation=ev))
    unknown = [x for x in labels if x not in allowed]
    if unknown:
        allowed |= {i.id for i in active_taxonomy(session=session, org_id=ev.org_id).irritants}
        unknown = [x for x in labels if x not in allowed]
    if unknown:
        raise InvalidInput(f"Irritant inconnu : « {unknown[0][:80]} ». Choisissez des irritants de la taxonomie "
                           "de votre organisation.")
    return labels


def _replace_irritant_hits(session: Session, call: Call, ev: Evaluation, result: dict[str, Any],
                           labels: list[str]) -> int:
    """Rewrite the evaluation's irritant rows, which the dashboards count, to the kept labels: the scorer's
    hits of a kept label keep their time in the call, a label a human added counts once. Returns the count."""
    session.exec(delete(IrritantHit).where(IrritantHit.evaluation_id == ev.id, IrritantHit.org_id == ev.org_id))
    times: dict[str, list[float]] = {}
    for irr in result.get("irritants") or []:
        if isinstance(irr, dict) and irr.get("label") in labels:
            times.setdefault(irr["label"], []).append(float(irr.get("start") or 0.0))
    hits = [(label, start) for label in labels for start in times.get(label, [0.0])]
    for label, start in hits:
        session.add(IrritantHit(org_id=ev.org_id, evaluation_id=ev.id, call_id=call.id, label=label, start_s=start,
                                team_id=ev.team_id, agent_id=ev.agent_id, started_at=ev.started_at))
    return len(hits)


def _scored_call(session: Session, actor: Actor, call_id: int, action: str, what: str,
                 nothing: str) -> tuple[Call, Evaluation]:
    """The call and its current evaluation, for a supervisors' action on it (refused in French otherwise)."""
    if not may(actor.role, action):
        raise AccessDenied(f"Accès refusé : seuls les superviseurs et les administrateurs {what}.")
    call = _readable_call(session, actor, call_id)
    ev = _current_eval(session, call)
    if ev is None:
        raise InvalidInput(f"Cet appel n'a pas encore été évalué : {nothing}.")
    return call, ev


def publish_evaluation(*, session: Session, actor: Actor, call_id: int) -> Evaluation:
    """Publish a call's current evaluation to its agent as it stands (validated, or AI only with that mention)."""
    _, ev = _scored_call(session, actor, call_id, "publish_evaluations", "publient les évaluations",
                         "il n'y a rien à publier")
    mark_published(session=session, actor=actor, evaluation=ev)
    return ev


def submit_blind(*, session: Session, actor: Actor, call_id: int, verdicts: dict[str, str],
                 comments: dict[str, str] | None = None) -> BlindScore:
    """Store a reviewer's own verdicts on every criterion, given before seeing the AI's (blind review)."""
    call, ev = _scored_call(session, actor, call_id, "validate_reviews", "évaluent les appels",
                            "il n'y a rien à noter")
    if own_blind_score(session=session, actor=actor, evaluation=ev) is not None:
        raise InvalidInput("Vous avez déjà donné vos verdicts à l'aveugle sur cet appel.")
    grid = grid_of(session=session, evaluation=ev)
    clean, score = complete_verdicts(result_of(ev), verdicts, grid)
    blind = BlindScore(org_id=ev.org_id, evaluation_id=ev.id, call_id=call.id, reviewer_id=actor.user_id,
                       verdicts_json=json.dumps(clean), score=score,
                       comments_json=json.dumps(_clean_comments(comments or {}, clean), ensure_ascii=False))
    session.add(blind)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="blind_review_submitted", target_type="call",
                    target_id=call.id, detail={"evaluation_id": ev.id, "score": score})
    return blind


def complete_verdicts(result: dict[str, Any], verdicts: dict[str, str], grid: Grid) -> tuple[dict[str, str], float]:
    """Check that a human gave a valid verdict on every criterion of the result; return them and their score."""
    ids = [c["id"] for c in result.get("criteria") or []]
    missing = [cid for cid in ids if verdicts.get(cid) not in VERDICTS]
    if missing:
        labels = ", ".join(f"« {label_of(grid, cid)} »" for cid in missing)
        raise InvalidInput(f"Donnez un verdict pour chaque critère : {labels}.")
    clean = {cid: verdicts[cid] for cid in ids}
    return clean, compute_score(clean, grid)[0]


def _clean_comments(comments: dict[str, str], verdicts: dict[str, str]) -> dict[str, str]:
    return {cid: c for cid, c in ((k, _clean_text(v, MAX_COMMENT_CHARS)) for k, v in comments.items())
            if c and cid in verdicts}


def label_of(grid: Grid, cid: str) -> str:
    """The French label of a criterion of ``grid`` (its id when the grid no longer has it)."""
    try:
        return grid.criterion(cid).label
    except KeyError:
        return cid


# --- review queue ---------------------------------------------------------------------------


def in_calibration_sample(org_id: int, call_id: int, rate: float, *, key: bytes | None = None) -> bool:
    """Deterministic, unpredictable sampling: the same call is always in or out for an organisation."""
    if rate <= 0:
        return False
    key = key or get_settings().secret().encode("utf-8")
    digest = hmac.new(key, f"calibration:{org_id}:{call_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % SAMPLE_BUCKETS < rate * SAMPLE_BUCKETS


def _require_queue_role(actor: Actor) -> None:
    if not may(actor.role, "review_queue"):
        raise AccessDenied("Accès refusé : la file « À revoir » et la calibration sont réservées aux "
                           "superviseurs et aux administrateurs.")


def _names(session: Session, model, ids: set[int], org_id: int) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(model.id, model.name).where(col(model.id).in_(ids), model.org_id == org_id)).all()
    return dict(rows)


def review_queue(*, session: Session, actor: Actor, limit: int = DEFAULT_QUEUE_LIMIT,
                 since: datetime | None = None, reason: str | None = None,
                 team_id: int | None = None) -> list[QueueItem]:
    """Unvalidated calls most worth a human look, each with its reasons, most urgent first; ``reason`` keeps
    the calls with that reason among theirs, ``team_id`` one team's.

    The reasons are :mod:`ccr.scoring.triage`'s « à revoir » rule, the calls list's too; the calibration
    sample (:func:`in_calibration_sample`, a keyed draw SQL cannot compute) is added here only: it is the
    single, deliberate difference between this queue and the calls list's « À revoir » filter.
    """
    _require_queue_role(actor)
    if reason is not None and reason not in REASONS:
        raise InvalidInput(f"Motif inconnu : « {str(reason)[:40]} » (motifs : {', '.join(REASONS.values())}).")
    settings = get_settings()
    stmt = select(Evaluation.id, Evaluation.call_id, Evaluation.grid_id, Evaluation.final_score,
                  Evaluation.final_passed, Evaluation.final_critical_failed, Evaluation.unverified,
                  Evaluation.needs_review, Evaluation.validated, Evaluation.started_at, Evaluation.agent_id,
                  Evaluation.team_id, Evaluation.result_risk).where(
        Evaluation.is_current == True, Evaluation.validated == False)  # noqa: E712
    stmt = scope_calls(stmt, actor, model=Evaluation, include_restricted=False)
    if since is not None:
        stmt = stmt.where(Evaluation.started_at >= since)
    if team_id is not None:
        stmt = stmt.where(Evaluation.team_id == team_id)
    rows = session.exec(stmt).all()
    thresholds = grid_thresholds(session, actor.org_id, {r.grid_id for r in rows if r.grid_id is not None})
    key = settings.secret().encode("utf-8")  # read once: secret() may read a file
    picked = []
    for r in rows:
        codes = review_codes(r, thresholds, settings.review_margin)
        if in_calibration_sample(actor.org_id, r.call_id, settings.review_sample_rate, key=key):
            codes += (SAMPLE,)  # the last reason in the queue's order: the codes stay sorted
        if codes and (reason is None or reason in codes):
            picked.append((r, codes))
    # Within a reason, the calls whose pass or fail is most likely wrong first: on recognised speech nearly
    # every call has a doubtful verdict, and the doubt alone no longer tells which to hear first.
    picked.sort(key=lambda p: (ORDER.index(p[1][0]), -(p[0].result_risk or 0.0), -p[0].started_at.timestamp()))
    picked = picked[:limit]
    agents = _names(session, Agent, {r.agent_id for r, _ in picked if r.agent_id}, actor.org_id)
    teams = _names(session, Team, {r.team_id for r, _ in picked if r.team_id}, actor.org_id)
    doubts = _queue_review_reasons(session, actor.org_id, [r.id for r, _ in picked if r.needs_review])
    return [QueueItem(call_id=r.call_id, evaluation_id=r.id, started_at=r.started_at,
                      agent_name=agents.get(r.agent_id), team_name=teams.get(r.team_id), score=r.final_score,
                      passed=r.final_passed, critical_failed=r.final_critical_failed, codes=codes,
                      review_reasons=tuple(doubts.get(r.id, ())), result_risk=r.result_risk)
            for r, codes in picked]


def _queue_review_reasons(session: Session, org_id: int, evaluation_ids: list[int]) -> dict[int, list[str]]:
    # Only the flagged calls of the page shown: the wide result rows are never read for the whole queue.
    if not evaluation_ids:
        return {}
    rows = session.exec(select(Evaluation.id, Evaluation.result_json)
                        .where(col(Evaluation.id).in_(evaluation_ids), Evaluation.org_id == org_id)).all()
    return {ev_id: review_reasons_of(json.loads(text)) for ev_id, text in rows}
