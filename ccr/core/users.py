"""Users, roles, the acting user (:class:`Actor`), login lockout and session revocation.

Passwords are bcrypt hashes. Failed logins are counted in the database, so a
lockout holds across browsers and server processes. A lock refuses every new
login, by password or by re-login cookie, and only a password login after the
lock has ended resets the count: a cookie proves no password, so it neither
unlocks nor gives an attacker fresh guesses. A session opened before the lock
goes on (the lock stops guessing; it is no revocation an attacker could use to
knock a user out of an open tab). A user's sessions and re-login cookies issued
before ``sessions_revoked_at`` are void: logout, deactivation, password reset
and role changes set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import bcrypt
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.config import get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, Organisation, Team, User, UserTeam
from ccr.core.textnorm import strip_bidi
from ccr.core.vocab import ORG_WIDE_ROLES, ROLES

FORM_LOGIN = "formulaire"  # the login method (as the audit names it) that proves the password
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LEN = 10  # ANSSI/CNIL recommendation for password-only authentication
# bcrypt reads 72 bytes at most, and bcrypt 5 (as the login library calls it) refuses a longer password
# outright: such a password is refused when it is set, never silently cut.
BCRYPT_MAX_BYTES = 72
# Logins are global (the login form has no organisation field): the same words whatever the organisation
# that holds a taken login, so creating a user never tells an admin where a login is used.
USERNAME_TAKEN = "Cet identifiant n'est pas disponible : choisissez-en un autre."


@dataclass(frozen=True)
class Actor:
    """The acting user, as every ``ccr`` data function receives it."""

    user_id: int
    username: str
    display_name: str
    org_id: int
    role: str
    team_ids: frozenset[int] = field(default_factory=frozenset)
    agent_id: int | None = None  # an "agent" login: the agent whose own evaluations it reads

    @property
    def who(self) -> audit.Who:
        """The audit identity of this actor."""
        return audit.Who(org_id=self.org_id, user_id=self.user_id, username=self.username)

    @property
    def sees_all_teams(self) -> bool:
        """Admins, DPOs and supervisors see the whole organisation; team leads their teams, agents no team."""
        return self.role in ORG_WIDE_ROLES


def _check_length(password: str) -> None:
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise InvalidInput(
            f"Le mot de passe est trop long : {BCRYPT_MAX_BYTES} octets au plus (soit {BCRYPT_MAX_BYTES} "
            "caractères sans accent ; un caractère accentué en compte deux)."
        )


def hash_password(password: str) -> str:
    """Return the bcrypt hash of a password; a password bcrypt cannot read whole is refused."""
    _check_length(password)
    rounds = get_settings().bcrypt_rounds
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches the bcrypt hash."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:  # longer than bcrypt reads, or not a bcrypt hash
        return False


def validate_password(password: str) -> None:
    """Refuse weak passwords, and passwords bcrypt cannot read whole, with a French message."""
    _check_length(password)
    if len(password) < MIN_PASSWORD_LEN:
        raise InvalidInput(f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LEN} caractères.")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if classes < 3:
        raise InvalidInput(
            "Le mot de passe doit mélanger au moins trois types de caractères "
            "(minuscules, majuscules, chiffres, symboles)."
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Rôle inconnu : {role!r}. Rôles possibles : {', '.join(ROLES)}.")


def load_actor(*, session: Session, user_id: int) -> Actor:
    """Rebuild the actor from the database, refusing inactive accounts and suspended organisations.

    A lock is no refusal here: it bars new logins (:func:`record_login`), not a session opened before it.
    """
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise AccessDenied("Votre compte est désactivé ou n'existe plus.")
    org = session.get(Organisation, user.org_id)
    if org is None or org.status != "active":
        raise AccessDenied("L'accès de votre organisation est suspendu ou résilié.")
    teams = session.exec(select(UserTeam.team_id).where(UserTeam.user_id == user.id)).all()
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        org_id=user.org_id,
        role=user.role,
        team_ids=frozenset(teams),
        agent_id=user.agent_id if user.role == "agent" else None,
    )


def session_is_valid(*, session: Session, user_id: int, issued_at: datetime) -> bool:
    """False when the session has expired or the user's sessions were revoked after ``issued_at``."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return False
    # Absolute lifetime, the re-login cookie's: without it a browser tab left open kept its server-side
    # session for ever (found by tests/security/test_web_hardening.py).
    if issued_at <= utcnow() - timedelta(hours=get_settings().cookie_expiry_hours):
        return False
    return user.sessions_revoked_at is None or issued_at > user.sessions_revoked_at


