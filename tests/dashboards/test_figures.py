"""Dashboard figures on a small hand-built dataset: exact values, previous period, filters, history."""

from __future__ import annotations

from datetime import date

import pytest

from ccr.core.db import session
from ccr.core.models import DailyStat
from ccr.dashboards import figures
from ccr.dashboards.filters import filters_from_query
from tests.kpidata import TODAY, march


def tiles_of(actor, filters):
    with session() as s:
        return {t.key: t for t in figures.kpi_tiles(session=s, actor=actor, filters=filters)}


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
    f = filters_from_query({"periode": "perso", "du": "2020-01-01", "au": "2020-01-31"}, a.actor("admin"), TODAY)
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
        dist = figures.score_distribution(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")))
    assert [b["calls"] for b in dist] == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    assert (dist[0]["start"], dist[-1]["end"]) == (0, 100)


def test_irritants_over_time_count_calls(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        irr = figures.irritants_over_time(session=s, actor=admin, filters=march(admin))
    assert irr["granularity"] == "day"
    assert [(i[0], i[2]) for i in irr["irritants"]] == [("attente_delai", 2), ("relances", 1)]
    assert irr["irritants"][0][1] == "Attente, délais"
    assert irr["points"] == [{"period": date(2026, 3, 2), "irritant": "attente_delai", "calls": 2},
                             {"period": date(2026, 3, 2), "irritant": "relances", "calls": 1}]


def test_category_breakdown(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        cats = figures.category_breakdown(session=s, actor=admin, filters=march(admin))
    assert [(c["category"], c["calls"], c["share"], c["avg_score"], c["pass_rate"]) for c in cats] == [
        ("facturation", 2, 50.0, 65.0, 50.0), ("livraison", 2, 50.0, 80.0, 100.0)]
    assert cats[0]["label"] == "Facturation"


def test_trend_by_day_and_week(data):
    a = data[0]
    admin = a.actor("admin")
    with session() as s:
        daily = figures.score_trend(session=s, actor=admin, filters=march(admin))
        weekly = figures.score_trend(session=s, actor=admin, filters=march(admin), granularity="week")
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
        tr = figures.score_trend(session=s, actor=admin, filters=filters_from_query(WINTER, admin, TODAY))
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
        tr = figures.score_trend(session=s, actor=lead, filters=filters_from_query(WINTER, lead, TODAY))
    hist = [(p["period"], p["history_calls"], p["avg_score"]) for p in tr["points"] if p["history_calls"]]
    assert hist == [(date(2025, 12, 20), 10, 75.0), (date(2026, 1, 1), 50, 5000 / 51)]  # not team 2, not org-level


def test_irritants_over_time_include_the_history(history):
    a = history[0]
    lead = a.actor("team_lead")
    with session() as s:
        irr = figures.irritants_over_time(session=s, actor=lead, filters=filters_from_query(WINTER, lead, TODAY))
    assert irr["points"] == [{"period": date(2025, 12, 20), "irritant": "relances", "calls": 3}]


def test_history_is_left_out_when_filtering_on_call_level_fields(history):
    a = history[0]
    admin = a.actor("admin")
    f = filters_from_query({**WINTER, "agent": str(a.agent_ids[0])}, admin, TODAY)
    with session() as s:
        tr = figures.score_trend(session=s, actor=admin, filters=f)
    assert {p["source"] for p in tr["points"]} == {"detail"}
