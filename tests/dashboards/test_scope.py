"""Scoping: a team lead never reads another team's or organisation's figures, whatever the URL or the filters;
and the SQL building blocks every figure shares (local-day bounds, local weeks, the rollups-or-live choice)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.models import Evaluation
from ccr.dashboards import agents, call_list, figures, scope
from ccr.dashboards.filters import Filters
from ccr.dashboards.rollups import refresh_pending
from tests.kpidata import add_call, march


def _everything(actor, filters, search=""):
    """Every figure and list the dashboard draws, flattened to the agent, team and call ids they show."""
    with session() as s:
        tiles = {t.key: t.value for t in figures.kpi_tiles(session=s, actor=actor, filters=filters)}
        ranking = agents.agent_ranking(session=s, actor=actor, filters=filters)
        heat = agents.criterion_agent_heatmap(session=s, actor=actor, filters=filters)
        talk = agents.talk_listen_by_agent(session=s, actor=actor, filters=filters)
        irr = figures.irritants_over_time(session=s, actor=actor, filters=filters)
        cats = figures.category_breakdown(session=s, actor=actor, filters=filters)
        dist = figures.score_distribution(session=s, actor=actor, filters=filters)
        trend = figures.score_trend(session=s, actor=actor, filters=filters)
        rows, total, _ = call_list.list_calls(session=s, actor=actor, filters=filters, search=search)
    return {
        "calls": tiles["calls"],
        "agents": {r["agent_id"] for r in ranking} | {c["agent_id"] for c in heat["cells"]}
        | {r["agent_id"] for r in talk},
        "irritant_calls": sum(i[2] for i in irr["irritants"]),
        "category_calls": sum(c["calls"] for c in cats),
        "dist_calls": sum(b["calls"] for b in dist),
        "trend_calls": sum(p["calls"] for p in trend["points"]),
        "call_ids": {r["call_id"] for r in rows}, "total": total,
    }


FOREIGN_ATTEMPTS = [
    ("other team", lambda a, b: {"equipe": str(a.team_ids[1])}),
    ("both teams", lambda a, b: {"equipe": f"{a.team_ids[0]},{a.team_ids[1]}"}),
    ("other org team", lambda a, b: {"equipe": str(b.team_ids[0])}),
    ("other team agent", lambda a, b: {"agent": str(a.agent_ids[1])}),
    ("other org agent", lambda a, b: {"agent": str(b.agent_ids[0])}),
    ("agents of both", lambda a, b: {"agent": f"{a.agent_ids[0]},{a.agent_ids[1]},{b.agent_ids[0]}"}),
    ("repeated params", lambda a, b: {"equipe": [str(a.team_ids[0]), str(a.team_ids[1])]}),
    ("campaign", lambda a, b: {"campagne": "printemps"}),
    ("category", lambda a, b: {"categorie": "livraison"}),
    ("direction", lambda a, b: {"sens": "entrant"}),
    ("grid", lambda a, b: {"grille": "ccr-standard-fr"}),
]


@pytest.mark.parametrize(("name", "extra"), FOREIGN_ATTEMPTS, ids=[n for n, _ in FOREIGN_ATTEMPTS])
def test_team_lead_never_reads_other_teams_or_orgs(name, extra, data):
    a, b, ids = data
    lead = a.actor("team_lead")
    f = march(lead, **extra(a, b))
    assert set(f.team_ids) <= set(lead.team_ids)
    got = _everything(lead, f, search="")
    own_agents = {a.agent_ids[0], a.agent_ids[2]}
    own_calls = {ids["c1"], ids["c2"], ids["c3"]}
    assert got["agents"] <= own_agents
    assert got["call_ids"] <= own_calls and got["total"] <= 3
    assert got["calls"] <= 3
    for key in ("dist_calls", "category_calls", "trend_calls"):
        assert got[key] <= 3


def test_hand_built_filters_cannot_widen_a_team_leads_scope(data):
    a, b, _ids = data
    lead = a.actor("team_lead")
    f = Filters(start=date(2026, 3, 1), end=date(2026, 3, 30), team_ids=(a.team_ids[1], b.team_ids[0]))
    got = _everything(lead, f)
    assert got["calls"] == 0 and got["call_ids"] == set() and got["agents"] == set()


@pytest.mark.parametrize("role", ["admin", "supervisor", "team_lead"])
def test_other_organisation_never_shows(role, data):
    _a, b, ids = data
    actor = b.actor(role)
    got = _everything(actor, march(actor), search="remboursement")
    assert got["call_ids"] <= {ids["b"]}
    assert not got["call_ids"] & {ids[k] for k in ("c1", "c2", "c3", "c4")}


# --- SQL building blocks -----------------------------------------------------------------------


def test_bounds_are_the_local_midnights_of_the_configured_timezone(settings_env):
    # Europe/Paris moves to summer time on 29 March 2026: that local day lasts 23 hours.
    assert scope.bounds(date(2026, 3, 29), date(2026, 3, 30)) == (datetime(2026, 3, 28, 23, tzinfo=UTC),
                                                                  datetime(2026, 3, 30, 22, tzinfo=UTC))


def test_local_weeks_start_at_local_midnight(data):
    a = data[0]
    # 23:30 on Sunday 8 March in Paris is still the first week from Monday 2 March; 00:30 on Monday is the next.
    sunday = add_call(a.org_id, a.team_ids[0], a.agent_ids[0], datetime(2026, 3, 8, 22, 30, tzinfo=UTC), 80)
    monday = add_call(a.org_id, a.team_ids[0], a.agent_ids[0], datetime(2026, 3, 8, 23, 30, tzinfo=UTC), 80)
    e = Evaluation
    with session() as s:
        weeks = dict(s.exec(select(e.call_id, scope.local_week_expr(e.started_at, date(2026, 3, 2), 3))
                            .where(col(e.call_id).in_([sunday, monday]))).all())
        single = s.exec(select(scope.local_week_expr(e.started_at, date(2026, 3, 2), 1))
                        .where(e.call_id == sunday)).one()
    assert weeks == {sunday: 0, monday: 1} and single == 0


def test_rollups_answer_only_when_the_period_and_teams_are_all_that_is_filtered(data, monkeypatch):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:  # not built yet: the base tables answer, and reading builds nothing
        assert not scope.use_rollups(s, admin, march(admin, equipe=str(a.team_ids[0])))
    refresh_pending()
    with session() as s:
        assert scope.use_rollups(s, admin, march(admin, equipe=str(a.team_ids[0])))
        assert not scope.use_rollups(s, admin, march(admin, agent=str(a.agent_ids[0])))
        assert not scope.use_rollups(s, admin, march(admin, sens="sortant"))
    monkeypatch.setenv("CCR_DASHBOARD_ROLLUPS", "false")
    get_settings.cache_clear()
    try:
        with session() as s:
            assert not scope.use_rollups(s, admin, march(admin))
    finally:
        get_settings.cache_clear()
