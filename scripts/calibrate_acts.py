"""Calibrate the dialogue-act thresholds on whole calls and write ``ccr/scoring/data/acts/calibration.json``.

    python -m scripts.calibrate_acts   # tune on the first 80 calls of public-d and public-d-asr, report the rest

The act model's probabilities are fitted on single lines; in a call, what matters is whether a criterion's
verdict is right. Each act's threshold is chosen by coordinate ascent on the agreement of the default grid's
verdicts and irritants with the labels of the tuning calls only (``d21-000``…``d21-079``), clean and as a
speech recogniser heard them: CCR scores both, and thresholds fitted on clean text alone miss the acts a
recogniser garbles. Clean calls count twice: most text CCR is judged on is clean or well recognised. The
held-out calls are scored once at the end and reported beside; they never steer a choice. The file records
the model's fingerprint: thresholds fitted to one model are ignored by another (retrain, then recalibrate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ccr.scoring import acts
from ccr.scoring.grid import default_grid, default_taxonomy
from ccr.scoring.score import score_transcript

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT / "tests" / "fixtures" / "eval"
SET_DIR = EVAL_DIR / "public-d"
HOLDOUT_FROM = 80  # the same split as benchmarks/bench_scoring.py
# 0.2 to 0.9 in steps of 0.05: the embedding reader's probabilities are smooth, and steps of 0.1 moved some
# irritant thresholds a whole step past the best value.
CANDIDATES = tuple(round(0.2 + 0.05 * i, 2) for i in range(15))
SWEEPS = 2
IRRITANT_WEIGHT = 0.5  # irritant F1 counts half as much as the criteria agreement


def load_set(directory: Path = SET_DIR) -> list[tuple[dict, dict]]:
    """(transcript, label) pairs in call-id order."""
    labels = [json.loads(x) for x in (directory / "labels.jsonl").read_text(encoding="utf-8").splitlines() if x]
    labels.sort(key=lambda r: r["call_id"])
    return [(json.loads((directory / "transcripts" / f"{r['call_id']}.json").read_text(encoding="utf-8")), r)
            for r in labels]


def objective(calls: list[tuple[dict, dict]]) -> tuple[float, float, float]:
    """(objective, criteria agreement, irritant F1) of the default grid on labelled calls."""
    grid, taxonomy = default_grid(), default_taxonomy()
    agree = total = tp = n_pred = n_gold = 0
    for tr, label in calls:
        r = score_transcript(tr, grid=grid, taxonomy=taxonomy)
        for c in r["criteria"]:
            agree += c["verdict"] == label["criteria"][c["id"]]
            total += 1
        got, gold = {x["label"] for x in r["irritants"]}, set(label["irritants"])
        tp, n_pred, n_gold = tp + len(got & gold), n_pred + len(got), n_gold + len(gold)
    rate = agree / max(1, total)
    p, r = tp / max(1, n_pred), tp / max(1, n_gold)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return rate + IRRITANT_WEIGHT * f1, rate, f1


def used_acts() -> list[str]:
    """The acts the default grid and taxonomy read (the only thresholds worth tuning)."""
    text = json.dumps([c.params for c in default_grid().criteria]) + json.dumps(
        [i.act for i in default_taxonomy().irritants])
    return [a for a in acts.ACTS if f'"{a}"' in text]


def main(argv: list[str] | None = None) -> int:
    """Tune, report tuned and held-out figures, write the calibration file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=acts.MODEL_PATH, help="model to calibrate")
    parser.add_argument("--out", type=Path, default=acts.CALIBRATION_PATH, help="calibration file to write")
    parser.add_argument("--sets", default="public-d:2,public-d-asr:1",
                        help="comma-separated sets under tests/fixtures/eval to tune on together, each with an "
                             "optional weight (default: the calls clean, counted twice, and after speech "
                             "recognition)")
    args = parser.parse_args(argv)
    weights = {n: int(w or 1) for n, _, w in (x.strip().partition(":") for x in args.sets.split(",")) if n}
    names = list(weights)
    sets = {n: load_set(EVAL_DIR / n) for n in names}
    # A set of weight 2 counts its tuning calls twice in the objective.
    tuned = [c for n, calls in sets.items() for _ in range(weights[n]) for c in calls[:HOLDOUT_FROM]]
    held = [c for n, calls in sets.items() for _ in range(weights[n]) for c in calls[HOLDOUT_FROM:]]
    base = acts.ActModel.load(args.model)
    cache: dict[str, np.ndarray] = {}
    raw = acts.ActModel.probabilities

    def cached(self: acts.ActModel, text: str) -> np.ndarray:
        if self.acts != base.acts:  # the category model shares the class, not the weights
            return raw(self, text)
        if text not in cache:
            cache[text] = raw(base, text)
        return cache[text]

    acts.ActModel.probabilities = cached  # the weights never change here, only thresholds
    thresholds = dict.fromkeys(used_acts(), acts.DEFAULT_THRESHOLD)

    def score(th: dict[str, float], part: list) -> tuple[float, float, float]:
        acts.install_model(base.with_thresholds(th))
        return objective(part)

    t0 = time.perf_counter()
    before = score(thresholds, tuned)
    best = before[0]
    for sweep in range(SWEEPS):
        for act in list(thresholds):
            for v in CANDIDATES:
                trial = {**thresholds, act: v}
                got = score(trial, tuned)[0]
                if got > best + 1e-9:
                    best, thresholds = got, trial
        print(f"passe {sweep + 1} : objectif {best:.4f} ({time.perf_counter() - t0:.0f} s)")
    after_t, after_h = score(thresholds, tuned), score(thresholds, held)
    before_h = score(dict.fromkeys(thresholds, acts.DEFAULT_THRESHOLD), held)
    print(f"réglés ({len(tuned)} appels)   : critères {before[1]:.3f} -> {after_t[1]:.3f}, irritants F1 "
          f"{before[2]:.2f} -> {after_t[2]:.2f}")
    print(f"tenus à l'écart ({len(held)}) : critères {before_h[1]:.3f} -> {after_h[1]:.3f}, irritants F1 "
          f"{before_h[2]:.2f} -> {after_h[2]:.2f}")
    for n, calls in sets.items():
        t, h = score(thresholds, calls[:HOLDOUT_FROM]), score(thresholds, calls[HOLDOUT_FROM:])
        print(f"  {n:14} réglés : critères {t[1]:.3f}, irritants F1 {t[2]:.2f} ; tenus à l'écart : critères "
              f"{h[1]:.3f}, irritants F1 {h[2]:.2f}")
    tuned_on = " + ".join(f"{n} (80 premiers appels, poids {weights[n]})" for n in names)
    out = {"model": base.fingerprint(), "tuned_on": tuned_on,
           "thresholds": {a: v for a, v in thresholds.items() if v != acts.DEFAULT_THRESHOLD},
           "figures": {"tuned_criteria": round(after_t[1], 4), "tuned_irritant_f1": round(after_t[2], 4),
                       "heldout_criteria": round(after_h[1], 4), "heldout_irritant_f1": round(after_h[2], 4)}}
    acts.install_model(None)
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"écrit : {args.out} ; seuils : {out['thresholds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
