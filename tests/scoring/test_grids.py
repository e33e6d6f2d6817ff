"""Grids and taxonomies: validation errors (French), YAML round trip, editor rows, per-organisation storage."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from sqlmodel import select

from ccr.core import audit
from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Call, Evaluation
from ccr.core.models import Grid as GridRow
from ccr.core.models import Taxonomy as TaxonomyRow
from ccr.quality.evaluations import store_evaluation
from ccr.scoring.grids import (
    V1_GRID_FILE,
    activate_grid,
    active_grid,
    active_taxonomy,
    active_taxonomy_version,
    criteria_rows,
    default_grid,
    default_taxonomy,
    dump_grid_yaml,
    dump_taxonomy_yaml,
    get_grid_version,
    grid_from_dict,
    grid_from_editor,
    grid_to_dict,
    list_grid_versions,
    load_grid_yaml,
    load_taxonomy_yaml,
    new_version,
    params_yaml,
    preview_evaluation,
    save_grid_version,
    save_taxonomy,
    taxonomy_from_dict,
    taxonomy_from_editor,
    taxonomy_rows,
    taxonomy_to_dict,
    upgrade_grid,
)
from ccr.scoring.score import score_transcript
from tests.conftest import FIXTURES
from tests.reviewdata import make_call


def test_default_grid_is_ccr_standard_fr_v2_on_dialogue_acts():
    g = default_grid()
    assert (g.id, g.version, g.pass_threshold, g.review_threshold) == ("ccr-standard-fr", 2, 70.0, 0.85)
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


def test_default_taxonomy_has_the_issue_labels():
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


# --- editor rows -------------------------------------------------------------------------------


def _editor_inputs(grid=None):
    g = grid or default_grid()
    return criteria_rows(g), {c.id: params_yaml(c) for c in g.criteria}


def test_editor_rows_round_trip_to_the_same_grid():
    rows, params = _editor_inputs()
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
    rows, params = _editor_inputs()
    for i, change in edit.items():
        rows[i].update(change)
    grid, errors = grid_from_editor(default_grid(), rows, params=params)
    assert grid is None
    assert len(errors) == len(messages)
    for error, message in zip(errors, messages, strict=True):
        assert message in error


def test_editor_reads_params_yaml_and_reports_unreadable_yaml():
    rows, params = _editor_inputs()
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


# --- storage (per organisation) ----------------------------------------------------------------


def _reweighted(grid, **weights):
    rows, params = _editor_inputs(grid)
    for r in rows:
        r["weight"] = weights.get(r["id"], r["weight"])
    out, errors = grid_from_editor(grid, rows, params=params)
    assert errors == []
    return out


def _rows(org_id):
    with session() as s:
        return s.exec(select(GridRow).where(GridRow.org_id == org_id).order_by(GridRow.id)).all()


def test_an_organisation_without_grid_gets_the_default_as_its_active_version_1(tenants):
    a, _ = tenants
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)
    with session() as s:
        again, _ = active_grid(session=s, org_id=a.org_id)
    assert (row.slug, row.version, row.is_active, again.id) == ("ccr-standard-fr", 1, True, row.id)
    assert replace(grid, version=default_grid().version) == default_grid()
    assert len(_rows(a.org_id)) == 1


def test_saving_a_version_never_rewrites_older_rows(tenants):
    a, _ = tenants
    sup = a.actor("supervisor")
    with session() as s:
        v1, grid = active_grid(session=s, org_id=a.org_id)
    before = {r.id: r.definition_json for r in _rows(a.org_id)}
    with session() as s:
        v2 = save_grid_version(session=s, actor=sup, grid=_reweighted(grid, accueil=20, identification=5),
                               activate=True)
    with session() as s:
        v3 = save_grid_version(session=s, actor=sup, grid=_reweighted(grid, accueil=25, identification=0),
                               activate=False)
    rows = {r.id: r for r in _rows(a.org_id)}
    assert [(r.version, r.is_active) for r in rows.values()] == [(1, False), (2, True), (3, False)]
    assert rows[v1.id].definition_json == before[v1.id]
    with session() as s:
        _, stored_v2 = get_grid_version(session=s, actor=sup, grid_id=v2.id)
        _, stored_v3 = get_grid_version(session=s, actor=sup, grid_id=v3.id)
        assert [r.version for r in list_grid_versions(session=s, actor=sup)] == [3, 2, 1]
        assert active_grid(session=s, org_id=a.org_id)[0].id == v2.id
    assert (stored_v2.version, stored_v2.criterion("accueil").weight) == (2, 20)
    assert (stored_v3.version, stored_v3.criterion("accueil").weight) == (3, 25)
    with session() as s:
        saved = audit.list_events(session=s, org_id=a.org_id, action="grid_saved")
    assert sorted(e.target_id for e in saved) == sorted([str(v2.id), str(v3.id)])


def test_copying_the_default_under_a_new_slug_starts_an_own_grid_at_version_1(tenants):
    a, _ = tenants
    with session() as s:
        _, grid = active_grid(session=s, org_id=a.org_id)
        own = save_grid_version(session=s, actor=a.actor("admin"), grid=replace(grid, id="alpha-qualite",
                                                                              name="Qualité Alpha"), activate=True)
    assert (own.slug, own.name, own.version, own.is_active) == ("alpha-qualite", "Qualité Alpha", 1, True)
    assert [(r.slug, r.version, r.is_active) for r in _rows(a.org_id)] == [
        ("ccr-standard-fr", 1, False), ("alpha-qualite", 1, True)]


def test_an_evaluation_keeps_the_grid_version_it_was_scored_with(tenants):
    a, _ = tenants
    call_id = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0])
    transcript = json.loads((FIXTURES / "eval" / "public" / "transcripts" / "a01-000.json").read_text("utf-8"))
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)  # what the pipeline scores with
        grid_id = row.id
        ev = store_evaluation(session=s, call=s.get(Call, call_id), result=score_transcript(transcript, grid=grid),
                              grid_id=grid_id)
        ev_id = ev.id
    with session() as s:
        v2 = save_grid_version(session=s, actor=a.actor("supervisor"), grid=_reweighted(grid, accueil=5, solution=30),
                               activate=True)
    with session() as s:
        ev = s.get(Evaluation, ev_id)
        assert (ev.grid_id, ev.grid_slug, ev.grid_version) == (grid_id, "ccr-standard-fr", 1)
        assert json.loads(ev.result_json)["grid_version"] == 1
        _, used = get_grid_version(session=s, actor=a.actor("supervisor"), grid_id=ev.grid_id)
        assert used.criterion("accueil").weight == 15
        new_row, new_grid = active_grid(session=s, org_id=a.org_id)
        new_id = new_row.id
    assert (new_id, new_grid.version, new_grid.criterion("accueil").weight) == (v2.id, 2, 5)
    assert score_transcript(transcript, grid=new_grid)["grid_version"] == 2


def test_activating_an_older_version_leaves_exactly_one_active(tenants):
    a, _ = tenants
    sup = a.actor("supervisor")
    with session() as s:
        v1, grid = active_grid(session=s, org_id=a.org_id)
        save_grid_version(session=s, actor=sup, grid=_reweighted(grid, accueil=20, identification=5), activate=True)
    with session() as s:
        activate_grid(session=s, actor=sup, grid_id=v1.id)
    assert [(r.version, r.is_active) for r in _rows(a.org_id)] == [(1, True), (2, False)]
    with session() as s:
        assert active_grid(session=s, org_id=a.org_id)[1] == grid
        events = audit.list_events(session=s, org_id=a.org_id, action="grid_activated")
    assert [e.target_id for e in events] == [str(v1.id)]


def test_another_organisation_s_grid_is_not_found(tenants):
    a, b = tenants
    with session() as s:
        a_row, _ = active_grid(session=s, org_id=a.org_id)
    other = b.actor("supervisor")
    for call in (lambda s: get_grid_version(session=s, actor=other, grid_id=a_row.id),
                 lambda s: activate_grid(session=s, actor=other, grid_id=a_row.id),
                 lambda s: get_grid_version(session=s, actor=other, grid_id=10_000)):
        with pytest.raises(NotFound, match=r"^Grille introuvable\.$"), session() as s:
            call(s)
    with session() as s:
        assert a_row.id not in {r.id for r in list_grid_versions(session=s, actor=other)}
    assert [r.is_active for r in _rows(a.org_id)] == [True]


@pytest.mark.parametrize("role", ["team_lead", "dpo"])
def test_only_supervisors_and_admins_change_grids_and_taxonomies(tenants, role):
    a, _ = tenants
    actor = a.actor(role)
    with session() as s:
        v1, grid = active_grid(session=s, org_id=a.org_id)
    for action in (lambda s: save_grid_version(session=s, actor=actor, grid=grid, activate=True),
                   lambda s: activate_grid(session=s, actor=actor, grid_id=v1.id),
                   lambda s: save_taxonomy(session=s, actor=actor, taxonomy=default_taxonomy())):
        with pytest.raises(AccessDenied, match="superviseur ou un administrateur"), session() as s:
            action(s)
    assert len(_rows(a.org_id)) == 1
    with session() as s:
        assert active_taxonomy_version(session=s, org_id=a.org_id) is None


def test_saving_an_invalid_grid_is_refused(tenants):
    a, _ = tenants
    bad = replace(default_grid(), pass_threshold=70.0, sections=default_grid().sections[:1])
    with pytest.raises(InvalidInput, match="somme des poids"), session() as s:
        save_grid_version(session=s, actor=a.actor("admin"), grid=bad, activate=True)
    assert _rows(a.org_id) == []


def test_taxonomies_are_versioned_per_organisation(tenants):
    a, b = tenants
    sup = a.actor("supervisor")
    with session() as s:
        assert active_taxonomy(session=s, org_id=a.org_id) == default_taxonomy()
    data = taxonomy_to_dict(default_taxonomy())
    data["irritants"]["relances"]["phrases"].append("vous ne rappelez jamais")
    edited = taxonomy_from_dict(data)
    with session() as s:
        first = save_taxonomy(session=s, actor=sup, taxonomy=default_taxonomy())
        second = save_taxonomy(session=s, actor=sup, taxonomy=edited)
    with session() as s:
        assert (first.version, second.version) == (1, 2)
        assert active_taxonomy_version(session=s, org_id=a.org_id) == 2
        assert active_taxonomy(session=s, org_id=a.org_id) == edited
        assert active_taxonomy(session=s, org_id=b.org_id) == default_taxonomy()
        rows = s.exec(select(TaxonomyRow).where(TaxonomyRow.org_id == a.org_id).order_by(TaxonomyRow.id)).all()
        assert [(r.version, r.is_active) for r in rows] == [(1, False), (2, True)]
        assert taxonomy_from_dict(json.loads(rows[0].definition_json)) == default_taxonomy()
        assert len(audit.list_events(session=s, org_id=a.org_id, action="taxonomy_saved")) == 2


def test_two_workers_scoring_an_organisations_first_calls_at_once_store_one_default_grid(tenants, monkeypatch):
    import threading
    import time

    from ccr.core.models import Grid as GridRow
    from ccr.scoring import grids

    a, _ = tenants
    slow = grids._next_grid_version

    def next_version_slowly(*args):
        time.sleep(0.5)  # both workers have looked and found no grid before either stores one
        return slow(*args)

    monkeypatch.setattr(grids, "_next_grid_version", next_version_slowly)
    versions, errors = [], []

    def score_first_call():
        try:
            with session() as s:
                versions.append(grids.active_grid(session=s, org_id=a.org_id)[1].version)
        except Exception as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=score_first_call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and versions == [1, 1]
    with session() as s:
        rows = s.exec(select(GridRow).where(GridRow.org_id == a.org_id)).all()
    assert [(r.version, r.is_active) for r in rows] == [(1, True)]


# --- upgrading phrase-list (v1) grids to dialogue acts ---------------------------------------------------


def _stock_v1():
    return load_grid_yaml(V1_GRID_FILE.read_text(encoding="utf-8"))


def _store_v1(org_id, grid):
    with session() as s:
        row = GridRow(org_id=org_id, slug=grid.id, name=grid.name, version=1, is_active=True,
                      definition_json=json.dumps(grid_to_dict(grid), ensure_ascii=False))
        s.add(row)
        s.flush()
        return row.id


def _v1_edited():
    """An organisation's v1 grid: accueil reweighted, a house greeting added, a criterion of its own."""
    d = grid_to_dict(_stock_v1())
    first = d["sections"][0]["criteria"][0]
    first["weight"], first["label"] = 10, "Accueil maison"
    first["params"]["groups"]["intro"].append("Aquavéo à votre écoute")
    d["sections"][0]["criteria"].append({"id": "duree", "label": "Durée", "weight": 5, "method": "metric",
                                         "params": {"metric": "duration_s", "op": "<=", "value": 900}})
    return grid_from_dict(d)


