"""The webhook: configured by an administrator only, each event POSTed signed to a real local receiver,
retried with back-off, abandoned after its window, resent on demand, sent once across dispatchers and restarts.

The receiver checks every signature with its own copy of the secret and its own HMAC, never with
``webhooks.sign``: a signing bug cannot pass for a verified delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from ccr.core import audit, outbox
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.integration_models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from ccr.core.vocab import WEBHOOK_EVENTS
from ccr.ops import webhooks
from ccr.pipeline import steps
from tests.apiserver import free_port
from tests.pipeline.calldata import claim, transcribed_call

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 120  # two cores shared with other suites: a state is waited for this long before failing
STAFF_NOT_ADMIN = ("dpo", "supervisor", "team_lead", "agent")


# --- a real receiver -----------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on a free local port: verifies each request with its own HMAC, answers as told."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.answers: list[int] = []  # answered first, in order; then ``default``
        self.default = 200
        self.delay_s = 0.0  # a slow receiver keeps a delivery in flight while another dispatcher looks
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where CCR posts: plain http, allowed to 127.0.0.1 only."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/ccr-hook"

    def delivered(self, uid: str | None = None) -> list[dict]:
        """Requests answered with a 2xx (of one event uid when given)."""
        with self._lock:
            return [r for r in self.requests if 200 <= r["code"] < 300 and uid in (None, r["uid"])]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stamp, signature = self.headers.get("X-CCR-Timestamp", ""), self.headers.get("X-CCR-Signature", "")
                expected = "sha256=" + hmac.new((receiver.secret or "").encode("utf-8"),
                                                stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
                with receiver._lock:
                    code = receiver.answers.pop(0) if receiver.answers else receiver.default
                    receiver.requests.append({
                        "code": code, "body": body, "signature": signature, "timestamp": stamp,
                        "verified": hmac.compare_digest(expected, signature),
                        "event": self.headers.get("X-CCR-Event"), "uid": self.headers.get("X-CCR-Delivery"),
                        "content_type": self.headers.get("Content-Type"), "path": self.path,
                    })
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet: the test asserts on what was received
                pass

        return Handler


@pytest.fixture
def receiver():
    """A started receiver, shut down after the test."""
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


# --- helpers ---------------------------------------------------------------------------------------------


def _configure(tenant, url: str, *, events=WEBHOOK_EVENTS, active: bool = True, secret: str | None = None):
    admin = tenant.actor("admin")
    with session() as s:
        return webhooks.configure_webhook(session=s, actor=admin, url=url, events=list(events), active=active,
                                          secret=secret)


def _emit(tenant, kind: str = "call.scored") -> int:
    with session() as s:
        ev = outbox.emit(s, org_id=tenant.org_id, kind=kind, call_id=None, data={"call_id": None, "note": "essai"})
        s.flush()
        return ev.id


def _event(event_id: int) -> WebhookEvent:
    with session() as s:
        return s.get(WebhookEvent, event_id)


def _attempts(event_id: int) -> list[WebhookAttempt]:
    with session() as s:
        return list(s.exec(select(WebhookAttempt).where(WebhookAttempt.event_id == event_id)
                           .order_by(col(WebhookAttempt.id))).all())


def _wait(predicate, what: str, proc: subprocess.Popen | None = None, log_path: Path | None = None) -> None:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"CCR s'est arrêté avant {what} : {log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"{what} : pas dans les {DEADLINE_S} s")


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "ok"), [
    ("https://recepteur.exemple.fr/ccr", True),
    ("https://recepteur.exemple.fr:8443/ccr?source=ccr", True),
    ("http://127.0.0.1:9000/hook", True),
    ("http://localhost/hook", True),
    ("http://[::1]:9000/hook", True),
    ("http://recepteur.exemple.fr/ccr", False),  # clear text across a network
    ("https://user:motdepasse@recepteur.exemple.fr/ccr", False),  # credentials in the URL
    ("https://recepteur.exemple.fr/ccr#ancre", False),
    ("ftp://recepteur.exemple.fr/ccr", False),
    ("https:///sans-hote", False),
    ("https://recepteur.exemple.fr:port/ccr", False),
    ("https://recepteur.exemple.fr/a b", False),
    ("https://recepteur.exemple.fr/" + "a" * webhooks.MAX_URL_LEN, False),
    ("", False),
])
def test_the_webhook_url_is_checked(url, ok):
    if ok:
        assert webhooks.validate_url(url) == url
    else:
        with pytest.raises(InvalidInput):
            webhooks.validate_url(url)


def test_a_new_webhook_gets_a_secret_shown_once_and_a_rotation_replaces_it(tenants, receiver):
    a, _ = tenants
    admin = a.actor("admin")
    first = _configure(a, receiver.url, events=["call.scored"])
    assert first and len(first) >= 40
    assert _configure(a, receiver.url, events=["call.scored", "review.validated"]) is None  # keeps its secret
    with session() as s:
        view = webhooks.webhook_view(session=s, actor=admin)
        sealed = s.get(WebhookEndpoint, a.org_id).secret_sealed
    assert (view.url, view.events, view.active) == (receiver.url, ("call.scored", "review.validated"), True)
    assert not hasattr(view, "secret") and first not in sealed and outbox.open_secret(sealed) == first
    with session() as s:
        rotated = webhooks.rotate_webhook_secret(session=s, actor=admin)
    assert rotated != first
    receiver.secret = first  # a receiver that kept the old secret refuses what is signed now
    _emit(a)
    webhooks.deliver_due()
    [request] = receiver.requests
    assert not request["verified"]
    with session() as s:
        actions = [e.action for e in audit.list_events(session=s, org_id=a.org_id)]
    assert {"webhook_configured", "webhook_secret_rotated"} <= set(actions)


@pytest.mark.parametrize("role", STAFF_NOT_ADMIN)
def test_only_an_administrator_configures_the_webhook_or_reads_its_log(tenants, role):
    a, _ = tenants
    actor = a.actor(role)
    with session() as s:
        for call in (lambda: webhooks.configure_webhook(session=s, actor=actor, url="https://exemple.fr/h",
                                                        events=["call.scored"], active=True),
                     lambda: webhooks.rotate_webhook_secret(session=s, actor=actor),
                     lambda: webhooks.webhook_view(session=s, actor=actor),
                     lambda: webhooks.delivery_log(session=s, actor=actor),
                     lambda: webhooks.resend_event(session=s, actor=actor, event_id=1)):
            with pytest.raises(AccessDenied):
                call()


# --- signing ------------------------------------------------------------------------------------------


def test_sign_is_the_hmac_of_the_timestamp_a_dot_and_the_body():
    body = b'{"id":"e1"}'
    expected = hmac.new(b"un-secret-de-test-assez-long", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign("un-secret-de-test-assez-long", 1700000000, body) == "sha256=" + expected


@pytest.mark.parametrize(("case", "ok"), [
    ("fresh", True), ("four_minutes_old", True), ("old", False), ("future", False), ("tampered", False),
    ("other_secret", False), ("bad_timestamp", False), ("no_header", False),
])
def test_verify_signature_refuses_replays_and_forgeries(case, ok):
    secret, body, now = "le-secret-du-recepteur-1234", b'{"type":"call.scored"}', 1_800_000_000
    stamp = {"four_minutes_old": now - 240, "old": now - 301, "future": now + 301}.get(case, now)
    header = webhooks.sign("un-autre-secret-1234567" if case == "other_secret" else secret, stamp, body)
    checked = webhooks.verify_signature(
        secret, "17h00" if case == "bad_timestamp" else str(stamp), body + b" " if case == "tampered" else body,
        None if case == "no_header" else header, now=now)
    assert checked is ok


# --- delivery ---------------------------------------------------------------------------------------------


def test_a_scored_calls_event_is_delivered_signed_and_the_receiver_verifies_it(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    call_id = transcribed_call(a.org_id)
    assert claim("hote:1:w0") == call_id
    assert steps.process_call(call_id, owner="hote:1:w0") == "done"
    with session() as s:
        [event] = s.exec(select(WebhookEvent).where(WebhookEvent.call_id == call_id)).all()
    assert webhooks.deliver_due() == 1
    [request] = receiver.requests
    assert request["verified"] and abs(time.time() - int(request["timestamp"])) < 60
    assert (request["event"], request["uid"], request["content_type"], request["path"]) == (
        "call.scored", event.event_uid, "application/json", "/ccr-hook")
    payload = json.loads(request["body"])
    assert (payload["id"], payload["type"], payload["data"]["call_id"], payload["data"]["status"]) == (
        event.event_uid, "call.scored", call_id, "done")
    done = _event(event.id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 1, 200, None)
    [attempt] = _attempts(event.id)
    assert (attempt.status_code, attempt.error, attempt.manual) == (200, None, False)
    assert webhooks.deliver_due() == 0  # delivered: never sent again


def test_a_failed_delivery_is_retried_after_its_back_off(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.answers = [500]
    event_id = _emit(a)
    t0 = utcnow()
    assert webhooks.deliver_due(now=t0) == 1
    failed = _event(event_id)
    assert (failed.status, failed.attempts, failed.last_status_code) == ("pending", 1, 500)
    wait = failed.next_attempt_at - t0
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=33)
    assert webhooks.deliver_due(now=t0 + timedelta(seconds=29)) == 0  # not before its back-off
    assert len(receiver.requests) == 1
    assert webhooks.deliver_due(now=t0 + wait) == 1
    done = _event(event_id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == ("delivered", 2, 200, None)
    assert [(x.status_code, x.error) for x in _attempts(event_id)] == [(500, "Réponse HTTP 500."), (200, None)]
    assert all(r["verified"] for r in receiver.requests) and len({r["uid"] for r in receiver.requests}) == 1


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600),
                                                    (40, 3600)])
def test_the_back_off_doubles_up_to_an_hour_with_a_little_jitter(attempts, seconds):
    delays = [webhooks.retry_delay(attempts).total_seconds() for _ in range(50)]
    assert all(seconds <= d <= seconds * 1.1 for d in delays)


def test_an_event_is_abandoned_once_its_retry_window_has_passed(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.default = 503
    event_id = _emit(a)
    created = _event(event_id).created_at
    assert webhooks.deliver_due(now=created) == 1
    assert _event(event_id).status == "pending"
    late = created + timedelta(hours=migrated.webhook_retry_hours, seconds=1)
    assert webhooks.deliver_due(now=late) == 1
    gone = _event(event_id)
    assert (gone.status, gone.attempts, gone.last_status_code) == ("abandoned", 2, 503)
    assert webhooks.deliver_due(now=late + timedelta(days=1)) == 0
    assert len(receiver.requests) == 2


def test_the_last_try_falls_on_the_end_of_the_window(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.default = 500
    event_id = _emit(a)
    created = _event(event_id).created_at
    end = created + timedelta(hours=migrated.webhook_retry_hours)
    assert webhooks.deliver_due(now=end - timedelta(seconds=5)) == 1
    assert _event(event_id).next_attempt_at == end  # not 30 s later, past the window
    assert webhooks.deliver_due(now=end) == 1
    assert _event(event_id).status == "abandoned"


def test_a_disabled_webhook_holds_its_events_then_they_are_abandoned(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    event_id = _emit(a)
    _configure(a, receiver.url, active=False)
    assert webhooks.deliver_due() == 0 and _event(event_id).status == "pending"
    created = _event(event_id).created_at
    assert webhooks.deliver_due(now=created + timedelta(hours=migrated.webhook_retry_hours, minutes=1)) == 0
    held = _event(event_id)
    assert (held.status, held.attempts, held.last_error) == ("abandoned", 0, webhooks.GONE_ENDPOINT)
    assert receiver.requests == [] and _attempts(event_id) == []


def test_a_webhook_enabled_again_sends_what_it_held(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    event_id = _emit(a)
    _configure(a, receiver.url, active=False)
    assert webhooks.deliver_due() == 0
    _configure(a, receiver.url, active=True)
    assert webhooks.deliver_due() == 1 and _event(event_id).status == "delivered"


def test_a_redirect_is_not_followed(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.answers = [302]
    event_id = _emit(a)
    webhooks.deliver_due()
    ev = _event(event_id)
    assert (ev.status, ev.last_status_code) == ("pending", 302) and "Redirection" in ev.last_error
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_a_failed_attempt_with_a_french_reason(tenants):
    a, _ = tenants
    port = free_port()  # closed again at once: nothing listens there
    _configure(a, f"http://127.0.0.1:{port}/hook")
    event_id = _emit(a)
    assert webhooks.deliver_due() == 1
    [attempt] = _attempts(event_id)
    assert attempt.status_code is None and attempt.error.startswith("Connexion impossible")
    assert _event(event_id).status == "pending"


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.delay_s = 1.5  # answers well after the 0.3 s timeout below
    event_id = _emit(a)
    assert webhooks.deliver_due(migrated.model_copy(update={"webhook_timeout_s": 0.3})) == 1
    [attempt] = _attempts(event_id)
    assert (attempt.status_code, attempt.error) == (None, "Délai dépassé (0,3\u00a0s) sans réponse.")
    assert _event(event_id).status == "pending"


# --- « Renvoyer » and tenancy ---------------------------------------------------------------------------


def test_the_admin_resends_a_delivered_event_and_its_attempt_is_manual(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    event_id = _emit(a)
    webhooks.deliver_due()
    admin = a.actor("admin")
    with session() as s:
        webhooks.resend_event(session=s, actor=admin, event_id=event_id)
    again = _event(event_id)
    assert (again.status, again.last_error) == ("pending", webhooks.MANUAL_MARK)
    assert webhooks.deliver_due() == 1
    assert [x.manual for x in _attempts(event_id)] == [False, True]
    assert len(receiver.delivered(again.event_uid)) == 2 and all(r["verified"] for r in receiver.requests)
    with session() as s:
        [log] = webhooks.delivery_log(session=s, actor=admin)
        [entry] = audit.list_events(session=s, org_id=a.org_id, action="webhook_event_resent")
    assert (log.id, log.status, log.attempts, [t.manual for t in log.tries]) == (event_id, "delivered", 2,
                                                                                 [False, True])
    assert entry.target_id == str(event_id)


def test_another_organisation_cannot_see_or_resend_an_event(tenants, receiver):
    a, b = tenants
    receiver.secret = _configure(a, receiver.url)
    _configure(b, receiver.url)
    event_id = _emit(a)
    webhooks.deliver_due()
    b_admin = b.actor("admin")
    with session() as s:
        assert webhooks.delivery_log(session=s, actor=b_admin) == []
        with pytest.raises(NotFound):
            webhooks.resend_event(session=s, actor=b_admin, event_id=event_id)
        with pytest.raises(NotFound):
            webhooks.resend_event(session=s, actor=b_admin, event_id=event_id + 1000)
    assert _event(event_id).status == "delivered" and len(_attempts(event_id)) == 1


def test_the_delivery_log_is_newest_first_and_filters_by_status(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.answers = [200, 500]
    first, second = _emit(a), _emit(a, "call.failed")
    webhooks.deliver_due()
    admin = a.actor("admin")
    with session() as s:
        every = webhooks.delivery_log(session=s, actor=admin)
        pending = webhooks.delivery_log(session=s, actor=admin, status="pending")
        with pytest.raises(InvalidInput):
            webhooks.delivery_log(session=s, actor=admin, status="perdu")
    assert [e.id for e in every] == [second, first]
    assert [(e.id, e.kind, e.last_status_code) for e in pending] == [(second, "call.failed", 500)]


# --- secrets stay out of the logs -------------------------------------------------------------------------


def test_neither_the_secret_nor_the_signature_nor_the_body_reaches_a_log(tenants, receiver, caplog):
    a, _ = tenants
    caplog.set_level(logging.DEBUG)
    receiver.secret = _configure(a, receiver.url)
    receiver.answers = [500]
    event_id = _emit(a)
    t0 = utcnow()
    webhooks.deliver_due(now=t0)
    webhooks.deliver_due(now=t0 + timedelta(minutes=5))
    assert _event(event_id).status == "delivered" and caplog.records  # the deliveries were logged
    body = receiver.requests[0]["body"].decode("utf-8")
    for secret_text in (receiver.secret, *(r["signature"] for r in receiver.requests), body):
        assert secret_text not in caplog.text
    with session() as s:
        stored = " ".join(f"{x.error} {x.status_code}" for x in _attempts(event_id))
        audited = " ".join(e.detail_json or "" for e in audit.list_events(session=s, org_id=a.org_id))
    assert receiver.secret not in stored and receiver.secret not in audited


# --- one delivery across dispatchers, threads and restarts ----------------------------------------------


def test_a_claim_is_won_once(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    event_id = _emit(a)
    now = utcnow()
    seen = _event(event_id).next_attempt_at
    first = webhooks._claim(migrated, event_id, seen, now)
    assert first is not None and first.id == event_id
    assert webhooks._claim(migrated, event_id, seen, now) is None  # the due time read is gone: someone has it


def test_two_concurrent_dispatchers_deliver_each_event_once(tenants, receiver):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.delay_s = 0.05  # each POST stays in flight a moment while the other dispatcher claims
    ids = [_emit(a) for _ in range(8)]
    start, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            start.wait(timeout=DEADLINE_S)
            results.append(webhooks.deliver_due())
        except Exception as err:  # surfaced below: a thread's failure must fail the test
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE_S)
    assert not errors and sum(results) == 8
    uids = [r["uid"] for r in receiver.requests]
    assert len(uids) == 8 and len(set(uids)) == 8
    assert all(_event(i).status == "delivered" and len(_attempts(i)) == 1 for i in ids)


def test_the_dispatcher_thread_delivers_and_wakes_on_a_resend(tenants, receiver, migrated):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    # An hour between polls: only a wake-up can deliver within the deadline after the first pass.
    dispatcher = webhooks.WebhookDispatcher(migrated.model_copy(update={"webhook_poll_s": 3600.0})).start()
    try:
        _wait(lambda: dispatcher.passes >= 1, "un premier passage")
        event_id = _emit(a)
        dispatcher.wake()
        _wait(lambda: _event(event_id).status == "delivered", "la livraison")
        with session() as s:
            webhooks.resend_event(session=s, actor=a.actor("admin"), event_id=event_id)
        _wait(lambda: len(_attempts(event_id)) == 2 and _event(event_id).status == "delivered", "le renvoi")
        assert dispatcher.alive
    finally:
        dispatcher.stop()
    assert not dispatcher.alive
    assert [x.manual for x in _attempts(event_id)] == [False, True]


def _start_api(env: dict, log_path: Path) -> subprocess.Popen:
    port = free_port()
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ccr", "api", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_an_event_is_delivered_once_after_a_restart_of_ccr_in_the_middle_of_its_retries(tenants, receiver,
                                                                                        tmp_path):
    a, _ = tenants
    receiver.secret = _configure(a, receiver.url)
    receiver.default = 500
    event_id = _emit(a)
    uid = _event(event_id).event_uid
    env = {**os.environ, "CCR_WEBHOOK_POLL_S": "0.2", "CCR_BACKGROUND_SERVICES": "1", "CCR_WORKER_THREADS": "0",
           "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    log_path = tmp_path / "api.log"
    first = _start_api(env, log_path)
    try:
        _wait(lambda: len(_attempts(event_id)) >= 1, "une première tentative échouée", first, log_path)
    finally:
        first.kill()  # no clean shutdown: the process dies between two tries
        first.wait(timeout=DEADLINE_S)
    [failed] = _attempts(event_id)
    assert failed.status_code == 500 and _event(event_id).status == "pending"
    receiver.default = 200
    # The back-off put the next try 30 s away: time is moved on in the database rather than waited for.
    with session() as s:
        s.exec(update(WebhookEvent).where(WebhookEvent.id == event_id).values(next_attempt_at=utcnow()))
    second = _start_api(env, log_path)
    try:
        _wait(lambda: _event(event_id).status == "delivered", "la livraison après le redémarrage", second, log_path)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait(timeout=DEADLINE_S)
    assert len(receiver.delivered(uid)) == 1 and len(receiver.requests) == 2
    assert [x.status_code for x in _attempts(event_id)] == [500, 200]
    assert all(r["verified"] for r in receiver.requests)
