"""The webhook outbox: events commit with their change or not at all, and the signing secret is sealed at rest."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core import outbox
from ccr.core.config import Settings
from ccr.core.db import session, utcnow
from ccr.core.errors import ConfigError
from ccr.core.integration_models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from ccr.core.models import Call, Evaluation
from tests.conftest import count_rows
from tests.reviewdata import contract, make_call

LONG_AGO = utcnow() - timedelta(days=400)


def _call(org_id: int, tag: str, **fields) -> int:
    with session() as s:
        call = Call(org_id=org_id, sha256=f"outbox-{tag}", status="done", updated_at=LONG_AGO, **fields)
        s.add(call)
        s.flush()
        return call.id


def _endpoint(org_id: int, *, events: str = "call.scored,call.failed,review.validated", active: bool = True,
              secret: str = "whsec-essai-0123456789", settings: Settings | None = None) -> None:  # noqa: S107
    with session() as s:
        s.add(WebhookEndpoint(org_id=org_id, url="https://crm.example/hook", events=events, active=active,
                              secret_sealed=outbox.seal_secret(secret, settings)))


def _emit(org_id: int, call_id: int | None, kind: str = "call.failed") -> WebhookEvent | None:
    with session() as s:
        return outbox.emit(s, org_id=org_id, kind=kind, call_id=call_id, data={"call_id": call_id})


def _updated_at(call_id: int):
    with session() as s:
        return s.get(Call, call_id).updated_at


@pytest.mark.parametrize("endpoint", [None, {"active": False}, {"events": "call.scored,review.validated"}])
def test_no_event_is_written_without_an_active_subscribed_webhook(tenants, endpoint):
    alpha, _ = tenants
    if endpoint is not None:
        _endpoint(alpha.org_id, **endpoint)
    call_id = _call(alpha.org_id, "a")
    assert _emit(alpha.org_id, call_id, "call.failed") is None
    assert count_rows(WebhookEvent) == 0
    assert _updated_at(call_id) > LONG_AGO  # API clients that poll still see the change


def test_an_event_is_written_for_the_organisation_whose_webhook_wants_it(tenants):
    alpha, beta = tenants
    _endpoint(alpha.org_id, events="call.failed")
    ours, theirs = _call(alpha.org_id, "a"), _call(beta.org_id, "b")
    event = _emit(alpha.org_id, ours)
    assert _emit(beta.org_id, theirs) is None  # Beta has no webhook
    with session() as s:
        [row] = s.exec(select(WebhookEvent)).all()
    assert (row.id, row.org_id, row.kind, row.call_id, row.status, row.attempts) == \
        (event.id, alpha.org_id, "call.failed", ours, "pending", 0)
    payload = json.loads(row.payload_json)
    assert payload["id"] == row.event_uid and payload["type"] == "call.failed"
    assert payload["data"] == {"call_id": ours}
    assert row.next_attempt_at <= utcnow()


def test_an_unknown_event_kind_is_a_bug(tenants):
    alpha, _ = tenants
    with session() as s, pytest.raises(ValueError, match="unknown webhook event"):
        outbox.emit(s, org_id=alpha.org_id, kind="call.deleted", call_id=None, data={})


def test_the_event_and_updated_at_roll_back_with_their_transaction(tenants):
    alpha, _ = tenants
    _endpoint(alpha.org_id)
    call_id = _call(alpha.org_id, "a")
    with pytest.raises(RuntimeError), session() as s:
        outbox.call_failed(s, s.get(Call, call_id), "Décodage impossible.")
        s.flush()
        assert count_rows(WebhookEvent) == 0  # flushed in this transaction, unseen outside it
        raise RuntimeError("l'étape échoue après l'événement")
    assert count_rows(WebhookEvent) == 0
    assert _updated_at(call_id) == LONG_AGO
    with session() as s:
        outbox.call_failed(s, s.get(Call, call_id), "Décodage impossible.")
    with session() as s:
        [row] = s.exec(select(WebhookEvent)).all()
    data = json.loads(row.payload_json)["data"]
    assert data == {"call_id": call_id, "external_id": None, "status": "failed", "error": "Décodage impossible."}
    assert _updated_at(call_id) > LONG_AGO


def test_a_payload_carries_ids_and_statuses_never_names_or_phone_numbers(tenants):
    alpha, _ = tenants
    _endpoint(alpha.org_id)
    call_id = _call(alpha.org_id, "a", external_id="PBX-1", customer_phone="0612345678", campaign="Fibre",
                    agent_id=alpha.agent_ids[0])
    with session() as s:
        outbox.call_failed(s, s.get(Call, call_id), "Échec.")
    with session() as s:
        [row] = s.exec(select(WebhookEvent)).all()
    assert json.loads(row.payload_json)["data"]["external_id"] == "PBX-1"
    assert "0612345678" not in row.payload_json and "agent" not in row.payload_json


def test_a_scored_call_event_says_whether_to_look_and_how_likely_its_result_is_wrong(tenants):
    alpha, _ = tenants
    _endpoint(alpha.org_id)
    # 70 of 80 points with a doubtful « accueil » (15) at 0.6: 4 chances in 10 that the pass is wrong.
    call_id = make_call(org_id=alpha.org_id, team_id=alpha.team_ids[0], agent_id=alpha.agent_ids[0],
                        result=contract({"identification": "pass"}, unsure={"accueil": (0.6, "douteux")}))
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
        outbox.call_scored(s, s.get(Call, call_id), ev)
    with session() as s:
        [row] = s.exec(select(WebhookEvent).where(WebhookEvent.kind == "call.scored")).all()
    data = json.loads(row.payload_json)["data"]
    assert (data["passed"], data["needs_review"], data["result_risk"]) == (True, True, 0.4)


def _event_with_attempts(org_id: int, call_id: int | None, *, status: str = "pending", age_days: float = 0,
                         attempts: int = 2) -> int:
    created = utcnow() - timedelta(days=age_days)
    with session() as s:
        event = WebhookEvent(org_id=org_id, event_uid=f"uid-{org_id}-{call_id}-{status}-{age_days}", kind="call.failed",
                             call_id=call_id, payload_json="{}", status=status, created_at=created)
        s.add(event)
        s.flush()
        s.add_all([WebhookAttempt(org_id=org_id, event_id=event.id, status_code=500) for _ in range(attempts)])
        return event.id


def test_forget_calls_deletes_the_events_of_those_calls_and_their_delivery_log_only(tenants):
    alpha, beta = tenants
    a1, a2 = _call(alpha.org_id, "a1"), _call(alpha.org_id, "a2")
    gone = _event_with_attempts(alpha.org_id, a1)
    kept = _event_with_attempts(alpha.org_id, a2)
    # Call ids are per database: Beta's event quoting the same number is another organisation's.
    theirs = _event_with_attempts(beta.org_id, a1)
    with session() as s:
        assert outbox.forget_calls(s, alpha.org_id, []) == 0
        assert outbox.forget_calls(s, alpha.org_id, [a1]) == 1
    with session() as s:
        assert {e.id for e in s.exec(select(WebhookEvent)).all()} == {kept, theirs}
        assert {a.event_id for a in s.exec(select(WebhookAttempt)).all()} == {kept, theirs}
    assert gone not in {kept, theirs}


def test_prune_deletes_delivered_and_abandoned_events_older_than_the_keep_period(tenants):
    alpha, _ = tenants
    old = outbox.KEEP_DAYS + 1
    old_delivered = _event_with_attempts(alpha.org_id, 1, status="delivered", age_days=old)
    old_abandoned = _event_with_attempts(alpha.org_id, 2, status="abandoned", age_days=old)
    old_pending = _event_with_attempts(alpha.org_id, 3, status="pending", age_days=old)
    recent_delivered = _event_with_attempts(alpha.org_id, 4, status="delivered", age_days=outbox.KEEP_DAYS - 1)
    with session() as s:
        assert outbox.prune(s) == 2
    with session() as s:
        left = {e.id for e in s.exec(select(WebhookEvent)).all()}
        attempts = {a.event_id for a in s.exec(select(WebhookAttempt)).all()}
    assert left == attempts == {old_pending, recent_delivered}
    assert not {old_delivered, old_abandoned} & left
    with session() as s:  # with another reference time and period
        assert outbox.prune(s, now=utcnow() + timedelta(days=10), keep_days=5) == 1
    assert count_rows(WebhookEvent) == 1


def test_the_secret_is_sealed_and_opens_only_with_the_same_master_secret(tmp_path):
    one = Settings(data_dir=tmp_path, secret_key="a" * 64, _env_file=None)
    other = Settings(data_dir=tmp_path, secret_key="b" * 64, _env_file=None)
    sealed = outbox.seal_secret("whsec-tres-secret", one)
    assert "whsec-tres-secret" not in sealed
    assert sealed != outbox.seal_secret("whsec-tres-secret", one)  # a fresh nonce each time
    assert outbox.open_secret(sealed, one) == "whsec-tres-secret"
    with pytest.raises(ConfigError, match="ne s'ouvre pas avec la clé maîtresse actuelle"):
        outbox.open_secret(sealed, other)


def test_reseal_secrets_moves_every_secret_under_the_new_master_secret_and_may_resume(tenants, tmp_path):
    alpha, beta = tenants
    old = Settings(data_dir=tmp_path, secret_key="a" * 64, _env_file=None)
    new = Settings(data_dir=tmp_path, secret_key="c" * 64, _env_file=None)
    _endpoint(alpha.org_id, secret="whsec-alpha", settings=old)
    _endpoint(beta.org_id, secret="whsec-beta", settings=old)
    with session() as s:
        assert outbox.reseal_secrets(s, old, new) == 2
    with session() as s:
        assert outbox.reseal_secrets(s, old, new) == 0  # a resumed rotation: already done
    with session() as s:
        rows = {e.org_id: e.secret_sealed for e in s.exec(select(WebhookEndpoint)).all()}
    assert outbox.open_secret(rows[alpha.org_id], new) == "whsec-alpha"
    assert outbox.open_secret(rows[beta.org_id], new) == "whsec-beta"
    with pytest.raises(ConfigError):
        outbox.open_secret(rows[alpha.org_id], old)
