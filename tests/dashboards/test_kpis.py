"""Dashboard figures on a small hand-built dataset: exact values, scoping, restriction, history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ccr.core.db import session
from ccr.core.models import DailyStat
from ccr.dashboards import kpis
from tests.kpidata import add_call

TODAY = date(2026, 3, 31)
MARCH = {"periode": "perso", "du": "2026-03-01", "au": "2026-03-30"}  # 30 days; previous: 30 Jan - 28 Feb


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.fixture
def data(tenants):
    """Org A: team 1 = agents 0 and 2 (the team lead's), team 2 = agent 1; org B: one call in March."""
    a, b = tenants
    t1, t2 = a.team_ids
    a0, a1, a2, _a3 = a.agent_ids
    ids = {}
    # current period (March)
    ids["c1"] = add_call(a.org_id, t1, a0, at(2026, 3, 2), 80, validated=True, ai_score=60, duration=300, silence=30,
                         agent_talk=150, customer_talk=120,
                         verdicts={"accueil": "pass", "identification": "pass", "empathie": "na"},
                         irritants=["attente_delai"], text="Bonjour, je voudrais un remboursement de ma facture.")
    ids["c2"] = add_call(a.org_id, t1, a0, at(2026, 3, 2, 14), 50, critical=True, duration=200, silence=20,
                         agent_talk=100, customer_talk=80,
                         verdicts={"accueil": "fail", "identification": "pass", "empathie": "fail"},
                         irritants=["attente_delai", "relances"], text="Mon colis est en retard, encore.")
    ids["c3"] = add_call(a.org_id, t1, a2, at(2026, 3, 10), 90, category="livraison", duration=100, silence=10,
                         agent_talk=40, customer_talk=50,
                         verdicts={"accueil": "pass", "identification": "na", "empathie": "na"},
                         campaign="ete", direction="sortant")
    ids["c4"] = add_call(a.org_id, t2, a1, at(2026, 3, 15), 70, category="livraison", validated=True, duration=400,
                         silence=40, agent_talk=200, customer_talk=150,
                         verdicts={"accueil": "pass", "identification": "fail"},
                         text="Ma livraison de remboursement est en retard.")
    # never counted: restricted by the DPO, and a superseded evaluation
    ids["restricted"] = add_call(a.org_id, t2, a1, at(2026, 3, 16), 10, restricted=True,
                                 verdicts={"accueil": "fail"}, irritants=["relances"], text="remboursement")
    ids["old"] = add_call(a.org_id, t1, a0, at(2026, 3, 20), 5, is_current=False, verdicts={"accueil": "fail"})
    # previous period (30 Jan - 28 Feb)
    ids["p1"] = add_call(a.org_id, t1, a0, at(2026, 2, 10), 60, duration=100, silence=50)
    ids["p2"] = add_call(a.org_id, t2, a1, at(2026, 2, 20), 100, validated=True, duration=300, silence=0)
    # before both periods: the first day of detailed data
    ids["first"] = add_call(a.org_id, t1, a0, at(2026, 1, 1), 0)
    # another organisation, same period
    ids["b"] = add_call(b.org_id, b.team_ids[0], b.agent_ids[0], at(2026, 3, 3), 0, verdicts={"accueil": "fail"},
                        irritants=["relances"], text="remboursement facture")
    return a, b, ids


def march(actor, **extra):
    return kpis.filters_from_query({**MARCH, **extra}, actor, TODAY)


def tiles_of(actor, filters):
    with session() as s:
        return {t.key: t for t in kpis.kpi_tiles(session=s, actor=actor, filters=filters)}


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "start", "end", "preset"), [
    ({}, date(2026, 3, 2), TODAY, "30j"),
    ({"periode": "7j"}, date(2026, 3, 25), TODAY, "7j"),
    ({"periode": "mois"}, date(2026, 3, 1), TODAY, "mois"),
    ({"periode": "perso", "du": "2026-02-01", "au": "2026-02-10"}, date(2026, 2, 1), date(2026, 2, 10), "perso"),
    ({"periode": "perso", "du": "2026-02-10", "au": "2026-02-01"}, date(2026, 2, 1), date(2026, 2, 10), "perso"),
    ({"periode": "perso", "du": "n'importe quoi", "au": "2026-02-01"}, date(2026, 3, 2), TODAY, "30j"),
    ({"periode": "'; DROP TABLE call; --"}, date(2026, 3, 2), TODAY, "30j"),
    ({"periode": "perso", "du": "1900-01-01", "au": "2026-01-01"}, date(2022, 12, 31), date(2026, 1, 1), "perso"),
])
def test_filters_period_presets(params, start, end, preset, tenants):
    f = kpis.filters_from_query(params, tenants[0].actor("admin"), TODAY)
    assert (f.start, f.end, f.preset) == (start, end, preset)


