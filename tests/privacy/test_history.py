"""Anonymised statistics: what purged evaluations leave behind, and only that."""

from __future__ import annotations

import pytest

from ccr.core.db import session
from ccr.core.models import (
    Agent,
    DailyStat,
)
from ccr.privacy import history, retention
from tests.retdata import NOW, PARIS, add_call, aggregates, days_ago, stats_rows


def retention_history(org_id: int, since, until):
    with session() as s:
        return history.stats_history(session=s, org_id=org_id, since=since, until=until)



def test_statistics_equal_the_aggregates_computed_before_deletion(dataset):
    a, _, _calls = dataset
    extra = [add_call(a.org_id, a.agent_ids[i % 4], days_ago(400, hour=9 + i), score=40.0 + 10 * i,
                      verdicts={"accueil": "pass" if i % 2 else "fail", "politesse": "pass", "empathie": "na"},
                      category=["facturation", "resiliation", None][i % 3], irritants=["attente"] * (i % 2))
             for i in range(6)]
    assert extra
    before = aggregates(a.org_id)
    old_day = days_ago(400).astimezone(PARIS).date()
    day = NOW.astimezone(PARIS).date()
    history_before = retention_history(a.org_id, old_day, day)
    retention.run_purge(now=NOW)
    after = stats_rows(a.org_id)
    assert set(after) == {(old_day, None)}  # teams of 2 agents fold into the organisation level
    expected = before[(old_day, None)]
    got = after[(old_day, None)]
    assert got["calls"] == expected["calls"] == 7
    assert got["score_sum"] == pytest.approx(expected["score_sum"])
    for key in ("passed", "critical_failed", "with_irritant", "criteria", "irritants", "categories"):
        assert got[key] == expected[key], key
    # The dashboards' history still shows the purged period, with the same figures.
    assert retention_history(a.org_id, old_day, day) == history_before


def test_a_team_of_five_agents_keeps_its_own_statistics(tenants):
    a, _ = tenants
    big, small = a.team_ids
    with session() as s:
        for i in range(3):  # team 1 has 2 agents: 5 with these
            s.add(Agent(org_id=a.org_id, team_id=big, name=f"renfort {i}"))
    agent_big = a.agent_ids[0]  # agents alternate teams: 0 and 2 in team 1
    agent_small = a.agent_ids[1]
    for _ in range(2):
        add_call(a.org_id, agent_big, days_ago(400))
    add_call(a.org_id, agent_small, days_ago(400))
    retention.run_purge(now=NOW)
    day = days_ago(400).astimezone(PARIS).date()
    rows = stats_rows(a.org_id)
    assert set(rows) == {(day, big), (day, None)}
    assert rows[(day, big)]["calls"] == 2 and rows[(day, None)]["calls"] == 1
    assert small not in {team for _, team in rows}


def test_stats_carry_no_agent_and_no_call_id():
    columns = set(DailyStat.model_fields)
    assert not {"agent_id", "call_id", "evaluation_id"} & columns
