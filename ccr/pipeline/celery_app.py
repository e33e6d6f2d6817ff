"""Distributed processing on Celery, used when ``CCR_BROKER_URL`` is set (Redis).

Two queues: ``asr`` (transcription, the heavy step: GPU machines can take only this one) and ``score``
(scoring). Start workers on any machine with the same settings (database, secret key, broker)::

    celery -A ccr.pipeline.celery_app worker -Q asr,score -c 1      # a CPU machine doing everything
    celery -A ccr.pipeline.celery_app worker -Q asr -c 1            # a GPU machine (CCR_ASR_DEVICE=cuda)

The database stays the source of truth: a task only says "look at call N", and claims the call's row with
the lease of ``ccr.pipeline.lease`` before working. So a task delivered twice, late, or for a finished call does
nothing, and two workers never process the same call. Tasks are acknowledged after they run
(``acks_late``) and given back when their worker dies (``task_reject_on_worker_lost``); a worker killed
with its machine leaves an unacknowledged message that Redis delivers again after
``CCR_BROKER_VISIBILITY_S``, and a lease that the next worker of the same host takes over at once
(another host: when the lease expires).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, signals
from sqlmodel import col, or_, select

from ccr.core.config import Settings, get_settings
from ccr.core.db import dispose_engines, utcnow
from ccr.core.db import session as db_session
from ccr.core.models import Call
from ccr.core.owners import owner_id
from ccr.pipeline.lease import STAGES, stage_of
from ccr.pipeline.steps import run_stage
from ccr.privacy.retention import run_purge

log = logging.getLogger(__name__)

QUEUES = ("asr", "score")
# Message names on the wire: they keep the module path of an earlier release, so that messages queued
# before an upgrade are still understood by the upgraded workers.
TASK_OF_STAGE = {"asr": "ccr.tasks.transcribe_call", "score": "ccr.tasks.score_call"}
PING_TIMEOUT_S = 1.0  # a live worker answers a broadcast in milliseconds; the page must not hang on a dead one
STATUS_CACHE_S = 5.0  # every open page polls the queue panel: one broadcast per 5 s per process is enough
# kombu's Redis transport keeps one list per priority step: "<queue>", "<queue>\x06\x163", ... (steps 0,3,6,9)
REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

_apps: dict[str, Celery] = {}
_apps_lock = threading.Lock()
_status_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def get_app(settings: Settings | None = None) -> Celery:
    """The Celery application for the configured broker (one per broker URL in a process)."""
    settings = settings or get_settings()
    url = settings.broker_url or "memory://"
    with _apps_lock:
        app = _apps.get(url)
        if app is None:
            app = _apps[url] = _build(url, settings)
        return app


def _build(url: str, settings: Settings) -> Celery:
    app = Celery("ccr", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # a message leaves the queue only once its task ran to the end
        task_reject_on_worker_lost=True,  # a worker process killed mid-task gives its message back
        worker_prefetch_multiplier=1,  # a transcription takes minutes: never reserve a second one
        task_ignore_result=True,  # results live in the database
        task_default_queue="asr",
        task_routes={TASK_OF_STAGE["asr"]: {"queue": "asr"}, TASK_OF_STAGE["score"]: {"queue": "score"}},
        task_serializer="json", accept_content=["json"],
        broker_transport_options=_transport_options(settings.broker_visibility_s),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )

    @app.task(name=TASK_OF_STAGE["asr"], bind=True)
    def transcribe_task(self, call_id: int) -> str:
        return _run(self, int(call_id), "asr")

    @app.task(name=TASK_OF_STAGE["score"], bind=True)
    def score_task(self, call_id: int) -> str:
        return _run(self, int(call_id), "score")

    @app.task(name="ccr.tasks.run_retention")
    def retention_task() -> str:
        return run_purge(trigger="schedule").status  # the purge's lease row: one run across all replicas

    return app


def _transport_options(visibility_s: int) -> dict[str, int]:
    """Redis options: a dead worker's message comes back ``visibility_s`` after it was taken, plus at most a minute."""
    # kombu's own sweep for such messages runs every 10 x 10 s: far later than a short visibility promises.
    return {"visibility_timeout": visibility_s, "unacked_restore_throttle": 1,
            "unacked_restore_interval": max(1, min(60, visibility_s // 2))}


def __getattr__(name: str) -> Any:
    # ``celery -A ccr.pipeline.celery_app`` looks for ``app``: built on first access, from the settings of that moment.
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(name)


def _owner(task) -> str:
    return owner_id(f"celery-{(task.request.id or 'local')[:12]}")


def _run(task, call_id: int, stage: str) -> str:
    settings = get_settings()
    outcome, delay = run_stage(call_id, stage=stage, owner=_owner(task), settings=settings)
    if outcome == "next":
        send(call_id, "score", settings=settings)
    elif outcome == "forward":
        send(call_id, "score" if stage == "asr" else "asr", settings=settings)
    elif outcome == "retry":
        send(call_id, stage, countdown=delay, settings=settings)
    return outcome


def transcribe_call(call_id: int) -> str:
    """Run the ``asr`` task of a call in this process (what a worker does with a ``transcribe_call`` message)."""
    return get_app().tasks[TASK_OF_STAGE["asr"]](call_id)


def score_call(call_id: int) -> str:
    """Run the ``score`` task of a call in this process (what a worker does with a ``score_call`` message)."""
    return get_app().tasks[TASK_OF_STAGE["score"]](call_id)


# --- sending -------------------------------------------------------------------------------------


def send(call_id: int, stage: str, *, countdown: float | None = None, settings: Settings | None = None) -> None:
    """Put one call's task on queue ``stage`` (``asr`` or ``score``)."""
    get_app(settings).send_task(TASK_OF_STAGE[stage], args=[int(call_id)], queue=stage,
                                countdown=countdown or None)


def dispatch_calls(call_ids: list[int], *, settings: Settings | None = None) -> int:
    """Send each pending call to the queue of its current stage; returns how many were sent."""
    settings = settings or get_settings()
    with db_session(settings) as s:
        rows = s.exec(select(Call.id, Call.status).where(col(Call.id).in_(call_ids))).all()
    sent = 0
    for call_id, status in rows:
        stage = stage_of(status)
        if stage:
            send(call_id, stage, settings=settings)
            sent += 1
    return sent


def redispatch_orphans(*, settings: Settings | None = None) -> int:
    """Send again the pending calls that no message looks after (a send lost while the broker was down).

    Only for an empty queue: a call waiting in a non-empty one is not an orphan, and a duplicate would be
    harmless but useless. Leased calls and calls waiting before a retry have their task already."""
    settings = settings or get_settings()
    lengths = queue_lengths(settings)
    empty = [stage for stage in QUEUES if lengths.get(stage) == 0]
    if not empty:
        return 0
    statuses = [st for stage in empty for st in STAGES[stage]]
    now = utcnow()
    with db_session(settings) as s:
        ids = list(s.exec(
            select(Call.id).where(col(Call.status).in_(statuses), col(Call.lease_owner).is_(None),
                                  or_(col(Call.lease_until).is_(None), col(Call.lease_until) < now),
                                  Call.restricted == False,  # noqa: E712
                                  col(Call.attempts) < settings.job_max_attempts)
        ).all())
    if ids:
        log.info("%s appel(s) en attente sans message : renvoyés au courtier.", len(ids))
        dispatch_calls(ids, settings=settings)
    return len(ids)


def redispatch_job() -> None:
    """Scheduler job (app servers in Celery mode): :func:`redispatch_orphans`, errors logged."""
    try:
        redispatch_orphans()
    except Exception:
        log.warning("Renvoi des appels orphelins impossible", exc_info=True)


# --- visibility ----------------------------------------------------------------------------------


def queue_lengths(settings: Settings | None = None) -> dict[str, int | None]:
    """Messages waiting in each queue (Redis ``LLEN``); None per queue when the broker cannot say."""
    settings = settings or get_settings()
    url = settings.broker_url or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return dict.fromkeys(QUEUES)
    import redis

    client = redis.Redis.from_url(url, socket_timeout=PING_TIMEOUT_S, socket_connect_timeout=PING_TIMEOUT_S)
    try:
        pipe = client.pipeline()
        for queue in QUEUES:
            for suffix in REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        counts = pipe.execute()
    finally:
        client.close()
    step = len(REDIS_PRIORITY_SUFFIXES)
    return {q: int(sum(counts[i * step:(i + 1) * step])) for i, q in enumerate(QUEUES)}


def broker_status(settings: Settings | None = None, *, timeout: float = PING_TIMEOUT_S,
                  max_age_s: float = STATUS_CACHE_S) -> dict[str, Any]:
    """Live Celery workers (answering a broadcast within ``timeout``), the queues they consume, queue depths.

    ``{"workers": n, "by_queue": {"asr": n, "score": n}, "queued": {"asr": n, "score": n}, "error": str|None}``;
    cached ``max_age_s`` seconds per process."""
    settings = settings or get_settings()
    key = settings.broker_url or ""
    hit = _status_cache.get(key)
    if hit and time.monotonic() - hit[0] < max_age_s:
        return hit[1]
    status: dict[str, Any] = {"workers": 0, "by_queue": dict.fromkeys(QUEUES, 0),
                              "queued": dict.fromkeys(QUEUES), "error": None}
    try:
        status["queued"] = queue_lengths(settings)
        replies = get_app(settings).control.inspect(timeout=timeout).active_queues() or {}
        status["workers"] = len(replies)
        for queues in replies.values():
            for q in queues or []:
                if q.get("name") in status["by_queue"]:
                    status["by_queue"][q["name"]] += 1
    except Exception as err:  # broker down: say so instead of failing the page
        status["error"] = f"Courtier injoignable ({type(err).__name__})."
    _status_cache[key] = (time.monotonic(), status)
    return status


# --- worker process hooks ------------------------------------------------------------------------


@signals.worker_process_init.connect
def _fresh_engine_in_child(**_kwargs) -> None:
    # A forked pool process must not share the parent's database connections.
    dispose_engines()


@signals.worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    redispatch_job()  # calls left without a message while no worker ran are sent again
