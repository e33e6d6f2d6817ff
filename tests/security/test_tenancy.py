"""Tenant isolation: every ``ccr`` data function that takes an id refuses another organisation's ids.

The table lists each function with a call that targets organisation B's
records while acting as a user of organisation A (and, for team-scoped reads,
A's team lead on A's other team). Each must raise NotFound/AccessDenied or
return nothing; the same call on A's own record must succeed, so a test can
not pass merely because the function is broken.
"""

from __future__ import annotations

import json

import pytest

from ccr.core import calls, orgs, users
from ccr.core.db import session
from ccr.core.errors import AccessDenied, NotFound
from ccr.core.models import Call, Transcript
from ccr.quality import evaluations
from tests.conftest import TEST_PASSWORD

RESULT = {
    "grid": "ccr-standard-fr", "grid_version": 1, "engine": "rules", "score": 80.0, "passed": True,
    "critical_failed": False,
    "criteria": [{"id": "accueil", "verdict": "pass", "weight": 100, "evidence": [], "explanation": ""}],
    "category": "information", "irritants": [], "summary": "", "recommendations": [],
}


def make_call(org_id: int, team_id: int, agent_id: int, tag: str) -> dict:
    """A scored call with a transcript, returned as the ids the table needs."""
    with session() as s:
        call = Call(org_id=org_id, team_id=team_id, agent_id=agent_id, sha256=f"sha-{tag}", status="done",
                    duration_s=30.0)
        s.add(call)
        s.flush()
        s.add(Transcript(org_id=org_id, call_id=call.id, segments_json=json.dumps(
            [{"speaker": "agent", "start": 0, "end": 1, "text": f"bonjour {tag}"}]), text=f"bonjour {tag}"))
        ev = evaluations.store_evaluation(session=s, call=call, result=RESULT, grid_id=None)
        return {"call": call.id, "evaluation": ev.id, "team": team_id, "agent": agent_id}


@pytest.fixture
def world(tenants):
    a, b = tenants
    return {
        "a": a,
        "b": b,
        "own": make_call(a.org_id, a.team_ids[0], a.agent_ids[0], "a0"),
        "own_other_team": make_call(a.org_id, a.team_ids[1], a.agent_ids[1], "a1"),
        "foreign": make_call(b.org_id, b.team_ids[0], b.agent_ids[0], "b0"),
    }


# name -> function(session, actor, ids, world) ; ids = the record ids to target
TABLE = {
    "calls.get_call": lambda s, act, ids, w: calls.get_call(session=s, actor=act, call_id=ids["call"]),
    "calls.get_transcript": lambda s, act, ids, w: calls.get_transcript(session=s, actor=act, call_id=ids["call"]),
    "evaluations.current_evaluation": lambda s, act, ids, w: evaluations.current_evaluation(
        session=s, actor=act, call_id=ids["call"]),
    "evaluations.list_evaluations": lambda s, act, ids, w: evaluations.list_evaluations(
        session=s, actor=act, call_id=ids["call"]),
    "evaluations.get_evaluation": lambda s, act, ids, w: evaluations.get_evaluation(
        session=s, actor=act, evaluation_id=ids["evaluation"]),
    "orgs.get_team": lambda s, act, ids, w: orgs.get_team(session=s, actor=act, team_id=ids["team"]),
    "orgs.get_agent": lambda s, act, ids, w: orgs.get_agent(session=s, actor=act, agent_id=ids["agent"]),
    "orgs.list_agents(team)": lambda s, act, ids, w: orgs.list_agents(session=s, actor=act, team_id=ids["team"]),
}
ADMIN_TABLE = {
    "users.update_user": lambda s, act, uid: users.update_user(session=s, actor=act, user_id=uid, display_name="X"),
    "users.reset_password": lambda s, act, uid: users.reset_password(
        session=s, actor=act, user_id=uid, new_password=TEST_PASSWORD) or "done",
}


def _refused(fn) -> bool:
    try:
        out = fn()
    except (NotFound, AccessDenied):
        return True
    return out in (None, [], ())


@pytest.mark.parametrize("name", sorted(TABLE))
@pytest.mark.parametrize("role", ["admin", "supervisor", "team_lead", "dpo"])
def test_foreign_organisation_ids_are_refused(world, name, role):
    actor = world["a"].actor(role)
    fn = TABLE[name]
    with session() as s:
        assert _refused(lambda: fn(s, actor, world["foreign"], world)), f"{name} leaked organisation B to {role}"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_own_records_are_readable(world, name):
    actor = world["a"].actor("supervisor")
    with session() as s:
        assert not _refused(lambda: TABLE[name](s, actor, world["own"], world)), f"{name} refused its own data"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_team_leads_are_limited_to_their_teams(world, name):
    lead = world["a"].actor("team_lead")
    with session() as s:
        assert not _refused(lambda: TABLE[name](s, lead, world["own"], world))
        assert _refused(lambda: TABLE[name](s, lead, world["own_other_team"], world)), f"{name} crossed teams"


@pytest.mark.parametrize("name", sorted(ADMIN_TABLE))
def test_admin_functions_refuse_foreign_users(world, name):
    admin = world["a"].actor("admin")
    with session() as s:
        assert _refused(lambda: ADMIN_TABLE[name](s, admin, world["b"].users["supervisor"]))
        assert not _refused(lambda: ADMIN_TABLE[name](s, admin, world["a"].users["supervisor"]))