def test_filters_roundtrip_through_query_params(tenants):
    actor = tenants[0].actor("admin")
    params = {"periode": "perso", "du": "2026-01-05", "au": "2026-02-04", "equipe": "3,1", "agent": "7",
              "campagne": "Printemps 2026", "categorie": "facturation", "grille": "ccr-standard-fr", "sens": "sortant"}
    f = kpis.filters_from_query(params, actor, TODAY)
    assert f.team_ids == (1, 3) and f.agent_ids == (7,) and f.direction == "sortant"
    assert kpis.filters_from_query(kpis.filters_to_query(f), actor, TODAY) == f
    assert f.previous().start == date(2025, 12, 5) and f.previous().end == date(2026, 1, 4)


@pytest.mark.parametrize(("params", "expected"), [
    ({"sens": "diagonal"}, None), ({"categorie": "<script>"}, None), ({"agent": "1,abc,-3"}, (1,)),
])
def test_filters_ignore_malformed_values(params, expected, tenants):
    f = kpis.filters_from_query(params, tenants[0].actor("admin"), TODAY)
    value = {"sens": f.direction, "categorie": f.category, "agent": f.agent_ids}[next(iter(params))]
    assert value == expected


def test_call_query_roundtrip():
    q = kpis.call_query_from_query({"score_min": "40", "score_max": "75.5", "statut": "valide", "irritant": "relances",
                                    "critere": "accueil", "a_revoir": "1", "q": "facture", "tri": "score_asc",
                                    "page": "3"})
    assert q == kpis.CallQuery(40.0, 75.5, "valide", "relances", "accueil", True, "facture", "score_asc", 3)
    assert kpis.call_query_from_query(kpis.call_query_to_query(q)) == q
    assert kpis.call_query_from_query({"score_min": "-5", "statut": "x", "tri": "x", "page": "0"}) == kpis.CallQuery()


# --- KPI arithmetic --------------------------------------------------------------------------


def test_kpi_tiles_exact_values_and_previous_period(data):
    a, _b, _ids = data
    t = tiles_of(a.actor("admin"), march(a.actor("admin")))
    # March: 80 (validated over an AI 60), 50 (critical), 90, 70; restricted and superseded ones left out.
    assert t["calls"].value == 4 and t["calls"].previous == 2 and t["calls"].delta == 2
    assert t["avg_score"].value == pytest.approx(72.5) and t["avg_score"].previous == pytest.approx(80.0)
    assert t["avg_score"].delta == pytest.approx(-7.5)
    assert t["pass_rate"].value == pytest.approx(75.0) and t["pass_rate"].previous == pytest.approx(50.0)
    assert t["critical_rate"].value == pytest.approx(25.0) and t["critical_rate"].previous == pytest.approx(0.0)
    assert t["aht"].value == pytest.approx(250.0) and t["aht"].previous == pytest.approx(200.0)
    assert t["silence_ratio"].value == pytest.approx(10.0) and t["silence_ratio"].previous == pytest.approx(12.5)
    assert t["validated_share"].value == pytest.approx(50.0) and t["validated_share"].previous == pytest.approx(50.0)
    assert t["irritant_calls"].value == 2 and t["irritant_calls"].previous == 0


def test_kpi_tiles_of_an_empty_period_have_no_averages(data):
    a = data[0]
    f = kpis.filters_from_query({"periode": "perso", "du": "2020-01-01", "au": "2020-01-31"}, a.actor("admin"), TODAY)
    t = tiles_of(a.actor("admin"), f)
    assert t["calls"].value == 0 and t["avg_score"].value is None and t["avg_score"].delta is None


