"""The evaluation arithmetic shared by the engines and reviews: score, pass, review reasons, recommendations."""

from __future__ import annotations

import pytest

from ccr.core.errors import InvalidInput
from ccr.scoring.evaluation import (
    compute_score,
    evaluation_from_verdicts,
    recommendations,
    result_risk,
    review_reasons,
)
from ccr.scoring.grid import default_grid, grid_from_dict, grid_to_dict
from tests.reviewdata import contract

# --- score arithmetic ----------------------------------------------------------------------


def _verdicts(**overrides):
    base = {c.id: "pass" for c in default_grid().criteria}
    base.update(overrides)
    return base


@pytest.mark.parametrize(("overrides", "score", "passed", "critical"), [
    ({}, 100.0, True, False),
    ({"solution": "fail"}, 80.0, True, False),
    ({"empathie": "na", "attente": "na", "solution": "fail"}, 75.0, True, False),  # 60 / 80
    ({"empathie": "na", "solution": "fail", "decouverte": "fail"}, 61.1, False, False),  # 55 / 90
    ({"politesse": "fail"}, 0.0, False, True),
    ({c.id: "na" for c in default_grid().criteria}, 0.0, False, False),
])
def test_compute_score_na_and_critical(overrides, score, passed, critical):
    assert compute_score(_verdicts(**overrides), default_grid()) == (score, passed, critical)


def test_compute_score_threshold_is_the_grids():
    data = grid_to_dict(default_grid())
    data["pass_threshold"] = 85
    grid = grid_from_dict(data)
    assert compute_score(_verdicts(solution="fail"), grid) == (80.0, False, False)


def test_compute_score_rejects_unknown_verdict():
    with pytest.raises(InvalidInput):
        compute_score(_verdicts(accueil="peut-être"), default_grid())


# --- rebuilding an evaluation whose verdicts changed ------------------------------------------------


def test_changed_verdicts_rebuild_score_review_flags_and_recommendations():
    grid = default_grid()
    base = contract()  # identification and conclusion fail: 75.0, passed
    fixed = {"id": "identification", "verdict": "pass", "weight": 10, "evidence": [], "explanation": "Corrigé.",
             "confidence": 0.5, "needs_review": True, "review_reason": "les deux moteurs divergent"}
    out = evaluation_from_verdicts(base, {"identification": fixed}, grid)
    assert (out["score"], out["passed"], out["critical_failed"]) == compute_score(
        {c["id"]: c["verdict"] for c in out["criteria"]}, grid) == (87.5, True, False)
    assert [c["id"] for c in out["criteria"]] == [c.id for c in grid.criteria]
    assert out["criteria"][1] == fixed and out["criteria"][0] == base["criteria"][0]
    assert out["needs_review"] is True
    assert out["review_reasons"] == [f"{grid.criterion('identification').label} : les deux moteurs divergent"]
    assert out["recommendations"] == [grid.criterion("conclusion").recommendation]
    assert base["score"] == 75.0 and base["criteria"][1]["verdict"] == "fail"  # the base is not modified


def test_an_unsure_category_stays_a_reason_when_the_verdicts_are_rebuilt():
    grid = default_grid()
    base = {**contract(), "category_needs_review": True,
            "category_review_reason": "« Facturation » incertaine (0,41), de peu devant « Résiliation »"}
    out = evaluation_from_verdicts(base, {}, grid)
    assert out["needs_review"] is True
    assert out["review_reasons"] == ["Catégorie : « Facturation » incertaine (0,41), de peu devant « Résiliation »"]
    assert evaluation_from_verdicts(contract(), {}, grid)["review_reasons"] == []  # older results: no such reason


def test_review_reasons_name_the_criterion_and_default_to_an_uncertain_verdict():
    grid = default_grid()
    criteria = [{"id": "accueil", "needs_review": True, "review_reason": ""},
                {"id": "politesse", "needs_review": False, "review_reason": "ignorée"},
                {"id": "inconnu", "needs_review": True, "review_reason": "ligne mal entendue"}]
    assert review_reasons(criteria, grid) == [f"{grid.criterion('accueil').label} : verdict incertain",
                                              "inconnu : ligne mal entendue"]


