"""Train the model that puts sentence ends back into unpunctuated turns (``ccr/scoring/data/boundaries/``).

    python -m scripts.train_boundaries            # train on every line bank, write the model
    python -m scripts.train_boundaries --report   # also: train on nine tenths of the lines, print the sentence
                                                  # ends found in turns made of the last tenth, and in the
                                                  # held-out turns written apart (tests/fixtures/boundaries)

It learns from where the writers of the act, category, courtesy, feeling and reply banks ended their sentences
(a few seconds on one core). No call transcript is read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from ccr.scoring import acts, boundaries, categories, courtesy, feelings, replies

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "boundaries" / "heldout.jsonl"
BANKS = (acts.BANK_PATH, categories.BANK_PATH, categories.OPENERS_PATH, courtesy.BANK_PATH, feelings.BANK_PATH,
         replies.BANK_PATH)


def training_lines() -> dict[str, list[str]]:
    """Every bank line, by speaker (agent or customer)."""
    examples = (acts.read_bank() + categories.read_bank() + categories.read_openers() + courtesy.read_bank()
                + feelings.read_bank() + replies.read_bank())
    out: dict[str, list[str]] = {}
    for e in examples:
        out.setdefault(e.speaker, []).append(e.text)
    return out


def training_hash() -> str:
    """A digest of the banks the model learns from, recorded in it to detect a stale one."""
    return acts.banks_sha256(*BANKS)


def read_heldout(path: Path = HELDOUT) -> list[str]:
    """Held-out punctuated turns (JSON lines: text, speaker)."""
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_tenth(lines: dict[str, list[str]], seed: int = 1) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The lines of each speaker shuffled once and cut into nine tenths to train on and a tenth to measure on."""
    rng = random.Random(seed)
    train, held = {}, {}
    for speaker, texts in sorted(lines.items()):
        texts = texts[:]
        rng.shuffle(texts)
        cut = len(texts) // 10
        held[speaker], train[speaker] = texts[:cut], texts[cut:]
    return train, held


def _print_scores(title: str, scores: tuple[float, float, float]) -> None:
    print(f"{title} : précision {scores[0]:.3f}, rappel {scores[1]:.3f}, F1 {scores[2]:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out figures, and write the model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print held-out figures before writing")
    args = parser.parse_args(argv)
    lines = training_lines()
    if args.report:
        train, held = split_tenth(lines)
        model = boundaries.train(boundaries.training_turns(train))
        _print_scores("dernier dixième des banques", boundaries.boundary_scores(
            model, boundaries.training_turns(held, seed=5, copies=1)))
        if HELDOUT.exists():
            _print_scores("tours écrits à part", boundaries.boundary_scores(model, read_heldout()))
    t0 = time.perf_counter()
    turns = boundaries.training_turns(lines)
    model = boundaries.train(turns, bank_hash=training_hash())
    print(f"entraînement sur {len(turns)} tours : {time.perf_counter() - t0:.1f} s")
    model.save(boundaries.MODEL_PATH)
    print(f"modèle écrit : {boundaries.MODEL_PATH} ({boundaries.MODEL_PATH.stat().st_size / 1e6:.1f} Mo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
