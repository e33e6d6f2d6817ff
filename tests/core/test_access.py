"""Roles × actions: the server-side answer to « may this role do that », whatever page or command asks."""

from __future__ import annotations

import pytest

from ccr.core.access import ACTIONS, may


@pytest.mark.parametrize(("role", "action", "expected"), [
    ("supervisor", "import_calls", True), ("team_lead", "import_calls", False),
    ("dpo", "export_data", True), ("supervisor", "export_data", False),
    ("team_lead", "read_reviews", True), ("team_lead", "validate_reviews", False),
    ("admin", "schedule_maintenance", True), ("dpo", "schedule_maintenance", False),
    ("dpo", "read_breaches", True), ("dpo", "write_incidents", False),
    (None, "read_reviews", False),  # nobody logged in may do nothing
    ("agent", "own_evaluations", True), ("agent", "read_reviews", False), ("agent", "export_data", False),
    ("supervisor", "resolve_disputes", True), ("team_lead", "resolve_disputes", False),
    ("admin", "quality_policy", True), ("supervisor", "quality_policy", False),
])
def test_may_answers_from_the_table(role, action, expected):
    assert may(role, action) is expected


def test_an_unknown_action_is_an_error_not_a_silent_refusal():
    with pytest.raises(KeyError):
        may("admin", "delete_everything")


def test_the_administrator_may_do_every_action_but_an_agents_own():
    # An agent's own evaluations are theirs: an administrator reads them through the review pages instead.
    assert {a for a, roles in ACTIONS.items() if "admin" not in roles} == {"own_evaluations"}


def test_an_agent_may_do_nothing_but_their_own_evaluations():
    assert {a for a, roles in ACTIONS.items() if "agent" in roles} == {"own_evaluations"}
