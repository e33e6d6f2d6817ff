"""The organisation's webhook: its configuration by an administrator, signed delivery of the outbox, the log.

Guarantees:

- **At least once.** An event written by :mod:`ccr.core.outbox` is POSTed until a 2xx answer, with an
  exponential back-off (30 s, 1 min, 2 min … at most 1 h, plus up to 10 % of jitter), for
  ``webhook_retry_hours`` after it was written; a failure after that marks it ``abandoned``. A process
  killed mid-delivery leaves a claim that expires after :data:`CLAIM_EXTRA_S` and the event is sent again,
  so a receiver drops an ``X-CCR-Delivery`` (the event's uid) it already has.
- **Once per claim across processes.** Every server process runs a :class:`WebhookDispatcher`; an event is
  claimed by a conditional UPDATE of its ``next_attempt_at`` (the value read must still be there), so two
  dispatchers never send it at the same time, and a result is written only while the claim is still ours.
- **Signed.** ``X-CCR-Signature: sha256=<hex>`` is the HMAC-SHA256, under the endpoint's secret, of
  ``"<X-CCR-Timestamp>."`` followed by the exact body; :func:`verify_signature` is the receiver's check
  (constant time, refuses timestamps older than five minutes: a replayed request is refused).
- **Nothing secret in a log.** Neither the secret, the signature nor the body is logged or stored with an
  attempt: an attempt keeps the HTTP status, a short French error, the duration and whether it was manual.
- **A disabled or deleted webhook holds its events.** They are not sent (no attempt is counted) and wait for
  it to be enabled again; past their retry window they are abandoned. A changed URL receives the events
  still pending. Redirects are not followed: a 3xx is a failure, so a signed event never lands elsewhere.
- **« Renvoyer ».** An administrator puts any event of their organisation back in the queue, due now; its next
  attempt is logged as manual. An event past its retry window gets that one attempt only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import event as sa_event
from sqlalchemy import update
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core import db as ccr_db
from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, CcrError, InvalidInput, NotFound
from ccr.core.formats import fr_number
from ccr.core.integration_models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from ccr.core.models import Organisation
from ccr.core.outbox import open_secret, seal_secret
from ccr.core.users import Actor
from ccr.core.vocab import WEBHOOK_EVENTS, WEBHOOK_STATUSES

log = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO, and a receiver's URL may carry its own token in the query.
logging.getLogger("httpx").setLevel(logging.WARNING)

SIGNATURE_HEADER = "X-CCR-Signature"
TIMESTAMP_HEADER = "X-CCR-Timestamp"
EVENT_HEADER = "X-CCR-Event"
DELIVERY_HEADER = "X-CCR-Delivery"
USER_AGENT = "CCR-Webhook/1"
MAX_URL_LEN = 2000  # what browsers and proxies accept in practice; a longer URL is a mistake
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # plain http only here: nothing crosses a network
SECRET_MIN_LEN, SECRET_MAX_LEN = 16, 200  # 16 characters: about 96 bits for a random secret, the least we take
TOLERANCE_S = 300  # five minutes of clock drift between CCR and the receiver; older requests are replays
FIRST_RETRY_S = 30  # the receiver restarting or deploying: back within seconds, rarely within one
MAX_RETRY_S = 3600  # an hour between tries at most: a day's window still gets about thirty of them
JITTER = 0.10  # up to 10 % later, so events failed together do not all come back in the same second
CLAIM_EXTRA_S = 30  # a claim outlives one POST (its timeout) by this much, then a killed process's event is due
MAX_ERROR_LEN = 300  # the delivery log shows a reason, not a receiver's whole answer
BATCH = 50  # events per pass; a full batch makes the dispatcher go round again at once
MANUAL_MARK = "Renvoi manuel demandé"  # last_error of a resent event until its attempt: that attempt is manual
GONE_ENDPOINT = "Webhook désactivé ou supprimé pendant toute la durée des essais : événement abandonné."

# The dispatchers of this process: a commit that makes an event due now (« Renvoyer », a webhook enabled)
# wakes them at once instead of at their next poll; other processes find the event at their own poll. Each
# has its own wake-up event, so one clearing it never swallows another's.
_dispatchers: weakref.WeakSet[WebhookDispatcher] = weakref.WeakSet()
_dispatchers_lock = threading.Lock()


# --- signing ---------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-CCR-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds): ``sha256=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: int | str | None, body: bytes, header: str | None,
                     tolerance_s: int = TOLERANCE_S, now: float | datetime | None = None) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` under ``secret`` and the timestamp is recent
    (within ``tolerance_s`` of ``now``, either way): what a receiver checks before trusting an event."""
    try:
        sent = int(str(timestamp).strip())
    except (TypeError, ValueError):
        return False
    clock = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None else float(now))
    if abs(clock - sent) > tolerance_s or not header:
        return False
    return hmac.compare_digest(sign(secret, sent, body).encode("ascii"), header.strip().encode("utf-8"))


