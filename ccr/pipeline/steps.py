"""The work done on a claimed call: transcribe (then redact, measure) and score, each written in one transaction.

The transcript (status -> ``scoring``) and the evaluation (status -> ``done``) are each written in one
transaction, conditional on the lease: a crash never leaves half a result, and a call whose transcript is
stored is only re-scored, never re-transcribed. Failed attempts wait a little before the next one.
:func:`process_call` (embedded workers) and :func:`run_stage` (Celery tasks) run the same two steps."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import case, update
from sqlmodel import select

from ccr.core import outbox, storage
from ccr.core.calls import flatten_text, transcript_dict
from ccr.core.config import Settings, get_settings
from ccr.core.db import as_utc, utcnow
from ccr.core.db import session as db_session
from ccr.core.errors import CcrError, NotFound
from ccr.core.models import Agent, Call, Transcript
from ccr.pipeline.lease import (
    PENDING,
    LeaseKeeper,
    LeaseLost,
    claim_call,
    free_if_owner_dead,
    release_lease,
    stage_of,
)
from ccr.pipeline.speakers import separate_speakers
from ccr.quality.evaluations import store_evaluation
from ccr.scoring import grid_store
from ccr.scoring.channel_check import check_channels
from ccr.scoring.score import score_transcript
from ccr.speech import vocabulary
from ccr.speech.audio import load_audio
from ccr.speech.metrics import conversation_metrics
from ccr.speech.redaction import redact_segments
from ccr.speech.transcription import transcribe

log = logging.getLogger(__name__)


RETRY_DELAY_S = 20  # per attempt already made: a transient failure (disk, API) gets time to clear
CRASH_ENV = "CCR_TEST_CRASH_AT"  # fault-injection tests only (tests/security/test_faults.py); unset in production
CRASH_EXIT = 86  # an exit code no real failure uses, so the test knows the crash was the injected one


def _crash_point(name: str) -> None:
    """Fault injection: die at once, like a power cut, when ``CCR_TEST_CRASH_AT`` names this step."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT)


# Ctrl-C raises KeyboardInterrupt wherever the main thread stands, and PyAV's resampler swallows one raised
# inside it: the call was then processed to the end and the worker went on polling. The worker's handler
# also records the request here, and a step checks it where a native library may have eaten it.
_interrupt = threading.Event()


def request_interrupt() -> None:
    """Record a Ctrl-C for this process: the current step stops at its next check."""
    _interrupt.set()


def interrupt_requested() -> bool:
    """Whether Ctrl-C was recorded for this process."""
    return _interrupt.is_set()


def _check_interrupt() -> None:
    if _interrupt.is_set():
        raise KeyboardInterrupt


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
        with LeaseKeeper(call_id, owner, settings):
            transcribed = False
            if status == "transcribing" or not has_transcript:
                transcribe_step(call_id, owner=owner, settings=settings)
                transcribed = True
            score_step(call_id, owner=owner, settings=settings, started=started if transcribed else None)
        return "done"
    except LeaseLost:
        log.warning("Appel %s : bail perdu, résultat abandonné (un autre worker le traite).", call_id)
        return "lost"
    except (KeyboardInterrupt, SystemExit):
        release_lease(call_id, owner, settings)
        raise
    except Exception as err:
        return _record_failure(call_id, owner=owner, err=err, settings=settings)


def transcribe_step(call_id: int, *, owner: str, settings: Settings) -> None:
    """Decrypt, transcribe, measure and redact a claimed call; store the transcript (status -> scoring)."""
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        key, org_id = call.audio_key, call.org_id
        # A supervisor found the agent on the other channel of this recording: read it the other way round.
        agent_channel = settings.agent_channel
        if call.channels_swapped:
            agent_channel = "right" if agent_channel == "left" else "left"
        vocabulary_version, terms = vocabulary.current_vocabulary(session=s, org_id=org_id)
        hotwords = vocabulary.hotwords_text(terms)
        direction = call.direction
    if not key:
        raise NotFound("L'enregistrement audio de cet appel n'est plus disponible.")
    data = storage.get_audio(key, org_id=org_id, settings=settings)
    _crash_point("decrypted")
    info, audio = load_audio(data, max_seconds=settings.max_audio_seconds)
    del data
    _check_interrupt()
    transcript = transcribe(audio, settings=settings, agent_channel=agent_channel, hotwords=hotwords)
    _check_interrupt()
    # A mono call's two voices told apart and named (agent, customer) when the optional extra is installed.
    speakers = separate_speakers(audio, transcript.segments, direction=direction, settings=settings)
    del audio
    _check_interrupt()
    # Metrics count raw words; only numbers come out. The raw text never reaches the database.
    metrics = conversation_metrics(speakers.segments, info.duration_s)
    segments, counts = redact_segments(speakers.segments)
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
            raise LeaseLost()
        row = s.exec(select(Transcript).where(Transcript.call_id == call_id)).first() or Transcript(
            org_id=org_id, call_id=call_id, segments_json="[]", text="")
        row.language = transcript.language or settings.asr_language
        row.engine, row.model, row.truncated = transcript.engine, transcript.model, transcript.truncated
        row.segments_json = json.dumps(segments, ensure_ascii=False)
        row.text = flatten_text(segments)
        row.redactions_json = json.dumps(counts, ensure_ascii=False)
        row.speaker_separation, row.speaker_confidence = speakers.separation, speakers.confidence
        # Only when the vocabulary reached the recogniser: an empty list is given as no hint at all.
        row.vocabulary_version = vocabulary_version if hotwords else None
        s.add(row)
        s.flush()
        _crash_point("transcript_uncommitted")
    _crash_point("transcript_committed")


