"""The dashboards' cache: entries keyed per scope, typed reads, one clearing after a write."""

from __future__ import annotations

from datetime import date

from ccr.core import orgs
from ccr.core.db import session
from ccr.dashboards import call_list
from ccr.dashboards.filters import CallQuery, Filters
from ccr.ui import dashboard_cache as cache
from tests.kpidata import add_call, at

MARCH = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), preset="perso")


def test_a_cached_read_is_the_dashboards_answer_for_the_actors_scope(tenants):
    a, _b = tenants
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], at(2026, 3, 2), 50)
    add_call(a.org_id, a.team_ids[1], a.agent_ids[1], at(2026, 3, 3), 90)
    admin, lead = a.actor("admin"), a.actor("team_lead")
    assert cache.labels(admin).teams.keys() == {*a.team_ids}
    assert cache.labels(lead).teams.keys() == {a.team_ids[0]}  # another scope: never the admin's entry
    with session() as s:
        live = call_list.list_calls(session=s, actor=lead, filters=MARCH, page_size=10)
    assert cache.list_calls(lead, MARCH, CallQuery(), 10) == live
    assert cache.kpi_tiles(admin, MARCH)[0].value == 2 and cache.kpi_tiles(lead, MARCH)[0].value == 1


def test_clear_after_write_forgets_every_cached_figure(tenants):
    a, _b = tenants
    admin = a.actor("admin")
    before_labels, before_tiles = cache.labels(admin), cache.kpi_tiles(admin, MARCH)
    with session() as s:
        orgs.create_team(session=s, actor=admin, name="Équipe du soir")
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], at(2026, 3, 2), 50)
    assert cache.labels(admin) == before_labels and cache.kpi_tiles(admin, MARCH) == before_tiles  # still cached
    cache.clear_after_write()
    assert "Équipe du soir" in cache.labels(admin).teams.values()
    assert cache.kpi_tiles(admin, MARCH)[0].value == 1


def test_a_chart_is_built_once_per_scope_and_exact_data_then_shared(tenants):
    from ccr.ui import charts

    a, _b = tenants
    admin, lead = a.actor("admin"), a.actor("team_lead")
    cache.clear_after_write()
    built: list[list] = []

    def categories(cats):
        built.append(cats)
        return charts.categories_figure(cats)

    cats = [{"label": "Facturation", "share": 60.0, "calls": 3, "avg_score": 70.0, "pass_rate": 66.7}]
    first = cache.figure(admin, categories, cats)
    assert cache.figure(admin, categories, [dict(c) for c in cats]) is first  # same data, another session
    assert len(built) == 1
    assert cache.figure(lead, categories, cats) is not first  # another scope: its own entry
    changed = [{**cats[0], "calls": 4}]
    assert cache.figure(admin, categories, changed).to_dict()["data"][0]["customdata"][0][0] == 4  # never stale
    cache.clear_after_write()
    assert cache.figure(admin, categories, cats) is not first
    assert len(built) == 4