def test_team_lead_tiles_count_only_their_team(data):
    a = data[0]
    lead = a.actor("team_lead")
    t = tiles_of(lead, march(lead))
    assert t["calls"].value == 3 and t["avg_score"].value == pytest.approx(220 / 3)
    assert t["pass_rate"].value == pytest.approx(200 / 3) and t["critical_rate"].value == pytest.approx(100 / 3)
    assert t["aht"].value == pytest.approx(200.0) and t["silence_ratio"].value == pytest.approx(10.0)
    assert t["calls"].previous == 1 and t["avg_score"].previous == pytest.approx(60.0)


def test_filters_narrow_the_figures(data):
    a = data[0]
    admin = a.actor("admin")
    assert tiles_of(admin, march(admin, sens="sortant"))["calls"].value == 1
    assert tiles_of(admin, march(admin, campagne="ete"))["avg_score"].value == pytest.approx(90.0)
    assert tiles_of(admin, march(admin, categorie="livraison"))["avg_score"].value == pytest.approx(80.0)
    assert tiles_of(admin, march(admin, agent=str(a.agent_ids[0])))["calls"].value == 2
    assert tiles_of(admin, march(admin, equipe=str(a.team_ids[1])))["calls"].value == 1
    assert tiles_of(admin, march(admin, grille="autre-grille"))["calls"].value == 0


