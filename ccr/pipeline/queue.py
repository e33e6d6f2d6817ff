"""What people do to the queue and what they see of it: retry, re-score, swap channels, progress, ETA, and the
broker dispatch.

Re-scoring with another grid version puts a transcribed call back in ``scoring`` with ``rescore_grid_id``.
Swapping a stereo call's channels puts it back in ``queued``: it is transcribed the other way round and
scored again. With a broker (Celery mode) every call put back in the queue is sent to it once the
transaction commits."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from ccr.core import audit, outbox
from ccr.core.access import may
from ccr.core.calls import get_call, scope_calls
from ccr.core.config import get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Call, Grid, Transcript
from ccr.core.users import Actor
from ccr.core.vocab import CALL_STATUS_LABELS, CALL_STATUSES, CHANNEL_CHECK_LABELS
from ccr.pipeline.celery_app import broker_status, dispatch_calls
from ccr.pipeline.lease import FINISHED, IN_PROGRESS, PENDING, live_worker_count

log = logging.getLogger(__name__)


ETA_HISTORY = 50  # recent calls averaged for the time estimate
DEFAULT_RTF = 0.3  # processing seconds per audio second before any call was measured (2 CPU threads)


def _require_manage(actor: Actor) -> None:
    if not may(actor.role, "manage_queue"):
        raise AccessDenied("Seuls un superviseur ou un administrateur peuvent relancer ou réévaluer des appels.")


def retry_call(*, session: Session, actor: Actor, call_id: int) -> Call:
    """« Relancer » a failed call: back in the queue with its attempts reset (audited)."""
    _require_manage(actor)
    call = get_call(session=session, actor=actor, call_id=call_id)
    if call.status != "failed":
        raise InvalidInput(f"Seul un appel en échec peut être relancé (statut actuel : "
                           f"{CALL_STATUS_LABELS.get(call.status, call.status)}).")
    has_transcript = session.exec(select(Transcript.id).where(Transcript.call_id == call.id)).first() is not None
    previous = call.last_error
    call.status = "scoring" if has_transcript else "queued"
    call.attempts, call.last_error, call.lease_owner, call.lease_until = 0, None, None, None
    call.queued_at = utcnow()
    session.add(call)
    dispatch_after_commit(session, [call.id])
    audit.log_event(session=session, who=actor.who, action="call_retried", target_type="call", target_id=call.id,
                    detail={"erreur_precedente": previous})
    return call


REQUESTABLE = ("sampled_out", "outside_period")  # an excluded call is never analysed, even on request
STORED_LIST_MAX = 200


def stored_calls(*, session: Session, actor: Actor, limit: int = STORED_LIST_MAX) -> list[dict[str, Any]]:
    """The newest calls kept without analysis (quota, outside the periods) that a supervisor may ask for."""
    _require_request(actor)
    rows = session.exec(scope_calls(select(Call), actor, include_restricted=False)
                        .where(Call.status == "stored", col(Call.scope).in_(REQUESTABLE))
                        .order_by(col(Call.started_at).desc(), col(Call.id).desc()).limit(max(1, min(limit, 1000))))
    return [{"call_id": c.id, "started_at": c.started_at, "agent_id": c.agent_id, "team_id": c.team_id,
             "campaign": c.campaign, "duration_s": c.duration_s, "scope": c.scope} for c in rows]


def _require_request(actor: Actor) -> None:
    if not may(actor.role, "request_evaluation"):
        raise AccessDenied("Seuls un superviseur ou un administrateur peuvent demander l'analyse d'un appel.")


def request_evaluation(*, session: Session, actor: Actor, call_id: int, reason: str) -> Call:
    """Queue a call the scope kept without analysis, because a supervisor asks, with a reason (audited)."""
    _require_request(actor)
    call = get_call(session=session, actor=actor, call_id=call_id)
    reason = (reason or "").strip()
    if call.scope == "excluded" or call.restricted:
        raise InvalidInput("Cet appel est exclu de l'évaluation (agent, ligne ou campagne exclus, ou traitement "
                           "limité) : il ne peut pas être analysé.")
    if call.status != "stored" or call.scope not in REQUESTABLE:
        raise InvalidInput("Cet appel est déjà dans le périmètre d'analyse.")
    if len(reason) < 10:
        raise InvalidInput("Indiquez pourquoi cet appel doit être analysé (10 caractères au moins) : "
                           "la demande est tracée.")
    previous = call.scope
    call.scope, call.status, call.queued_at = "requested", "queued", utcnow()
    call.lease_owner, call.lease_until, call.attempts = None, None, 0
    session.add(call)
    dispatch_after_commit(session, [call.id])
    audit.log_event(session=session, who=actor.who, action="evaluation_requested", target_type="call",
                    target_id=call.id, detail={"perimetre_precedent": previous, "motif": reason[:300]})
    return call


SWAPPABLE = ("done", "failed")  # analysed calls at rest: a call being processed is swapped once it is finished
MIN_REASON_CHARS = 10  # a motive a DPO can read in the audit trail, not « ok »


def swap_channels(*, session: Session, actor: Actor, call_id: int, reason: str) -> Call:
    """Swap the agent and customer channels of a stereo call, with a reason (audited); it is transcribed and
    scored again, and the new evaluation replaces the current one (earlier reviews stay in the history)."""
    _require_manage(actor)
    call = get_call(session=session, actor=actor, call_id=call_id)
    reason = (reason or "").strip()
    if call.scope == "excluded" or call.restricted:
        raise InvalidInput("Cet appel est exclu de l'évaluation ou son traitement est limité : ses canaux ne "
                           "peuvent pas être inversés.")
    if (call.channels or 0) < 2:
        raise InvalidInput("Cet enregistrement n'est pas en stéréo : il n'a pas de canaux à inverser.")
    if not call.audio_key:
        raise InvalidInput("L'enregistrement audio de cet appel n'est plus conservé : il ne peut pas être "
                           "transcrit à nouveau.")
    if call.status == "stored":
        raise InvalidInput("Cet appel a été conservé sans analyse : demandez d'abord son analyse.")
    if call.status not in SWAPPABLE:
        raise InvalidInput(f"Cet appel n'est pas terminé (statut actuel : "
                           f"{CALL_STATUS_LABELS.get(call.status, call.status)}) : inversez ses canaux une fois "
                           "son traitement fini.")
    if len(reason) < MIN_REASON_CHARS:
        raise InvalidInput(f"Indiquez pourquoi les canaux doivent être inversés ({MIN_REASON_CHARS} caractères au "
                           "moins) : l'inversion est tracée.")
    previous = call.channel_check
    call.channels_swapped = not call.channels_swapped
    call.channel_check = None  # measured again when the call is scored the other way round
    # Back to the start: the claim turns "queued" into "transcribing", so the worker transcribes again.
    call.status, call.queued_at, call.rescore_grid_id = "queued", utcnow(), None
    call.attempts, call.last_error, call.lease_owner, call.lease_until = 0, None, None, None
    session.add(call)
    session.flush()
    outbox.touch_call(session, call.id)
    dispatch_after_commit(session, [call.id])
    audit.log_event(session=session, who=actor.who, action="call_channels_swapped", target_type="call",
                    target_id=call.id, detail={"canaux_inverses": call.channels_swapped, "motif": reason[:300],
                                               "controle_precedent": CHANNEL_CHECK_LABELS.get(previous or "")})
    return call


def rescore_calls(
    *,
    session: Session,
    actor: Actor,
    grid_id: int,
    call_ids: list[int] | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> int:
    """Queue the re-scoring of transcribed calls (given ids, or started in ``period``) with grid ``grid_id``.

    The worker scores them again without transcribing; returns how many calls were queued."""
    _require_manage(actor)
    if call_ids is None and period is None:
        raise InvalidInput("Indiquez les appels ou la période à réévaluer.")
    grid = session.get(Grid, grid_id)
    if grid is None or grid.org_id != actor.org_id:
        raise NotFound("Grille introuvable.")
    transcribed = select(Transcript.call_id).where(Transcript.org_id == actor.org_id)
    stmt = scope_calls(select(Call.id), actor, include_restricted=False).where(
        col(Call.status).in_(FINISHED), col(Call.id).in_(transcribed))
    if call_ids is not None:
        stmt = stmt.where(col(Call.id).in_(call_ids or [-1]))
    if period is not None:
        stmt = stmt.where(col(Call.started_at) >= period[0], col(Call.started_at) < period[1])
    ids = list(session.exec(stmt).all())
    if ids:
        now = utcnow()
        session.exec(update(Call).where(col(Call.id).in_(ids), Call.org_id == actor.org_id)
                     .values(status="scoring", rescore_grid_id=grid.id, attempts=0, last_error=None,
                             lease_owner=None, lease_until=None, queued_at=now)
                     .execution_options(synchronize_session=False))
        dispatch_after_commit(session, ids)
    audit.log_event(session=session, who=actor.who, action="calls_rescored", target_type="grid", target_id=grid.id,
                    detail={"grille": grid.slug, "version": grid.version, "appels": len(ids)})
    return len(ids)


def _average_processing(session: Session) -> tuple[float | None, float | None]:
    """Mean processing seconds and processing seconds per audio second of recent calls."""
    rows = session.exec(
        select(Call.processing_s, Call.duration_s).where(col(Call.processing_s).is_not(None))
        .order_by(col(Call.processed_at).desc()).limit(ETA_HISTORY)
    ).all()
    if not rows:
        return None, None
    mean = sum(p for p, _ in rows) / len(rows)
    audio = sum(d or 0.0 for _, d in rows)
    return mean, (sum(p for p, _ in rows) / audio if audio else None)


def _eta(session: Session, pending_audio_s: float, pending_n: int, workers: int) -> float | None:
    if pending_n == 0:
        return 0.0
    if workers == 0:
        return None  # nothing is running: no honest estimate
    mean, rtf = _average_processing(session)
    if rtf is not None and pending_audio_s:
        work = rtf * pending_audio_s
    elif mean is not None:
        work = mean * pending_n
    else:
        work = DEFAULT_RTF * pending_audio_s
    return round(work / workers, 1)


def queue_stats(*, session: Session, actor: Actor | None) -> dict[str, Any]:
    """Counts per status (the actor's organisation; all with ``actor=None``, for the CLI), live workers, ETA.

    The ETA counts the whole queue ahead, all organisations together, since workers are shared."""
    stmt = select(Call.status, func.count()).group_by(Call.status)
    if actor is not None:
        stmt = scope_calls(stmt, actor)
    counts = dict.fromkeys(CALL_STATUSES, 0)
    counts.update({status: int(n) for status, n in session.exec(stmt).all()})
    pending_n, pending_audio = session.exec(
        select(func.count(), func.coalesce(func.sum(Call.duration_s), 0.0)).where(col(Call.status).in_(PENDING))
    ).one()
    workers, broker = _workers_now(session)
    mean, _ = _average_processing(session)
    return {
        "counts": counts,
        "labels": {k: CALL_STATUS_LABELS.get(k, k) for k in counts},
        "pending": sum(counts[k] for k in PENDING),
        "in_progress": sum(counts[k] for k in IN_PROGRESS),
        "live_workers": workers,
        "avg_processing_s": round(mean, 1) if mean is not None else None,
        "eta_s": _eta(session, float(pending_audio or 0.0), int(pending_n), workers),
        "broker": broker,  # Celery mode: workers per queue and messages waiting (ccr.pipeline.celery_app.broker_status)
    }


def _workers_now(session: Session) -> tuple[int, dict[str, Any] | None]:
    """Live workers: in-process ones by their heartbeat rows, or Celery ones answering the broker."""
    settings = get_settings()
    if not settings.broker_url:
        return live_worker_count(session=session), None
    broker = broker_status(settings)
    return int(broker["workers"]), broker


def calls_progress(*, session: Session, actor: Actor, call_ids: list[int]) -> dict[str, Any]:
    """State of a batch of calls the actor may see: rows for a table, the finished fraction and an ETA."""
    if not call_ids:
        return {"rows": [], "done": 0, "failed": 0, "stored": 0, "total": 0, "fraction": 1.0, "eta_s": 0.0,
                "live_workers": 0}
    calls = session.exec(scope_calls(select(Call), actor).where(col(Call.id).in_(call_ids)).order_by(Call.id)).all()
    rows = [
        {"appel": c.id, "fichier": c.source_name or "", "statut": CALL_STATUS_LABELS.get(c.status, c.status),
         "tentatives": c.attempts, "raison": c.last_error or "", "status": c.status,
         "canaux": channel_note(c), "channel_check": c.channel_check}
        for c in calls
    ]
    finished = sum(c.status in FINISHED for c in calls)
    # Everything queued before the last call of the batch runs first: count that audio too.
    last_queued = max((c.queued_at for c in calls if c.status in PENDING), default=None)
    workers, _ = _workers_now(session)
    if last_queued is None:
        eta = 0.0
    else:
        n, audio_s = session.exec(
            select(func.count(), func.coalesce(func.sum(Call.duration_s), 0.0))
            .where(col(Call.status).in_(PENDING), col(Call.queued_at) <= last_queued)
        ).one()
        eta = _eta(session, float(audio_s or 0.0), int(n), workers)
    return {
        "rows": rows,
        "done": sum(c.status == "done" for c in calls),
        "failed": sum(c.status == "failed" for c in calls),
        "stored": sum(c.status == "stored" for c in calls),  # kept out of the analysis by the scope: finished
        "total": len(calls),
        "fraction": finished / len(calls) if calls else 1.0,
        "eta_s": eta,
        "live_workers": workers,
    }


def channel_note(call: Call) -> str:
    """A short French note on a stereo call's channels for a list: « canaux inversés ? » when the check doubts
    them, « canaux inversés par un superviseur » once one swapped them, empty otherwise."""
    if call.channel_check == "suspect":
        return "⚠️ canaux inversés ?"
    if call.channels_swapped:
        return "canaux inversés par un superviseur"
    return ""


DISPATCH_KEY = "ccr_dispatch"  # Session.info key of the calls to send to the broker once the transaction commits


def dispatch_after_commit(session: Session, call_ids: list[int]) -> None:
    """With a broker (``CCR_BROKER_URL``), send the calls' tasks once ``session`` commits; no-op otherwise.

    After the commit, so a worker never looks for a row that is not there yet; a lost send is made good
    by :func:`ccr.pipeline.celery_app.redispatch_orphans`."""
    if not call_ids or not get_settings().broker_url:
        return
    if DISPATCH_KEY + "_hooked" not in session.info:  # listeners stay for the session's (short) life
        session.info[DISPATCH_KEY + "_hooked"] = True
        sa_event.listen(session, "after_commit", _send_pending)
        sa_event.listen(session, "after_soft_rollback", _drop_pending)
    session.info.setdefault(DISPATCH_KEY, []).extend(int(i) for i in call_ids)


def _send_pending(session: Session) -> None:
    ids = session.info.pop(DISPATCH_KEY, None) or []
    if ids:
        try:
            dispatch_calls(ids)
        except Exception:  # the broker is down: the rows stay pending and the orphan sweep sends them later
            log.warning("Envoi de %s appel(s) au courtier impossible ; nouvel essai plus tard.", len(ids),
                        exc_info=True)


def _drop_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction was rolled back: nothing to send
        session.info.pop(DISPATCH_KEY, None)