def _items(verdicts: dict[str, str], confidences: dict[str, float], flagged: tuple[str, ...] = ()) -> list[dict]:
    return [{"id": c, "verdict": v, "confidence": confidences.get(c, 0.999), "needs_review": c in flagged,
             "review_reason": "détection incertaine" if c in flagged else ""} for c, v in verdicts.items()]


def test_a_result_that_hangs_on_verdicts_not_sure_enough_together_goes_to_a_human():
    grid = default_grid()
    label = grid.criterion
    # 70 of 90 points: any pass turned to a fail (or the politeness failed) sinks the call; solution's fail and
    # the na of empathy can change without changing the result.
    verdicts = _verdicts(empathie="na", solution="fail")
    assert compute_score(verdicts, grid)[1] is True
    # Each pivotal verdict clears the bar (0.89) alone, not together: 0.93 × 0.95 × 0.999⁴ = 0.8799, shown 0,87.
    got = review_reasons(_items(verdicts, {"decouverte": 0.95, "conclusion": 0.93, "solution": 0.5}), grid)
    assert got == [f"Réussite de l'appel incertaine (0,87) : un seul de ces verdicts faux la changerait : "
                   f"{label('conclusion').label} (0,93), {label('decouverte').label} (0,95)."]
    # Surer verdicts leave the result sure enough.
    assert review_reasons(_items(verdicts, {"decouverte": 0.97, "conclusion": 0.97}), grid) == []
    # A flagged verdict goes to a human with its own reason and leaves the product: 0.93 alone clears the bar.
    got = review_reasons(_items(verdicts, {"decouverte": 0.95, "conclusion": 0.93}, flagged=("decouverte",)), grid)
    assert got == [f"{label('decouverte').label} : détection incertaine"]


def test_a_fail_that_one_unsure_verdict_would_turn_into_a_pass_is_named_too():
    grid = default_grid()
    verdicts = _verdicts(empathie="na", solution="fail", decouverte="fail")  # 55 of 90: failed
    got = review_reasons(_items(verdicts, {"solution": 0.92, "decouverte": 0.94, "accueil": 0.5}), grid)
    assert got == [f"Échec de l'appel incertain (0,86) : un seul de ces verdicts faux le changerait : "
                   f"{grid.criterion('solution').label} (0,92), {grid.criterion('decouverte').label} (0,94)."]


def _nearly_sure_flat_grid() -> tuple:
    """A grid of 25 criteria of 4 points passing at 97, and its 25 verdicts passed, each sure at 0.9952."""
    data = grid_to_dict(default_grid())
    data["pass_threshold"] = 97
    base = data["sections"][0]["criteria"][0]
    data["sections"] = [{"id": "s", "label": "S", "criteria": [
        {**base, "id": f"c{i}", "label": f"Critère {i}", "weight": 4, "critical": False} for i in range(25)]}]
    items = [{"id": f"c{i}", "verdict": "pass", "confidence": 0.9952, "needs_review": False} for i in range(25)]
    return grid_from_dict(data), items


def test_a_result_unsure_only_through_many_nearly_sure_verdicts_still_names_them():
    # A grid of 25 criteria of 4 points, all passed, where any fail (96 points) sinks the call: 0.9952²⁵ = 0.887.
    grid, items = _nearly_sure_flat_grid()
    (got,) = review_reasons(items, grid)
    assert got.startswith("Réussite de l'appel incertaine (0,88) :") and got.count("(1,00)") == 25


def test_a_result_stored_without_confidences_gets_no_result_reason():
    grid = default_grid()
    items = [{"id": c, "verdict": v, "needs_review": False} for c, v in _verdicts(solution="fail").items()]
    assert review_reasons(items, grid) == []


