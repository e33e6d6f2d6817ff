"""Tableau de bord page: allowed roles see their figures, others are refused; a team lead sees only their team."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.db import utcnow
from tests.kpidata import add_call
from tests.pages.helpers import refused, run_page

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def dash(tenants):
    """Recent calls in both teams of org A (one agent has a hostile name) and one in org B."""
    from ccr.core.db import session
    from ccr.core.models import Agent

    a, b = tenants
    with session() as s:
        agent = s.get(Agent, a.agent_ids[1])
        agent.name = HOSTILE  # team 2
        s.add(agent)
    now = utcnow() - timedelta(days=1)
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], now, 80, verdicts={"accueil": "pass", "empathie": "fail"},
             irritants=["attente_delai"])
    add_call(a.org_id, a.team_ids[0], a.agent_ids[2], now - timedelta(days=2), 60, verdicts={"accueil": "fail"})
    add_call(a.org_id, a.team_ids[1], a.agent_ids[1], now, 40, verdicts={"accueil": "fail"}, category="livraison")
    add_call(b.org_id, b.team_ids[0], b.agent_ids[0], now, 10, verdicts={"accueil": "fail"})
    return a, b


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


@pytest.mark.parametrize(("role", "calls"), [("admin", "3"), ("supervisor", "3"), ("team_lead", "2")])
def test_dashboard_shows_figures_of_the_viewers_scope(dash, role, calls):
    a, _ = dash
    at = run_page("pages/dashboard.py", a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    assert not refused(at)
    assert _metric(at, "Appels analysés").value == calls
    agents = set(at.dataframe[0].value["Agent"])
    if role == "team_lead":
        assert agents == {"alpha agent 0", "alpha agent 2"}
    else:
        assert agents == {"alpha agent 0", "alpha agent 2", HOSTILE}  # shown as text by st.dataframe


@pytest.mark.parametrize("role", ["dpo", None])
def test_dashboard_is_refused_to_dpo_and_anonymous(dash, role):
    a, _ = dash
    at = run_page("pages/dashboard.py", a.users[role] if role else None)
    assert refused(at)
    assert not at.metric


def test_team_lead_url_with_other_team_still_shows_only_their_team(dash):
    a, b = dash
    at = run_page("pages/dashboard.py", a.users["team_lead"],
                  query={"equipe": f"{a.team_ids[1]},{b.team_ids[0]}", "agent": str(a.agent_ids[1])})
    assert not at.exception, [e.value for e in at.exception]
    assert _metric(at, "Appels analysés").value == "2"
    assert set(at.dataframe[0].value["Agent"]) <= {"alpha agent 0", "alpha agent 2"}
    assert at.query_params.get("equipe") in (None, [], "")  # the foreign ids are not written back


def test_dashboard_filters_are_written_to_the_url(dash):
    a, _ = dash
    at = run_page("pages/dashboard.py", a.users["admin"], query={"periode": "7j", "sens": "entrant"})
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "7j"
    at.sidebar.selectbox[0].set_value("perso").run()
    assert at.query_params["periode"] == "perso" and "du" in at.query_params
    assert at.query_params["sens"] == "entrant"


def test_a_shared_link_with_a_future_end_date_opens_the_dashboard(dash):
    from ccr.ui.filters import local_today

    a, _ = dash
    today = local_today()
    at = run_page("pages/dashboard.py", a.users["admin"],
                  query={"periode": "perso", "du": (today - timedelta(days=10)).isoformat(), "au": "2999-12-31"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("La période du lien" in w.value for w in at.warning)
    assert any(f"au {today:%d/%m/%Y}" in c.value for c in at.caption)
