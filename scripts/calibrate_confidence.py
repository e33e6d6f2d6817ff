"""Fit how often each kind of verdict is right and write ``ccr/scoring/data/acts/reliability.json``.

    python -m scripts.calibrate_confidence     # fit on the first 80 calls of each set, report the last 40

Run it after ``scripts.calibrate_acts`` (thresholds change which verdicts are given). The default grid
scores the tuning calls of public-d and of public-d-asr (the same calls after speech recognition) with raw
confidences; two logistic models learn the probability that the verdict agrees with the label, one for typed
text from the raw confidence alone, one for recognised text from the raw confidence, the call's recognition
quality and the kind of verdict (``ccr.scoring.reliability``). The held-out calls are scored
once at the end: how well the confidence ranks errors (AUC, raw and calibrated), and at the grid's review
threshold the share of criteria flagged, the errors they hold and the agreement on each side. It also
suggests a review threshold: the lowest that sends at least half the tuning errors of every set to a human.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ccr.scoring import acts, reliability
from ccr.scoring.grid import default_grid, default_taxonomy
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import Call, validate_transcript
from scripts.calibrate_acts import EVAL_DIR, HOLDOUT_FROM, load_set

Row = reliability.Row
ERRORS_TO_HOLD = 0.5  # « À revoir » should hold at least half the scorer's errors


def rows_of(calls: list[tuple[dict, dict]]) -> list[Row]:
    """(criterion, method, verdict, confidence, call ASR quality, right) for every criterion of every call."""
    grid, taxonomy = default_grid(), default_taxonomy()
    methods = {c.id: c.method for c in grid.criteria}
    out: list[Row] = []
    for tr, label in calls:
        quality = Call.from_transcript(validate_transcript(tr)).asr_quality
        for c in score_transcript(tr, grid=grid, taxonomy=taxonomy)["criteria"]:
            out.append((c["id"], methods[c["id"]], c["verdict"], c["confidence"], quality,
                        c["verdict"] == label["criteria"][c["id"]]))
    return out


def auc(scores: list[float], right: list[bool]) -> float:
    """The chance that a right verdict gets a higher confidence than a wrong one (ties count half)."""
    pos = [s for s, r in zip(scores, right, strict=True) if r]
    neg = [s for s, r in zip(scores, right, strict=True) if not r]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def flag_figures(conf: list[float], right: list[bool], threshold: float) -> dict:
    """Share flagged, errors held by the flagged verdicts, agreement flagged and unflagged."""
    flagged = [c < threshold for c in conf]
    n_err = sum(not r for r in right)
    f_right = [r for r, f in zip(right, flagged, strict=True) if f]
    u_right = [r for r, f in zip(right, flagged, strict=True) if not f]
    return {"flagged": round(len(f_right) / max(1, len(right)), 3),
            "errors_held": round(sum(not r for r in f_right) / max(1, n_err), 3),
            "agreement_flagged": round(sum(f_right) / max(1, len(f_right)), 3),
            "agreement_unflagged": round(sum(u_right) / max(1, len(u_right)), 3)}


def main(argv: list[str] | None = None) -> int:
    """Fit, report held-out figures, write the calibration."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="public-d,public-d-asr", help="sets under tests/fixtures/eval")
    parser.add_argument("--l2", type=float, default=reliability.DEFAULT_L2,
                        help="weight shrinkage of the logistic model")
    parser.add_argument("--out", type=Path, default=reliability.RELIABILITY_PATH, help="file to write")
    args = parser.parse_args(argv)
    reliability.use_raw(True)
    tuned: list[Row] = []
    tuned_by_set: dict[str, list[Row]] = {}
    held: dict[str, list[Row]] = {}
    for name in (n.strip() for n in args.sets.split(",") if n.strip()):
        calls = load_set(EVAL_DIR / name)
        tuned_by_set[name] = rows_of(calls[:HOLDOUT_FROM])
        tuned += tuned_by_set[name]
        held[name] = rows_of(calls[HOLDOUT_FROM:])
    reliability.use_raw(False)
    rel = reliability.fit(tuned, l2=args.l2)
    # The suggested threshold: the lowest that sends at least half the tuning errors of every set to a human.
    def holds_enough(t: float) -> bool:
        return all(flag_figures([rel.probability(*r[:5]) for r in rows], [r[5] for r in rows], t)["errors_held"]
                   >= ERRORS_TO_HOLD for rows in tuned_by_set.values())

    suggested = next((t / 100 for t in range(50, 100) if holds_enough(t / 100)), 0.99)
    threshold = default_grid().review_threshold
    figures: dict[str, dict] = {"suggested_review_threshold": suggested}
    print(f"ajusté sur {len(tuned)} verdicts ; seuil suggéré {suggested} (la moitié des erreurs de réglage de "
          f"chaque jeu signalées) ; seuil de revue de la grille : {threshold}")
    for name, rows in held.items():
        right = [r[5] for r in rows]
        raw = [r[3] for r in rows]
        cal = [rel.probability(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        fig = {"auc_raw": round(auc(raw, right), 3), "auc_calibrated": round(auc(cal, right), 3),
               **flag_figures(cal, right, threshold)}
        figures[name] = fig
        print(f"{name} tenus à l'écart ({len(rows)} verdicts) : AUC brute {fig['auc_raw']:.3f}, calibrée "
              f"{fig['auc_calibrated']:.3f} ; {fig['flagged']:.0%} signalés, {fig['errors_held']:.0%} des erreurs "
              f"signalées, accord signalés {fig['agreement_flagged']:.1%}, non signalés "
              f"{fig['agreement_unflagged']:.1%}")
    args.out.write_text(json.dumps(rel.to_json(acts.model_fingerprint(), figures), indent=1)
                        + "\n", encoding="utf-8")
    print(f"écrit : {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
