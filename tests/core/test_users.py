"""Accounts: password policy, database lockout, revocation, and admin-only management."""

from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import AuditLog, User
from ccr.core.users import (
    BCRYPT_MAX_BYTES,
    USERNAME_TAKEN,
    check_password,
    create_user,
    hash_password,
    is_locked,
    load_actor,
    login_candidates,
    record_failed_login,
    record_login,
    record_logout,
    reset_password,
    session_is_valid,
    update_user,
    validate_password,
)
from tests.conftest import TEST_PASSWORD, count_rows


def test_password_hash_round_trip():
    h = hash_password("Un-mot-de-passe-1")
    assert h.startswith("$2")
    assert check_password("Un-mot-de-passe-1", h)
    assert not check_password("un-mot-de-passe-1", h)


@pytest.mark.parametrize("weak", ["court1A!", "toutenminuscules", "SEULEMENTMAJ123"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(InvalidInput):
        validate_password(weak)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(tenants):
    a, _ = tenants
    now = utcnow()
    with session() as s:
        for i in range(4):
            user = record_failed_login(session=s, username="alpha.supervisor", now=now + timedelta(seconds=i))
            assert not is_locked(user, now)
        user = record_failed_login(session=s, username="alpha.supervisor", now=now + timedelta(seconds=5))
        assert is_locked(user, now + timedelta(seconds=6))
        assert user.locked_until == now + timedelta(seconds=5, minutes=15)
    with session() as s:  # counted in the database: a new session sees the lock
        user = s.get(User, a.users["supervisor"])
        assert user.failed_logins == 5 and is_locked(user, now + timedelta(minutes=10))
        with pytest.raises(AccessDenied, match="verrouillé"):
            record_login(session=s, user_id=user.id, now=now + timedelta(minutes=10))
        assert not is_locked(user, now + timedelta(minutes=16))
        record_login(session=s, user_id=user.id, now=now + timedelta(minutes=16))


@pytest.mark.parametrize("method", ["formulaire", "cookie"])
def test_a_lock_refuses_every_new_login_and_leaves_the_count_alone(tenants, method):
    a, _ = tenants
    now = utcnow()
    with session() as s:
        for _ in range(5):
            record_failed_login(session=s, username="alpha.supervisor", now=now)
        locked_until = s.get(User, a.users["supervisor"]).locked_until
    with session() as s:
        with pytest.raises(AccessDenied, match="verrouillé"):
            record_login(session=s, user_id=a.users["supervisor"], method=method, now=now + timedelta(minutes=1))
    with session() as s:
        user = s.get(User, a.users["supervisor"])
        assert (user.failed_logins, user.locked_until) == (5, locked_until)
        refused = s.exec(select(AuditLog).where(AuditLog.action == "login", AuditLog.outcome == "refused")).all()
        assert len(refused) == 1 and method in refused[0].detail_json


def test_a_session_opened_before_the_lock_goes_on(tenants):
    """The lock stops guesses; it does not let an attacker knock a user out of an open session."""
    a, _ = tenants
    issued = utcnow()
    with session() as s:
        for _ in range(5):
            record_failed_login(session=s, username="alpha.supervisor")
    with session() as s:
        assert is_locked(s.get(User, a.users["supervisor"]))
        assert load_actor(session=s, user_id=a.users["supervisor"]).role == "supervisor"
        assert session_is_valid(session=s, user_id=a.users["supervisor"], issued_at=issued)


def test_a_cookie_login_does_not_reset_the_count(tenants):
    """A cookie proves no password: it must not hand an attacker a fresh set of guesses."""
    a, _ = tenants
    with session() as s:
        for _ in range(4):
            record_failed_login(session=s, username="alpha.supervisor")
        record_login(session=s, user_id=a.users["supervisor"], method="cookie")
        user = record_failed_login(session=s, username="alpha.supervisor")
        assert user.failed_logins == 5 and is_locked(user)


def test_an_expired_lock_gives_a_fresh_count(tenants):
    now = utcnow()
    with session() as s:
        for _ in range(5):
            record_failed_login(session=s, username="alpha.dpo", now=now)
        user = record_failed_login(session=s, username="alpha.dpo", now=now + timedelta(minutes=20))
        assert user.failed_logins == 1 and not is_locked(user, now + timedelta(minutes=20))


def test_a_successful_login_resets_the_count(tenants):
    a, _ = tenants
    with session() as s:
        record_failed_login(session=s, username="alpha.admin")
        record_login(session=s, user_id=a.users["admin"])
        assert s.get(User, a.users["admin"]).failed_logins == 0


def test_logout_revokes_sessions_issued_before(tenants):
    a, _ = tenants
    issued = utcnow()
    with session() as s:
        assert session_is_valid(session=s, user_id=a.users["dpo"], issued_at=issued)
        record_logout(session=s, user_id=a.users["dpo"])
        assert not session_is_valid(session=s, user_id=a.users["dpo"], issued_at=issued)
        assert session_is_valid(session=s, user_id=a.users["dpo"], issued_at=utcnow() + timedelta(seconds=1))


def test_deactivation_cuts_access_at_once(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    issued = utcnow()
    with session() as s:
        update_user(session=s, actor=admin, user_id=a.users["supervisor"], active=False)
    with session() as s:
        with pytest.raises(AccessDenied):
            load_actor(session=s, user_id=a.users["supervisor"])
        assert not session_is_valid(session=s, user_id=a.users["supervisor"], issued_at=issued)


@pytest.mark.parametrize("role", ["dpo", "supervisor", "team_lead"])
def test_only_admins_manage_users(tenants, role):
    a, _ = tenants
    actor = a.actor(role)
    with session() as s:
        with pytest.raises(AccessDenied):
            create_user(session=s, org_id=a.org_id, username="new.user", display_name="N", password=TEST_PASSWORD,
                        role="supervisor", actor=actor)
        with pytest.raises(AccessDenied):
            reset_password(session=s, actor=actor, user_id=a.users["admin"], new_password=TEST_PASSWORD)


def test_an_admin_cannot_touch_another_organisation(tenants):
    a, b = tenants
    admin = a.actor("admin")
    with session() as s:
        with pytest.raises(NotFound):
            update_user(session=s, actor=admin, user_id=b.users["supervisor"], active=False)
        with pytest.raises(AccessDenied):
            create_user(session=s, org_id=b.org_id, username="intrus", display_name="I", password=TEST_PASSWORD,
                        role="admin", actor=admin)
        with pytest.raises(NotFound):
            update_user(session=s, actor=admin, user_id=a.users["team_lead"], team_ids=[b.team_ids[0]])


def test_a_team_lead_needs_a_team(tenants):
    a, _ = tenants
    with session() as s:
        with pytest.raises(InvalidInput, match="équipe"):
            create_user(session=s, org_id=a.org_id, username="lead.sans.equipe", display_name="L",
                        password=TEST_PASSWORD, role="team_lead", actor=a.actor("admin"))


@pytest.mark.parametrize("taken", ["alpha.dpo", "beta.admin", "  Beta.Admin "])
def test_a_taken_login_gets_the_same_answer_whatever_its_organisation(tenants, taken):
    """Logins are global; an admin of Alpha must not learn that a login exists in another organisation."""
    a, _ = tenants
    logged = count_rows(AuditLog)
    with session() as s:
        with pytest.raises(InvalidInput) as refused:
            create_user(session=s, org_id=a.org_id, username=taken, display_name="X",
                        password=TEST_PASSWORD, role="admin", actor=a.actor("admin"))
    assert str(refused.value) == USERNAME_TAKEN
    assert "beta" not in str(refused.value).lower() and "organisation" not in str(refused.value)
    assert count_rows(AuditLog) == logged  # nothing written about it either


def test_a_concurrent_creation_of_the_same_login_gets_the_same_answer(tenants, monkeypatch):
    """Two admins creating one login at once: the unique index decides, with the same words, not an SQL error."""
    import ccr.core.users

    a, _ = tenants
    monkeypatch.setattr(ccr.core.users, "get_user_by_username", lambda **kw: None)  # both passed the check
    with session() as s:
        with pytest.raises(InvalidInput) as refused:
            create_user(session=s, org_id=a.org_id, username="beta.admin", display_name="X",
                        password=TEST_PASSWORD, role="admin")
    assert str(refused.value) == USERNAME_TAKEN


LONG_PASSWORDS = {
    "73 ASCII characters": "Aa1!" + "x" * 69,
    "40 accented characters (80 bytes)": "Éé1!" + "é" * 36,
}


@pytest.mark.parametrize("password", LONG_PASSWORDS.values(), ids=LONG_PASSWORDS.keys())
def test_a_password_bcrypt_cannot_read_whole_is_refused_at_creation_and_reset(tenants, password):
    a, _ = tenants
    assert len(password.encode("utf-8")) > BCRYPT_MAX_BYTES
    with session() as s:
        with pytest.raises(InvalidInput, match="trop long"):
            create_user(session=s, org_id=a.org_id, username="long.password", display_name="L",
                        password=password, role="supervisor", actor=a.actor("admin"))
        with pytest.raises(InvalidInput, match="trop long"):  # even where strength is not checked (CLI, demo)
            create_user(session=s, org_id=a.org_id, username="long.password", display_name="L",
                        password=password, role="supervisor", check_strength=False)
        with pytest.raises(InvalidInput, match="trop long"):
            reset_password(session=s, actor=a.actor("admin"), user_id=a.users["dpo"], new_password=password)


def test_a_password_of_exactly_72_bytes_is_kept_whole():
    password = "Aa1!" + "x" * 68
    h = hash_password(password)
    assert check_password(password, h)
    assert not check_password(password[:-1] + "y", h)
    assert not check_password(password + "z", h)  # never cut to match


def test_suspended_organisation_users_lose_access(tenants):
    from ccr.core.orgs import set_organisation_status

    a, _ = tenants
    with session() as s:
        set_organisation_status(session=s, actor=a.actor("admin"), status="suspended")
    with session() as s:
        with pytest.raises(AccessDenied, match="organisation"):
            load_actor(session=s, user_id=a.users["supervisor"])


def test_login_candidates_are_every_active_account_or_only_the_one_asked(tenants):
    """A session already logged in reads its own credentials only, never the whole user table."""
    a, b = tenants
    with session() as s:
        everyone = {u.username for u in login_candidates(session=s)}
        lead = s.get(User, a.users["team_lead"]).username
        only = [u.username for u in login_candidates(session=s, username=lead)]
    assert len(everyone) >= len(a.users) + len(b.users) and lead in everyone
    assert only == [lead]
