"""API tokens: issued once, stored as a hash, checked in constant time, refused in French when no longer valid."""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core import api_tokens
from ccr.core.api_tokens import (
    DEFAULT_SCOPES,
    LAST_USED_EVERY_S,
    authenticate,
    create_token,
    hash_token,
    issue_token,
    list_tokens,
    parse_scopes,
    revoke_token,
)
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound, Unauthenticated
from ccr.core.integration_models import ApiToken
from ccr.core.models import AuditLog, Organisation


def _issue(org_id: int, name: str = "Téléphonie", **kwargs) -> api_tokens.IssuedToken:
    with session() as s:
        return issue_token(session=s, org_id=org_id, name=name, **kwargs)


def _authenticate(token: str | None, now=None) -> api_tokens.ApiClient:
    with session() as s:
        return authenticate(session=s, token=token, now=now)


def _row(token_id: int) -> ApiToken:
    with session() as s:
        return s.get(ApiToken, token_id)


def test_a_token_is_shown_once_and_only_its_hash_is_stored(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id)
    assert issued.token.startswith("ccr_") and len(issued.token) == 4 + 43
    row = _row(issued.token_id)
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest() == hash_token(issued.token)
    assert row.prefix == issued.token[: api_tokens.PREFIX_LEN]
    stored = [str(v) for v in row.model_dump().values()]
    assert not any(issued.token in v or issued.token[api_tokens.PREFIX_LEN:] in v for v in stored)
    with session() as s:
        [entry] = s.exec(select(AuditLog).where(AuditLog.action == "api_token_created")).all()
    assert issued.token[api_tokens.PREFIX_LEN:] not in entry.detail_json
    assert _issue(alpha.org_id, "Autre").token != issued.token


def test_a_valid_token_authenticates_its_organisation_with_its_scopes(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id, "CRM", scopes="evaluations:read")
    client = _authenticate(issued.token)
    assert (client.org_id, client.token_id, client.name) == (alpha.org_id, issued.token_id, "CRM")
    assert client.scopes == frozenset({"evaluations:read"})
    assert client.username == "api:CRM" and client.who.user_id is None
    actor = client.actor()
    assert (actor.org_id, actor.username, actor.role) == (alpha.org_id, "api:CRM", "supervisor")
    client.require("evaluations:read")
    with pytest.raises(AccessDenied, match="n'a pas la portée « calls:write »"):
        client.require("calls:write")


@pytest.mark.parametrize(("token", "message"), [
    (None, "absent ou mal formé"),
    ("", "absent ou mal formé"),
    ("Bearer ccr_abc", "absent ou mal formé"),
    ("abc_" + "x" * 43, "absent ou mal formé"),
    ("ccr_" + "x" * 300, "absent ou mal formé"),
    ("ccr_" + "x" * 43, "Jeton d'API inconnu"),
])
def test_a_missing_malformed_or_unknown_token_is_unauthenticated_in_french(tenants, token, message):
    alpha, _ = tenants
    _issue(alpha.org_id)
    with pytest.raises(Unauthenticated, match=message):
        _authenticate(token)


def test_a_token_with_the_right_prefix_but_another_end_is_unknown(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id)
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="inconnu"):
        _authenticate(forged)


def test_a_revoked_token_is_refused_for_good(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id)
    _authenticate(issued.token)
    with session() as s:
        revoke_token(session=s, actor=alpha.actor("admin"), token_id=issued.token_id)
    with pytest.raises(Unauthenticated, match="a été révoqué"):
        _authenticate(issued.token)
    with session() as s:  # revoking again changes nothing
        revoke_token(session=s, actor=alpha.actor("admin"), token_id=issued.token_id)
    row = _row(issued.token_id)
    assert row.revoked_by == alpha.users["admin"]
    with session() as s:
        assert len(s.exec(select(AuditLog).where(AuditLog.action == "api_token_revoked")).all()) == 1


def test_an_expired_token_is_refused(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id, expires_days=30)
    assert issued.expires_at - utcnow() > timedelta(days=29)
    _authenticate(issued.token, now=issued.expires_at - timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="a expiré"):
        _authenticate(issued.token, now=issued.expires_at)


@pytest.mark.parametrize("status", ["suspended", "terminated"])
def test_the_token_of_an_organisation_no_longer_active_is_refused(tenants, status):
    alpha, beta = tenants
    issued, other = _issue(alpha.org_id), _issue(beta.org_id)
    with session() as s:
        s.get(Organisation, alpha.org_id).status = status
    with pytest.raises(Unauthenticated, match="n'est plus active"):
        _authenticate(issued.token)
    assert _authenticate(other.token).org_id == beta.org_id


@pytest.mark.parametrize(("text", "expected"), [
    (None, DEFAULT_SCOPES),
    ("", DEFAULT_SCOPES),
    (" , ", DEFAULT_SCOPES),
    ("calls:read", ("calls:read",)),
    ("evaluations:read, calls:write", ("calls:write", "evaluations:read")),  # the vocabulary's order
    ("calls:read,calls:read", ("calls:read",)),
])
def test_scopes_are_parsed_from_a_comma_separated_list(text, expected):
    assert parse_scopes(text) == expected


