"""The durable job queue: a call's processing state lives in its database row.

States: ``queued`` -> ``transcribing`` -> ``scoring`` -> ``done`` (or ``failed``); ``held`` while a
maintenance window is active. A worker *claims* a call by writing its id and a lease expiry into the
row in one atomic statement; it renews the lease while it works, and every write of a result is
conditional on still holding the lease. So:

- a process killed mid-job leaves a lease that expires (or that the next start on the same host
  releases at once, since the owner's process is gone), and the call is claimed again;
- the same call is never processed by two workers at once;
- the transcript (status -> ``scoring``) and the evaluation (status -> ``done``) are each written in
  one transaction: a crash never leaves half a result, and a call whose transcript is stored is
  only re-scored, never re-transcribed.

Each claim counts as an attempt, so a recording that kills the process every time (out of memory)
ends ``failed`` too, after ``job_max_attempts``. Failed attempts wait a little before the next one.
Re-scoring with another grid version puts a transcribed call back in ``scoring`` with ``rescore_grid_id``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, update
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

from ccr.core import audit, storage
from ccr.core.calls import STATUS_LABELS, flatten_text, get_call, scope_calls, transcript_dict
from ccr.core.config import Settings, get_settings
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, CcrError, InvalidInput, NotFound
from ccr.core.models import CALL_STATUSES, Call, Grid, JobLock, Organisation, Transcript
from ccr.core.users import Actor
from ccr.pipeline.maintenance import release_held_calls
from ccr.scoring import grid_store
from ccr.scoring.grid import Grid as GridSpec
from ccr.scoring.grid import Taxonomy as TaxonomySpec
from ccr.scoring.grid import load_grid_yaml

log = logging.getLogger(__name__)

CLAIMABLE = ("queued", "transcribing", "scoring")  # in progress ones only once their lease has expired
IN_PROGRESS = ("transcribing", "scoring")
PENDING = ("queued", *IN_PROGRESS)
FINISHED = ("done", "failed")
RETRY_DELAY_S = 20  # per attempt already made: a transient failure (disk, API) gets time to clear
HEARTBEAT_TTL_S = 30  # a worker silent this long is counted as gone
HEARTBEAT_EVERY_S = 10  # a third of the TTL: one missed beat does not drop a live worker
WORKER_LOCK_PREFIX = "worker:"  # JobLock rows of live workers (other JobLock rows are job locks)
ETA_HISTORY = 50  # recent calls averaged for the time estimate
DEFAULT_RTF = 0.3  # processing seconds per audio second before any call was measured (2 CPU threads)
MANAGE_ROLES = frozenset({"admin", "supervisor"})
CRASH_ENV = "CCR_TEST_CRASH_AT"  # fault-injection tests only (tests/security/test_faults.py); unset in production
CRASH_EXIT = 86  # an exit code no real failure uses, so the test knows the crash was the injected one


def _crash_point(name: str) -> None:
    """Fault injection: die at once, like a power cut, when ``CCR_TEST_CRASH_AT`` names this step."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT)


class _LeaseLost(Exception):
    """The lease passed to another worker: this one must not write anything more."""


def is_maintenance_active(session: Session, org_id: int) -> bool:
    """True while a maintenance window holds new calls of ``org_id`` (see ``ccr.pipeline.maintenance``)."""
    from ccr.pipeline.maintenance import is_maintenance_active as window_active  # same name as this wrapper

    return window_active(session=session, org_id=org_id)


def worker_owner_id(index: int) -> str:
    """The fixed id of worker ``index`` of this process: host, pid and index."""
    return f"{socket.gethostname()}:{os.getpid()}:w{index}"


# --- claiming ----------------------------------------------------------------------------------


def _claimable(now: datetime, max_attempts: int):
    active_orgs = select(Organisation.id).where(Organisation.status == "active")
    return and_(
        col(Call.status).in_(CLAIMABLE),
        or_(col(Call.lease_until).is_(None), col(Call.lease_until) < now),
        Call.restricted == False,  # noqa: E712 - a restricted call is frozen (GDPR art. 18)
        col(Call.attempts) < max_attempts,
        col(Call.org_id).in_(active_orgs),
    )


