"""Stored grids and taxonomies brought up to the standard ones: v1 to acts, parameters shipped since a copy was
made (three-way merge from the version it was copied from), review bars, irritant words."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest

from ccr.scoring.grid import (
    default_grid,
    default_taxonomy,
    grid_from_dict,
    grid_to_dict,
    load_grid_yaml,
    standard_revision,
)
from ccr.scoring.grid_editor import grid_from_editor
from ccr.scoring.grid_upgrade import (
    ADDED_PHRASES,
    RETIRED_PHRASES,
    criterion_history,
    follow_standard,
    standard_history,
    upgrade_grid,
    upgrade_taxonomy,
)
from tests.scoring.griddata import editor_inputs, first_act_copy, v1_edited

# The standard grid as organisations stored it on earlier days, copied from the git history for bench_scoring.
STORED_GRIDS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "grids"


def test_the_standard_taxonomy_needs_no_upgrade():
    t = default_taxonomy()
    # The built-in list never holds a phrase it retired, so reading it changes nothing.
    assert upgrade_taxonomy(t) is None
    assert not any(p in RETIRED_PHRASES.get(i.id, ()) for i in t.irritants for p in i.phrases)


def _discontent_list(t):
    return next(i for i in t.irritants if i.id == "mecontentement").phrases


def _with_discontent_list(t, phrases):
    return replace(t, irritants=tuple(replace(i, phrases=tuple(phrases)) if i.id == "mecontentement" else i
                                      for i in t.irritants))


def test_a_taxonomy_with_the_former_discontent_list_gains_the_words_added_since():
    standard = default_taxonomy()
    added = ADDED_PHRASES["mecontentement"]
    assert set(added) <= set(_discontent_list(standard))
    former = [p for p in _discontent_list(standard) if p not in added]
    up = upgrade_taxonomy(_with_discontent_list(standard, [*former, "c'est du grand guignol"]))
    assert up is not None and set(_discontent_list(up)) == {*_discontent_list(standard), "c'est du grand guignol"}
    # A list an organisation pruned, or one already holding some of the new words, stays as it was chosen.
    assert upgrade_taxonomy(_with_discontent_list(standard, former[1:])) is None
    assert upgrade_taxonomy(_with_discontent_list(standard, [*former, added[0]])) is None



# --- upgrading phrase-list (v1) grids to dialogue acts ---------------------------------------------------


def test_upgrading_a_v1_grid_keeps_the_organisation_s_choices_and_wordings():
    up = upgrade_grid(v1_edited())
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
    chosen = grid_from_dict({**grid_to_dict(v1_edited()), "review_threshold": 0.4})
    assert upgrade_grid(chosen).review_threshold == 0.4


def test_an_act_grid_still_on_the_former_standard_review_bar_follows_the_standard_grid_s():
    # The standard grid's bar moved when its confidence was recalibrated; a grid still holding the former bar
    # never had it set by its organisation. Its successor changes the bar and nothing else.
    former = grid_from_dict({**grid_to_dict(default_grid()), "review_threshold": 0.85, "version": 4})
    up = upgrade_grid(former)
    assert up is not None and (up.version, up.review_threshold) == (5, default_grid().review_threshold)
    assert up.criteria == former.criteria and up.pass_threshold == former.pass_threshold
    assert upgrade_grid(up) is None
    # A bar the organisation chose is its own.
    assert upgrade_grid(grid_from_dict({**grid_to_dict(default_grid()), "review_threshold": 0.8})) is None


# --- act grids copied from an earlier standard version -------------------------------------------------------


def _with_params(grid, **params_by_id):
    d = grid_to_dict(grid)
    for section in d["sections"]:
        for c in section["criteria"]:
            if c["id"] in params_by_id:
                c["params"] = params_by_id[c["id"]]
    return grid_from_dict(d)


def test_the_history_holds_the_standard_grid_as_shipped_now():
    # Run « python -m scripts.standard_grid_history » after changing the standard grid's parameters: without its
    # current version in the history, a copy of it would not be recognised as untouched.
    stock = default_grid()
    current = standard_history()[-1]
    assert current["revision"] == stock.based_on == standard_revision(stock)
    assert current["criteria"] == {c.id: {"method": c.method, "params": c.params} for c in stock.criteria}
    assert len({v["revision"] for v in standard_history()}) == len(standard_history())


def test_the_first_act_copy_lacks_parameters_shipped_since():
    # The history is not one version long: what this module upgrades did change after the first copies.
    old, now = first_act_copy(), default_grid()
    changed = [c.id for c in now.criteria if old.criterion(c.id).params != c.params]
    assert {"identification", "politesse", "conclusion"} <= set(changed)
    assert "answered_by" not in old.criterion("identification").params


def test_an_act_grid_copied_from_every_earlier_standard_version_takes_the_current_parameters():
    stock = default_grid()
    unrecorded = replace(stock, based_on="")  # stored before grids recorded their origin: the version is inferred
    for c in stock.criteria:
        for v in criterion_history(c.id):
            cid = c.id
            copy_of = _with_params(unrecorded, **{cid: copy.deepcopy(v["params"])})
            up = upgrade_grid(copy_of)
            if v["params"] == stock.criterion(cid).params:
                assert up is None
                continue
            assert up is not None and up.version == stock.version + 1, (cid, v)
            assert up.criteria == stock.criteria and up.based_on == stock.based_on
    up = upgrade_grid(first_act_copy())
    assert up.criteria == stock.criteria and upgrade_grid(up) is None


def test_parameters_the_organisation_set_stay_its_own():
    old = first_act_copy()
    politesse = dict(old.criterion("politesse").params, min_probability={"rude_insult": 0.95})  # changed
    conclusion = {k: v for k, v in old.criterion("conclusion").params.items() if k != "at_end"}  # removed
    identification = dict(old.criterion("identification").params,
                          cues={"ident_request": ["votre numéro de dossier"]})  # added
    edited = replace(_with_params(old, politesse=politesse, conclusion=conclusion, identification=identification),
                     pass_threshold=75.0)
    up = upgrade_grid(edited)
    stock = default_grid()
    assert up is not None and up.pass_threshold == 75.0
    p = up.criterion("politesse").params
    assert p["min_probability"] == {"rude_insult": 0.95}
    assert {k: v for k, v in p.items() if k != "min_probability"} == {
        k: v for k, v in stock.criterion("politesse").params.items() if k != "min_probability"}
    c = up.criterion("conclusion").params
    assert "at_end" not in c and c["answered_by"] == stock.criterion("conclusion").params["answered_by"]
    assert c["after_customer_act"] == stock.criterion("conclusion").params["after_customer_act"]
    i = up.criterion("identification").params
    assert i["cues"] == {"ident_request": ["votre numéro de dossier"]}
    assert i["answered_by"] == stock.criterion("identification").params["answered_by"]
    assert upgrade_grid(up) is None  # once merged, nothing more to carry over


def test_a_criterion_of_the_organisation_s_own_under_a_standard_id_is_left_alone():
    stock = default_grid()
    own = {"first_turns": 4, "require": {"intro": ["self_intro"]}}  # neither shipped parameter as it was
    assert follow_standard(_with_params(stock, accueil=own).criterion("accueil"), stock.criterion("accueil")) is None
    # A standard id on another method is the organisation's rule too.
    other = replace(stock.criterion("accueil"), method="acts_forbidden",
                    params={"acts": ["rude_insult"]})
    assert follow_standard(other, stock.criterion("accueil")) is None


def test_a_word_an_organisation_added_to_its_v1_forbidden_list_joins_the_standard_insult_cues():
    d = grid_to_dict(v1_edited())
    politesse = next(c for s in d["sections"] for c in s["criteria"] if c["id"] == "politesse")
    politesse["params"]["phrases"].append("espèce de guignol")
    up = upgrade_grid(grid_from_dict(d))
    stock_cues = default_grid().criterion("politesse").params["cues"]
    cues = up.criterion("politesse").params["cues"]
    assert cues["rude_insult"] == [*stock_cues["rude_insult"], "espèce de guignol"]
    assert {k: v for k, v in cues.items() if k != "rude_insult"} == {
        k: v for k, v in stock_cues.items() if k != "rude_insult"}


@pytest.mark.parametrize("stored", sorted(STORED_GRIDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_standard_grids_stored_on_earlier_days_upgrade_to_the_current_criteria(stored):
    grid = load_grid_yaml(stored.read_text(encoding="utf-8"))
    up = upgrade_grid(grid)
    assert up is not None and up.criteria == default_grid().criteria
    assert up.review_threshold == default_grid().review_threshold


def test_a_grid_that_records_its_origin_keeps_a_parameter_its_organisation_removed():
    # A supervisor removes the reading of identification from the customer's answer, on a grid copied from the
    # current standard. The first standard version had no such parameter either: inferred, the origin would be
    # that version and the removal undone; recorded, the removal stays.
    stock = default_grid()
    params = {k: v for k, v in stock.criterion("identification").params.items() if k != "answered_by"}
    edited = _with_params(stock, identification=params)
    assert edited.based_on == stock.based_on and upgrade_grid(edited) is None
    assert upgrade_grid(replace(edited, based_on="")).criterion("identification").params == (
        stock.criterion("identification").params)
    # A grid recording an earlier revision takes what changed since that one, and keeps its own edits.
    first = standard_history()[0]
    old = replace(first_act_copy(), based_on=first["revision"])
    old = _with_params(old, politesse=dict(old.criterion("politesse").params, review_band=0.25))
    up = upgrade_grid(old)
    assert up.criterion("politesse").params == dict(stock.criterion("politesse").params, review_band=0.25)
    assert up.based_on == stock.based_on and upgrade_grid(up) is None


def test_the_grid_editor_keeps_the_origin_of_the_grid_it_edits():
    rows, params = editor_inputs()
    grid, errors = grid_from_editor(default_grid(), rows, params=params)
    assert errors == [] and grid.based_on == default_grid().based_on
    assert grid_from_dict(grid_to_dict(grid)).based_on == grid.based_on
