"""Train the dialogue-act recogniser from the utterance bank and write ``ccr/data/acts/model.npz``.

    python -m scripts.train_acts            # train on the whole bank, write the model
    python -m scripts.train_acts --report   # also: train on 4/5 of the bank, print F1 on the last fifth
                                            # and on the held-out set written in another style
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ccr import acts

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "acts" / "heldout.jsonl"


ASR_BANK = acts.DATA_DIR / "bank-asr.jsonl"


def fit(examples: list[acts.Example], bank_hash: str = "", asr: list[acts.Example] | None = None) -> acts.ActModel:
    """Train on the lines, their pairs joined into long turns, a speech-recognition-like copy of each, the
    halves of the neutral lines, and the lines as a real recogniser heard them when spoken
    (``bank-asr.jsonl``)."""
    return acts.train(examples + acts.pairs(examples) + acts.noisy_copies(examples) + acts.fragments(examples)
                      + (asr or []), bank_hash=bank_hash)


def print_scores(title: str, scores: dict[str, dict[str, float]]) -> None:
    """One line per act: precision, recall, F1 and support; then the macro F1."""
    print(f"\n{title}")
    print(f"{'acte':24} {'préc.':>6} {'rappel':>6} {'F1':>6} {'n':>5}")
    for act, s in scores.items():
        print(f"{act:24} {s['precision']:6.2f} {s['recall']:6.2f} {s['f1']:6.2f} {s['support']:5d}")
    with_support = [s["f1"] for s in scores.values() if s["support"]]
    print(f"{'F1 macro':24} {'':6} {'':6} {sum(with_support) / max(1, len(with_support)):6.3f}")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out figures, and write the model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print held-out figures before writing")
    args = parser.parse_args(argv)
    bank = acts.read_bank()
    if args.report:
        tuned = [e for i, e in enumerate(bank) if i % 5 != 4]
        held = [e for i, e in enumerate(bank) if i % 5 == 4]
        t0 = time.perf_counter()
        model = fit(tuned)
        print(f"entraînement sur {len(tuned)} lignes : {time.perf_counter() - t0:.1f} s")
        print_scores("Banque, cinquième tenu à l'écart", acts.evaluate(model, held))
        if HELDOUT.exists():
            print_scores("Jeu tenu à l'écart, autre style", acts.evaluate(model, acts.read_bank(HELDOUT)))
    t0 = time.perf_counter()
    asr = acts.read_bank(ASR_BANK) if ASR_BANK.exists() else []
    model = fit(bank, bank_hash=acts.bank_sha256(), asr=asr)
    model.save(acts.MODEL_PATH)
    print("recalibrez ensuite les seuils sur des appels entiers, puis la confiance : "
          "python -m scripts.calibrate_acts && python -m scripts.calibrate_confidence")
    print(f"\nmodèle écrit : {acts.MODEL_PATH} ({acts.MODEL_PATH.stat().st_size / 1e6:.1f} Mo, "
          f"{len(model.feature_ids)} traits, {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
