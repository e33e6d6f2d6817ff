"""Appels page: per role, scoped to the viewer's teams, filtered from the URL, searchable, paginated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.db import utcnow
from tests.kpidata import add_call
from tests.pages.helpers import refused, run_page


@pytest.fixture
def listed(tenants):
    a, b = tenants
    now = utcnow() - timedelta(days=1)
    ids = {
        "t1_a0": add_call(a.org_id, a.team_ids[0], a.agent_ids[0], now, 80, verdicts={"accueil": "pass"},
                          text="je voudrais un remboursement"),
        "t1_a2": add_call(a.org_id, a.team_ids[0], a.agent_ids[2], now - timedelta(hours=1), 55,
                          verdicts={"accueil": "fail"}, irritants=["relances"], text="colis en retard"),
        "t2_a1": add_call(a.org_id, a.team_ids[1], a.agent_ids[1], now, 40, text="remboursement refusé"),
        "b": add_call(b.org_id, b.team_ids[0], b.agent_ids[0], now, 10, text="remboursement"),
    }
    return a, b, ids


def _ids(at) -> set[int]:
    return set(at.dataframe[0].value["Appel"]) if at.dataframe else set()


@pytest.mark.parametrize(("role", "expected"), [
    ("admin", {"t1_a0", "t1_a2", "t2_a1"}),
    ("supervisor", {"t1_a0", "t1_a2", "t2_a1"}),
    ("team_lead", {"t1_a0", "t1_a2"}),
])
def test_calls_page_lists_the_viewers_calls(listed, role, expected):
    a, _, ids = listed
    at = run_page("pages/calls.py", a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    assert _ids(at) == {ids[k] for k in expected}
    links = set(at.dataframe[0].value["Ouvrir"])
    assert links == {f"review?call_id={ids[k]}" for k in expected}


@pytest.mark.parametrize("role", ["dpo", None])
def test_calls_page_is_refused_to_dpo_and_anonymous(listed, role):
    a, _, _ = listed
    at = run_page("pages/calls.py", a.users[role] if role else None)
    assert refused(at) and not at.dataframe


@pytest.mark.parametrize(("query", "expected"), [
    ({"agent": "AGENT0"}, {"t1_a0"}),
    ({"critere": "accueil"}, {"t1_a2"}),
    ({"irritant": "relances"}, {"t1_a2"}),
    ({"q": "remboursement"}, {"t1_a0", "t2_a1"}),
    ({"score_max": "60"}, {"t1_a2", "t2_a1"}),
])
def test_calls_page_applies_url_filters(listed, query, expected):
    a, _, ids = listed
    query = {k: v.replace("AGENT0", str(a.agent_ids[0])) for k, v in query.items()}
    at = run_page("pages/calls.py", a.users["admin"], query=query)
    assert not at.exception, [e.value for e in at.exception]
    assert _ids(at) == {ids[k] for k in expected}


def test_team_lead_deep_link_to_another_team_shows_nothing_of_it(listed):
    a, b, ids = listed
    at = run_page("pages/calls.py", a.users["team_lead"],
                  query={"equipe": str(a.team_ids[1]), "agent": f"{a.agent_ids[1]},{b.agent_ids[0]}",
                         "q": "remboursement"})
    assert not at.exception
    assert _ids(at) <= {ids["t1_a0"]}


def test_search_box_narrows_the_list(listed):
    a, _, ids = listed
    at = run_page("pages/calls.py", a.users["admin"])
    at.text_input[0].set_value("retard").run()
    assert _ids(at) == {ids["t1_a2"]}
    assert at.query_params["q"] == "retard"


def test_a_search_count_that_stopped_at_its_cap_says_so(listed, monkeypatch):
    from ccr.dashboards import call_list

    a, _, ids = listed
    monkeypatch.setattr(call_list, "SEARCH_COUNT_CAP", 1)
    at = run_page("pages/calls.py", a.users["admin"], query={"q": "remboursement"})
    assert _ids(at) == {ids["t1_a0"], ids["t2_a1"]}
    caption = " ".join(c.value for c in at.caption)
    assert "au moins 2 appel(s)" in caption  # one counted before the cap, two on the page
    assert "Page **1**" in " ".join(m.value for m in at.markdown) and "sur" not in " ".join(
        m.value for m in at.markdown if m.value.startswith("Page"))


@pytest.mark.parametrize(("du", "au", "shown"), [
    ("FUTURE_START", "2999-12-31", "clamped"),  # a shared link whose end date is in the future
    ("2999-01-01", "2999-12-31", "default"),  # a period entirely in the future
    ("0001-01-01", "0002-01-01", "default"),  # a period before any possible call
])
def test_a_shared_link_with_impossible_dates_opens_with_a_french_notice(listed, du, au, shown):
    from ccr.ui.filters import local_today

    a, _, ids = listed
    today = local_today()
    du = du.replace("FUTURE_START", (today - timedelta(days=5)).isoformat())
    at = run_page("pages/calls.py", a.users["admin"], query={"periode": "perso", "du": du, "au": au})
    assert not at.exception, [e.value for e in at.exception]
    notice = " ".join(w.value for w in at.warning)
    assert "La période du lien" in notice
    assert _ids(at) == {ids["t1_a0"], ids["t1_a2"], ids["t2_a1"]}  # yesterday's calls, in every case
    if shown == "clamped":
        assert at.query_params.get("au") == today.isoformat(), at.query_params  # the link is rewritten with the period shown
        assert f"au {today:%d/%m/%Y}" in notice
    else:
        assert "période par défaut" in notice
