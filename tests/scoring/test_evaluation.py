"""The evaluation arithmetic shared by the engines and reviews: score, pass, review reasons, recommendations."""

from __future__ import annotations

import pytest

from ccr.core.errors import InvalidInput
from ccr.scoring.evaluation import compute_score, evaluation_from_verdicts, recommendations, review_reasons
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


def test_review_reasons_name_the_criterion_and_default_to_an_uncertain_verdict():
    grid = default_grid()
    criteria = [{"id": "accueil", "needs_review": True, "review_reason": ""},
                {"id": "politesse", "needs_review": False, "review_reason": "ignorée"},
                {"id": "inconnu", "needs_review": True, "review_reason": "ligne mal entendue"}]
    assert review_reasons(criteria, grid) == [f"{grid.criterion('accueil').label} : verdict incertain",
                                              "inconnu : ligne mal entendue"]


def test_recommendations_fall_back_to_a_generic_french_advice():
    data = grid_to_dict(default_grid())
    data["sections"][0]["criteria"][0]["recommendation"] = ""
    grid = grid_from_dict(data)
    criteria = [{"id": c.id, "verdict": "fail" if c.id in ("accueil", "solution") else "pass"} for c in grid.criteria]
    label = grid.criterion("accueil").label
    assert recommendations(grid, criteria) == [
        f"Travaillez le critère « {label} » : il n'est pas atteint sur cet appel.",
        grid.criterion("solution").recommendation]
