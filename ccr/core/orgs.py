"""Organisations, teams and agents, always read through the acting user's scope."""

from __future__ import annotations

import re
import unicodedata

from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, Organisation, Team, User
from ccr.core.textnorm import strip_bidi
from ccr.core.users import Actor


def clean_name(name: str) -> str:
    """A typed or imported name as stored: bidirectional controls removed (they reorder what screens
    show after them), surrounding spaces trimmed."""
    return strip_bidi(name or "").strip()


def slugify(name: str) -> str:
    """ASCII slug of a name ("Équipe Nord" -> "equipe-nord")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "org"


def create_organisation(*, session: Session, name: str) -> Organisation:
    """Create a tenant (CLI and demo seeding only)."""
    name = clean_name(name)
    slug = slugify(name)
    if session.exec(select(Organisation).where(Organisation.slug == slug)).first():
        raise InvalidInput(f"L'organisation « {name} » existe déjà.")
    org = Organisation(name=name, slug=slug)
    session.add(org)
    session.flush()
    return org


def get_organisation(*, session: Session, actor: Actor) -> Organisation:
    """The actor's own organisation."""
    org = session.get(Organisation, actor.org_id)
    if org is None:
        raise NotFound("Organisation introuvable.")
    return org


def find_organisation(*, session: Session, slug: str) -> Organisation:
    """An organisation by slug (CLI only: no acting user there)."""
    org = session.exec(select(Organisation).where(Organisation.slug == slug)).first()
    if org is None:
        raise NotFound(f"Organisation « {slug} » introuvable.")
    return org


def visible_team_ids(*, session: Session, actor: Actor) -> list[int]:
    """Ids of the teams the actor may see: all of the organisation, or a team lead's own."""
    stmt = select(Team.id).where(Team.org_id == actor.org_id)
    if not actor.sees_all_teams:
        stmt = stmt.where(col(Team.id).in_(actor.team_ids or {-1}))
    return list(session.exec(stmt).all())


def list_teams(*, session: Session, actor: Actor) -> list[Team]:
    """Teams the actor may see, by name."""
    stmt = select(Team).where(Team.org_id == actor.org_id)
    if not actor.sees_all_teams:
        stmt = stmt.where(col(Team.id).in_(actor.team_ids or {-1}))
    return list(session.exec(stmt.order_by(Team.name)).all())


def get_team(*, session: Session, actor: Actor, team_id: int) -> Team:
    """One team, if the actor may see it."""
    team = session.get(Team, team_id)
    if team is None or team.org_id != actor.org_id or (not actor.sees_all_teams and team_id not in actor.team_ids):
        raise NotFound("Équipe introuvable.")
    return team


def create_team(*, session: Session, actor: Actor, name: str) -> Team:
    """Create a team in the actor's organisation (admin)."""
    if actor.role != "admin":
        raise AccessDenied("Seul un administrateur peut créer une équipe.")
    name = clean_name(name)
    if not name:
        raise InvalidInput("Le nom de l'équipe est obligatoire.")
    if session.exec(select(Team).where(Team.org_id == actor.org_id, Team.name == name)).first():
        raise InvalidInput(f"L'équipe « {name} » existe déjà.")
    team = Team(org_id=actor.org_id, name=name)
    session.add(team)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="team_created", target_type="team",
                    target_id=team.id, detail={"nom": name})
    return team


def list_agents(*, session: Session, actor: Actor, team_id: int | None = None,
                include_inactive: bool = False) -> list[Agent]:
    """Agents the actor may see, optionally of one team."""
    stmt = select(Agent).where(Agent.org_id == actor.org_id)
    if not actor.sees_all_teams:
        stmt = stmt.where(col(Agent.team_id).in_(actor.team_ids or {-1}))
    if team_id is not None:
        stmt = stmt.where(Agent.team_id == team_id)
    if not include_inactive:
        stmt = stmt.where(Agent.active == True)  # noqa: E712
    return list(session.exec(stmt.order_by(Agent.name)).all())


def get_agent(*, session: Session, actor: Actor, agent_id: int) -> Agent:
    """One agent, if the actor may see them."""
    agent = session.get(Agent, agent_id)
    if agent is None or agent.org_id != actor.org_id:
        raise NotFound("Agent introuvable.")
    if not actor.sees_all_teams and agent.team_id not in actor.team_ids:
        raise NotFound("Agent introuvable.")
    return agent


def find_agent_by_name(*, session: Session, org_id: int, name: str) -> Agent | None:
    """An agent of ``org_id`` by exact name, case-insensitively (metadata CSV import)."""
    wanted = clean_name(name).casefold()
    for agent in session.exec(select(Agent).where(Agent.org_id == org_id)).all():
        if clean_name(agent.name).casefold() == wanted:
            return agent
    return None


def create_agent(*, session: Session, actor: Actor, name: str, team_id: int | None,
                 external_ref: str | None = None) -> Agent:
    """Create an agent in the actor's organisation (admin or supervisor)."""
    if not may(actor.role, "manage_agents"):
        raise AccessDenied("Seuls un administrateur ou un superviseur peuvent créer un agent.")
    name = clean_name(name)
    if not name:
        raise InvalidInput("Le nom de l'agent est obligatoire.")
    if team_id is not None:
        get_team(session=session, actor=actor, team_id=team_id)
    if find_agent_by_name(session=session, org_id=actor.org_id, name=name):
        raise InvalidInput(f"L'agent « {name} » existe déjà.")
    agent = Agent(org_id=actor.org_id, team_id=team_id, name=name, external_ref=external_ref)
    session.add(agent)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="agent_created", target_type="agent",
                    target_id=agent.id, detail={"nom": name, "equipe": team_id})
    return agent


def set_organisation_status(*, session: Session, actor: Actor, status: str) -> Organisation:
    """Suspend, reactivate or terminate the actor's organisation (admin).

    Termination revokes every session at once; the retention job deletes the data
    after the grace period unless it is exported first.
    """
    if actor.role != "admin":
        raise AccessDenied("Seul un administrateur peut changer le statut de l'organisation.")
    if status not in ("active", "suspended", "terminated"):
        raise InvalidInput(f"Statut inconnu : {status}.")
    org = get_organisation(session=session, actor=actor)
    previous = org.status
    org.status = status
    now = utcnow()
    org.terminated_at = now if status == "terminated" else None
    session.add(org)
    if status != "active":
        for user in session.exec(select(User).where(User.org_id == org.id)).all():
            user.sessions_revoked_at = now
            session.add(user)
    audit.log_event(session=session, who=actor.who, action="organisation_status", target_type="organisation",
                    target_id=org.id, detail={"avant": previous, "apres": status})
    return org
