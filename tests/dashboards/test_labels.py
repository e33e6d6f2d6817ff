"""Display names, campaigns and the pass threshold the dashboards show."""

from __future__ import annotations

from ccr.core.db import session
from ccr.core.models import Grid as GridRow
from ccr.dashboards import labels
from ccr.scoring.grid import default_grid, dump_grid_yaml, new_version


def test_campaigns_are_listed_from_the_index(data):
    a = data[0]
    with session() as s:
        assert labels.campaigns(session=s, actor=a.actor("admin")) == ["ete", "printemps"]


def test_a_team_lead_gets_the_names_of_their_teams_only(data):
    a = data[0]
    t1, t2 = a.team_ids
    with session() as s:
        lead = labels.labels(session=s, actor=a.actor("team_lead"))
        admin = labels.labels(session=s, actor=a.actor("admin"))
    assert set(lead.teams) == {t1} and set(admin.teams) == {t1, t2}
    assert set(lead.agents) == {ag for ag, team in admin.agent_team.items() if team == t1}
    assert lead.criteria["accueil"] == "Accueil et présentation" and lead.categories["facturation"] == "Facturation"
    assert lead.irritants["attente_delai"] == "Attente, délais"
    assert lead.pass_threshold == 70.0


def _store_grid(org_id: int, definition: str) -> None:
    with session() as s:
        s.add(GridRow(org_id=org_id, slug="maison", name="Grille maison", version=2, is_active=True,
                      definition_json=definition))


def test_the_pass_threshold_is_the_active_grids(tenants):
    a, _b = tenants
    _store_grid(a.org_id, dump_grid_yaml(new_version(default_grid(), id="maison", pass_threshold=80.0)))
    with session() as s:
        assert labels.labels_threshold(session=s, actor=a.actor("admin")) == 80.0
        assert labels.labels(session=s, actor=a.actor("admin")).grids == {"maison": "Grille maison"}


def test_a_stored_grid_that_no_longer_loads_leaves_the_built_in_one(tenants):
    a, _b = tenants
    _store_grid(a.org_id, "pas une grille")
    with session() as s:
        assert labels.labels_threshold(session=s, actor=a.actor("admin")) == default_grid().pass_threshold
        assert "maison" not in labels.labels(session=s, actor=a.actor("admin")).grids
