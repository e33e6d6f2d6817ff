"""Per-agent figures on the hand-built dataset: ranking and sparkline, heatmap, coaching priorities, talk/listen."""

from __future__ import annotations

import pytest

from ccr.core.db import session
from ccr.dashboards import agents
from tests.kpidata import march


def test_agent_ranking_scores_and_sparkline(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        rows = agents.agent_ranking(session=s, actor=admin, filters=march(admin))
    a0, a1, a2, _ = a.agent_ids
    assert [r["agent_id"] for r in rows] == [a2, a1, a0]
    top, _, last = rows
    assert (top["calls"], top["avg_score"], top["pass_rate"]) == (1, 90.0, 100.0)
    assert (last["calls"], last["avg_score"], last["pass_rate"], last["critical_rate"]) == (2, 65.0, 50.0, 50.0)
    assert last["agent"] == "alpha agent 0" and last["team"] == "Alpha Conseil équipe 1"
    # 1 to 30 March 2026 (a Sunday to a Monday) -> 6 calendar weeks, the first and last of one day each;
    # agent 0's two calls are on Monday 2 March, in the second week.
    assert last["trend"] == [None, 65.0, None, None, None, None]
    assert top["trend"] == [None, None, 90.0, None, None, None]


def test_heatmap_pass_rates_exclude_na(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        heat = agents.criterion_agent_heatmap(session=s, actor=admin, filters=march(admin))
    a0, a1, a2, _ = a.agent_ids
    cells = {(c["agent_id"], c["criterion_id"]): (c["passed"], c["applicable"]) for c in heat["cells"]}
    assert cells == {
        (a0, "accueil"): (1, 2), (a0, "identification"): (2, 2), (a0, "empathie"): (0, 1),
        (a2, "accueil"): (1, 1),
        (a1, "accueil"): (1, 1), (a1, "identification"): (0, 1),
    }
    assert [c[0] for c in heat["criteria"]] == ["accueil", "identification", "empathie"]
    assert heat["criteria"][0][1] == "Accueil et présentation"
    assert [ag[0] for ag in heat["agents"]] == [a1, a0, a2]  # weakest first: 1/2, 3/5, 1/1
    with session() as s:
        only = agents.criterion_agent_heatmap(session=s, actor=admin, filters=march(admin), agent_ids=[a1])
    assert {c["agent_id"] for c in only["cells"]} == {a1}


def test_weakest_criteria_are_the_coaching_priorities(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        prio = agents.weakest_criteria(session=s, actor=admin, filters=march(admin), min_applicable=1)
    a0 = a.agent_ids[0]
    assert [p["criterion_id"] for p in prio[a0]] == ["empathie", "accueil"]


def test_talk_listen_by_agent(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        rows = {r["agent_id"]: r for r in agents.talk_listen_by_agent(session=s, actor=admin, filters=march(admin))}
    a0 = rows[a.agent_ids[0]]
    assert a0["calls"] == 2
    assert a0["agent_talk_ratio"] == pytest.approx(50.0)  # 250 s of 500 s
    assert a0["customer_talk_ratio"] == pytest.approx(40.0)
    assert a0["silence_ratio"] == pytest.approx(10.0)
