"""The page guard: the session's user is validated once per page run, and again at the next run."""

from __future__ import annotations

import pytest
import streamlit as st

from ccr.core import users
from ccr.core.db import session, utcnow
from ccr.core.models import User
from ccr.ui import guard


@pytest.fixture
def lead_logged_in(tenants, monkeypatch):
    """Tenant A's team lead logged in this (bare) session; yields the tenant and the list of validations."""
    a, _ = tenants
    st.session_state[guard.USER_KEY] = a.actor("team_lead").user_id
    st.session_state[guard.ISSUED_KEY] = utcnow()
    calls: list[int] = []
    real = users.load_actor

    def counting(*, session, user_id):
        calls.append(user_id)
        return real(session=session, user_id=user_id)

    monkeypatch.setattr(guard, "load_actor", counting)
    yield a, calls
    st.session_state.clear()


def test_one_run_validates_the_user_once_and_the_next_run_again(lead_logged_in):
    _a, calls = lead_logged_in
    with guard.run_scope():
        first = guard.current_actor()
        assert guard.current_actor() == first and guard.require_page("dashboard") == first
    assert len(calls) == 1
    with guard.run_scope():
        assert guard.current_actor() == first
    assert len(calls) == 2  # a new run asks the database again


def test_a_user_deactivated_between_two_runs_is_refused_at_the_next_one(lead_logged_in):
    a, _calls = lead_logged_in
    with guard.run_scope():
        assert guard.current_actor() is not None
    with session() as s:
        user = s.get(User, a.actor("team_lead").user_id)
        user.active = False
        s.add(user)
    with guard.run_scope():
        assert guard.current_actor() is None


def test_another_user_in_the_same_run_is_validated_on_its_own(lead_logged_in):
    a, calls = lead_logged_in
    with guard.run_scope():
        lead = guard.current_actor()
        st.session_state[guard.USER_KEY] = a.actor("supervisor").user_id  # a fresh login in this run
        supervisor = guard.current_actor()
    assert lead.role == "team_lead" and supervisor.role == "supervisor" and len(calls) == 2