# --- configuration (administrators) -------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookView:
    """The webhook as the admin page shows it: never its secret."""

    url: str
    events: tuple[str, ...]
    active: bool
    updated_at: datetime


@dataclass(frozen=True)
class AttemptView:
    """One delivery attempt in the log."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    manual: bool


@dataclass(frozen=True)
class DeliveryView:
    """One event of the outbox in the delivery log, with its attempts (oldest first)."""

    id: int
    event_uid: str
    kind: str
    call_id: int | None
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime
    tries: tuple[AttemptView, ...]


def _require_admin(actor: Actor) -> None:
    if not may(actor.role, "manage_api"):
        raise AccessDenied("Seul un administrateur gère les jetons d'API et le webhook.")


def validate_url(url: str | None) -> str:
    """The webhook URL, checked: https (plain http only to this machine), no credentials, sensible length."""
    text = str(url or "").strip()
    if not text:
        raise InvalidInput("Indiquez l'adresse (URL) qui recevra les événements.")
    if len(text) > MAX_URL_LEN or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidInput(f"L'URL du webhook doit tenir en {MAX_URL_LEN} caractères, sans espace.")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading it validates it (a non-numeric port raises)
    except ValueError as err:
        raise InvalidInput("L'URL du webhook n'est pas valide.") from err
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("https", "http") or not host:
        raise InvalidInput("L'URL du webhook doit commencer par https:// et nommer un serveur.")
    if "@" in parts.netloc:
        raise InvalidInput("L'URL du webhook ne doit pas contenir d'identifiant ni de mot de passe : "
                           "la signature X-CCR-Signature authentifie les envois.")
    if scheme == "http" and host not in LOCAL_HOSTS:
        raise InvalidInput("Le webhook doit utiliser https:// (http:// n'est accepté que vers 127.0.0.1 ou "
                           "localhost, sur cette machine).")
    if parts.fragment:
        raise InvalidInput("L'URL du webhook ne doit pas contenir de « # » : cette partie n'est jamais envoyée.")
    return text


def _clean_events(events) -> tuple[str, ...]:
    wanted = [str(e) for e in (events or [])]
    unknown = [e for e in wanted if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(f"Événement inconnu : {', '.join(unknown)} (possibles : {', '.join(WEBHOOK_EVENTS)}).")
    if not wanted:
        raise InvalidInput("Choisissez au moins un événement à envoyer.")
    return tuple(e for e in WEBHOOK_EVENTS if e in wanted)


def _clean_secret(secret: str) -> str:
    if not SECRET_MIN_LEN <= len(secret) <= SECRET_MAX_LEN or any(ch.isspace() or not ch.isprintable()
                                                                  for ch in secret):
        raise InvalidInput(f"Le secret du webhook compte de {SECRET_MIN_LEN} à {SECRET_MAX_LEN} caractères "
                           "imprimables, sans espace.")
    return secret


def wake_dispatchers() -> None:
    """Make every webhook dispatcher of this process run a pass now."""
    with _dispatchers_lock:
        running = list(_dispatchers)
    for dispatcher in running:
        dispatcher.wake()


def _wake_after_commit(session: Session) -> None:
    # After the commit, not now: a pass that ran before it would not see the event yet.
    sa_event.listen(session, "after_commit", lambda _s: wake_dispatchers(), once=True)


def configure_webhook(*, session: Session, actor: Actor, url: str, events, active: bool,
                      secret: str | None = None) -> str | None:
    """Create or change the organisation's webhook; returns a generated secret (shown once) or None.

    Without ``secret``, a new webhook gets a random one and an existing one keeps its own."""
    _require_admin(actor)
    clean_url, kinds = validate_url(url), _clean_events(events)
    row = session.get(WebhookEndpoint, actor.org_id)
    generated = None
    if secret is not None:
        sealed = seal_secret(_clean_secret(secret))
    elif row is None:
        generated = secrets.token_urlsafe(32)
        sealed = seal_secret(generated)
    else:
        sealed = row.secret_sealed
    if row is None:
        row = WebhookEndpoint(org_id=actor.org_id, url=clean_url, secret_sealed=sealed, events=",".join(kinds))
    row.url, row.secret_sealed, row.events, row.active = clean_url, sealed, ",".join(kinds), bool(active)
    row.updated_by, row.updated_at = actor.user_id, utcnow()
    session.add(row)
    audit.log_event(session=session, who=actor.who, action="webhook_configured", target_type="webhook",
                    target_id=actor.org_id,
                    # The host only: a query string may carry the receiver's own token.
                    detail={"hote": urlsplit(clean_url).hostname, "evenements": list(kinds), "actif": bool(active),
                            "nouveau_secret": secret is not None or generated is not None})
    if active:
        _wake_after_commit(session)  # events held while it was disabled go at once
    return generated


def rotate_webhook_secret(*, session: Session, actor: Actor) -> str:
    """Replace the webhook's secret by a new random one and return it (shown once); the old one stops at once."""
    _require_admin(actor)
    row = session.get(WebhookEndpoint, actor.org_id)
    if row is None:
        raise NotFound("Aucun webhook n'est configuré : enregistrez d'abord son URL.")
    fresh = secrets.token_urlsafe(32)
    row.secret_sealed, row.updated_by, row.updated_at = seal_secret(fresh), actor.user_id, utcnow()
    session.add(row)
    audit.log_event(session=session, who=actor.who, action="webhook_secret_rotated", target_type="webhook",
                    target_id=actor.org_id)
    return fresh


