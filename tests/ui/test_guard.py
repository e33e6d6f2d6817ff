"""The page guard: the session's user is validated once per page run, and again at the next run."""

from __future__ import annotations

import streamlit as st

from ccr.core import users
from ccr.core.db import session, utcnow
from ccr.core.models import User
from ccr.ui import guard


def _log_in(monkeypatch, tenant, role: str = "team_lead") -> list[int]:
    actor = tenant.actor(role)
    st.session_state[guard.USER_KEY] = actor.user_id
    st.session_state[guard.ISSUED_KEY] = utcnow()
    calls: list[int] = []
    real = users.load_actor

    def counting(*, session, user_id):
        calls.append(user_id)
        return real(session=session, user_id=user_id)

    monkeypatch.setattr(guard, "load_actor", counting)
    return calls


def test_one_run_validates_the_user_once_and_the_next_run_again(tenants, monkeypatch):
    a, _ = tenants
    calls = _log_in(monkeypatch, a)
    try:
        with guard.run_scope():
            first = guard.current_actor()
            assert guard.current_actor() == first and guard.require_page("dashboard") == first
        assert len(calls) == 1
        with guard.run_scope():
            assert guard.current_actor() == first
        assert len(calls) == 2  # a new run asks the database again
    finally:
        st.session_state.clear()


def test_a_user_deactivated_between_two_runs_is_refused_at_the_next_one(tenants, monkeypatch):
    a, _ = tenants
    _log_in(monkeypatch, a)
    try:
        with guard.run_scope():
            assert guard.current_actor() is not None
        with session() as s:
            user = s.get(User, a.actor("team_lead").user_id)
            user.active = False
            s.add(user)
        with guard.run_scope():
            assert guard.current_actor() is None
    finally:
        st.session_state.clear()


def test_another_user_in_the_same_run_is_validated_on_its_own(tenants, monkeypatch):
    a, _ = tenants
    calls = _log_in(monkeypatch, a)
    try:
        with guard.run_scope():
            lead = guard.current_actor()
            st.session_state[guard.USER_KEY] = a.actor("supervisor").user_id  # a fresh login in this run
            supervisor = guard.current_actor()
        assert lead.role == "team_lead" and supervisor.role == "supervisor" and len(calls) == 2
    finally:
        st.session_state.clear()
