"""Cookie consent: the categories, the signed consent cookie, its proof in the database, the cookie list.

The browser keeps the choice in a first-party cookie ``ccr_consent`` whose value
is ``base64url(JSON) "." base64url(HMAC-SHA256)``, signed with a key derived
from the secret key so that nobody can forge an "accepted" choice. The JSON is
``{"id": random consent id, "v": policy version, "c": {"audience": bool,
"functional": bool}, "t": issued epoch, "e": expiry epoch}``. A missing,
tampered, expired or old-version cookie reads as "no choice": the banner comes
back. Each choice is also written as a ``ConsentRecord`` (proof of consent,
CNIL) under its random id, never the user id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlmodel import Session, select

from ccr.core.config import Settings
from ccr.core.db import utcnow
from ccr.core.errors import InvalidInput
from ccr.core.models import ConsentRecord

CONSENT_COOKIE = "ccr_consent"
# CNIL recommendation and our cookie policy: a consent choice is kept at most 6 months.
CONSENT_MAX_DAYS_LIMIT = 183
NECESSARY = "necessary"
AUDIENCE = "audience"
FUNCTIONAL = "functional"
OPTIONAL_CATEGORIES = (AUDIENCE, FUNCTIONAL)
# Labels and explanations shown in the banner, the dialog and the cookie policy page.
CATEGORIES: dict[str, dict[str, str]] = {
    NECESSARY: {
        "label": "Strictement nécessaires",
        "help": "Connexion, protection contre la falsification de requêtes et mémorisation de votre choix "
        "sur les cookies. Indispensables au fonctionnement : toujours actifs, sans consentement.",
    },
    AUDIENCE: {
        "label": "Mesure d'audience (Matomo)",
        "help": "Statistiques de fréquentation des pages, hébergées par votre organisation. "
        "Déposés uniquement si vous les acceptez.",
    },
    FUNCTIONAL: {
        "label": "Préférences fonctionnelles",
        "help": "Mémorisation de préférences d'affichage d'une visite à l'autre. "
        "Déposés uniquement si vous les acceptez.",
    },
}
_SIGNING_CONTEXT = b"ccr-consent-cookie-v1"  # a distinct key from the re-login cookie's
_CONSENT_ID_BYTES = 16  # 128 random bits: not guessable, not linkable to a user
_MAX_COOKIE_CHARS = 1024  # a genuine value is ~250 chars; longer is garbage, not worth decoding
# Matomo's default visitor cookie lasts 13 months; ours lasts no longer than the consent behind it.
MATOMO_SESSION_MINUTES = 30
MATOMO_TEST_COOKIE_NOTE = "quelques millisecondes (test de dépôt)"


@dataclass(frozen=True)
class Consent:
    """A cookie choice: random id, policy version, optional categories accepted, issue and expiry times."""

    consent_id: str
    policy_version: str
    choices: dict[str, bool] = field(default_factory=dict)
    issued_at: int = 0  # epoch seconds
    expires_at: int = 0  # epoch seconds

    @property
    def audience(self) -> bool:
        """True when audience measurement was accepted."""
        return bool(self.choices.get(AUDIENCE))

    @property
    def functional(self) -> bool:
        """True when functional preferences were accepted."""
        return bool(self.choices.get(FUNCTIONAL))

    @property
    def refused_all(self) -> bool:
        """True when every optional category was refused."""
        return not any(self.choices.get(c) for c in OPTIONAL_CATEGORIES)

    def expires_datetime(self) -> datetime:
        """The expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, UTC)

    def issued_datetime(self) -> datetime:
        """The issue time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.issued_at, UTC)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise InvalidInput("Horodatage sans fuseau horaire : utilisez ccr.core.db.utcnow().")
    return now


def _signing_key(settings: Settings) -> bytes:
    return hmac.new(settings.secret().encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes, settings: Settings) -> str:
    return _b64(hmac.new(_signing_key(settings), payload, hashlib.sha256).digest())


def encode_consent(consent: Consent, settings: Settings) -> str:
    """The signed cookie value of ``consent`` (cookie-safe characters only)."""
    body = {
        "id": consent.consent_id,
        "v": consent.policy_version,
        "c": {c: bool(consent.choices.get(c)) for c in OPTIONAL_CATEGORIES},
        "t": consent.issued_at,
        "e": consent.expires_at,
    }
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_sign(payload, settings)}"


def parse_consent_cookie(value: str | None, settings: Settings, now: datetime | None = None) -> Consent | None:
    """The valid consent in a cookie value, or None (missing, forged, malformed, expired or old version)."""
    if not value or not isinstance(value, str) or len(value) > _MAX_COOKIE_CHARS or value.count(".") != 1:
        return None
    payload_b64, sig_b64 = value.split(".")
    try:
        payload = _unb64(payload_b64)
        signature = _unb64(sig_b64)
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(_signing_key(settings), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        body = json.loads(payload)
        consent = Consent(
            consent_id=str(body["id"]),
            policy_version=str(body["v"]),
            choices={c: bool(body["c"].get(c, False)) for c in OPTIONAL_CATEGORIES},
            issued_at=int(body["t"]),
            expires_at=int(body["e"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return consent if is_in_force(consent, settings, now) else None


def is_in_force(consent: Consent, settings: Settings, now: datetime | None = None) -> bool:
    """True while ``consent`` is unexpired and was given under the current policy version."""
    # A new policy version asks again, whatever the age of the choice.
    return consent.policy_version == settings.consent_policy_version and consent.expires_at > _now(now).timestamp()


def consent_max_age(settings: Settings) -> int:
    """The consent cookie's Max-Age in seconds (at most 183 days whatever the settings say)."""
    return min(settings.consent_max_days, CONSENT_MAX_DAYS_LIMIT) * 86_400