def test_upgrading_a_v1_grid_keeps_the_organisation_s_choices_and_wordings():
    up = upgrade_grid(_v1_edited())
    assert up is not None and up.version == 2
    accueil = up.criterion("accueil")
    assert (accueil.method, accueil.weight, accueil.label) == ("acts", 10, "Accueil maison")
    assert accueil.params["cues"] == {"self_intro": ["Aquavéo à votre écoute"]}  # only what it added
    assert up.criterion("duree").method == "metric"  # its own criterion is kept as it was
    assert all(c.method.startswith("acts") for c in up.criteria if c.id != "duree")
    assert upgrade_grid(up) is None and upgrade_grid(default_grid()) is None
    # Act verdicts carry calibrated confidences: the untouched review threshold follows the standard grid's,
    # one the organisation chose is kept.
    assert up.review_threshold == default_grid().review_threshold
    chosen = grid_from_dict({**grid_to_dict(_v1_edited()), "review_threshold": 0.4})
    assert upgrade_grid(chosen).review_threshold == 0.4


def test_an_organisation_s_v1_grid_is_upgraded_once_and_can_be_reactivated(tenants):
    a, b = tenants
    v1_id = _store_v1(a.org_id, _v1_edited())
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)
    assert (row.version, row.is_active, grid.criterion("accueil").method) == (2, True, "acts")
    with session() as s:
        again, _ = active_grid(session=s, org_id=a.org_id)
        events = audit.list_events(session=s, org_id=a.org_id, action="grid_upgraded")
    assert again.id == row.id and len(events) == 1
    with session() as s:  # a supervisor who prefers the old grid keeps it: no second upgrade
        activate_grid(session=s, actor=a.actor("supervisor"), grid_id=v1_id)
    with session() as s:
        kept, grid = active_grid(session=s, org_id=a.org_id)
    assert kept.id == v1_id and grid.criterion("accueil").method == "phrases"
    assert [r.version for r in _rows(a.org_id)] == [1, 2] and _rows(b.org_id) == []


