"""The evaluation arithmetic both scoring engines and reviews share: score, pass, review reasons, advice.

An evaluation's criteria verdicts decide everything else it says: :func:`evaluation_from_verdicts` rebuilds
the score, the review flags and the recommendations when verdicts change (the LLM engine, a human review).
"""

from __future__ import annotations

from collections.abc import Mapping

from ccr.core.errors import InvalidInput
from ccr.scoring.grid import Grid

VERDICTS = ("pass", "fail", "na")  # na: the criterion does not apply to this call, its weight leaves the total


def compute_score(criteria_verdicts: Mapping[str, str], grid: Grid) -> tuple[float, bool, bool]:
    """Score (0-100, 1 decimal), passed and critical_failed from verdicts keyed by criterion id."""
    passed_w = total_w = 0
    critical_failed = False
    for c in grid.criteria:
        verdict = criteria_verdicts.get(c.id, "na")
        if verdict not in VERDICTS:
            raise InvalidInput(f"Verdict « {verdict} » invalide pour le critère « {c.id} » (pass, fail ou na).")
        if verdict == "na":
            continue
        total_w += c.weight
        if verdict == "pass":
            passed_w += c.weight
        elif c.critical:
            critical_failed = True
    score = 0.0 if critical_failed or total_w == 0 else round(100.0 * passed_w / total_w, 1)
    return score, (score >= grid.pass_threshold and not critical_failed), critical_failed


def evaluation_from_verdicts(base: dict, verdicts: Mapping[str, dict], grid: Grid) -> dict:
    """Rebuild an evaluation whose criteria verdicts changed (LLM, review): score, recommendations."""
    out = dict(base)
    criteria = []
    for c in grid.criteria:
        item = dict(verdicts.get(c.id) or next(x for x in base["criteria"] if x["id"] == c.id))
        criteria.append(item)
    out["criteria"] = criteria
    score, passed, critical = compute_score({x["id"]: x["verdict"] for x in criteria}, grid)
    out.update(score=score, passed=passed, critical_failed=critical)
    out["review_reasons"] = review_reasons(criteria, grid)
    out["needs_review"] = bool(out["review_reasons"])
    out["recommendations"] = recommendations(grid, criteria)
    return out


def review_reasons(criteria: list[dict], grid: Grid) -> list[str]:
    """Why a human should check this evaluation: one French line per flagged criterion."""
    labels = {c.id: c.label for c in grid.criteria}
    return [f"{labels.get(x['id'], x['id'])} : {x.get('review_reason') or 'verdict incertain'}"
            for x in criteria if x.get("needs_review")]


def recommendations(grid: Grid, criteria: list[dict]) -> list[str]:
    """One French piece of advice per failed criterion: the grid's own, or a generic one naming it."""
    out = []
    for item in criteria:
        if item["verdict"] != "fail":
            continue
        c = grid.criterion(item["id"])
        out.append(c.recommendation or f"Travaillez le critère « {c.label} » : il n'est pas atteint sur cet appel.")
    return out