def get_user_by_username(*, session: Session, username: str) -> User | None:
    """Look a login up by its (global, lower-case) username; used by the login frame only."""
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def login_candidates(*, session: Session, now: datetime | None = None, username: str | None = None) -> list[User]:
    """Active users of active organisations: the credentials the login form may accept (only ``username``'s
    when given: a session already logged in needs no one else's)."""
    now = now or utcnow()
    stmt = (
        select(User)
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.active == True, Organisation.status == "active")  # noqa: E712
    )
    if username is not None:
        stmt = stmt.where(User.username == username)
    users = list(session.exec(stmt).all())
    for u in users:
        # An expired lock gives the user a fresh count of attempts.
        if u.locked_until and u.locked_until <= now and u.failed_logins:
            u.failed_logins = 0
            u.locked_until = None
            session.add(u)
    return users


def is_locked(user: User, now: datetime | None = None) -> bool:
    """True while the account is locked after too many wrong passwords."""
    return bool(user.locked_until and user.locked_until > (now or utcnow()))


def locked_message() -> str:
    """The French refusal shown to every login attempt while an account is locked."""
    settings = get_settings()
    return (f"Compte temporairement verrouillé après {settings.lockout_attempts} échecs : "
            f"réessayez dans {settings.lockout_minutes} minutes.")


def record_failed_login(*, session: Session, username: str, now: datetime | None = None) -> User | None:
    """Count a wrong password in the database; lock the account when the limit is reached."""
    settings = get_settings()
    now = now or utcnow()
    user = get_user_by_username(session=session, username=username)
    if user is None:
        audit.log_event(session=session, who=audit.SYSTEM, action="login_failed", outcome="refused",
                        detail={"raison": "identifiant inconnu"})
        return None
    if user.locked_until and user.locked_until <= now:
        user.failed_logins = 0
        user.locked_until = None
    user.failed_logins += 1
    who = audit.Who(org_id=user.org_id, user_id=user.id, username=user.username)
    audit.log_event(session=session, who=who, action="login_failed", target_type="user", target_id=user.id,
                    outcome="refused", detail={"tentatives": user.failed_logins})
    if user.failed_logins >= settings.lockout_attempts and not is_locked(user, now):
        user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        audit.log_event(session=session, who=who, action="account_locked", target_type="user",
                        target_id=user.id, outcome="refused",
                        detail={"jusqu_a": user.locked_until.isoformat(timespec="seconds")})
    session.add(user)
    return user


def record_login(*, session: Session, user_id: int, method: str = FORM_LOGIN,
                 now: datetime | None = None) -> None:
    """Log a new login; refuse it while the account is locked, whatever the method.

    Only a password login resets the failure count: a re-login cookie proves no password.
    """
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None:
        return
    who = audit.Who(user.org_id, user.id, user.username)
    if is_locked(user, now):
        audit.log_event(session=session, who=who, action="login", target_type="user", target_id=user.id,
                        outcome="refused", detail={"methode": method, "raison": "compte verrouillé"})
        raise AccessDenied(locked_message())
    if method == FORM_LOGIN:
        user.failed_logins = 0
        user.locked_until = None
    user.last_login_at = now
    session.add(user)
    audit.log_event(session=session, who=who, action="login", target_type="user", target_id=user.id,
                    detail={"methode": method})


def record_logout(*, session: Session, user_id: int) -> None:
    """Revoke the user's sessions and cookies, and log the logout."""
    user = session.get(User, user_id)
    if user is None:
        return
    user.sessions_revoked_at = utcnow()
    session.add(user)
    audit.log_event(session=session, who=audit.Who(user.org_id, user.id, user.username), action="logout",
                    target_type="user", target_id=user.id)