# --- the chance that the result is wrong ------------------------------------------------------


def test_the_result_risk_is_the_chance_that_a_verdict_that_changes_the_result_is_wrong():
    grid = default_grid()
    # 70 of 90 points, passed: a wrong politeness (critical) sinks it, and so does a wrong découverte (15),
    # unless solution's fail was wrong too (then 70 of 90 again): 0.1 + 0.9 × 0.2 × 0.6 = 0.208.
    verdicts = _verdicts(empathie="na", solution="fail")
    sure = dict.fromkeys(verdicts, 1.0)
    assert result_risk(_items(verdicts, sure), grid) == 0.0
    assert result_risk(_items(verdicts, {**sure, "decouverte": 0.8, "solution": 0.6, "politesse": 0.9}),
                       grid) == pytest.approx(0.208)
    # Flagged or not, a verdict counts with its confidence.
    assert result_risk(_items(verdicts, {**sure, "decouverte": 0.8}, flagged=("decouverte",)),
                       grid) == pytest.approx(0.2)


def test_verdicts_that_change_the_result_only_together_count_together():
    grid = default_grid()
    # 50 of 100, failed: accueil or découverte alone turned into a pass gives 65, both give 80.
    verdicts = _verdicts(solution="fail", accueil="fail", decouverte="fail")
    confidences = {**dict.fromkeys(verdicts, 1.0), "accueil": 0.5, "decouverte": 0.5}
    assert result_risk(_items(verdicts, confidences), grid) == pytest.approx(0.25)
    assert review_reasons(_items(verdicts, confidences), grid) == []  # no single verdict changes it


def test_a_wrong_na_is_a_pass_or_a_fail_equally_likely():
    grid = default_grid()
    # 60 of 90, failed: empathy applying and passed gives 70 of 100 (passed), applying and failed 60 of 100.
    verdicts = _verdicts(solution="fail", empathie="na", conclusion="fail")
    confidences = {**dict.fromkeys(verdicts, 1.0), "empathie": 0.6}
    assert result_risk(_items(verdicts, confidences), grid) == pytest.approx(0.4 * 0.5)


def test_the_result_risk_of_many_nearly_sure_verdicts_adds_them_all_up():
    # 25 criteria of 4 points, all passed, any fail sinking the call: beyond the least sure ones weighed in
    # every combination, the others still count: 1 − 0.9952²⁵ = 0.113.
    grid, items = _nearly_sure_flat_grid()
    assert result_risk(items, grid) == pytest.approx(1 - 0.9952 ** 25, abs=1e-3)


def test_a_result_without_confidences_has_no_result_risk_and_a_rebuilt_one_has_it():
    grid = default_grid()
    items = [{"id": c, "verdict": v, "needs_review": False} for c, v in _verdicts(solution="fail").items()]
    assert result_risk(items, grid) is None
    verdicts = _verdicts(empathie="na", solution="fail")
    base = contract(verdicts, unsure={"decouverte": (0.8, "détection incertaine")})
    assert base["result_risk"] == pytest.approx(0.2)
    # A changed verdict rebuilds the risk with the rest: découverte now failed sinks the call, surely.
    rebuilt = evaluation_from_verdicts(base, {"decouverte": {**base["criteria"][2], "verdict": "fail",
                                                             "confidence": 1.0}}, grid)
    assert rebuilt["passed"] is False and rebuilt["result_risk"] == 0.0


def test_recommendations_fall_back_to_a_generic_french_advice():
    data = grid_to_dict(default_grid())
    data["sections"][0]["criteria"][0]["recommendation"] = ""
    grid = grid_from_dict(data)
    criteria = [{"id": c.id, "verdict": "fail" if c.id in ("accueil", "solution") else "pass"} for c in grid.criteria]
    label = grid.criterion("accueil").label
    assert recommendations(grid, criteria) == [
        f"Travaillez le critère « {label} » : il n'est pas atteint sur cet appel.",
        grid.criterion("solution").recommendation]