def test_score_distribution_buckets(data):
    a = data[0]
    with session() as s:
        dist = kpis.score_distribution(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")))
    assert [b["calls"] for b in dist] == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    assert (dist[0]["start"], dist[-1]["end"]) == (0, 100)


def test_agent_ranking_scores_and_sparkline(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        rows = kpis.agent_ranking(session=s, actor=admin, filters=march(admin))
    a0, a1, a2, _ = a.agent_ids
    assert [r["agent_id"] for r in rows] == [a2, a1, a0]
    top, _, last = rows
    assert (top["calls"], top["avg_score"], top["pass_rate"]) == (1, 90.0, 100.0)
    assert (last["calls"], last["avg_score"], last["pass_rate"], last["critical_rate"]) == (2, 65.0, 50.0, 50.0)
    assert last["agent"] == "alpha agent 0" and last["team"] == "Alpha Conseil équipe 1"
    # 30 days -> 5 weekly points; agent 0's two calls are on 2 March, in the first week.
    assert last["trend"] == [65.0, None, None, None, None]
    assert top["trend"] == [None, 90.0, None, None, None]


def test_heatmap_pass_rates_exclude_na(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        heat = kpis.criterion_agent_heatmap(session=s, actor=admin, filters=march(admin))
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
        only = kpis.criterion_agent_heatmap(session=s, actor=admin, filters=march(admin), agent_ids=[a1])
    assert {c["agent_id"] for c in only["cells"]} == {a1}


def test_weakest_criteria_are_the_coaching_priorities(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        prio = kpis.weakest_criteria(session=s, actor=admin, filters=march(admin), min_applicable=1)
    a0 = a.agent_ids[0]
    assert [p["criterion_id"] for p in prio[a0]] == ["empathie", "accueil"]


def test_irritants_over_time_count_calls(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        irr = kpis.irritants_over_time(session=s, actor=admin, filters=march(admin))
    assert irr["granularity"] == "day"
    assert [(i[0], i[2]) for i in irr["irritants"]] == [("attente_delai", 2), ("relances", 1)]
    assert irr["irritants"][0][1] == "Attente, délais"
    assert irr["points"] == [{"period": date(2026, 3, 2), "irritant": "attente_delai", "calls": 2},
                             {"period": date(2026, 3, 2), "irritant": "relances", "calls": 1}]


def test_category_breakdown(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        cats = kpis.category_breakdown(session=s, actor=admin, filters=march(admin))
    assert [(c["category"], c["calls"], c["share"], c["avg_score"], c["pass_rate"]) for c in cats] == [
        ("facturation", 2, 50.0, 65.0, 50.0), ("livraison", 2, 50.0, 80.0, 100.0)]
    assert cats[0]["label"] == "Facturation"


def test_talk_listen_by_agent(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        rows = {r["agent_id"]: r for r in kpis.talk_listen_by_agent(session=s, actor=admin, filters=march(admin))}
    a0 = rows[a.agent_ids[0]]
    assert a0["calls"] == 2
    assert a0["agent_talk_ratio"] == pytest.approx(50.0)  # 250 s of 500 s
    assert a0["customer_talk_ratio"] == pytest.approx(40.0)
    assert a0["silence_ratio"] == pytest.approx(10.0)


def test_trend_by_day_and_week(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        daily = kpis.score_trend(session=s, actor=admin, filters=march(admin))
        weekly = kpis.score_trend(session=s, actor=admin, filters=march(admin), granularity="week")
    assert [(p["period"], p["calls"], p["avg_score"], p["pass_rate"]) for p in daily["points"]] == [
        (date(2026, 3, 2), 2, 65.0, 50.0), (date(2026, 3, 10), 1, 90.0, 100.0), (date(2026, 3, 15), 1, 70.0, 100.0)]
    assert daily["pass_threshold"] == 70.0 and daily["detail_boundary"] is None
    # weeks start on Monday: 2 March, 9 March (10th and 15th)
    assert [(p["period"], p["calls"], p["avg_score"]) for p in weekly["points"]] == [
        (date(2026, 3, 2), 2, 65.0), (date(2026, 3, 9), 2, 80.0)]


# --- anonymised history ------------------------------------------------------------------------


@pytest.fixture
def history(data):
    a, b, _ids = data
    t1, t2 = a.team_ids
    with session() as s:
        s.add_all([
            DailyStat(org_id=a.org_id, day=date(2025, 12, 20), team_id=t1, calls=10, score_sum=750, passed=8,
                      irritants_json='{"relances": 3}'),
            DailyStat(org_id=a.org_id, day=date(2025, 12, 20), team_id=t2, calls=5, score_sum=400, passed=5),
            DailyStat(org_id=a.org_id, day=date(2025, 12, 21), team_id=None, calls=4, score_sum=200, passed=1),
            # a day partly purged: its folded calls add to the live ones (retention never counts one twice)
            DailyStat(org_id=a.org_id, day=date(2026, 1, 1), team_id=t1, calls=50, score_sum=5000, passed=50),
            DailyStat(org_id=b.org_id, day=date(2025, 12, 20), team_id=b.team_ids[0], calls=99, score_sum=0),
        ])
    return data


WINTER = {"periode": "perso", "du": "2025-12-15", "au": "2026-01-05"}


def test_trend_merges_anonymised_history_before_detailed_data(history):
    a = history[0]
    admin = a.actor("admin")
    with session() as s:
        tr = kpis.score_trend(session=s, actor=admin, filters=kpis.filters_from_query(WINTER, admin, TODAY))
    pts = [(p["period"], p["source"], p["calls"], round(p["avg_score"], 3), round(p["pass_rate"], 3))
           for p in tr["points"]]
    assert pts == [(date(2025, 12, 20), "history", 15, 76.667, 86.667),
                   (date(2025, 12, 21), "history", 4, 50.0, 25.0),
                   (date(2026, 1, 1), "detail", 51, 98.039, 98.039)]
    assert tr["detail_boundary"] == date(2026, 1, 1)


def test_team_lead_history_is_their_team_only(history):
    a = history[0]
    lead = a.actor("team_lead")
    with session() as s:
        tr = kpis.score_trend(session=s, actor=lead, filters=kpis.filters_from_query(WINTER, lead, TODAY))
    hist = [(p["period"], p["history_calls"], p["avg_score"]) for p in tr["points"] if p["history_calls"]]
    assert hist == [(date(2025, 12, 20), 10, 75.0), (date(2026, 1, 1), 50, 5000 / 51)]  # not team 2, not org-level


def test_irritants_over_time_include_the_history(history):
    a = history[0]
    lead = a.actor("team_lead")
    with session() as s:
        irr = kpis.irritants_over_time(session=s, actor=lead, filters=kpis.filters_from_query(WINTER, lead, TODAY))
    assert irr["points"] == [{"period": date(2025, 12, 20), "irritant": "relances", "calls": 3}]


def test_history_is_left_out_when_filtering_on_call_level_fields(history):
    a = history[0]
    admin = a.actor("admin")
    f = kpis.filters_from_query({**WINTER, "agent": str(a.agent_ids[0])}, admin, TODAY)
    with session() as s:
        tr = kpis.score_trend(session=s, actor=admin, filters=f)
    assert {p["source"] for p in tr["points"]} == {"detail"}


# --- scoping -----------------------------------------------------------------------------------


def _everything(actor, filters, search=""):
    """Every figure and list the dashboard draws, flattened to the agent, team and call ids they show."""
    with session() as s:
        tiles = {t.key: t.value for t in kpis.kpi_tiles(session=s, actor=actor, filters=filters)}
        ranking = kpis.agent_ranking(session=s, actor=actor, filters=filters)
        heat = kpis.criterion_agent_heatmap(session=s, actor=actor, filters=filters)
        talk = kpis.talk_listen_by_agent(session=s, actor=actor, filters=filters)
        irr = kpis.irritants_over_time(session=s, actor=actor, filters=filters)
        cats = kpis.category_breakdown(session=s, actor=actor, filters=filters)
        dist = kpis.score_distribution(session=s, actor=actor, filters=filters)
        trend = kpis.score_trend(session=s, actor=actor, filters=filters)
        rows, total = kpis.list_calls(session=s, actor=actor, filters=filters, search=search)
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
    f = kpis.Filters(start=date(2026, 3, 1), end=date(2026, 3, 30), team_ids=(a.team_ids[1], b.team_ids[0]))
    got = _everything(lead, f)
    assert got["calls"] == 0 and got["call_ids"] == set() and got["agents"] == set()


@pytest.mark.parametrize("role", ["admin", "supervisor", "team_lead"])
def test_other_organisation_never_shows(role, data):
    _a, b, ids = data
    actor = b.actor(role)
    got = _everything(actor, march(actor), search="remboursement")
    assert got["call_ids"] <= {ids["b"]}
    assert not got["call_ids"] & {ids[k] for k in ("c1", "c2", "c3", "c4")}


# --- calls list ------------------------------------------------------------------------------------


def calls(actor, **kw):
    params = kw.pop("params", {})
    with session() as s:
        rows, total = kpis.list_calls(session=s, actor=actor, filters=march(actor, **params), **kw)
    return [r["call_id"] for r in rows], total


def test_calls_list_excludes_restricted_and_superseded(data):
    a, _b, ids = data
    got, total = calls(a.actor("admin"))
    assert got == [ids["c4"], ids["c3"], ids["c2"], ids["c1"]] and total == 4


@pytest.mark.parametrize(("kw", "expected"), [
    ({"score_min": 60, "score_max": 85}, ["c4", "c1"]),
    ({"status": "valide"}, ["c4", "c1"]),
    ({"status": "a_valider"}, ["c3", "c2"]),
    ({"status": "non_conforme"}, ["c2"]),
    ({"status": "critique"}, ["c2"]),
    ({"irritant": "relances"}, ["c2"]),
    ({"failed_criterion": "accueil"}, ["c2"]),
    ({"failed_criterion": "identification"}, ["c4"]),
    ({"to_review": True}, ["c2"]),  # not validated and critical; c3 (90) is far from the threshold
    ({"sort": "score_asc"}, ["c2", "c4", "c1", "c3"]),
    ({"sort": "duree_desc"}, ["c4", "c1", "c2", "c3"]),
    ({"sort": "ancien"}, ["c1", "c2", "c3", "c4"]),
])
def test_calls_list_filters_and_sorts(kw, expected, data):
    a, _b, ids = data
    got, total = calls(a.actor("admin"), **kw)
    assert got == [ids[k] for k in expected] and total == len(expected)


def test_calls_list_is_paginated_in_the_database(data):
    a, _b, ids = data
    page1, total = calls(a.actor("admin"), page=1, page_size=3)
    page2, _ = calls(a.actor("admin"), page=2, page_size=3)
    assert total == 4 and page1 == [ids["c4"], ids["c3"], ids["c2"]] and page2 == [ids["c1"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("remboursement", {"c1", "c4"}),
    ("REMBOURSEMENT facture", {"c1"}),
    ("retard", {"c2", "c4"}),
    ("rétard", {"c2", "c4"}),  # accents are folded by the index (PostgreSQL: configuration ccr_french)
    ('remboursement" OR "colis', set()),  # quotes cannot smuggle an OR in: "or" is a word to find
    ("NEAR(remboursement facture) *", set()),  # likewise NEAR
    ("facture -remboursement", {"c1"}),
    ("^:()*", None),  # nothing searchable: no search at all
])
@pytest.mark.parametrize("dense", [False, True], ids=["mots-rares", "mots-courants"])
def test_full_text_search_quotes_the_users_words(query, expected, dense, data, monkeypatch):
    # "dense" forces the common-word plan (date-index walk with a per-call check): same answers.
    monkeypatch.setattr(kpis, "DENSE_SEARCH_HITS", 1 if dense else 10**9)
    a, _b, ids = data
    got, _ = calls(a.actor("admin"), search=query)
    if expected is None:
        assert len(got) == 4
    else:
        assert set(got) == {ids[k] for k in expected}


@pytest.mark.parametrize("dense", [False, True], ids=["mots-rares", "mots-courants"])
def test_both_search_plans_respect_the_team_leads_scope_and_order(dense, data, monkeypatch):
    monkeypatch.setattr(kpis, "DENSE_SEARCH_HITS", 1 if dense else 10**9)
    a, _b, ids = data
    assert calls(a.actor("team_lead"), search="remboursement")[0] == [ids["c1"]]
    assert calls(a.actor("admin"), search="remboursement", sort="ancien")[0] == [ids["c1"], ids["c4"]]


def test_full_text_search_stays_in_the_team_leads_scope(data):
    a, _b, ids = data
    got, _ = calls(a.actor("team_lead"), search="remboursement")
    assert got == [ids["c1"]]  # c4 (team 2), the restricted call and org B's call also match


def test_calls_rows_carry_display_fields(data):
    a, _b, ids = data
    with session() as s:
        rows, _ = kpis.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                  sort="ancien")
    first = rows[0]
    assert first["call_id"] == ids["c1"] and first["agent"] == "alpha agent 0"
    assert first["category"] == "Facturation" and first["direction"] == "Entrant"
    assert first["score"] == 80 and first["validated"] and not first["to_review"]


@pytest.mark.parametrize(("text_in", "expected"), [
    ("facture", '"facture"'),
    ('a" OR "b', '"a" "OR" "b"'),
    ("NEAR(x y)", '"NEAR" "x" "y"'),
    ("", ""),
    ("l'été", '"l" "été"'),
])
def test_fts_query_quotes_every_term(text_in, expected):
    assert kpis.fts_query(text_in) == expected


def test_campaigns_are_listed_from_the_index(data):
    a = data[0]
    with session() as s:
        assert kpis.campaigns(session=s, actor=a.actor("admin")) == ["ete", "printemps"]


def test_a_broad_search_counts_up_to_a_cap(data, monkeypatch):
    a, _b, ids = data
    monkeypatch.setattr(kpis, "SEARCH_COUNT_CAP", 1)
    got, total = calls(a.actor("admin"), search="remboursement")
    assert set(got) == {ids["c1"], ids["c4"]} and total == 2  # "more than 1"


def test_a_plain_failure_not_yet_validated_is_to_review(data):
    """Same reasons as the review queue: a failed call (score far below the threshold) needs a human look."""
    from sqlmodel import select

    from ccr.core.models import Evaluation

    a, _b, ids = data
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == ids["c3"], Evaluation.is_current == True)).one()  # noqa: E712
        ev.ai_score = ev.final_score = 30.0
        ev.ai_passed = ev.final_passed = False
        s.add(ev)
    got, _ = calls(a.actor("admin"), to_review=True)
    assert got == [ids["c3"], ids["c2"]]


def test_an_unsure_verdict_stored_by_the_scorer_is_to_review(data):
    """A passing call far from the threshold still needs a human look when the scorer doubts a verdict."""
    from tests.reviewdata import contract, make_call

    a, _b, ids = data
    all_pass = {"identification": "pass", "conclusion": "pass"}  # 100
    unsure = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], started_at=at(2026, 3, 20),
                       result=contract(all_pass, unsure={"solution": (0.4, "transcription peu fiable à 00:12")}))
    sure = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], started_at=at(2026, 3, 21),
                     result=contract(all_pass, unsure={}))
    got, total = calls(a.actor("admin"), to_review=True)
    assert got == [unsure, ids["c2"]] and total == 2
    with session() as s:
        rows, _ = kpis.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")))
    flags = {r["call_id"]: r["to_review"] for r in rows}
    assert (flags[unsure], flags[sure]) == (True, False)