# --- administration (admin role) ---------------------------------------------------


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise AccessDenied("Seul un administrateur peut gérer les utilisateurs.")


def _check_teams(session: Session, org_id: int, team_ids: list[int]) -> None:
    if not team_ids:
        return
    found = session.exec(select(Team.id).where(Team.org_id == org_id, col(Team.id).in_(team_ids))).all()
    if set(found) != set(team_ids):
        raise NotFound("Équipe introuvable dans votre organisation.")


def _check_agent_link(session: Session, org_id: int, role: str, agent_id: int | None,
                      user_id: int | None = None) -> None:
    """An agent login names one agent of its organisation, not already linked to another login."""
    if role != "agent":
        if agent_id is not None:
            raise InvalidInput("Seul un compte « Téléconseiller » est rattaché à un agent.")
        return
    if agent_id is None:
        raise InvalidInput("Un compte « Téléconseiller » doit être rattaché à la fiche de l'agent.")
    agent = session.get(Agent, agent_id)
    if agent is None or agent.org_id != org_id:
        raise NotFound("Agent introuvable dans votre organisation.")
    taken = session.exec(select(User.id).where(User.agent_id == agent_id, User.org_id == org_id,
                                               User.active == True)).all()  # noqa: E712
    if any(uid != user_id for uid in taken):
        raise InvalidInput(f"L'agent « {agent.name} » a déjà un compte actif.")


def create_user(
    *,
    session: Session,
    org_id: int,
    username: str,
    display_name: str,
    password: str,
    role: str,
    team_ids: list[int] | None = None,
    email: str | None = None,
    actor: Actor | None = None,
    check_strength: bool = True,
    agent_id: int | None = None,
) -> User:
    """Create a login in ``org_id``; an actor, when given, must be an admin of that organisation.

    An "agent" login needs ``agent_id``: the agent record of the organisation whose evaluations it reads."""
    if actor is not None:
        _require_admin(actor)
        if actor.org_id != org_id:
            raise AccessDenied("Vous ne pouvez créer des utilisateurs que dans votre organisation.")
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "Identifiant invalide : 3 à 64 caractères, minuscules, chiffres, point, tiret ou souligné."
        )
    _check_role(role)
    if check_strength:
        validate_password(password)
    if get_user_by_username(session=session, username=username) is not None:
        raise InvalidInput(USERNAME_TAKEN)
    team_ids = list(team_ids or [])
    _check_teams(session, org_id, team_ids)
    if role == "team_lead" and not team_ids:
        raise InvalidInput("Un chef d'équipe doit être rattaché à au moins une équipe.")
    if role == "agent" and team_ids:
        raise InvalidInput("Un téléconseiller ne voit que ses propres évaluations : ne lui attribuez pas d'équipe.")
    _check_agent_link(session, org_id, role, agent_id)
    user = User(org_id=org_id, username=username, display_name=strip_bidi(display_name).strip() or username,
                email=email, password_hash=hash_password(password), role=role, agent_id=agent_id)
    try:
        # A savepoint: a concurrent creation of the same login (the unique index) must not undo the caller's
        # other work, and gets the same answer as the check above.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as err:
        raise InvalidInput(USERNAME_TAKEN) from err
    for tid in team_ids:
        session.add(UserTeam(user_id=user.id, team_id=tid, org_id=org_id))
    who = actor.who if actor else audit.Who(org_id=org_id, username="cli")
    audit.log_event(session=session, who=who, action="user_created", target_type="user", target_id=user.id,
                    detail={"identifiant": username, "role": role, "equipes": team_ids, "agent_id": agent_id},
                    org_id=org_id)
    return user


def list_users(*, session: Session, actor: Actor) -> list[dict]:
    """Users of the actor's organisation, with their teams (admin only)."""
    _require_admin(actor)
    users = session.exec(select(User).where(User.org_id == actor.org_id).order_by(User.username)).all()
    links = session.exec(select(UserTeam).where(UserTeam.org_id == actor.org_id)).all()
    teams_of: dict[int, list[int]] = {}
    for link in links:
        teams_of.setdefault(link.user_id, []).append(link.team_id)
    now = utcnow()
    return [
        {
            "id": u.id,
            "username": u.username,
            "display_name": u.display_name,
            "email": u.email,
            "role": u.role,
            "active": u.active,
            "locked": is_locked(u, now),
            "team_ids": sorted(teams_of.get(u.id, [])),
            "agent_id": u.agent_id,
            "last_login_at": u.last_login_at,
        }
        for u in users
    ]