@pytest.mark.parametrize("text", ["calls:delete", "calls:read,admin", "CALLS:READ"])
def test_an_unknown_scope_is_refused_in_french(text):
    with pytest.raises(InvalidInput, match="Portée inconnue"):
        parse_scopes(text)


def test_scopes_may_be_given_as_a_tuple_and_default_to_least_privilege(tenants):
    alpha, _ = tenants
    assert _issue(alpha.org_id, "A", scopes=("evaluations:read", "calls:read")).scopes == \
        ("calls:read", "evaluations:read")
    assert _issue(alpha.org_id, "B").scopes == DEFAULT_SCOPES
    assert "evaluations:read" not in DEFAULT_SCOPES
    with pytest.raises(InvalidInput, match="Portée inconnue"):
        _issue(alpha.org_id, "C", scopes=("calls:write", "tout"))


def test_the_stored_hash_is_compared_in_constant_time():
    """``authenticate`` compares the digests with ``hmac.compare_digest`` and never with ``==``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(authenticate)))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    assert any(ast.unparse(c.func) == "hmac.compare_digest" and "token_hash" in ast.unparse(c) for c in calls)
    compares = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert not any("token_hash" in c or "digest" in c for c in compares), compares


@pytest.mark.parametrize("role", ["dpo", "supervisor", "team_lead", "agent"])
def test_only_an_administrator_manages_tokens(tenants, role):
    alpha, _ = tenants
    issued = _issue(alpha.org_id)
    actor = alpha.actor(role)
    with session() as s:
        with pytest.raises(AccessDenied, match="Seul un administrateur"):
            create_token(session=s, actor=actor, name="Essai")
        with pytest.raises(AccessDenied, match="Seul un administrateur"):
            list_tokens(session=s, actor=actor)
        with pytest.raises(AccessDenied, match="Seul un administrateur"):
            revoke_token(session=s, actor=actor, token_id=issued.token_id)
    assert _row(issued.token_id).revoked_at is None


def test_an_administrator_lists_the_tokens_of_their_organisation_only_without_their_values(tenants):
    alpha, beta = tenants
    admin = alpha.actor("admin")
    with session() as s:
        first = create_token(session=s, actor=admin, name="Premier", expires_days=1)
        second = create_token(session=s, actor=admin, name="Second")
    _issue(beta.org_id, "Chez Beta")
    with session() as s:
        revoke_token(session=s, actor=admin, token_id=second.token_id)
        views = list_tokens(session=s, actor=admin)
    assert [v.name for v in views] == ["Second", "Premier"]  # newest first
    assert [v.state() for v in views] == ["révoqué", "actif"]
    assert views[1].state(utcnow() + timedelta(days=2)) == "expiré"
    assert views[1].prefix == first.token[: api_tokens.PREFIX_LEN]
    assert not any(first.token in repr(v) or second.token in repr(v) for v in views)
    assert _row(first.token_id).created_by == alpha.users["admin"]


def test_a_token_of_another_organisation_cannot_be_revoked(tenants):
    alpha, beta = tenants
    theirs = _issue(beta.org_id)
    with session() as s, pytest.raises(NotFound, match="Jeton introuvable"):
        revoke_token(session=s, actor=alpha.actor("admin"), token_id=theirs.token_id)
    with session() as s, pytest.raises(NotFound):
        revoke_token(session=s, actor=alpha.actor("admin"), token_id=999_999)
    assert _authenticate(theirs.token).org_id == beta.org_id


def test_an_active_name_is_taken_until_that_token_is_revoked(tenants):
    alpha, beta = tenants
    first = _issue(alpha.org_id, "Téléphonie")
    with pytest.raises(InvalidInput, match="Un jeton actif s'appelle déjà « Téléphonie »"):
        _issue(alpha.org_id, "  Téléphonie ")  # spaces do not make another name
    _issue(beta.org_id, "Téléphonie")  # another organisation's names are its own
    with session() as s:
        revoke_token(session=s, actor=alpha.actor("admin"), token_id=first.token_id)
    assert _issue(alpha.org_id, "Téléphonie").token_id != first.token_id


@pytest.mark.parametrize(("name", "expires_days", "message"), [
    ("", None, "nom lisible"),
    ("   ", None, "nom lisible"),
    ("x" * 61, None, "nom lisible"),
    ("Saut\x00de ligne", None, "nom lisible"),
    ("Valide", 0, "durée de validité"),
    ("Valide", 3651, "durée de validité"),
])
def test_a_bad_name_or_validity_is_refused_in_french(tenants, name, expires_days, message):
    alpha, _ = tenants
    with pytest.raises(InvalidInput, match=message):
        _issue(alpha.org_id, name, expires_days=expires_days)


def test_last_used_at_is_written_at_most_once_a_minute(tenants):
    alpha, _ = tenants
    issued = _issue(alpha.org_id)
    assert _row(issued.token_id).last_used_at is None
    t0 = utcnow()
    _authenticate(issued.token, now=t0)
    assert _row(issued.token_id).last_used_at == t0
    _authenticate(issued.token, now=t0 + timedelta(seconds=LAST_USED_EVERY_S - 1))
    assert _row(issued.token_id).last_used_at == t0
    later = t0 + timedelta(seconds=LAST_USED_EVERY_S)
    _authenticate(issued.token, now=later)
    assert _row(issued.token_id).last_used_at == later
