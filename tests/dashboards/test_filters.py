"""The URL codec of the dashboard's and the calls list's criteria: periods, round trips, malformed values."""

from __future__ import annotations

from datetime import date

import pytest

from ccr.dashboards import filters
from tests.kpidata import TODAY


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
    f = filters.filters_from_query(params, tenants[0].actor("admin"), TODAY)
    assert (f.start, f.end, f.preset) == (start, end, preset)


def test_filters_roundtrip_through_query_params(tenants):
    actor = tenants[0].actor("admin")
    params = {"periode": "perso", "du": "2026-01-05", "au": "2026-02-04", "equipe": "3,1", "agent": "7",
              "campagne": "Printemps 2026", "categorie": "facturation", "grille": "ccr-standard-fr", "sens": "sortant"}
    f = filters.filters_from_query(params, actor, TODAY)
    assert f.team_ids == (1, 3) and f.agent_ids == (7,) and f.direction == "sortant"
    assert filters.filters_from_query(filters.filters_to_query(f), actor, TODAY) == f
    assert f.previous().start == date(2025, 12, 5) and f.previous().end == date(2026, 1, 4)


@pytest.mark.parametrize(("params", "expected"), [
    ({"sens": "diagonal"}, None), ({"categorie": "<script>"}, None), ({"agent": "1,abc,-3"}, (1,)),
])
def test_filters_ignore_malformed_values(params, expected, tenants):
    f = filters.filters_from_query(params, tenants[0].actor("admin"), TODAY)
    value = {"sens": f.direction, "categorie": f.category, "agent": f.agent_ids}[next(iter(params))]
    assert value == expected


def test_call_query_roundtrip():
    q = filters.call_query_from_query({"score_min": "40", "score_max": "75.5", "statut": "valide",
                                       "irritant": "relances", "critere": "accueil", "a_revoir": "1", "q": "facture",
                                       "tri": "score_asc", "page": "3"})
    assert q == filters.CallQuery(40.0, 75.5, "valide", "relances", "accueil", True, "facture", "score_asc", 3)
    assert filters.call_query_from_query(filters.call_query_to_query(q)) == q
    assert filters.call_query_from_query({"score_min": "-5", "statut": "x", "tri": "x", "page": "0"}) == filters.CallQuery()
