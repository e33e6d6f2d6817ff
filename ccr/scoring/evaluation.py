"""The evaluation arithmetic both scoring engines and reviews share: score, pass, review reasons, advice.

An evaluation's criteria verdicts decide everything else it says: :func:`evaluation_from_verdicts` rebuilds
the score, the review flags and the recommendations when verdicts change (the LLM engine, a human review).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from ccr.core.errors import InvalidInput
from ccr.core.formats import fr_number
from ccr.scoring.grid import Grid

VERDICTS = ("pass", "fail", "na")  # na: the criterion does not apply to this call, its weight leaves the total
# result_risk weighs every combination of right and wrong verdicts among the least sure ones, up to this many
# cases (twelve doubtful pass or fail verdicts, each « na » counting as three cases: itself, pass, fail); a
# surer verdict beyond them counts only when it alone changes the result.
RISK_CASES = 2 ** 12


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
    out["review_reasons"] = review_reasons(criteria, grid, str(out.get("category_review_reason") or ""))
    out["needs_review"] = bool(out["review_reasons"])
    out["result_risk"] = result_risk(criteria, grid)
    out["recommendations"] = recommendations(grid, criteria)
    return out


def review_reasons(criteria: list[dict], grid: Grid, category_reason: str = "") -> list[str]:
    """Why a human should check this evaluation: one French line per flagged criterion, one more when the
    call's result hangs on verdicts that are not sure enough together (:func:`result_doubt`), and the
    category's doubt when there is one."""
    labels = {c.id: c.label for c in grid.criteria}
    out = [f"{labels.get(x['id'], x['id'])} : {x.get('review_reason') or 'verdict incertain'}"
           for x in criteria if x.get("needs_review")]
    doubt = result_doubt(criteria, grid)
    if doubt:
        out.append(doubt)
    if category_reason:
        out.append(f"Catégorie : {category_reason}")
    return out


def result_doubt(criteria: list[dict], grid: Grid) -> str:
    """A French reason when the call's pass or fail is less likely right than the grid's review bar; "" if not.

    A verdict is pivotal when changing it alone (pass and fail swapped, « na » read as either) changes the
    result; the result is right only if every pivotal verdict is, so their confidences multiply. Each may
    clear the bar while together they do not: three verdicts at 0.95 leave the result right at 0.86."""
    verdicts = {x.get("id"): x.get("verdict") for x in criteria}
    known = {c.id for c in grid.criteria}
    if any(v not in VERDICTS for v in verdicts.values()):
        return ""
    _, passed, _ = compute_score(verdicts, grid)
    pivots: list[tuple[str, float]] = []
    chance = 1.0
    for x in criteria:
        conf = x.get("confidence")
        # A flagged verdict already goes to a human with its own reason.
        if x["id"] not in known or x.get("needs_review") or not isinstance(conf, int | float):
            continue
        if any(compute_score({**verdicts, x["id"]: other}, grid)[1] != passed for other in _others(x["verdict"])):
            pivots.append((grid.criterion(x["id"]).label, float(conf)))
            chance *= float(conf)
    if not pivots or chance >= grid.review_threshold:
        return ""
    shown = math.floor(chance * 100) / 100  # rounded down: a product just under the bar never reads as the bar
    # Least sure first; a verdict shown as « 1,00 » would only lengthen the list (unless all of them are).
    ranked = sorted(pivots, key=lambda p: p[1])
    names = ", ".join(f"{label} ({fr_number(conf, 2)})" for label, conf in
                      ([p for p in ranked if round(p[1], 2) < 1.0] or ranked))
    if passed:
        return (f"Réussite de l'appel incertaine ({fr_number(shown, 2)}) : un seul de ces verdicts faux la "
                f"changerait : {names}.")
    return (f"Échec de l'appel incertain ({fr_number(shown, 2)}) : un seul de ces verdicts faux le "
            f"changerait : {names}.")


def result_risk(criteria: list[dict], grid: Grid) -> float | None:
    """The chance that the call's pass or fail is wrong, each verdict being right with its confidence (the
    calibrated chance it is right), independently; None when no verdict carries a confidence.

    Every verdict counts, flagged ones included: where most verdicts of a call are doubtful (garbled speech)
    the flag tells nothing, and this tells which calls' result is most at stake. A wrong pass is a fail and
    the other way round; a wrong « na » is a pass or a fail, equally likely."""
    verdicts = {x.get("id"): x.get("verdict") for x in criteria}
    known = {c.id for c in grid.criteria}
    if any(v not in VERDICTS for v in verdicts.values()):
        return None
    confs = {x["id"]: min(1.0, max(0.0, float(x["confidence"]))) for x in criteria if x.get("id") in known
             and isinstance(x.get("confidence"), int | float) and not isinstance(x.get("confidence"), bool)}
    if not confs:
        return None
    _, passed, _ = compute_score(verdicts, grid)
    # Each verdict's possible truths with their chances: itself, or each of the others.
    truths = {}
    for cid, conf in confs.items():
        others = _others(verdicts[cid])
        truths[cid] = [(verdicts[cid], conf), *((o, (1.0 - conf) / len(others)) for o in others)]
    ranked = sorted(confs, key=confs.get)  # the least sure first
    exact, cases = [], 1
    for cid in ranked:  # as many as RISK_CASES allows
        if cases * len(truths[cid]) > RISK_CASES:
            break
        exact.append(cid)
        cases *= len(truths[cid])
    risk = 0.0
    for combo in itertools.product(*(truths[cid] for cid in exact)):
        chance = math.prod(p for _, p in combo)
        if chance and compute_score({**verdicts, **{cid: v for cid, (v, _) in zip(exact, combo, strict=True)}},
                                    grid)[1] != passed:
            risk += chance
    # The surer verdicts beyond those: each changes the result alone or not at all, as far as it matters.
    right = 1.0 - risk
    for cid in ranked[len(exact):]:
        for other, p in truths[cid][1:]:
            if compute_score({**verdicts, cid: other}, grid)[1] != passed:
                right *= 1.0 - p
    return round(min(1.0, max(0.0, 1.0 - right)), 3)


def _others(verdict: str) -> tuple[str, ...]:
    # What a wrong verdict really was: the other of pass and fail, and either for a « na ».
    return ("pass", "fail") if verdict == "na" else ("fail" if verdict == "pass" else "pass",)


def recommendations(grid: Grid, criteria: list[dict]) -> list[str]:
    """One French piece of advice per failed criterion: the grid's own, or a generic one naming it."""
    out = []
    for item in criteria:
        if item["verdict"] != "fail":
            continue
        c = grid.criterion(item["id"])
        out.append(c.recommendation or f"Travaillez le critère « {c.label} » : il n'est pas atteint sur cet appel.")
    return out
