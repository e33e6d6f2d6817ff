"""Organisations, teams and agents: created by the right roles, names cleaned, reads scoped to the actor."""

from __future__ import annotations

import pytest

from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import AuditLog, Organisation, User
from ccr.core.orgs import (
    clean_name,
    create_agent,
    create_organisation,
    create_team,
    find_agent_by_name,
    find_organisation,
    get_agent,
    list_agents,
    list_teams,
    set_organisation_status,
    slugify,
)
from tests.conftest import count_rows

RLO = "\u202e"  # right-to-left override: reverses what a screen shows after it


def test_names_lose_bidi_controls_and_slugs_are_ascii():
    assert clean_name(f"  {RLO}Équipe\u2066 Nord  ") == "Équipe Nord"
    assert clean_name(None) == ""  # type: ignore[arg-type]
    assert slugify("Équipe Nord") == "equipe-nord"
    assert slugify("***") == "org"


def test_create_organisation_stores_a_clean_name_and_refuses_a_duplicate_slug(migrated):
    with session() as s:
        org = create_organisation(session=s, name=f"{RLO}Gamma Télécom ")
        assert (org.name, org.slug, org.status) == ("Gamma Télécom", "gamma-telecom", "active")
    with session() as s:
        assert find_organisation(session=s, slug="gamma-telecom").id == org.id
        with pytest.raises(InvalidInput):
            create_organisation(session=s, name="GAMMA télécom")
        with pytest.raises(NotFound):
            find_organisation(session=s, slug="absente")


@pytest.mark.parametrize("role", ["admin", "supervisor"])
def test_admins_and_supervisors_create_agents_with_an_audit_entry(tenants, role):
    a, _ = tenants
    with session() as s:
        agent = create_agent(session=s, actor=a.actor(role), name=f"Léa{RLO} Martin", team_id=a.team_ids[1])
        assert (agent.org_id, agent.team_id, agent.name) == (a.org_id, a.team_ids[1], "Léa Martin")
    assert count_rows(AuditLog, action="agent_created", org_id=a.org_id) == 1


@pytest.mark.parametrize("role", ["dpo", "team_lead"])
def test_other_roles_may_not_create_an_agent(tenants, role):
    a, _ = tenants
    with session() as s, pytest.raises(AccessDenied):
        create_agent(session=s, actor=a.actor(role), name="Nouvel agent", team_id=a.team_ids[0])


def test_create_agent_refuses_blank_duplicate_names_and_a_foreign_team(tenants):
    a, b = tenants
    admin = a.actor("admin")
    with session() as s:
        with pytest.raises(InvalidInput):
            create_agent(session=s, actor=admin, name=f" {RLO} ", team_id=None)
        with pytest.raises(InvalidInput):
            create_agent(session=s, actor=admin, name="ALPHA AGENT 0", team_id=None)  # case-insensitive
        with pytest.raises(NotFound):
            create_agent(session=s, actor=admin, name="Intrus", team_id=b.team_ids[0])
        assert find_agent_by_name(session=s, org_id=b.org_id, name="alpha agent 0") is None


def test_only_an_admin_creates_a_team_and_names_are_unique(tenants):
    a, _ = tenants
    with session() as s:
        with pytest.raises(AccessDenied):
            create_team(session=s, actor=a.actor("supervisor"), name="Support")
        team = create_team(session=s, actor=a.actor("admin"), name=" Support ")
        assert (team.org_id, team.name) == (a.org_id, "Support")
        with pytest.raises(InvalidInput):
            create_team(session=s, actor=a.actor("admin"), name="Support")


def test_reads_are_scoped_to_the_organisation_and_a_team_leads_teams(tenants):
    a, b = tenants
    with session() as s:
        lead = a.actor("team_lead")
        assert [t.id for t in list_teams(session=s, actor=lead)] == [a.team_ids[0]]
        assert {x.id for x in list_agents(session=s, actor=lead)} == {a.agent_ids[0], a.agent_ids[2]}
        assert {x.id for x in list_agents(session=s, actor=a.actor("admin"))} == set(a.agent_ids)
        with pytest.raises(NotFound):
            get_agent(session=s, actor=lead, agent_id=a.agent_ids[1])
        with pytest.raises(NotFound):
            get_agent(session=s, actor=a.actor("admin"), agent_id=b.agent_ids[0])


def test_suspending_revokes_every_session_and_only_an_admin_may(tenants):
    a, b = tenants
    with session() as s:
        with pytest.raises(AccessDenied):
            set_organisation_status(session=s, actor=a.actor("dpo"), status="suspended")
        with pytest.raises(InvalidInput):
            set_organisation_status(session=s, actor=a.actor("admin"), status="fermée")
        org = set_organisation_status(session=s, actor=a.actor("admin"), status="terminated")
        assert org.terminated_at is not None
    with session() as s:
        assert s.get(Organisation, a.org_id).status == "terminated"
        assert all(s.get(User, uid).sessions_revoked_at is not None for uid in a.users.values())
        assert all(s.get(User, uid).sessions_revoked_at is None for uid in b.users.values())