def score_step(call_id: int, *, owner: str, settings: Settings, started: float | None) -> None:
    """Score the stored transcript; ``started`` (monotonic) times a full run, None for a re-scoring."""
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        row = s.exec(select(Transcript).where(Transcript.call_id == call_id)).first()
        if row is None:
            raise CcrError("La transcription de cet appel est introuvable : relancez l'appel.")
        if call.rescore_grid_id:
            grid_row, grid = grid_store.grid_by_id(session=s, org_id=call.org_id, grid_id=call.rescore_grid_id)
        else:
            grid_row, grid = grid_store.active_grid(session=s, org_id=call.org_id)
        grid_id = grid_row.id
        taxonomy = grid_store.active_taxonomy(session=s, org_id=call.org_id)
        stereo = (call.channels or 0) >= 2
        agent = s.get(Agent, call.agent_id) if call.agent_id else None
        tr = transcript_dict(call, row) | {
            "agent_name": agent.name if agent else None,  # an agent who says their own name introduced themselves
            "channels": call.channels,
            "speaker_confidence": row.speaker_confidence,
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
    # Stored with the evaluation it explains: a swapped recording scores the customer as the agent.
    values["channel_check"] = check_channels(tr["segments"]).verdict if stereo else None
    with db_session(settings) as s:
        done = s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner).values(**values)
                      .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise LeaseLost()
        call = s.get(Call, call_id)
        ev = store_evaluation(session=s, call=call, result=result, grid_id=grid_id)
        s.flush()
        outbox.call_scored(s, call, ev)  # the webhook's event commits with the evaluation, or neither does
        _crash_point("evaluation_uncommitted")
    _crash_point("evaluation_committed")


def _error_message(err: BaseException) -> str:
    if isinstance(err, CcrError):
        return str(err)
    return f"Erreur interne pendant le traitement ({type(err).__name__}) : consultez les journaux du serveur."


def _record_failure(call_id: int, *, owner: str, err: BaseException, settings: Settings) -> str:
    """Count a failed attempt (with the traceback of an unexpected error) and requeue or fail the call."""
    if _interrupt.is_set():
        # A native library turned the Ctrl-C into its own error: this is a clean stop, not a failed attempt.
        release_lease(call_id, owner, settings)
        raise KeyboardInterrupt from err
    if not isinstance(err, CcrError):
        log.exception("Appel %s : erreur inattendue du traitement", call_id)
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
        if status == "failed":
            outbox.call_failed(s, call, message)
    log.warning("Appel %s : tentative %s échouée (%s) -> %s", call_id, call.attempts, message, status)
    return status


BUSY_RECHECK_S = 30  # a call leased by a worker of another host: look again this often until the lease ends


def run_stage(call_id: int, *, stage: str, owner: str, settings: Settings | None = None) -> tuple[str, float]:
    """Claim call ``call_id`` for ``stage`` (``asr``: transcription, ``score``: scoring) and run that step.

    Returns ``(outcome, delay_s)``: ``next`` (transcribed: send it to ``score``), ``done``, ``retry`` (a
    failed attempt or a live lease: look again in ``delay_s``), ``forward`` (the call is at the other stage),
    or ``skip`` (nothing to do: finished, held, restricted, gone)."""
    settings = settings or get_settings()
    started = time.monotonic()
    with db_session(settings) as s:
        free_if_owner_dead(s, call_id)
    with db_session(settings) as s:
        claimed = claim_call(session=s, call_id=call_id, owner=owner, stage=stage, settings=settings)
    if not claimed:
        return _not_claimed(call_id, stage, settings)
    try:
        with LeaseKeeper(call_id, owner, settings):
            if stage == "asr":
                transcribe_step(call_id, owner=owner, settings=settings)
                # Hand the call over to the score queue: the lease is freed, and this attempt is not counted
                # twice (the scoring claim counts it again), so a call done in one go shows one attempt.
                took = round(time.monotonic() - started, 3)  # the ETA learns from the transcription time
                with db_session(settings) as s:
                    s.exec(update(Call).where(Call.id == call_id, Call.lease_owner == owner)
                           .values(lease_owner=None, lease_until=None, processing_s=took,
                                   attempts=case((Call.attempts > 0, Call.attempts - 1), else_=0))
                           .execution_options(synchronize_session=False))
                return "next", 0.0
            score_step(call_id, owner=owner, settings=settings, started=None)
            return "done", 0.0
    except LeaseLost:
        log.warning("Appel %s : bail perdu, résultat abandonné (un autre worker le traite).", call_id)
        return "skip", 0.0
    except (KeyboardInterrupt, SystemExit):
        release_lease(call_id, owner, settings)
        raise
    except Exception as err:
        _record_failure(call_id, owner=owner, err=err, settings=settings)
        return _not_claimed(call_id, stage, settings)  # failed for good: skip; else retry after the delay


def _not_claimed(call_id: int, stage: str, settings: Settings) -> tuple[str, float]:
    with db_session(settings) as s:
        call = s.get(Call, call_id)
        if call is None or call.status not in PENDING or call.restricted:
            return "skip", 0.0
        now = utcnow()
        lease_until = as_utc(call.lease_until) if call.lease_until is not None else None
        if lease_until is not None and lease_until > now:
            # Leased by a live worker (it sends the next stage itself), or waiting before a retry.
            wait = (lease_until - now).total_seconds()
            return "retry", max(1.0, wait if call.lease_owner is None else min(wait, BUSY_RECHECK_S))
        if stage_of(call.status) != stage:
            return "forward", 0.0
        return "skip", 0.0  # attempts exhausted, or its organisation is suspended
