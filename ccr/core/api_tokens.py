"""API tokens of an organisation: issued once, stored as a hash, checked in constant time, revoked for good.

A token reads ``ccr_`` followed by 43 random URL-safe characters (256 bits). Only its SHA-256 is stored,
with its first ``PREFIX_LEN`` characters, which find the row and tell tokens apart on the admin page.
A token acts for its organisation only, within its scopes; what it does is audited under « api:NAME ».
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound, Unauthenticated
from ccr.core.integration_models import ApiToken
from ccr.core.models import Organisation
from ccr.core.users import Actor
from ccr.core.vocab import API_SCOPES

TOKEN_PREFIX = "ccr_"  # noqa: S105 - the public prefix of every token, not a secret
PREFIX_LEN = 12  # "ccr_" and 8 random characters: enough to find the row, far too few to guess the rest
DEFAULT_SCOPES = ("calls:write", "calls:read")  # least privilege: scores are read only when asked for
MAX_NAME_LEN = 60
MAX_EXPIRY_DAYS = 3650
LAST_USED_EVERY_S = 60  # ``last_used_at`` is written at most once a minute per token, not on every request
API_USER_ID = 0  # not a database user, like the command line: the token acts for the organisation


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the only moment its clear value exists."""

    token: str
    token_id: int
    name: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class ApiClient:
    """The identity behind a valid token: its organisation, name and scopes."""

    org_id: int
    token_id: int
    name: str
    scopes: frozenset[str]

    @property
    def username(self) -> str:
        """How the audit log names this client."""
        return f"api:{self.name}"

    @property
    def who(self) -> audit.Who:
        """The audit identity of this client."""
        return audit.Who(org_id=self.org_id, user_id=None, username=self.username)

    def actor(self) -> Actor:
        """The acting identity handed to the import: the organisation, audited under the token's name."""
        return Actor(user_id=API_USER_ID, username=self.username, display_name=f"API « {self.name} »",
                     org_id=self.org_id, role="supervisor")

    def require(self, scope: str) -> None:
        """Raise ``AccessDenied`` unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise AccessDenied(f"Ce jeton n'a pas la portée « {scope} » nécessaire à cette requête.")


@dataclass(frozen=True)
class TokenView:
    """One token as the admin page lists it (never its value)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """« actif », « révoqué » or « expiré »."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "révoqué"
        if self.expires_at is not None and self.expires_at <= now:
            return "expiré"
        return "actif"


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256 hex (a 256-bit random token needs no slow hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """Scopes from a comma-separated list; unknown ones are refused in French; none gives the defaults."""
    wanted = [s.strip() for s in (text or "").split(",") if s.strip()]
    if not wanted:
        return DEFAULT_SCOPES
    unknown = [s for s in wanted if s not in API_SCOPES]
    if unknown:
        raise InvalidInput(f"Portée inconnue : {', '.join(unknown)} (possibles : {', '.join(API_SCOPES)}).")
    return tuple(s for s in API_SCOPES if s in wanted)


def _clean_name(name: str | None) -> str:
    text = " ".join(str(name or "").split())
    if not text or len(text) > MAX_NAME_LEN or any(not ch.isprintable() for ch in text):
        raise InvalidInput(f"Donnez au jeton un nom lisible de 1 à {MAX_NAME_LEN} caractères.")
    return text


def issue_token(*, session: Session, org_id: int, name: str, scopes: tuple[str, ...] | str | None = None,
                expires_days: int | None = None, created_by: int | None = None,
                who: audit.Who | None = None) -> IssuedToken:
    """Create a token of ``org_id`` in the caller's transaction; its clear value is returned once, here."""
    clean = _clean_name(name)
    chosen = parse_scopes(scopes) if not isinstance(scopes, tuple) else parse_scopes(",".join(scopes))
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"La durée de validité va de 1 à {MAX_EXPIRY_DAYS} jours.")
    live = session.exec(select(ApiToken.id).where(ApiToken.org_id == org_id, ApiToken.name == clean,
                                                  col(ApiToken.revoked_at).is_(None))).first()
    if live is not None:
        raise InvalidInput(f"Un jeton actif s'appelle déjà « {clean} » : révoquez-le ou choisissez un autre nom.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(days=expires_days) if expires_days else None
    row = ApiToken(org_id=org_id, name=clean, prefix=token[:PREFIX_LEN], token_hash=hash_token(token),
                   scopes=",".join(chosen), created_by=created_by, created_at=now, expires_at=expires)
    session.add(row)
    session.flush()
    audit.log_event(session=session, who=who or audit.Who(org_id=org_id, username="cli"),
                    action="api_token_created", target_type="api_token", target_id=row.id,
                    detail={"nom": clean, "portees": list(chosen),
                            "expire_le": expires.isoformat() if expires else None},
                    org_id=org_id)
    return IssuedToken(token=token, token_id=row.id, name=clean, scopes=chosen, expires_at=expires)


def _require_admin(actor: Actor) -> None:
    if not may(actor.role, "manage_api"):
        raise AccessDenied("Seul un administrateur gère les jetons d'API et le webhook.")


def create_token(*, session: Session, actor: Actor, name: str, scopes: tuple[str, ...] | str | None = None,
                 expires_days: int | None = None) -> IssuedToken:
    """An administrator creates a token of their organisation (the admin page)."""
    _require_admin(actor)
    return issue_token(session=session, org_id=actor.org_id, name=name, scopes=scopes, expires_days=expires_days,
                       created_by=actor.user_id, who=actor.who)


def list_tokens(*, session: Session, actor: Actor) -> list[TokenView]:
    """The organisation's tokens, newest first, without their values."""
    _require_admin(actor)
    rows = session.exec(select(ApiToken).where(ApiToken.org_id == actor.org_id)
                        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())).all()
    return [TokenView(r.id, r.name, r.prefix, tuple(r.scopes.split(",")), r.created_at, r.expires_at, r.revoked_at,
                      r.last_used_at) for r in rows]