def test_an_evaluation_scored_with_a_v1_grid_still_opens_and_rescores_with_it(tenants):
    a, _ = tenants
    v1_id = _store_v1(a.org_id, _stock_v1())
    call_id = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0])
    transcript = json.loads((FIXTURES / "eval" / "public" / "transcripts" / "a01-000.json").read_text("utf-8"))
    with session() as s:
        _, old = get_grid_version(session=s, actor=a.actor("supervisor"), grid_id=v1_id)
        result = score_transcript(transcript, grid=old)
        ev = store_evaluation(session=s, call=s.get(Call, call_id), result=result, grid_id=v1_id)
        ev_id = ev.id
    with session() as s:
        ev = s.get(Evaluation, ev_id)
        _, used = get_grid_version(session=s, actor=a.actor("supervisor"), grid_id=ev.grid_id)
    again = score_transcript(transcript, grid=used)
    assert used.criterion("accueil").method == "phrases"
    assert [c["verdict"] for c in again["criteria"]] == [c["verdict"] for c in json.loads(ev.result_json)["criteria"]]


def test_a_saved_taxonomy_without_acts_reads_its_standard_irritants_with_the_act_model(tenants):
    a, _ = tenants
    d = taxonomy_to_dict(default_taxonomy())
    for body in d["irritants"].values():
        body.pop("act", None)
    with session() as s:
        save_taxonomy(session=s, actor=a.actor("supervisor"), taxonomy=taxonomy_from_dict(d))
    with session() as s:
        tax = active_taxonomy(session=s, org_id=a.org_id)
    assert {i.id: i.act for i in tax.irritants}["relances"] == "irritant_repeat"
