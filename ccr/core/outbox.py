"""The webhook outbox: an event is written in the same transaction as the change it reports.

A call scored, failed or validated and its event commit together or not at all, so a crash or a restart
loses no event and sends none for a change that was rolled back; ``ccr.ops.webhooks`` delivers them later.
Only an organisation whose webhook is active and subscribed to the event gets a row. Each event also
moves the call's ``updated_at``, which API clients poll. Payloads carry ids, statuses and scores: never
a transcript, a name or a phone number.

The webhook's signing secret is sealed with a key derived from the master secret (``ccr-webhook-v1``);
:func:`reseal_secrets` re-encrypts it when the master secret is rotated.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from ccr.core.config import Settings
from ccr.core.db import utcnow
from ccr.core.errors import ConfigError
from ccr.core.integration_models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from ccr.core.models import Call, Evaluation, Review
from ccr.core.sealed import derive_key
from ccr.core.vocab import WEBHOOK_EVENTS

EVENT_KINDS = WEBHOOK_EVENTS
KEEP_DAYS = 30  # delivered and abandoned events stay this long in the delivery log, then go
SECRET_INFO = b"ccr-webhook-v1"
_AAD = b"ccr-webhook-secret"


# --- the signing secret, sealed at rest ------------------------------------------------------------


def seal_secret(secret: str, settings: Settings | None = None) -> str:
    """The webhook secret encrypted for storage (AES-GCM, key derived from the master secret)."""
    nonce = os.urandom(12)
    blob = AESGCM(derive_key(SECRET_INFO, settings)).encrypt(nonce, secret.encode("utf-8"), _AAD)
    return base64.b64encode(nonce + blob).decode("ascii")


def open_secret(sealed: str, settings: Settings | None = None) -> str:
    """The clear webhook secret; ``ConfigError`` when the master secret changed under it."""
    raw = base64.b64decode(sealed.encode("ascii"))
    try:
        return AESGCM(derive_key(SECRET_INFO, settings)).decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
    except InvalidTag as err:
        raise ConfigError("Le secret du webhook ne s'ouvre pas avec la clé maîtresse actuelle : "
                          "enregistrez un nouveau secret sur la page Intégrations.") from err


def reseal_secrets(session: Session, old: Settings, new: Settings) -> int:
    """Re-encrypt every webhook secret under the new master secret (key rotation); returns how many."""
    count = 0
    for row in session.exec(select(WebhookEndpoint)).all():
        try:
            clear = open_secret(row.secret_sealed, old)
        except ConfigError:
            open_secret(row.secret_sealed, new)  # already under the new secret (a resumed rotation), or raise
            continue
        row.secret_sealed = seal_secret(clear, new)
        session.add(row)
        count += 1
    return count


# --- events ------------------------------------------------------------------------------------------


def touch_call(session: Session, call_id: int, now: datetime | None = None) -> None:
    """Mark the call as changed for API clients that poll (``updated_since``)."""
    session.exec(update(Call).where(Call.id == call_id).values(updated_at=now or utcnow())
                 .execution_options(synchronize_session=False))


def emit(session: Session, *, org_id: int, kind: str, call_id: int | None, data: dict[str, Any]) -> WebhookEvent | None:
    """Record one event in the caller's transaction, when the organisation's webhook wants it."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown webhook event {kind!r}")
    now = utcnow()
    if call_id is not None:
        touch_call(session, call_id, now)
    endpoint = session.get(WebhookEndpoint, org_id)
    if endpoint is None or not endpoint.active or kind not in endpoint.events.split(","):
        return None
    uid = str(uuid.uuid4())
    payload = {"id": uid, "type": kind, "created_at": now.isoformat(timespec="seconds"), "data": data}
    event = WebhookEvent(org_id=org_id, event_uid=uid, kind=kind, call_id=call_id,
                         payload_json=json.dumps(payload, ensure_ascii=False), next_attempt_at=now, created_at=now)
    session.add(event)
    return event


def _call_data(call: Call) -> dict[str, Any]:
    return {"call_id": call.id, "external_id": call.external_id}


def call_scored(session: Session, call: Call, ev: Evaluation) -> None:
    """``call.scored``: the AI's score of a call, with whether a human should look at it and the chance that its
    pass or fail is wrong."""
    emit(session, org_id=call.org_id, kind="call.scored", call_id=call.id, data=_call_data(call) | {
        "status": "done", "evaluation_id": ev.id, "score": ev.ai_score, "passed": ev.ai_passed,
        "critical_failed": ev.ai_critical_failed, "needs_review": ev.needs_review, "result_risk": ev.result_risk,
        "category": ev.category,
        "grid": ev.grid_slug, "grid_version": ev.grid_version, "engine": ev.engine})


def call_failed(session: Session, call: Call, message: str) -> None:
    """``call.failed``: a call that will not be processed after its last attempt, and why (French)."""
    emit(session, org_id=call.org_id, kind="call.failed", call_id=call.id,
         data=_call_data(call) | {"status": "failed", "error": message})


def review_validated(session: Session, call: Call, ev: Evaluation, review: Review, changed: list[str],
                     irritants: list[str]) -> None:
    """``review.validated``: a supervisor's final score, category and irritant labels, and the criteria whose
    verdict they changed."""
    emit(session, org_id=call.org_id, kind="review.validated", call_id=call.id, data=_call_data(call) | {
        "evaluation_id": ev.id, "review_id": review.id, "ai_score": ev.ai_score, "final_score": ev.final_score,
        "final_passed": ev.final_passed, "final_category": ev.category, "final_irritants": sorted(irritants),
        "changed_criteria": sorted(changed)})


# --- forgetting -----------------------------------------------------------------------------------


def forget_calls(session: Session, org_id: int, call_ids: list[int]) -> int:
    """Delete the events (and their delivery log) of calls whose evaluations are erased or expire."""
    if not call_ids:
        return 0
    ids = select(WebhookEvent.id).where(WebhookEvent.org_id == org_id, col(WebhookEvent.call_id).in_(call_ids))
    session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.event_id).in_(ids)))
    return session.exec(delete(WebhookEvent).where(WebhookEvent.org_id == org_id,
                                                   col(WebhookEvent.call_id).in_(call_ids))).rowcount or 0


def prune(session: Session, *, now: datetime | None = None, keep_days: int = KEEP_DAYS) -> int:
    """Delete delivered and abandoned events older than ``keep_days``, with their attempts."""
    cutoff = (now or utcnow()) - timedelta(days=keep_days)
    old = select(WebhookEvent.id).where(col(WebhookEvent.status).in_(("delivered", "abandoned")),
                                        WebhookEvent.created_at < cutoff)
    session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.event_id).in_(old)))
    return session.exec(delete(WebhookEvent).where(col(WebhookEvent.status).in_(("delivered", "abandoned")),
                                                   WebhookEvent.created_at < cutoff)).rowcount or 0
