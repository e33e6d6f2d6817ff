"""The Grilles page's editor: table rows back to grids and taxonomies, French errors, the preview."""

from __future__ import annotations

import pytest

from ccr.core.errors import InvalidInput
from ccr.scoring.grid import default_grid, default_taxonomy
from ccr.scoring.grid_editor import grid_from_editor, preview_evaluation, taxonomy_from_editor, taxonomy_rows
from tests.scoring.griddata import editor_inputs


def test_editor_rows_round_trip_to_the_same_grid():
    rows, params = editor_inputs()
    grid, errors = grid_from_editor(default_grid(), rows, params=params)
    assert errors == [] and grid == default_grid()


@pytest.mark.parametrize(("edit", "messages"), [
    ({0: {"weight": 20}}, ["somme des poids vaut 105"]),
    ({0: {"weight": 20}, 1: {"method": "telepathie"}}, ["méthode de détection inconnue", "somme des poids vaut 105"]),
    ({0: {"weight": float("nan")}}, ["« accueil » : le poids doit être un entier"]),
    ({2: {"id": None}}, ["Ligne 3 : l'identifiant du critère est obligatoire"]),
    ({1: {"id": "accueil"}}, ["« accueil » apparaît deux fois"]),
    ({0: {"window_start_s": 40.0}}, ["fenêtre se termine avant de commencer"]),
    ({0: {"speaker": "superviseur"}}, ["locuteur « superviseur » inconnu"]),
])
def test_editor_lists_every_problem_in_french(edit, messages):
    rows, params = editor_inputs()
    for i, change in edit.items():
        rows[i].update(change)
    grid, errors = grid_from_editor(default_grid(), rows, params=params)
    assert grid is None
    assert len(errors) == len(messages)
    for error, message in zip(errors, messages, strict=True):
        assert message in error


def test_editor_reads_params_yaml_and_reports_unreadable_yaml():
    rows, params = editor_inputs()
    params["accueil"] = "require: [oops"
    _, errors = grid_from_editor(default_grid(), rows, params=params)
    assert errors and "YAML illisible pour les paramètres du critère « accueil »" in errors[0]
    params["accueil"] = "require:\n  greeting: [greeting]\n  intro: [self_intro]\ncues:\n  self_intro: [Aquavéo]\n"
    grid, errors = grid_from_editor(default_grid(), rows, params=params, slug="ma-grille", name="Ma grille",
                                    pass_threshold=80)
    assert errors == []
    assert (grid.id, grid.name, grid.pass_threshold) == ("ma-grille", "Ma grille", 80.0)
    assert grid.criterion("accueil").params == {"require": {"greeting": ["greeting"], "intro": ["self_intro"]},
                                                "cues": {"self_intro": ["Aquavéo"]}}


def test_taxonomy_editor_rows_round_trip_and_refuse_duplicates():
    tax = default_taxonomy()
    cats, irrs = taxonomy_rows(tax)
    assert taxonomy_from_editor(cats, irrs, default_category=tax.default_category,
                                fuzzy_threshold=tax.fuzzy_threshold) == tax
    with pytest.raises(InvalidInput, match="Irritant « relances » apparaît deux fois"):
        taxonomy_from_editor(cats, [*irrs, irrs[1]], default_category="information", fuzzy_threshold=88)


def test_preview_scores_the_bundled_sample_or_pasted_json():
    ev = preview_evaluation(default_grid())
    assert ev["grid"] == "ccr-standard-fr" and ev["engine"] == "rules"
    assert {c["id"]: c["verdict"] for c in ev["criteria"]}["attente"] == "fail"  # the sample's hold is not thanked
    # a pass on something said carries its quote; politeness passes on the absence of rude words
    assert all(c["evidence"] for c in ev["criteria"] if c["verdict"] == "pass" and c["id"] != "politesse")
    with pytest.raises(InvalidInput, match="Transcription JSON illisible"):
        preview_evaluation(default_grid(), transcript="{pas du json")