def webhook_view(*, session: Session, actor: Actor) -> WebhookView | None:
    """The organisation's webhook (URL, events, active), or None when none is configured."""
    _require_admin(actor)
    row = session.get(WebhookEndpoint, actor.org_id)
    if row is None:
        return None
    return WebhookView(row.url, tuple(e for e in row.events.split(",") if e), row.active, row.updated_at)


def delivery_log(*, session: Session, actor: Actor, limit: int = 100, status: str | None = None) -> list[DeliveryView]:
    """The organisation's webhook events, newest first, each with its attempts; ``status`` filters them."""
    _require_admin(actor)
    if status is not None and status not in WEBHOOK_STATUSES:
        raise InvalidInput(f"Statut inconnu : {status}.")
    stmt = select(WebhookEvent).where(WebhookEvent.org_id == actor.org_id)
    if status is not None:
        stmt = stmt.where(WebhookEvent.status == status)
    rows = session.exec(stmt.order_by(col(WebhookEvent.created_at).desc(), col(WebhookEvent.id).desc())
                        .limit(max(1, min(int(limit), 1000)))).all()
    tries: dict[int, list[AttemptView]] = {r.id: [] for r in rows}
    if rows:
        for a in session.exec(select(WebhookAttempt).where(WebhookAttempt.org_id == actor.org_id,
                                                           col(WebhookAttempt.event_id).in_(list(tries)))
                              .order_by(col(WebhookAttempt.attempted_at), col(WebhookAttempt.id))).all():
            tries[a.event_id].append(AttemptView(a.attempted_at, a.status_code, a.error, a.duration_ms, a.manual))
    return [DeliveryView(r.id, r.event_uid, r.kind, r.call_id, r.status, r.attempts, r.last_status_code,
                         r.last_error, r.next_attempt_at, r.delivered_at, r.created_at, tuple(tries[r.id]))
            for r in rows]


