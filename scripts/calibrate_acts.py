"""Calibrate the dialogue-act thresholds on whole calls and write ``ccr/scoring/data/acts/calibration.json``.

    python -m scripts.calibrate_acts               # tune on the first 80 calls of public-d and public-d-asr,
                                                   # report the rest
    python -m scripts.calibrate_acts --keep-bars   # a retrain that only corrected labels: keep the bars
    python -m scripts.calibrate_acts --only reformulation   # a bank pass aimed at one act: tune its bars
                                                            # alone, the others kept from the file in place
    python -m scripts.calibrate_acts --heard-only  # a change in how recognised lines are read: typed bars
                                                   # kept, the heard ones tuned again from those in place

The act model's probabilities are fitted on single lines; in a call, what matters is whether a criterion's
verdict is right. Each act's threshold is chosen by coordinate ascent on the agreement of the default grid's
verdicts and irritants with the labels of the tuning calls only (``d21-000``…``d21-079``). The shared bars
are tuned on the calls clean (counted twice) and as a speech recogniser heard them; then the bars for heard
lines start from those and move only where the recognised calls ask for it: a recogniser garbles acts, and a
bar low enough to find them there lets lookalikes through on clean text (a line heard clearly is read
against bars between the two, see ``acts.heard_weight``). Tuned alone on 80 clean calls, the
clean bars fitted those calls and lost irritants on the held-out ones, so typed text keeps the shared bars.
The held-out calls are scored once at the end and reported beside; they never steer a choice. The file
records the model's fingerprint: thresholds fitted to one model are ignored by another (retrain, then
recalibrate). It also records the fingerprint of the model that puts sentence ends back into unpunctuated
turns (``ccr.scoring.boundaries``), under whose reading the bars were tuned: a test fails when that model is
retrained and the bars are not tuned again (``--heard-only`` is enough, typed text being punctuated).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ccr.scoring import acts, boundaries
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


def ascend(base: acts.ActModel, tuned: list, start: dict[str, float], heard: bool,
           only: Sequence[str] = (), typed: dict[str, float] | None = None) -> dict[str, float]:
    """Coordinate ascent of the used acts' thresholds (or of ``only`` those) on the tuning calls, from
    ``start``: the bars for both kinds of line, or (``heard``) those for recognised lines alone, typed lines
    keeping ``typed`` (``start`` when not given)."""
    typed = start if typed is None else typed
    thresholds = dict(start)
    best = score(base, typed, thresholds, tuned, heard)[0]
    t0 = time.perf_counter()
    for sweep in range(SWEEPS):
        for act in [a for a in thresholds if not only or a in only]:
            for v in CANDIDATES:
                trial = {**thresholds, act: v}
                got = score(base, typed, trial, tuned, heard)[0]
                if got > best + 1e-9:
                    best, thresholds = got, trial
        print(f"{'à l’écoute' if heard else 'communs'}, passe {sweep + 1} : objectif {best:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return thresholds


def score(base: acts.ActModel, shared: dict[str, float], th: dict[str, float], calls: list,
          heard: bool) -> tuple[float, float, float]:
    """The objective on ``calls`` with bars ``th`` for every line, or (``heard``) for recognised lines only."""
    acts.install_model(base.with_thresholds(shared, heard=th) if heard else base.with_thresholds(th))
    return objective(calls)


def weighted(sets: dict[str, list], weights: dict[str, int], part: slice) -> list:
    """The calls of ``part`` of every set, each set repeated as many times as its weight."""
    return [c for n, calls in sets.items() for _ in range(weights[n]) for c in calls[part]]


def main(argv: list[str] | None = None) -> int:
    """Tune the shared bars, then the bars for heard lines; report tuned and held-out figures; write the file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=acts.MODEL_PATH, help="model to calibrate")
    parser.add_argument("--out", type=Path, default=acts.CALIBRATION_PATH, help="calibration file to write")
    parser.add_argument("--clean", default="public-d", help="set of typed calls under tests/fixtures/eval")
    parser.add_argument("--heard", default="public-d-asr", help="the same calls after speech recognition")
    parser.add_argument("--heard-from", choices=("shared", "shipped"), default="shared",
                        help="where the heard bars' ascent starts: the shared bars just tuned, or the heard bars "
                             "of the calibration file in place (how the shipped ones were last tuned)")
    kept = parser.add_mutually_exclusive_group()  # --only retunes some bars, --keep-bars none
    kept.add_argument("--keep-bars", action="store_true",
                      help="no ascent: give the bars of the calibration file in place to the retrained model "
                           "and report its figures (a retrain that only corrects labels)")
    kept.add_argument("--only", nargs="+", default=(), metavar="ACT",
                      help="tune these acts' bars alone, from the bars of the calibration file in place (a bank "
                           "pass aimed at these acts)")
    kept.add_argument("--heard-only", action="store_true",
                      help="keep the typed bars of the calibration file in place and tune the bars for heard "
                           "lines again, from those in place (a change that only moves recognised lines)")
    args = parser.parse_args(argv)
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
    sets = {args.clean: load_set(EVAL_DIR / args.clean), args.heard: load_set(EVAL_DIR / args.heard)}
    tune, hold = slice(None, HOLDOUT_FROM), slice(HOLDOUT_FROM, None)
    default = dict.fromkeys(used_acts(), acts.DEFAULT_THRESHOLD)
    in_place = acts.read_calibration()
    in_place_heard = {a: v for a, v in (in_place.get("heard_thresholds") or {}).items() if a in default}
    unknown = [a for a in args.only if a not in default]
    if unknown:
        parser.error(f"actes inconnus ou non lus par la grille : {', '.join(unknown)}")
    if args.keep_bars or args.only or args.heard_only:
        shared = {**default, **{a: v for a, v in (in_place.get("thresholds") or {}).items() if a in default}}
        heard = {**shared, **in_place_heard}
        tuned_on = f"seuils gardés du fichier en place ({in_place.get('tuned_on', 'réglage inconnu')})"
        if args.only:
            shared = ascend(base, weighted(sets, {args.clean: 2, args.heard: 1}, tune), shared, heard=False,
                            only=args.only)
            start = {**shared, **{a: v for a, v in heard.items() if a not in args.only}}
            heard = ascend(base, sets[args.heard][tune], start, heard=True, only=args.only, typed=shared)
            tuned_on = (f"{', '.join(args.only)} réglé(s) sur les 80 premiers appels de {args.clean} (poids 2) et "
                        f"{args.heard} (poids 1), puis {args.heard} seul pour les lignes entendues ; autres "
                        + tuned_on)
        elif args.heard_only:
            heard = ascend(base, sets[args.heard][tune], heard, heard=True, typed=shared)
            tuned_on = (f"seuils du texte gardés, seuils des lignes entendues réglés de nouveau sur les 80 premiers "
                        f"appels de {args.heard} ; " + tuned_on)
    else:
        # Clean calls count twice: most text CCR is judged on is clean or well recognised.
        shared = ascend(base, weighted(sets, {args.clean: 2, args.heard: 1}, tune), default, heard=False)
        start = shared
        if args.heard_from == "shipped":
            start = {**shared, **in_place_heard}
        heard = ascend(base, sets[args.heard][tune], start, heard=True)
        tuned_on = (f"{args.clean} (poids 2) et {args.heard} (poids 1), puis {args.heard} seul pour les lignes "
                    "entendues ; 80 premiers appels de chacun")
    reading = boundaries.default_model()  # the sentence ends put back shape what the bars were tuned on
    out: dict = {"model": base.fingerprint(), "reading": reading.fingerprint() if reading else None,
                 "figures": {}, "tuned_on": tuned_on}
    for name, calls in sets.items():
        before = [score(base, default, default, calls[part], False) for part in (tune, hold)]
        after = [score(base, shared, heard, calls[part], True) for part in (tune, hold)]
        for (label, part), b, a in zip((("réglés", tune), ("tenus à l'écart", hold)), before, after, strict=True):
            print(f"{name} {label} ({len(calls[part])} appels) : critères {b[1]:.3f} -> {a[1]:.3f}, "
                  f"irritants F1 {b[2]:.2f} -> {a[2]:.2f}")
        out["figures"][name] = {"tuned_criteria": round(after[0][1], 4), "tuned_irritant_f1": round(after[0][2], 4),
                                "heldout_criteria": round(after[1][1], 4),
                                "heldout_irritant_f1": round(after[1][2], 4)}
    out["thresholds"] = {a: v for a, v in shared.items() if v != acts.DEFAULT_THRESHOLD}
    out["heard_thresholds"] = {a: v for a, v in heard.items() if v != shared[a]}
    acts.install_model(None)
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"écrit : {args.out} ; seuils : {out['thresholds']} ; à l'écoute : {out['heard_thresholds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