def claim_next(*, session: Session, owner: str, settings: Settings | None = None,
               now: datetime | None = None) -> int | None:
    """Atomically lease the next call to process (queued, or whose lease expired) to ``owner``; its id or None.

    Runs in the caller's transaction: commit at once (the claim holds the write lock until then)."""
    settings = settings or get_settings()
    now = now or utcnow()
    _fail_exhausted(session, now, settings.job_max_attempts)
    candidate = (
        select(Call.id).where(_claimable(now, settings.job_max_attempts))
        .order_by(col(Call.queued_at), col(Call.id)).limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    # One statement: pick and lease together, re-checking the conditions, so two workers can never
    # both win (SQLite serialises writers; PostgreSQL skips rows another claim has locked).
    stmt = (
        update(Call)
        .where(Call.id == candidate.scalar_subquery(), _claimable(now, settings.job_max_attempts))
        .values(
            status=case((Call.status == "queued", "transcribing"), else_=Call.status),
            lease_owner=owner,
            lease_until=now + timedelta(seconds=settings.job_lease_s),
            attempts=Call.attempts + 1,
        )
        .returning(Call.id)
        .execution_options(synchronize_session=False)
    )
    row = session.exec(stmt).first()
    return int(row[0]) if row else None


def _fail_exhausted(session: Session, now: datetime, max_attempts: int) -> None:
    """Calls whose every attempt was interrupted (the process died each time) end failed."""
    session.exec(
        update(Call)
        # A lease released after a crash (release_dead_leases) has no expiry: without the IS NULL test such a
        # call, out of attempts, stayed "in progress" for ever (found by tests/security/test_faults.py).
        .where(col(Call.status).in_(IN_PROGRESS), or_(col(Call.lease_until).is_(None), col(Call.lease_until) < now),
               col(Call.attempts) >= max_attempts)
        .values(status="failed", lease_owner=None, lease_until=None,
                last_error="Le traitement a été interrompu à chaque tentative (arrêt du serveur ou mémoire "
                           "insuffisante ?). Relancez l'appel une fois la cause corrigée.")
        .execution_options(synchronize_session=False)
    )


def renew_lease(*, session: Session, call_id: int, owner: str, settings: Settings | None = None) -> bool:
    """Extend ``owner``'s lease on a call; False when the lease is no longer theirs."""
    settings = settings or get_settings()
    result = session.exec(
        update(Call).where(Call.id == call_id, Call.lease_owner == owner)
        .values(lease_until=utcnow() + timedelta(seconds=settings.job_lease_s))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release_dead_leases(*, session: Session, hostname: str | None = None) -> int:
    """Free at once the leases held by dead processes of this host (restart after a crash)."""
    hostname = hostname or socket.gethostname()
    released = 0
    rows = session.exec(select(Call.id, Call.lease_owner).where(col(Call.lease_owner).like(f"{hostname}:%"))).all()
    for call_id, owner in rows:
        try:
            pid = int(owner.split(":")[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            result = session.exec(
                update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            released += result.rowcount
    return released


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- grids ------------------------------------------------------------------------------------


def active_grid_for_org(session: Session, org_id: int) -> tuple[GridSpec, int | None]:
    """The organisation's active grid and its row id (the default grid is stored on first use)."""
    row, grid = grid_store.active_grid(session=session, org_id=org_id)
    return grid, row.id


def _grid_by_id(session: Session, org_id: int, grid_id: int) -> tuple[GridSpec, int]:
    row = session.get(Grid, grid_id)
    if row is None or row.org_id != org_id:
        raise NotFound("Grille introuvable.")
    return load_grid_yaml(row.definition_json), row.id


def active_taxonomy_for_org(session: Session, org_id: int) -> TaxonomySpec:
    """The organisation's active taxonomy, or the built-in French one."""
    return grid_store.active_taxonomy(session=session, org_id=org_id)


# --- processing -------------------------------------------------------------------------------


class _LeaseKeeper:
    """Renews a lease in the background while a call is being processed."""

    def __init__(self, call_id: int, owner: str, settings: Settings) -> None:
        self.call_id, self.owner, self.settings = call_id, owner, settings
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ccr-lease-{owner}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        period = max(0.5, self.settings.job_lease_s / 3)
        while not self._stop.wait(period):
            try:
                with db_session(self.settings) as s:
                    if not renew_lease(session=s, call_id=self.call_id, owner=self.owner, settings=self.settings):
                        self.lost = True
                        return
                    _beat(s, self.owner)
            except Exception:  # a busy database must not kill the keeper; the next beat retries
                log.warning("Renouvellement du bail de l'appel %s impossible", self.call_id, exc_info=True)


def process_call(call_id: int, *, owner: str, settings: Settings | None = None) -> str:
    """Process one claimed call to its next resting state (done, queued again, failed); returns it.

    Transcription (decrypted in memory), metrics and redaction are written in one transaction, then
    the scoring with the organisation's active grid (or the re-scoring grid) in another."""
    settings = settings or get_settings()
    started = time.monotonic()
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        if call is None or call.lease_owner != owner:
            return "lost"
        has_transcript = s.exec(select(Transcript.id).where(Transcript.call_id == call_id)).first() is not None
        status = call.status
    _crash_point("claimed")
    try:
        with _LeaseKeeper(call_id, owner, settings):
            transcribed = False
            if status == "transcribing" or not has_transcript:
                _transcribe_step(call_id, owner=owner, settings=settings)
                transcribed = True
            _score_step(call_id, owner=owner, settings=settings, started=started if transcribed else None)
        return "done"
    except _LeaseLost:
        log.warning("Appel %s : bail perdu, résultat abandonné (un autre worker le traite).", call_id)
        return "lost"
    except (KeyboardInterrupt, SystemExit):
        _release(call_id, owner, settings)
        raise
    except Exception as err:
        if not isinstance(err, CcrError):
            log.exception("Appel %s : erreur inattendue du traitement", call_id)
        return _record_failure(call_id, owner=owner, err=err, settings=settings)


def _transcribe_step(call_id: int, *, owner: str, settings: Settings) -> None:
    from ccr.speech.audio import load_audio
    from ccr.speech.metrics import conversation_metrics
    from ccr.speech.redaction import redact_segments
    from ccr.speech.transcription import transcribe

    with db_session(settings) as s:
        call = s.get(Call, call_id)
        key, org_id = call.audio_key, call.org_id
    if not key:
        raise NotFound("L'enregistrement audio de cet appel n'est plus disponible.")
    data = storage.get_audio(key, org_id=org_id, settings=settings)
    _crash_point("decrypted")
    info, audio = load_audio(data, max_seconds=settings.max_audio_seconds)
    del data
    transcript = transcribe(audio, settings=settings)
    del audio
    # Metrics count raw words; only numbers come out. The raw text never reaches the database.
    metrics = conversation_metrics(transcript.segments, info.duration_s)
    segments, counts = redact_segments(transcript.segments)
    _crash_point("transcribed")
    with db_session(settings) as s:
        # The conditional write comes first: it takes the write lock and proves the lease is still ours.
        result = s.exec(
            update(Call).where(Call.id == call_id, Call.lease_owner == owner)
            .values(status="scoring", duration_s=info.duration_s, channels=info.channels,
                    sample_rate=info.sample_rate, codec=info.codec,
                    **{k: metrics[k] for k in ("agent_talk_s", "customer_talk_s", "silence_s",
                                               "longest_silence_s", "overtalk_s", "interruptions", "agent_wpm")})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise _LeaseLost()
        row = s.exec(select(Transcript).where(Transcript.call_id == call_id)).first() or Transcript(
            org_id=org_id, call_id=call_id, segments_json="[]", text="")
        row.language = transcript.language or settings.asr_language
        row.engine, row.model, row.truncated = transcript.engine, transcript.model, transcript.truncated
        row.segments_json = json.dumps(segments, ensure_ascii=False)
        row.text = flatten_text(segments)
        row.redactions_json = json.dumps(counts, ensure_ascii=False)
        s.add(row)
        s.flush()
        _crash_point("transcript_uncommitted")
    _crash_point("transcript_committed")


def _score_step(call_id: int, *, owner: str, settings: Settings, started: float | None) -> None:
    """Score the stored transcript; ``started`` (monotonic) times a full run, None for a re-scoring."""
    from ccr.quality.evaluations import store_evaluation
    from ccr.scoring.score import score_transcript

    with db_session(settings) as s:
        call = s.get(Call, call_id)
        row = s.exec(select(Transcript).where(Transcript.call_id == call_id)).first()
        if row is None:
            raise CcrError("La transcription de cet appel est introuvable : relancez l'appel.")
        if call.rescore_grid_id:
            grid, grid_id = _grid_by_id(s, call.org_id, call.rescore_grid_id)
        else:
            grid, grid_id = active_grid_for_org(s, call.org_id)
        taxonomy = active_taxonomy_for_org(s, call.org_id)
        tr = transcript_dict(call, row) | {
            "channels": call.channels,
            "metrics": {k: getattr(call, k) for k in ("agent_talk_s", "customer_talk_s", "silence_s",
                                                      "longest_silence_s", "overtalk_s", "interruptions",
                                                      "agent_wpm")},
        }
    # Outside any transaction: an LLM answer can take a minute and must not hold the database.
    result = score_transcript(tr, grid=grid, taxonomy=taxonomy, engine=settings.scoring_engine)
    needs_llm_retry = settings.scoring_engine == "llm" and bool((result.get("extra") or {}).get("retry"))
    values: dict[str, Any] = {"status": "done", "lease_owner": None, "lease_until": None, "rescore_grid_id": None,
                              "last_error": None, "needs_llm_retry": needs_llm_retry, "processed_at": utcnow()}
    if started is not None:  # the ETA learns from full runs only, not from re-scorings
        values["processing_s"] = round(time.monotonic() - started, 3)
    with db_session(settings) as s:
        done = s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner).values(**values)
                      .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise _LeaseLost()
        store_evaluation(session=s, call=s.get(Call, call_id), result=result, grid_id=grid_id)
        s.flush()
        _crash_point("evaluation_uncommitted")
    _crash_point("evaluation_committed")


def _error_message(err: BaseException) -> str:
    if isinstance(err, CcrError):
        return str(err)
    return f"Erreur interne pendant le traitement ({type(err).__name__}) : consultez les journaux du serveur."


def _record_failure(call_id: int, *, owner: str, err: BaseException, settings: Settings) -> str:
    message = _error_message(err)
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        if call is None or call.lease_owner != owner:
            return "lost"
        has_transcript = s.exec(select(Transcript.id).where(Transcript.call_id == call_id)).first() is not None
        if call.attempts >= settings.job_max_attempts:
            status, not_before = "failed", None
        else:
            status = "scoring" if has_transcript else "queued"
            not_before = utcnow() + timedelta(seconds=RETRY_DELAY_S * call.attempts)
        s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
               .values(status=status, lease_owner=None, lease_until=not_before, last_error=message)
               .execution_options(synchronize_session=False))
    log.warning("Appel %s : tentative %s échouée (%s) -> %s", call_id, call.attempts, message, status)
    return status


def _release(call_id: int, owner: str, settings: Settings) -> None:
    """Give a call back at once after a clean stop (Ctrl-C): the interrupted attempt does not count."""
    try:
        with db_session(settings) as s:
            s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                   .values(lease_owner=None, lease_until=None,
                           attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                   .execution_options(synchronize_session=False))
    except Exception:  # stopping anyway: the lease will expire
        log.warning("Appel %s : bail non rendu à l'arrêt", call_id, exc_info=True)


def give_back_leases(settings: Settings | None = None) -> int:
    """Give back every call this process holds (a clean stop): wherever Ctrl-C landed, even between the
    claim and the step's own handler, the call is queued again at once and the attempt does not count."""
    settings = settings or get_settings()
    prefix = f"{socket.gethostname()}:{os.getpid()}:"
    with db_session(settings) as s:
        result = s.exec(update(Call).where(col(Call.lease_owner).startswith(prefix))
                        .values(lease_owner=None, lease_until=None,
                                attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                        .execution_options(synchronize_session=False))
        return result.rowcount


# --- user actions -----------------------------------------------------------------------------


def _require_manage(actor: Actor) -> None:
    if actor.role not in MANAGE_ROLES:
        raise AccessDenied("Seuls un superviseur ou un administrateur peuvent relancer ou réévaluer des appels.")


def retry_call(*, session: Session, actor: Actor, call_id: int) -> Call:
    """« Relancer » a failed call: back in the queue with its attempts reset (audited)."""
    _require_manage(actor)
    call = get_call(session=session, actor=actor, call_id=call_id)
    if call.status != "failed":
        raise InvalidInput(f"Seul un appel en échec peut être relancé (statut actuel : "
                           f"{STATUS_LABELS.get(call.status, call.status)}).")
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


# --- progress ---------------------------------------------------------------------------------


def live_worker_count(*, session: Session, now: datetime | None = None) -> int:
    """Workers (of every process) whose heartbeat is recent."""
    now = now or utcnow()
    return int(session.exec(
        select(func.count()).select_from(JobLock)
        .where(col(JobLock.name).like(f"{WORKER_LOCK_PREFIX}%"), col(JobLock.expires_at) > now)
    ).one())


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
        "labels": {k: STATUS_LABELS.get(k, k) for k in counts},
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
    from ccr.pipeline.celery_app import broker_status

    broker = broker_status(settings)
    return int(broker["workers"]), broker


def calls_progress(*, session: Session, actor: Actor, call_ids: list[int]) -> dict[str, Any]:
    """State of a batch of calls the actor may see: rows for a table, the finished fraction and an ETA."""
    if not call_ids:
        return {"rows": [], "done": 0, "failed": 0, "total": 0, "fraction": 1.0, "eta_s": 0.0, "live_workers": 0}
    calls = session.exec(scope_calls(select(Call), actor).where(col(Call.id).in_(call_ids)).order_by(Call.id)).all()
    rows = [
        {"appel": c.id, "fichier": c.source_name or "", "statut": STATUS_LABELS.get(c.status, c.status),
         "tentatives": c.attempts, "raison": c.last_error or "", "status": c.status}
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
        "total": len(calls),
        "fraction": finished / len(calls) if calls else 1.0,
        "eta_s": eta,
        "live_workers": workers,
    }


# --- workers ----------------------------------------------------------------------------------


def _beat(session: Session, owner: str) -> None:
    """Record that worker ``owner`` is alive (JobLock row ``worker:<owner>``)."""
    name = WORKER_LOCK_PREFIX + owner
    until = utcnow() + timedelta(seconds=HEARTBEAT_TTL_S)
    result = session.exec(update(JobLock).where(JobLock.name == name).values(owner=owner, expires_at=until)
                          .execution_options(synchronize_session=False))
    if result.rowcount == 0:
        session.add(JobLock(name=name, owner=owner, expires_at=until))


def _forget(owner: str, settings: Settings) -> None:
    try:
        with db_session(settings) as s:
            s.exec(delete(JobLock).where(JobLock.name == WORKER_LOCK_PREFIX + owner))
    except Exception:
        log.debug("Battement du worker %s non effacé", owner, exc_info=True)


def run_worker(owner: str, *, settings: Settings | None = None, stop: threading.Event | None = None,
               once: bool = False) -> int:
    """The worker loop: claim, process, repeat; idle polls every ``worker_poll_s``. Returns calls processed.

    With ``once`` it returns when nothing is left to claim (tests, cron)."""
    settings = settings or get_settings()
    stop = stop or threading.Event()
    processed, last_beat = 0, 0.0
    try:
        while not stop.is_set():
            try:
                if time.monotonic() - last_beat > HEARTBEAT_EVERY_S:
                    with db_session(settings) as s:
                        _beat(s, owner)
                        # Held uploads are released here too, so a headless worker without the
                        # UI's scheduler still processes them once the maintenance window ends.
                        release_held_calls(session=s)
                    last_beat = time.monotonic()
                with db_session(settings) as s:
                    call_id = claim_next(session=s, owner=owner, settings=settings)
                if call_id is None:
                    if once:
                        break
                    stop.wait(settings.worker_poll_s)
                    continue
                process_call(call_id, owner=owner, settings=settings)
                processed += 1
            except Exception:  # a worker thread must outlive any single failure
                log.exception("Worker %s : erreur de la boucle", owner)
                if once:
                    raise
                stop.wait(settings.worker_poll_s)
    finally:
        _forget(owner, settings)
    return processed


class WorkerPool:
    """The in-process transcription workers: ``settings.worker_threads`` daemon threads with fixed ids."""

    def __init__(self, settings: Settings, count: int | None = None) -> None:
        self.settings = settings
        self.ids = [worker_owner_id(i) for i in range(settings.worker_threads if count is None else count)]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> WorkerPool:
        """Release leases left by a dead process of this host, then start the threads."""
        try:
            with db_session(self.settings) as s:
                released = release_dead_leases(session=s)
            if released:
                log.info("%s appel(s) repris après l'arrêt brutal d'un processus précédent.", released)
        except Exception:
            log.warning("Reprise des baux orphelins impossible", exc_info=True)
        for owner in self.ids:
            t = threading.Thread(target=run_worker, args=(owner,), kwargs={"settings": self.settings,
                                                                            "stop": self._stop},
                                 name=f"ccr-worker-{owner.rsplit(':', 1)[-1]}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the workers to stop after their current call and wait for them."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)

    @property
    def alive(self) -> int:
        """Threads still running."""
        return sum(t.is_alive() for t in self._threads)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def start_worker_pool(settings: Settings) -> WorkerPool | None:
    """Start this process's worker pool once (later calls return it); None when workers are off."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            return _pool
        if settings.worker_threads <= 0 or settings.broker_url:
            return None
        _pool = WorkerPool(settings).start()
        return _pool


# --- distributed dispatch (Celery, ``ccr.pipeline.celery_app``) ---------------------------------------------
# The same rows and leases as the embedded workers: a task only says "look at call N"; the database
# says whether there is anything to do. A task delivered twice, late or for a finished call is a no-op.

STAGES = {"asr": ("queued", "transcribing"), "score": ("scoring",)}  # the call statuses each queue works on
BUSY_RECHECK_S = 30  # a call leased by a worker of another host: look again this often until the lease ends
DISPATCH_KEY = "ccr_dispatch"  # Session.info key of the calls to send to the broker once the transaction commits


def stage_of(status: str) -> str | None:
    """The queue (``asr`` or ``score``) that works on a call in ``status``; None when there is nothing to do."""
    return next((stage for stage, statuses in STAGES.items() if status in statuses), None)


def claim_call(*, session: Session, call_id: int, owner: str, stage: str, settings: Settings | None = None,
               now: datetime | None = None) -> bool:
    """Atomically lease call ``call_id`` to ``owner`` for ``stage``, like :func:`claim_next`; False if not claimable."""
    settings = settings or get_settings()
    now = now or utcnow()
    _fail_exhausted(session, now, settings.job_max_attempts)
    row = session.exec(
        update(Call)
        .where(Call.id == call_id, col(Call.status).in_(STAGES[stage]), _claimable(now, settings.job_max_attempts))
        .values(status=case((Call.status == "queued", "transcribing"), else_=Call.status), lease_owner=owner,
                lease_until=now + timedelta(seconds=settings.job_lease_s), attempts=Call.attempts + 1)
        .returning(Call.id).execution_options(synchronize_session=False)
    ).first()
    return row is not None


def _free_if_owner_dead(session: Session, call_id: int) -> None:
    """Free at once the lease of a dead process of this host on ``call_id`` (a killed worker's task redelivered)."""
    owner = session.exec(select(Call.lease_owner).where(Call.id == call_id)).first()
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        session.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                     .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False))


def run_stage(call_id: int, *, stage: str, owner: str, settings: Settings | None = None) -> tuple[str, float]:
    """Claim call ``call_id`` for ``stage`` (``asr``: transcription, ``score``: scoring) and run that step.

    Returns ``(outcome, delay_s)``: ``next`` (transcribed: send it to ``score``), ``done``, ``retry`` (a
    failed attempt or a live lease: look again in ``delay_s``), ``forward`` (the call is at the other stage),
    or ``skip`` (nothing to do: finished, held, restricted, gone)."""
    settings = settings or get_settings()
    started = time.monotonic()
    with db_session(settings) as s:
        _free_if_owner_dead(s, call_id)
    with db_session(settings) as s:
        claimed = claim_call(session=s, call_id=call_id, owner=owner, stage=stage, settings=settings)
    if not claimed:
        return _not_claimed(call_id, stage, settings)
    try:
        with _LeaseKeeper(call_id, owner, settings):
            if stage == "asr":
                _transcribe_step(call_id, owner=owner, settings=settings)
                # Hand the call over to the score queue: the lease is freed, and this attempt is not counted
                # twice (the scoring claim counts it again), so a call done in one go shows one attempt.
                took = round(time.monotonic() - started, 3)  # the ETA learns from the transcription time
                with db_session(settings) as s:
                    s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                           .values(lease_owner=None, lease_until=None, processing_s=took,
                                   attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                           .execution_options(synchronize_session=False))
                return "next", 0.0
            _score_step(call_id, owner=owner, settings=settings, started=None)
            return "done", 0.0
    except _LeaseLost:
        log.warning("Appel %s : bail perdu, résultat abandonné (un autre worker le traite).", call_id)
        return "skip", 0.0
    except (KeyboardInterrupt, SystemExit):
        _release(call_id, owner, settings)
        raise
    except Exception as err:
        if not isinstance(err, CcrError):
            log.exception("Appel %s : erreur inattendue du traitement", call_id)
        _record_failure(call_id, owner=owner, err=err, settings=settings)
        return _not_claimed(call_id, stage, settings)  # failed for good: skip; else retry after the delay


def _not_claimed(call_id: int, stage: str, settings: Settings) -> tuple[str, float]:
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        if call is None or call.status not in PENDING or call.restricted:
            return "skip", 0.0
        now = utcnow()
        lease_until = call.lease_until
        if lease_until is not None and lease_until.tzinfo is None:  # SQLite hands back naive UTC
            lease_until = lease_until.replace(tzinfo=now.tzinfo)
        if lease_until is not None and lease_until > now:
            # Leased by a live worker (it sends the next stage itself), or waiting before a retry.
            wait = (lease_until - now).total_seconds()
            return "retry", max(1.0, wait if call.lease_owner is None else min(wait, BUSY_RECHECK_S))
        if stage_of(call.status) != stage:
            return "forward", 0.0
        return "skip", 0.0  # attempts exhausted, or its organisation is suspended


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
        from ccr.pipeline.celery_app import dispatch_calls

        try:
            dispatch_calls(ids)
        except Exception:  # the broker is down: the rows stay pending and the orphan sweep sends them later
            log.warning("Envoi de %s appel(s) au courtier impossible ; nouvel essai plus tard.", len(ids),
                        exc_info=True)


def _drop_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction was rolled back: nothing to send
        session.info.pop(DISPATCH_KEY, None)