def resend_event(*, session: Session, actor: Actor, event_id: int) -> None:
    """« Renvoyer »: put an event of the organisation back in the queue, due now; its next attempt is manual."""
    _require_admin(actor)
    row = session.get(WebhookEvent, event_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Événement introuvable.")
    endpoint = session.get(WebhookEndpoint, actor.org_id)
    if endpoint is None or not endpoint.active:
        raise InvalidInput("Le webhook est désactivé : activez-le avant de renvoyer un événement.")
    previous = row.status
    row.status, row.next_attempt_at, row.last_error, row.delivered_at = "pending", utcnow(), MANUAL_MARK, None
    session.add(row)
    audit.log_event(session=session, who=actor.who, action="webhook_event_resent", target_type="webhook_event",
                    target_id=row.id, detail={"evenement": row.kind, "statut_precedent": previous})
    _wake_after_commit(session)


# --- delivery --------------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s doubled each time, at most an hour, plus jitter."""
    base = min(FIRST_RETRY_S * 2 ** max(0, min(attempts - 1, 20)), MAX_RETRY_S)
    return timedelta(seconds=base * (1 + random.uniform(0, JITTER)))


@dataclass(frozen=True)
class _Claimed:
    id: int
    org_id: int
    uid: str
    kind: str
    body: bytes
    created_at: datetime
    attempts: int
    manual: bool
    url: str
    secret_sealed: str
    lease_until: datetime


def _live_endpoints():
    """Active organisations whose webhook is active: only their events are sent."""
    active_orgs = select(Organisation.id).where(Organisation.status == "active")
    return select(WebhookEndpoint.org_id).where(WebhookEndpoint.active == True,  # noqa: E712 - SQL
                                                col(WebhookEndpoint.org_id).in_(active_orgs))


def _abandon_held(settings: Settings, now: datetime) -> int:
    """Abandon the pending events of a disabled or deleted webhook once their retry window has passed."""
    cutoff = now - timedelta(hours=settings.webhook_retry_hours)
    with ccr_db.session(settings) as s:
        stale = s.exec(select(WebhookEvent.id).where(WebhookEvent.status == "pending", WebhookEvent.created_at < cutoff,
                                                     col(WebhookEvent.org_id).not_in(_live_endpoints()))).all()
        if not stale:  # the usual case: a read, no write lock taken every poll
            return 0
        return s.exec(update(WebhookEvent).where(col(WebhookEvent.id).in_(list(stale)),
                                                 WebhookEvent.status == "pending")
                      .values(status="abandoned", last_error=GONE_ENDPOINT)
                      .execution_options(synchronize_session=False)).rowcount or 0


def _due(settings: Settings, now: datetime, limit: int) -> list[tuple[int, datetime]]:
    with ccr_db.session(settings) as s:
        return list(s.exec(select(WebhookEvent.id, WebhookEvent.next_attempt_at)
                           .where(WebhookEvent.status == "pending", WebhookEvent.next_attempt_at <= now,
                                  col(WebhookEvent.org_id).in_(_live_endpoints()))
                           .order_by(col(WebhookEvent.next_attempt_at), col(WebhookEvent.id)).limit(limit)).all())


def _claim(settings: Settings, event_id: int, seen: datetime, now: datetime) -> _Claimed | None:
    """Take the event for one attempt: wins only if its due time is still the one read (no one else took it)."""
    lease_until = now + timedelta(seconds=settings.webhook_timeout_s + CLAIM_EXTRA_S)
    with ccr_db.session(settings) as s:
        won = s.exec(update(WebhookEvent)
                     .where(WebhookEvent.id == event_id, WebhookEvent.status == "pending",
                            WebhookEvent.next_attempt_at == seen)
                     .values(next_attempt_at=lease_until).execution_options(synchronize_session=False))
        if won.rowcount != 1:
            return None
        ev = s.get(WebhookEvent, event_id)
        endpoint = s.get(WebhookEndpoint, ev.org_id)
        if endpoint is None or not endpoint.active:  # disabled since the read: the event waits, untouched
            s.rollback()
            return None
        return _Claimed(ev.id, ev.org_id, ev.event_uid, ev.kind, ev.payload_json.encode("utf-8"), ev.created_at,
                        ev.attempts, ev.last_error == MANUAL_MARK, endpoint.url, endpoint.secret_sealed, lease_until)


def _post(client: httpx.Client, job: _Claimed, settings: Settings, now: datetime) -> tuple[int | None, str | None]:
    """One signed POST; (status code, None) on a 2xx, else (code or None, a short French reason)."""
    try:
        secret = open_secret(job.secret_sealed, settings)
    except CcrError:
        return None, "Secret du webhook illisible avec la clé maîtresse actuelle : enregistrez un nouveau secret."
    stamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_HEADER: job.kind,
               DELIVERY_HEADER: job.uid, TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, job.body)}
    try:
        # Streamed and never read: a receiver's answer body is not ours to download, whatever its size.
        with client.stream("POST", job.url, content=job.body, headers=headers) as response:
            code = response.status_code
    except httpx.TimeoutException:
        return None, f"Délai dépassé ({fr_number(settings.webhook_timeout_s, 1, trim=True, unit='s')}) sans réponse."
    except httpx.ConnectError as err:
        return None, f"Connexion impossible : {err}"[:MAX_ERROR_LEN]
    except httpx.HTTPError as err:
        return None, f"Erreur réseau ({type(err).__name__}) : {err}"[:MAX_ERROR_LEN]
    if 200 <= code < 300:
        return code, None
    if 300 <= code < 400:
        return code, f"Redirection non suivie (HTTP {code}) : indiquez l'adresse finale."
    return code, f"Réponse HTTP {code}."


