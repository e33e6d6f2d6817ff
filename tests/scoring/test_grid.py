"""Grids and taxonomies as values: validation errors (French), YAML round trip, versions."""

from __future__ import annotations

import copy

import pytest

from ccr.core.errors import InvalidInput
from ccr.scoring.grid import (
    default_grid,
    default_taxonomy,
    dump_grid_yaml,
    dump_taxonomy_yaml,
    grid_from_dict,
    grid_to_dict,
    load_grid_yaml,
    load_taxonomy_yaml,
    new_version,
    taxonomy_from_dict,
    taxonomy_to_dict,
)


def test_default_grid_is_ccr_standard_fr_v2_on_dialogue_acts():
    g = default_grid()
    assert (g.id, g.version, g.pass_threshold, g.review_threshold) == ("ccr-standard-fr", 2, 70.0, 0.89)
    assert all(c.method.startswith("acts") for c in g.criteria)
    assert [(c.id, c.weight, c.critical) for c in g.criteria] == [
        ("accueil", 15, False), ("identification", 10, False), ("decouverte", 15, False), ("empathie", 10, False),
        ("solution", 20, False), ("attente", 10, False), ("politesse", 10, True), ("conclusion", 10, False),
    ]
    assert all(c.recommendation and c.description for c in g.criteria)


def _data():
    return grid_to_dict(default_grid())


def _edit(fn):
    data = _data()
    fn(data)
    return data


def _first(data):
    return data["sections"][0]["criteria"][0]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: _first(d).update(weight=20), "somme des poids vaut 105"),
    (lambda d: d["sections"][1]["criteria"].append(copy.deepcopy(_first(d)) | {"weight": 0}), "deux fois"),
    (lambda d: _first(d).update(method="telepathie"), "méthode de détection inconnue"),
    (lambda d: _first(d).update(speaker="superviseur"), "locuteur"),
    (lambda d: _first(d).update(weight="quinze"), "poids doit être un entier"),
    (lambda d: _first(d).update(critical="oui"), "critical"),
    (lambda d: _first(d).update(window={"start_s": 30, "end_s": 10}), "fenêtre"),
    (lambda d: _first(d)["params"].update(require={}), "au moins un groupe"),
    (lambda d: _first(d)["params"].update(require={"g": ["telepathy"]}), "acte.*inconnu"),
    (lambda d: _first(d)["params"].update(cues={"greeting": []}), "liste non vide"),
    (lambda d: _first(d)["params"].update(min_probability={"greeting": 1.5}), "min_probability"),
    (lambda d: d.update(review_threshold=2), "seuil de revue"),
    (lambda d: _first(d)["params"].update(courtesy_bar="haut"), "courtesy_bar"),
    (lambda d: _first(d)["params"].update(review_band=1.5), "review_band.*au plus 1"),
    (lambda d: _first(d)["params"].update(familiar_address="non"), "familiar_address.*true.*false"),
    (lambda d: _first(d)["params"].update(fuzzy_threshold=20), "fuzzy_threshold"),
    (lambda d: d.update(id="Grille Standard!"), "Identifiant de grille invalide"),
    (lambda d: d.update(version=0), "version"),
    (lambda d: d.update(pass_threshold=140), "seuil"),
    (lambda d: d.update(sections=[]), "au moins une section"),
    (lambda d: d["sections"][0].update(criteria=[]), "liste de critères"),
])
def test_invalid_grids_are_refused_with_french_messages(mutate, message):
    with pytest.raises(InvalidInput, match=message):
        grid_from_dict(_edit(mutate))


def test_metric_criterion_is_validated():
    def add_metric(d):
        _first(d)["weight"] = 10
        d["sections"][0]["criteria"].append({"id": "silences", "label": "Silences", "weight": 5, "method": "metric",
                                             "params": {"metric": "longest_silence_s", "op": "<=", "value": 60}})
    assert grid_from_dict(_edit(add_metric)).criterion("silences").params["op"] == "<="

    def bad_metric(d):
        add_metric(d)
        d["sections"][0]["criteria"][-1]["params"]["metric"] = "humeur_agent"
    with pytest.raises(InvalidInput, match="mesure inconnue"):
        grid_from_dict(_edit(bad_metric))


def test_yaml_round_trip_keeps_the_grid():
    g = default_grid()
    text = dump_grid_yaml(g)
    assert "ccr-standard-fr" in text and "Accueil" in text
    assert load_grid_yaml(text) == g


@pytest.mark.parametrize(("text", "message"), [
    ("id: [oops", "YAML illisible"),
    ("- juste\n- une liste", "objet"),
])
def test_unreadable_yaml_is_refused(text, message):
    with pytest.raises(InvalidInput, match=message):
        load_grid_yaml(text)


def test_new_version_does_not_mutate_the_old_grid():
    v1 = default_grid()
    before = dump_grid_yaml(v1)
    v2 = new_version(v1, pass_threshold=80.0)
    v2.criteria[0].params["require"]["greeting"].append("closing")
    assert v2.version == v1.version + 1
    assert v1.pass_threshold == 70.0 and v2.pass_threshold == 80.0
    assert dump_grid_yaml(v1) == before
    assert default_grid() == v1


def test_new_version_is_validated():
    v1 = default_grid()
    with pytest.raises(InvalidInput, match="somme des poids"):
        new_version(v1, sections=v1.sections[:1])


def test_grids_are_immutable_values():
    g = default_grid()
    with pytest.raises(AttributeError):
        g.version = 3  # type: ignore[misc]


def test_default_taxonomy_has_the_standard_categories_and_irritants():
    t = default_taxonomy()
    assert [c.id for c in t.categories] == ["facturation", "livraison", "resiliation", "support_technique", "information"]
    assert [i.id for i in t.irritants] == ["attente_delai", "relances", "erreur_facturation", "menace_depart",
                                           "mecontentement"]
    assert load_taxonomy_yaml(dump_taxonomy_yaml(t)) == t


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(categories={}), "au moins une catégorie"),
    (lambda d: d["categories"]["facturation"].update(cues=[]), "Catégorie « facturation »"),
    (lambda d: d["irritants"]["relances"].update(phrases=[""]), "Irritant « relances »"),
    (lambda d: d.update(default_category="meteo"), "catégorie par défaut"),
    (lambda d: d.pop("irritants"), "irritants"),
])
def test_invalid_taxonomies_are_refused(mutate, message):
    data = taxonomy_to_dict(default_taxonomy())
    mutate(data)
    with pytest.raises(InvalidInput, match=message):
        taxonomy_from_dict(data)
