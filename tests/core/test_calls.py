"""Calls are read through the actor's scope: own organisation, a team lead's own teams, no leak by id."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from ccr.core.calls import flatten_text, get_call, get_transcript, scope_calls, transcript_dict
from ccr.core.db import session
from ccr.core.errors import NotFound
from ccr.core.models import Call, Transcript
from tests.pipeline.calldata import queued_call

SEGMENTS = [{"speaker": "agent", "start": 0.0, "end": 1.5, "text": "Bonjour"},
            {"speaker": "client", "start": 1.5, "end": 3.0, "text": "Je rappelle"}]


@pytest.fixture
def calls(tenants):
    """Org A: a call in each team and a restricted one in team 1; org B: one call."""
    a, b = tenants
    ids = {
        "a_team1": queued_call(a.org_id, team_id=a.team_ids[0]),
        "a_team2": queued_call(a.org_id, team_id=a.team_ids[1]),
        "a_restricted": queued_call(a.org_id, team_id=a.team_ids[0], restricted=True),
        "b": queued_call(b.org_id, team_id=b.team_ids[0]),
    }
    return a, b, ids


def _visible(actor, **kw) -> set[int]:
    with session() as s:
        return set(s.exec(scope_calls(select(Call.id), actor, **kw)).all())


def test_scope_restricts_to_the_organisation(calls):
    a, b, ids = calls
    assert _visible(a.actor("supervisor")) == {ids["a_team1"], ids["a_team2"], ids["a_restricted"]}
    assert _visible(b.actor("admin")) == {ids["b"]}


def test_scope_limits_a_team_lead_to_their_teams_and_can_hide_restricted_calls(calls):
    a, _, ids = calls
    lead = a.actor("team_lead")
    assert _visible(lead) == {ids["a_team1"], ids["a_restricted"]}
    assert _visible(lead, include_restricted=False) == {ids["a_team1"]}


def test_get_call_refuses_another_organisation_and_unknown_ids(calls):
    a, b, ids = calls
    with session() as s:
        assert get_call(session=s, actor=a.actor("admin"), call_id=ids["a_team2"]).id == ids["a_team2"]
        with pytest.raises(NotFound):
            get_call(session=s, actor=a.actor("admin"), call_id=ids["b"])
        with pytest.raises(NotFound):
            get_call(session=s, actor=b.actor("dpo"), call_id=ids["a_team1"])
        with pytest.raises(NotFound):
            get_call(session=s, actor=a.actor("admin"), call_id=10_000)


def test_get_call_refuses_a_team_lead_a_call_of_another_team(calls):
    a, _, ids = calls
    with session() as s:
        lead = a.actor("team_lead")
        assert get_call(session=s, actor=lead, call_id=ids["a_team1"]).id == ids["a_team1"]
        with pytest.raises(NotFound):
            get_call(session=s, actor=lead, call_id=ids["a_team2"])


def test_flatten_text_joins_segments_line_by_line():
    assert flatten_text(SEGMENTS) == "Bonjour\nJe rappelle"
    assert flatten_text([{"speaker": "agent"}, {"text": 42}]) == "\n42"
    assert flatten_text([]) == ""


def test_transcript_dict_follows_the_contract_format():
    call = Call(id=7, org_id=1, sha256="x", duration_s=None)
    row = Transcript(org_id=1, call_id=7, language="en", segments_json=json.dumps(SEGMENTS), text="")
    assert transcript_dict(call, row) == {"call_id": "7", "duration_s": 0.0, "language": "en",
                                          "segments": SEGMENTS}


def test_get_transcript_returns_none_without_one_and_the_dict_with_one(calls):
    a, b, ids = calls
    with session() as s:
        s.add(Transcript(org_id=a.org_id, call_id=ids["a_team1"], segments_json=json.dumps(SEGMENTS),
                         text=flatten_text(SEGMENTS)))
    with session() as s:
        admin = a.actor("admin")
        assert get_transcript(session=s, actor=admin, call_id=ids["a_team2"]) is None
        got = get_transcript(session=s, actor=admin, call_id=ids["a_team1"])
        assert got["call_id"] == str(ids["a_team1"]) and got["segments"] == SEGMENTS
        with pytest.raises(NotFound):
            get_transcript(session=s, actor=b.actor("admin"), call_id=ids["a_team1"])