def _get_own_user(session: Session, actor: Actor, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.org_id != actor.org_id:
        raise NotFound("Utilisateur introuvable.")
    return user


def update_user(
    *,
    session: Session,
    actor: Actor,
    user_id: int,
    role: str | None = None,
    team_ids: list[int] | None = None,
    display_name: str | None = None,
    active: bool | None = None,
    agent_id: int | None = None,
) -> User:
    """Change a user's role, teams, name, active flag or linked agent (admin only); revokes their sessions.

    A login leaving the "agent" role loses its agent link; one taking it needs ``agent_id``."""
    _require_admin(actor)
    user = _get_own_user(session, actor, user_id)
    changes: dict = {}
    if role is not None and role != user.role:
        _check_role(role)
        if user.id == actor.user_id and role != "admin":
            raise InvalidInput("Vous ne pouvez pas retirer votre propre rôle d'administrateur.")
        changes["role"] = [user.role, role]
        user.role = role
    display_name = None if display_name is None else strip_bidi(display_name)  # reorders what screens show
    if display_name is not None and display_name.strip() and display_name != user.display_name:
        changes["nom"] = [user.display_name, display_name.strip()]
        user.display_name = display_name.strip()
    if active is not None and active != user.active:
        if user.id == actor.user_id and not active:
            raise InvalidInput("Vous ne pouvez pas désactiver votre propre compte.")
        changes["actif"] = [user.active, active]
        user.active = active
    if team_ids is not None:
        _check_teams(session, actor.org_id, team_ids)
        current = set(session.exec(select(UserTeam.team_id).where(UserTeam.user_id == user.id)).all())
        if current != set(team_ids):
            for link in session.exec(select(UserTeam).where(UserTeam.user_id == user.id)).all():
                session.delete(link)
            session.flush()
            for tid in team_ids:
                session.add(UserTeam(user_id=user.id, team_id=tid, org_id=actor.org_id))
            changes["equipes"] = [sorted(current), sorted(team_ids)]
    if user.role == "agent":
        new_agent = agent_id if agent_id is not None else user.agent_id
        if new_agent != user.agent_id or "role" in changes:
            _check_agent_link(session, actor.org_id, "agent", new_agent, user_id=user.id)
        if session.exec(select(UserTeam.team_id).where(UserTeam.user_id == user.id)).first() is not None:
            raise InvalidInput("Un téléconseiller ne voit que ses propres évaluations : ne lui attribuez pas "
                               "d'équipe.")
    else:
        _check_agent_link(session, actor.org_id, user.role, agent_id)  # refuses a link for another role
        new_agent = None  # a login leaving the agent role stops reading that agent's evaluations
    if new_agent != user.agent_id:
        changes["agent_id"] = [user.agent_id, new_agent]
        user.agent_id = new_agent
    if user.role == "team_lead":
        has_team = team_ids if team_ids is not None else session.exec(
            select(UserTeam.team_id).where(UserTeam.user_id == user.id)
        ).all()
        if not has_team:
            raise InvalidInput("Un chef d'équipe doit être rattaché à au moins une équipe.")
    if changes:
        user.sessions_revoked_at = utcnow()
        session.add(user)
        audit.log_event(session=session, who=actor.who, action="user_updated", target_type="user",
                        target_id=user.id, detail=changes)
    return user


def reset_password(*, session: Session, actor: Actor, user_id: int, new_password: str) -> None:
    """Set a new password (admin only), unlock the account and revoke its sessions."""
    _require_admin(actor)
    user = _get_own_user(session, actor, user_id)
    validate_password(new_password)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    user.sessions_revoked_at = utcnow()
    session.add(user)
    audit.log_event(session=session, who=actor.who, action="password_reset", target_type="user",
                    target_id=user.id)
