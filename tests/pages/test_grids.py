"""Grilles page: per role, edit a weight in the criteria editor, validate, save a new version, preview, re-score."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml
from sqlmodel import select

from ccr.core.db import session
from ccr.core.models import Call
from ccr.core.models import Grid as GridRow
from ccr.core.models import Taxonomy as TaxonomyRow
from ccr.scoring.grid import default_grid, dump_grid_yaml, grid_to_dict
from tests.pages.helpers import refused, run_page
from tests.reviewdata import contract, make_call

NO_EDIT = {"edited_rows": {}, "added_rows": [], "deleted_rows": []}


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def _grid_rows(org_id: int) -> list[GridRow]:
    with session() as s:
        return list(s.exec(select(GridRow).where(GridRow.org_id == org_id).order_by(GridRow.id)).all())


def _edit(at, key_prefix: str, edited_rows: dict) -> None:
    """Seed the edit state of the keyed data editor whose key starts with ``key_prefix``."""
    key = next(d.key for d in at.data_editor if d.key and d.key.startswith(key_prefix))
    at.session_state[key] = {**NO_EDIT, "edited_rows": edited_rows}


@pytest.mark.parametrize(("role", "allowed"), [
    ("supervisor", True), ("admin", True), ("team_lead", False), ("dpo", False),
])
def test_grids_page_by_role(tenants, role, allowed):
    a, _ = tenants
    at = run_page("pages/grids.py", a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    if not allowed:
        assert refused(at)
        assert not at.data_editor
        return
    assert not refused(at)
    criteria = at.data_editor[0].value
    assert list(criteria["id"]) == ["accueil", "identification", "decouverte", "empathie", "solution", "attente",
                                    "politesse", "conclusion"]
    assert "✅ active" in at.selectbox[0].format_func(at.selectbox[0].value)
    assert any("art. 5, paragraphe 1, point f" in c.value for c in at.caption)


def test_a_wrong_total_is_shown_on_validate_and_nothing_is_saved(tenants):
    a, _ = tenants
    at = run_page("pages/grids.py", a.users["supervisor"])
    _edit(at, "criteria_", {0: {"weight": 20}})
    _button(at, "Valider").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "La somme des poids vaut 105 au lieu de 100" in _errors(at)
    assert any("Total des poids : **105**" in c.value for c in at.caption)
    _button(at, "Enregistrer une nouvelle version").click().run()
    assert "La somme des poids vaut 105" in _errors(at)
    assert [(r.version, r.is_active) for r in _grid_rows(a.org_id)] == [(1, True)]


def test_fixing_the_weights_and_saving_stores_version_2_as_active(tenants):
    a, _ = tenants
    at = run_page("pages/grids.py", a.users["supervisor"])
    _edit(at, "criteria_", {0: {"weight": 20}})
    _button(at, "Valider").click().run()
    assert "somme des poids vaut 105" in _errors(at)
    _edit(at, "criteria_", {0: {"weight": 20}, 1: {"weight": 5}})
    _button(at, "Valider").click().run()
    assert not at.error and any("La grille est valide" in s.value for s in at.success)
    _button(at, "Enregistrer une nouvelle version").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Version 2 de la grille « ccr-standard-fr » enregistrée et activée." in s.value for s in at.success)
    rows = _grid_rows(a.org_id)
    assert [(r.version, r.is_active) for r in rows] == [(1, False), (2, True)]
    assert '"weight": 20' in rows[1].definition_json and '"weight": 15' in rows[0].definition_json
    # the page now shows the new active version with the saved weights
    assert at.selectbox[0].value == rows[1].id
    assert list(at.data_editor[0].value["weight"])[:2] == [20, 5]


def test_preview_shows_verdicts_with_evidence(tenants):
    a, _ = tenants
    at = run_page("pages/grids.py", a.users["admin"])
    table = next(d for d in at.dataframe if d.editing_mode == "read_only").value
    label = {c.id: c.label for c in default_grid().criteria}  # criteria are shown by their French label
    verdicts = dict(zip(table["Critère"], table["Verdict"], strict=True))
    assert verdicts[label["attente"]] == "❌ Non conforme" and verdicts[label["accueil"]] == "✅ Conforme"
    evidence = dict(zip(table["Critère"], table["Preuves"], strict=True))
    assert evidence[label["accueil"]].startswith("[00:00] Agent : Bonjour, Lumina Télécom")
    assert at.metric[0].value == "90 / 100"


def test_rescoring_a_period_queues_the_transcribed_calls(tenants):
    a, b = tenants
    mine = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    other = make_call(org_id=b.org_id, team_id=b.team_ids[0], agent_id=b.agent_ids[0], result=contract())
    at = run_page("pages/grids.py", a.users["supervisor"])
    _button(at, "Re-scorer les appels d'une période avec cette version").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 appel(s) mis en file" in s.value for s in at.success)
    active = _grid_rows(a.org_id)[0]
    with session() as s:
        assert (s.get(Call, mine).status, s.get(Call, mine).rescore_grid_id) == ("scoring", active.id)
        assert s.get(Call, other).status == "done"


def test_taxonomy_tab_saves_an_edited_version(tenants):
    a, _ = tenants
    at = run_page("pages/grids.py", a.users["supervisor"])
    cues = at.data_editor[1].value["cues"][0]
    _edit(at, "cats_", {0: {"cues": cues + " ; avoir sur facture"}})
    _button(at, "Enregistrer la taxonomie").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Taxonomie enregistrée (version 1)" in s.value for s in at.success)
    with session() as s:
        row = s.exec(select(TaxonomyRow).where(TaxonomyRow.org_id == a.org_id)).one()
    assert "avoir sur facture" in row.definition_json and row.is_active


def test_importing_a_yaml_grid_loads_it_in_the_editor_and_saving_creates_an_own_grid(tenants):
    a, _ = tenants
    imported = replace(default_grid(), id="alpha-maison", name="Grille maison", pass_threshold=80.0)
    at = run_page("pages/grids.py", a.users["admin"])
    at.file_uploader[0].set_value(("maison.yaml", dump_grid_yaml(imported).encode(), "application/x-yaml")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("non enregistrée" in i.value for i in at.info)
    assert at.text_input[0].value == "alpha-maison" and at.number_input[0].value == 80.0
    assert _grid_rows(a.org_id)[-1].slug == "ccr-standard-fr"  # nothing stored by the import itself
    _button(at, "Enregistrer une nouvelle version").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [(r.slug, r.version, r.is_active) for r in _grid_rows(a.org_id)] == [
        ("ccr-standard-fr", 1, False), ("alpha-maison", 1, True)]
    # the page forgets the stored file and shows the new active grid
    assert not any("non enregistrée" in i.value for i in at.info)
    assert "alpha-maison" in at.selectbox[0].format_func(at.selectbox[0].value)


def test_importing_an_invalid_yaml_grid_shows_why(tenants):
    a, _ = tenants
    data = grid_to_dict(default_grid())
    data["sections"][0]["criteria"][0]["method"] = "telepathie"
    at = run_page("pages/grids.py", a.users["supervisor"])
    at.file_uploader[0].set_value(("g.yaml", yaml.safe_dump(data, allow_unicode=True).encode(), "text/yaml")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Import impossible" in _errors(at) and "méthode de détection inconnue" in _errors(at)
    assert at.data_editor[0].value["id"].iloc[0] == "accueil"  # the stored version stays in the editor