def make_consent(
    choices: Mapping[str, bool], settings: Settings, now: datetime | None = None
) -> tuple[Consent, str, int]:
    """A new consent with a fresh random id: the consent, its signed cookie value and its Max-Age in seconds."""
    unknown = set(choices) - set(OPTIONAL_CATEGORIES) - {NECESSARY}
    if unknown:
        raise InvalidInput(f"Catégorie de cookies inconnue : {', '.join(sorted(unknown))}.")
    if NECESSARY in choices and not choices[NECESSARY]:
        raise InvalidInput("Les cookies strictement nécessaires ne peuvent pas être refusés.")
    issued = int(_now(now).timestamp())
    max_age = consent_max_age(settings)
    consent = Consent(
        consent_id=secrets.token_urlsafe(_CONSENT_ID_BYTES),
        policy_version=settings.consent_policy_version,
        choices={c: bool(choices.get(c, False)) for c in OPTIONAL_CATEGORIES},
        issued_at=issued,
        expires_at=issued + max_age,
    )
    return consent, encode_consent(consent, settings), max_age


def accept_all() -> dict[str, bool]:
    """The choices of "Tout accepter"."""
    return dict.fromkeys(OPTIONAL_CATEGORIES, True)


def refuse_all() -> dict[str, bool]:
    """The choices of "Tout refuser"."""
    return dict.fromkeys(OPTIONAL_CATEGORIES, False)


def record_consent(*, session: Session, consent: Consent, org_id: int | None = None) -> ConsentRecord:
    """Store the proof of a choice under its random consent id (org_id only when a user is logged in)."""
    record = ConsentRecord(
        consent_id=consent.consent_id,
        org_id=org_id,
        choices_json=json.dumps({c: consent.choices.get(c, False) for c in OPTIONAL_CATEGORIES}, sort_keys=True),
        policy_version=consent.policy_version,
        created_at=consent.issued_datetime(),
        expires_at=consent.expires_datetime(),
    )
    session.add(record)
    session.flush()
    return record


def withdraw(*, session: Session, consent_id: str, now: datetime | None = None) -> int:
    """Mark the records of ``consent_id`` as withdrawn; return how many were still in force."""
    when = _now(now)
    rows = session.exec(
        select(ConsentRecord).where(ConsentRecord.consent_id == consent_id, ConsentRecord.withdrawn_at.is_(None))
    ).all()
    for row in rows:
        row.withdrawn_at = when
        session.add(row)
    session.flush()
    return len(rows)


def list_consent_records(*, session: Session, consent_id: str) -> list[ConsentRecord]:
    """The records of one consent id, oldest first (proof of consent on request)."""
    return list(
        session.exec(
            select(ConsentRecord).where(ConsentRecord.consent_id == consent_id).order_by(ConsentRecord.id)
        ).all()
    )


def _duration(hours: float) -> str:
    if hours < 1:
        return f"{round(hours * 60)} minutes"
    if hours < 48:
        return f"{hours:g} heures"
    days = hours / 24
    return f"{days:g} jours"


def analytics_enabled(settings: Settings) -> bool:
    """True when a usable Matomo URL and site id are configured."""
    return _matomo_base(settings) is not None and _matomo_site(settings) is not None


