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
])
def test_may_answers_from_the_table(role, action, expected):
    assert may(role, action) is expected


def test_an_unknown_action_is_an_error_not_a_silent_refusal():
    with pytest.raises(KeyError):
        may("admin", "delete_everything")


def test_the_administrator_may_do_every_action():
    assert {a for a, roles in ACTIONS.items() if "admin" not in roles} == set()