def _finish(settings: Settings, job: _Claimed, code: int | None, error: str | None, started: datetime,
            ended: datetime, duration_ms: int) -> str:
    """Record the attempt and the event's new state (only while the claim is still ours); the new status."""
    values: dict = {"attempts": WebhookEvent.attempts + 1, "last_status_code": code, "last_error": error}
    if error is None:
        values |= {"status": "delivered", "delivered_at": ended, "next_attempt_at": ended}
    else:
        deadline = job.created_at + timedelta(hours=settings.webhook_retry_hours)
        if ended >= deadline:
            values |= {"status": "abandoned", "next_attempt_at": ended}
        else:  # the last try falls on the deadline itself rather than after it
            values |= {"next_attempt_at": min(ended + retry_delay(job.attempts + 1), deadline)}
    with ccr_db.session(settings) as s:
        s.add(WebhookAttempt(org_id=job.org_id, event_id=job.id, attempted_at=started, status_code=code,
                             error=error, duration_ms=duration_ms, manual=job.manual))
        # A resend or another dispatcher moved the due time meanwhile: the attempt is logged, the state is theirs.
        s.exec(update(WebhookEvent).where(WebhookEvent.id == job.id, WebhookEvent.next_attempt_at == job.lease_until)
               .values(**values).execution_options(synchronize_session=False))
    return values.get("status", "pending")


def deliver_due(settings: Settings | None = None, now: datetime | None = None, limit: int = BATCH) -> int:
    """Send the events due at ``now`` (default: the real clock), one claim at a time; returns how many were tried.

    Safe to run in several processes at once: each event is sent by the dispatcher that claimed it."""
    settings = settings or get_settings()
    clock = (lambda: now) if now is not None else utcnow
    _abandon_held(settings, clock())
    tried = 0
    with httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False) as client:
        for event_id, seen in _due(settings, clock(), limit):
            job = _claim(settings, event_id, seen, clock())
            if job is None:  # another dispatcher took it between the read and the claim
                continue
            started, t0 = clock(), time.monotonic()
            code, error = _post(client, job, settings, started)
            duration_ms = int((time.monotonic() - t0) * 1000)
            status = _finish(settings, job, code, error, started, clock(), duration_ms)
            tried += 1
            if error is None:
                log.info("Webhook : événement %s (%s) livré, HTTP %s.", job.id, job.kind, code)
            else:  # the reason is ours (status or network error): no secret, signature nor body in it
                log.warning("Webhook : événement %s (%s) non livré (%s) -> %s.", job.id, job.kind, error, status)
    return tried


class WebhookDispatcher:
    """The background thread of a server process that runs :func:`deliver_due` every ``webhook_poll_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.passes = 0  # completed passes (tests wait for one)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ccr-webhooks", daemon=True)

    def start(self) -> WebhookDispatcher:
        """Start the thread; its first pass sends what was left due by a previous run."""
        with _dispatchers_lock:
            _dispatchers.add(self)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """Run a pass now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a resend during it makes the next pass start at once
            tried = 0
            try:
                tried = deliver_due(self.settings)
            except Exception:  # the database is busy or gone for a moment: the next pass tries again
                log.warning("Envoi des événements du webhook reporté", exc_info=True)
            self.passes += 1
            if tried < BATCH:  # a full batch: more are due, go round again at once
                self._wake.wait(self.settings.webhook_poll_s)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop after the current pass (a POST in flight ends within its timeout)."""
        with _dispatchers_lock:
            _dispatchers.discard(self)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout)
