"""What the API says about a call: its state and metadata, and with ``evaluations:read`` its evaluation.

Every read is scoped to the token's organisation: another organisation's id is « introuvable », never
« interdit », so ids leak nothing. A call whose processing a DPO restricted (or that the scope excluded)
leaves the list and shows no evaluation. The list walks ``(updated_at, id)`` upwards along its index, so a
client that polls with the last cursor it got sees every change once, in order, whatever the volume.
A change shows in the list ``SETTLE_S`` after it was stamped: a transaction stamped earlier but committed
later than another cannot then slip behind a cursor that already went past it.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.api_tokens import ApiClient
from ccr.core.db import as_utc, utcnow
from ccr.core.errors import InvalidInput, NotFound
from ccr.core.models import Agent, Call, CriterionResult, Evaluation, Review, Team
from ccr.core.vocab import CALL_STATUS_LABELS, CALL_STATUSES
from ccr.quality.evaluations import result_of
from ccr.quality.reviews import kept_irritants

SETTLE_S = 5  # far longer than the few milliseconds between a change's stamp and its commit


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat(timespec="seconds")


def _names(session: Session, org_id: int, calls: list[Call]) -> tuple[dict[int, str], dict[int, str]]:
    agent_ids = {c.agent_id for c in calls if c.agent_id}
    team_ids = {c.team_id for c in calls if c.team_id}
    agents = dict(session.exec(select(Agent.id, Agent.name).where(
        Agent.org_id == org_id, col(Agent.id).in_(agent_ids))).all()) if agent_ids else {}
    teams = dict(session.exec(select(Team.id, Team.name).where(
        Team.org_id == org_id, col(Team.id).in_(team_ids))).all()) if team_ids else {}
    return agents, teams


def _summary(call: Call, agents: dict[int, str], teams: dict[int, str]) -> dict[str, Any]:
    return {
        "id": call.id, "external_id": call.external_id, "status": call.status,
        "status_label": CALL_STATUS_LABELS.get(call.status, call.status),
        "started_at": _iso(call.started_at), "updated_at": _iso(call.updated_at),
        "agent": agents.get(call.agent_id), "team": teams.get(call.team_id), "direction": call.direction,
        "campaign": call.campaign, "duration_s": call.duration_s, "restricted": call.restricted,
    }


def _review(session: Session, ev: Evaluation) -> dict[str, Any] | None:
    review = session.exec(select(Review).where(Review.evaluation_id == ev.id, Review.org_id == ev.org_id)
                          .order_by(col(Review.id).desc())).first()
    if review is None:
        return None
    finals = dict(session.exec(select(CriterionResult.criterion_id, CriterionResult.final_verdict).where(
        CriterionResult.evaluation_id == ev.id, CriterionResult.org_id == ev.org_id)).all())
    return {"validated_at": _iso(review.created_at), "final_score": review.final_score,
            "final_passed": review.final_passed, "final_category": ev.category,
            "final_irritants": kept_irritants(session=session, evaluation=ev),
            "final_verdicts": finals,
            "changed_criteria": sorted(json.loads(review.overrides_json or "{}"))}


def call_record(*, session: Session, client: ApiClient, call_id: int) -> dict[str, Any]:
    """One call of the token's organisation: state, metadata and, with ``evaluations:read``, its results."""
    client.require("calls:read")
    call = session.get(Call, call_id)
    if call is None or call.org_id != client.org_id:
        raise NotFound(f"Appel n° {call_id} introuvable.")
    agents, teams = _names(session, client.org_id, [call])
    record = _summary(call, agents, teams)
    if call.status == "failed":
        record["error"] = call.last_error
    detail: dict[str, Any] = {"via": "api", "evaluation": False}
    if "evaluations:read" in client.scopes and not call.restricted:
        ev = session.exec(select(Evaluation).where(Evaluation.call_id == call.id, Evaluation.org_id == call.org_id,
                                                   Evaluation.is_current == True)).first()  # noqa: E712
        if ev is not None:
            record["evaluation"] = result_of(ev) | {"needs_review": ev.needs_review}
            record["review"] = _review(session, ev)
            detail["evaluation"] = True
    # Every access to a call is logged, a machine's too: who (the token's name), which call, what it read.
    audit.log_event(session=session, who=client.who, action="call_opened", target_type="call",
                    target_id=call.id, detail=detail)
    return record


# --- the list, for clients that poll -----------------------------------------------------------


def encode_cursor(updated_at: datetime, call_id: int) -> str:
    """An opaque position after the call ``call_id`` changed at ``updated_at``."""
    raw = f"{as_utc(updated_at).astimezone(UTC).isoformat(timespec='microseconds')}|{call_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position of a cursor from :func:`encode_cursor`; ``InvalidInput`` in French otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, call_id = raw.partition("|")
        return datetime.fromisoformat(moment), int(call_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise InvalidInput("Curseur invalide : reprenez celui de la réponse précédente (« next_cursor »).") from err


def parse_since(value: str) -> datetime:
    """``updated_since`` as an aware datetime (ISO 8601; without an offset, UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise InvalidInput(f"« updated_since » n'est pas une date ISO 8601 : « {value[:40]} ».") from err
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_records(*, session: Session, client: ApiClient, updated_since: str | None = None, status: str | None = None,
                 cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    """A page of the organisation's calls changed after a date or a cursor, oldest change first."""
    client.require("calls:read")
    if status is not None and status not in CALL_STATUSES:
        raise InvalidInput(f"Statut inconnu « {status[:30]} » (possibles : {', '.join(CALL_STATUSES)}).")
    query = select(Call).where(Call.org_id == client.org_id, Call.restricted == False,  # noqa: E712
                               col(Call.updated_at).is_not(None),
                               col(Call.updated_at) <= utcnow() - timedelta(seconds=SETTLE_S))
    if cursor:
        after, after_id = decode_cursor(cursor)
        query = query.where(or_(Call.updated_at > after, and_(Call.updated_at == after, Call.id > after_id)))
    elif updated_since:
        query = query.where(Call.updated_at >= parse_since(updated_since))
    if status is not None:
        query = query.where(Call.status == status)
    calls = list(session.exec(query.order_by(col(Call.updated_at), col(Call.id)).limit(limit + 1)).all())
    more = len(calls) > limit
    calls = calls[:limit]
    agents, teams = _names(session, client.org_id, calls)
    items = [_summary(c, agents, teams) for c in calls]
    if "evaluations:read" in client.scopes and calls:
        scores = dict(session.exec(select(Evaluation.call_id, Evaluation.final_score).where(
            Evaluation.org_id == client.org_id, Evaluation.is_current == True,  # noqa: E712
            col(Evaluation.call_id).in_([c.id for c in calls]))).all())
        for item in items:
            item["score"] = scores.get(item["id"])
    last = calls[-1] if calls else None
    return {"items": items, "next_cursor": encode_cursor(last.updated_at, last.id) if last else cursor,
            "has_more": more}
