"""Names typed or imported by people are stored without bidirectional controls.

A right-to-left override (U+202E) in a display, team or agent name reverses what every screen shows
after it; it is removed where the name comes in (forms, command line, rectification, metadata CSV).
"""

from __future__ import annotations

import pytest

from ccr.core import orgs, users
from ccr.core.db import session
from ccr.core.textnorm import BIDI_CONTROLS
from ccr.pipeline import ingest
from ccr.privacy import subjects

RLO_NAME = "Julie \u202eMartin\u202c"
CLEAN = "Julie Martin"


def _clean(text: str) -> bool:
    return not any(c in text for c in BIDI_CONTROLS)


def test_a_new_users_display_name_is_stored_without_bidi_controls(tenants):
    a, _ = tenants
    with session() as s:
        user = users.create_user(session=s, org_id=a.org_id, username="julie.martin", display_name=RLO_NAME,
                                 password="Motdepasse-Test-2026", role="supervisor")
        assert user.display_name == CLEAN


def test_a_renamed_user_is_stored_without_bidi_controls(tenants):
    a, _ = tenants
    with session() as s:
        user = users.update_user(session=s, actor=a.actor("admin"), user_id=a.users["supervisor"],
                                 display_name=RLO_NAME)
        assert user.display_name == CLEAN


@pytest.mark.parametrize("kind", ["team", "agent", "organisation"])
def test_team_agent_and_organisation_names_are_stored_without_bidi_controls(tenants, kind):
    a, _ = tenants
    with session() as s:
        if kind == "team":
            row = orgs.create_team(session=s, actor=a.actor("admin"), name=RLO_NAME)
        elif kind == "agent":
            row = orgs.create_agent(session=s, actor=a.actor("admin"), name=RLO_NAME, team_id=a.team_ids[0])
        else:
            row = orgs.create_organisation(session=s, name="Gamma \u2067Services\u2069")
            assert row.name == "Gamma Services"
            return
        assert row.name == CLEAN


def test_an_agent_name_with_a_bidi_control_matches_the_clean_agent(tenants):
    a, _ = tenants
    with session() as s:
        orgs.create_agent(session=s, actor=a.actor("admin"), name=CLEAN, team_id=a.team_ids[0])
        found = orgs.find_agent_by_name(session=s, org_id=a.org_id, name=RLO_NAME)
        assert found is not None and found.name == CLEAN


def test_a_rectified_agent_name_is_stored_without_bidi_controls(tenants):
    a, _ = tenants
    with session() as s:
        agent = subjects.rectify_agent(session=s, actor=a.actor("dpo"), agent_id=a.agent_ids[0], name=RLO_NAME)
        assert agent.name == CLEAN


def test_metadata_csv_names_lose_their_bidi_controls(tenants):
    a, _ = tenants
    csv = f"fichier;agent;equipe;campagne\nappel.wav;{RLO_NAME};\u202eNord;Print\u202eemps\n".encode()
    with session() as s:
        rows, errors = ingest.parse_metadata_csv(csv, session=s, actor=a.actor("supervisor"))
    assert not rows  # unknown agent and team: the line is reported
    assert errors and all(_clean(e.message) for e in errors), [e.message for e in errors]
    assert "Julie Martin" in errors[0].message