def revoke_token(*, session: Session, actor: Actor, token_id: int) -> None:
    """Revoke a token of the actor's organisation for good; a later request with it gets 401."""
    _require_admin(actor)
    row = session.get(ApiToken, token_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Jeton introuvable.")
    if row.revoked_at is not None:
        return
    row.revoked_at, row.revoked_by = utcnow(), actor.user_id
    session.add(row)
    audit.log_event(session=session, who=actor.who, action="api_token_revoked", target_type="api_token",
                    target_id=row.id, detail={"nom": row.name})


def authenticate(*, session: Session, token: str | None, now: datetime | None = None) -> ApiClient:
    """The client of a bearer token, or ``Unauthenticated`` (unknown, revoked or expired) with a French reason."""
    now = now or utcnow()
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("Jeton d'API absent ou mal formé : en-tête « Authorization: Bearer ccr_… ».")
    digest = hash_token(token)
    found = None
    for row in session.exec(select(ApiToken).where(ApiToken.prefix == token[:PREFIX_LEN])).all():
        if hmac.compare_digest(row.token_hash, digest):  # constant time: the stored hash leaks nothing by timing
            found = row
    if found is None:
        raise Unauthenticated("Jeton d'API inconnu.")
    if found.revoked_at is not None:
        raise Unauthenticated("Ce jeton d'API a été révoqué.")
    if found.expires_at is not None and found.expires_at <= now:
        raise Unauthenticated("Ce jeton d'API a expiré.")
    org = session.get(Organisation, found.org_id)
    if org is None or org.status != "active":
        raise Unauthenticated("L'organisation de ce jeton n'est plus active.")
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() >= LAST_USED_EVERY_S:
        found.last_used_at = now
        session.add(found)
    return ApiClient(org_id=found.org_id, token_id=found.id, name=found.name,
                     scopes=frozenset(found.scopes.split(",")))
