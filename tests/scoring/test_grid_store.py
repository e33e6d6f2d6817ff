"""Grids and taxonomies per organisation: versions, activation, roles, tenancy, upgrades on first read."""

from __future__ import annotations

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
from ccr.scoring.grid import default_grid, default_taxonomy, grid_to_dict, taxonomy_from_dict, taxonomy_to_dict
from ccr.scoring.grid_editor import grid_from_editor
from ccr.scoring.grid_store import (
    activate_grid,
    active_grid,
    active_taxonomy,
    active_taxonomy_version,
    get_grid_version,
    grid_by_id,
    list_grid_versions,
    save_grid_version,
    save_taxonomy,
)
from ccr.scoring.score import score_transcript
from tests.conftest import FIXTURES
from tests.reviewdata import make_call
from tests.scoring.griddata import editor_inputs, first_act_copy, stock_v1, v1_edited


def _reweighted(grid, **weights):
    rows, params = editor_inputs(grid)
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
    from ccr.scoring import grid_store

    a, _ = tenants
    slow = grid_store._next_grid_version

    def next_version_slowly(*args):
        time.sleep(0.5)  # both workers have looked and found no grid before either stores one
        return slow(*args)

    monkeypatch.setattr(grid_store, "_next_grid_version", next_version_slowly)
    versions, errors = [], []

    def score_first_call():
        try:
            with session() as s:
                versions.append(grid_store.active_grid(session=s, org_id=a.org_id)[1].version)
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


def _store_v1(org_id, grid):
    with session() as s:
        row = GridRow(org_id=org_id, slug=grid.id, name=grid.name, version=1, is_active=True,
                      definition_json=json.dumps(grid_to_dict(grid), ensure_ascii=False))
        s.add(row)
        s.flush()
        return row.id


def test_an_organisation_s_v1_grid_is_upgraded_once_and_can_be_reactivated(tenants):
    a, b = tenants
    v1_id = _store_v1(a.org_id, v1_edited())
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


def test_an_organisation_s_standard_grid_on_the_former_review_bar_gets_the_new_bar_once(tenants):
    a, b = tenants
    old_id = _store_v1(a.org_id, replace(default_grid(), review_threshold=0.85))
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)
    assert (row.version, row.is_active, grid.review_threshold) == (2, True, default_grid().review_threshold)
    assert grid.criteria == default_grid().criteria
    with session() as s:
        again, _ = active_grid(session=s, org_id=a.org_id)
        events = audit.list_events(session=s, org_id=a.org_id, action="grid_upgraded")
    assert again.id == row.id and len(events) == 1
    with session() as s:  # the supervisor may go back to the former bar, and keeps it
        activate_grid(session=s, actor=a.actor("supervisor"), grid_id=old_id)
    with session() as s:
        kept, grid = active_grid(session=s, org_id=a.org_id)
    assert kept.id == old_id and grid.review_threshold == 0.85 and _rows(b.org_id) == []


def test_an_organisation_s_early_act_grid_gets_the_parameters_shipped_since_once(tenants):
    a, b = tenants
    old_id = _store_v1(a.org_id, first_act_copy())
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)
    assert (row.version, row.is_active) == (2, True) and grid.criteria == default_grid().criteria
    with session() as s:
        again, _ = active_grid(session=s, org_id=a.org_id)
        events = audit.list_events(session=s, org_id=a.org_id, action="grid_upgraded")
    assert again.id == row.id and len(events) == 1
    with session() as s:  # the evaluations scored with the first copy keep it, readable as stored
        _, kept = grid_by_id(session=s, org_id=a.org_id, grid_id=old_id)
    assert "answered_by" not in kept.criterion("identification").params and _rows(b.org_id) == []


def test_an_evaluation_scored_with_a_v1_grid_still_opens_and_rescores_with_it(tenants):
    a, _ = tenants
    v1_id = _store_v1(a.org_id, stock_v1())
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


def test_a_saved_taxonomy_loses_the_retired_exclamations_and_keeps_the_organisations_own_words(tenants):
    a, _ = tenants
    d = taxonomy_to_dict(default_taxonomy())
    d["irritants"]["mecontentement"]["phrases"] += ["c'est fou", "ce n'est pas normal", "c'est la cata"]
    with session() as s:
        save_taxonomy(session=s, actor=a.actor("supervisor"), taxonomy=taxonomy_from_dict(d))
    with session() as s:
        tax = active_taxonomy(session=s, org_id=a.org_id)
    words = {i.id: i.phrases for i in tax.irritants}["mecontentement"]
    assert "c'est la cata" in words and "en colère" in words
    assert "c'est fou" not in words and "ce n'est pas normal" not in words


def test_a_stored_version_is_loaded_by_id_as_stored_and_for_its_organisation_only(tenants):
    a, b = tenants
    v1_id = _store_v1(a.org_id, stock_v1())
    with session() as s:
        row, grid = grid_by_id(session=s, org_id=a.org_id, grid_id=v1_id)
    assert (row.id, row.version) == (v1_id, 1)
    assert grid == stock_v1()  # no upgrade on this path: a re-score uses the very version it names
    assert [r.version for r in _rows(a.org_id)] == [1]  # reading by id stores nothing
    for org_id, grid_id in ((b.org_id, v1_id), (a.org_id, 10_000)):
        with pytest.raises(NotFound, match=r"^Grille introuvable\.$"), session() as s:
            grid_by_id(session=s, org_id=org_id, grid_id=grid_id)