def cookie_inventory(settings: Settings) -> list[dict[str, str]]:
    """Every cookie the app can set: name (``*`` = a suffix Matomo adds), purpose, lifetime, category."""
    # Equal to ccr.ui.auth.COOKIE_NAME (ccr/ may not import ccr.ui; tests/privacy/test_consent.py checks it).
    auth_cookie = "ccr_auth"
    cookies = [
        {
            "name": "_streamlit_xsrf",
            "purpose": "Protection contre la falsification de requêtes (XSRF), déposé par le serveur Streamlit.",
            "lifetime": "fin de la session du navigateur",
            "category": NECESSARY,
        },
        {
            "name": auth_cookie,
            "purpose": "Reconnexion automatique après un rechargement de page (jeton signé, sans mot de passe).",
            "lifetime": _duration(settings.cookie_expiry_hours),
            "category": NECESSARY,
        },
        {
            "name": CONSENT_COOKIE,
            "purpose": "Mémorisation de votre choix sur les cookies (identifiant aléatoire, choix, version).",
            "lifetime": _duration(consent_max_age(settings) / 3600),
            "category": NECESSARY,
        },
    ]
    if analytics_enabled(settings):
        cookies += [
            {
                "name": "_pk_id.*",
                "purpose": "Mesure d'audience Matomo : identifiant aléatoire du visiteur.",
                "lifetime": _duration(consent_max_age(settings) / 3600),
                "category": AUDIENCE,
            },
            {
                "name": "_pk_ses.*",
                "purpose": "Mesure d'audience Matomo : regroupement des pages vues d'une même visite.",
                "lifetime": f"{MATOMO_SESSION_MINUTES} minutes",
                "category": AUDIENCE,
            },
            {
                "name": "_pk_ref.*",
                "purpose": "Mesure d'audience Matomo : site d'où vient le visiteur (si un lien externe).",
                "lifetime": _duration(consent_max_age(settings) / 3600),
                "category": AUDIENCE,
            },
            {
                "name": "_pk_testcookie*",
                "purpose": "Mesure d'audience Matomo : vérifie que le navigateur accepte les cookies.",
                "lifetime": MATOMO_TEST_COOKIE_NOTE,
                "category": AUDIENCE,
            },
        ]
    return cookies


def storage_inventory() -> list[dict[str, str]]:
    """Browser storage entries (not cookies, never sent to the server) written by the app's pages."""
    # ePrivacy art. 5(3) covers any storage on the terminal, not only cookies: these are listed too.
    return [
        {
            "name": "stActiveTheme-*",
            "purpose": "Thème d'affichage (clair ou sombre) choisi dans le menu de Streamlit.",
            "lifetime": "jusqu'à l'effacement des données du site par le navigateur",
            "category": NECESSARY,
            "storage": "localStorage",
        },
        {
            "name": "stSidebarSectionsState-*",
            "purpose": "Sections du menu latéral repliées ou dépliées.",
            "lifetime": "jusqu'à l'effacement des données du site par le navigateur",
            "category": NECESSARY,
            "storage": "localStorage",
        },
        {
            "name": "ccr-consent-reloaded",
            "purpose": "Évite de recharger la page deux fois après un retrait de consentement.",
            "lifetime": "fermeture de l'onglet",
            "category": NECESSARY,
            "storage": "sessionStorage",
        },
    ]


def _matomo_base(settings: Settings) -> str | None:
    url = (settings.matomo_url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url if url.endswith("/") else url + "/"


def _matomo_site(settings: Settings) -> str | None:
    site = (settings.matomo_site_id or "").strip()
    return site if site.isdigit() else None  # Matomo site ids are integers


def _js_string(value: str) -> str:
    # JSON is a valid JS literal; escaping <, > and & keeps "</script>" from closing the tag early.
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def analytics_tag_html(settings: Settings) -> str | None:
    """The Matomo tag (script loading ``matomo.js``), or None when analytics are not configured."""
    base, site = _matomo_base(settings), _matomo_site(settings)
    if base is None or site is None:
        return None
    visitor_s = consent_max_age(settings)
    return (
        "<script>\n"
        "(function () {\n"
        "  if (window.__ccrMatomoLoaded) { return; }\n"
        "  window.__ccrMatomoLoaded = true;\n"
        "  var _paq = window._paq = window._paq || [];\n"
        f"  _paq.push(['setVisitorCookieTimeout', {visitor_s}]);\n"
        f"  _paq.push(['setReferralCookieTimeout', {visitor_s}]);\n"
        f"  _paq.push(['setSessionCookieTimeout', {MATOMO_SESSION_MINUTES * 60}]);\n"
        "  _paq.push(['trackPageView']);\n"
        "  _paq.push(['enableLinkTracking']);\n"
        f"  var u = {_js_string(base)};\n"
        "  _paq.push(['setTrackerUrl', u + 'matomo.php']);\n"
        f"  _paq.push(['setSiteId', {_js_string(site)}]);\n"
        "  var g = document.createElement('script');\n"
        "  g.async = true; g.src = u + 'matomo.js'; g.id = 'ccr-matomo';\n"
        "  document.head.appendChild(g);\n"
        "})();\n"
        "</script>"
    )
