"""Train the call-category classifier from its bank and write ``ccr/scoring/data/categories/model.npz``.

    python -m scripts.train_categories            # train on the whole bank, write the model
    python -m scripts.train_categories --report   # also: accuracy on the held-out reasons written in another style
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ccr.scoring import acts, categories

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "categories"
HELDOUT = FIXTURES / "heldout.jsonl"
OPENERS_HELDOUT = FIXTURES / "openers-heldout.jsonl"


def accuracy(model: acts.ActModel, examples: list[acts.Example]) -> tuple[float, dict[str, float]]:
    """Share of lines whose most probable category is the labelled one, overall and per category."""
    right: dict[str, list[int]] = {c: [0, 0] for c in categories.CATEGORIES}
    for e in examples:
        scores = categories.line_scores(e.text, model)
        gold = next(iter(e.acts))
        right[gold][0] += max(scores, key=scores.get) == gold
        right[gold][1] += 1
    total = sum(r[1] for r in right.values())
    return sum(r[0] for r in right.values()) / max(1, total), {c: r[0] / max(1, r[1]) for c, r in right.items()}


def read_openers_heldout(path: Path = OPENERS_HELDOUT) -> tuple[list[str], list[acts.Example]]:
    """Held-out openers: the texts that name no topic, and those that do as labelled examples."""
    vague, named = [], []
    for _, row in acts.jsonl_rows(path):
        if row["category"] is None:
            vague.append(row["text"])
        else:
            named.append(acts.Example(text=row["text"], speaker="customer", acts=frozenset({row["category"]})))
    return vague, named


def topicless_share(model: acts.ActModel, texts: list[str]) -> float:
    """Share of ``texts`` on which the classifier is sure of no category (none reaches the main-reason floor)."""
    sure = [max(categories.line_scores(t, model).values()) < categories.TOPIC_FLOOR for t in texts]
    return sum(sure) / max(1, len(sure))


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out accuracy, and write the model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print held-out accuracy before writing")
    args = parser.parse_args(argv)
    bank = categories.training_lines()
    t0 = time.perf_counter()
    model = categories.train(bank, bank_hash=categories.training_hash())
    print(f"entraînement sur {len(bank)} lignes : {time.perf_counter() - t0:.1f} s")
    if args.report and HELDOUT.exists():
        overall, per = accuracy(model, categories.read_bank(HELDOUT))
        print(f"jeu tenu à l'écart : exactitude {overall:.3f} ; " + ", ".join(f"{c} {v:.2f}" for c, v in per.items()))
    if args.report and OPENERS_HELDOUT.exists():
        vague, named = read_openers_heldout()
        print(f"entrées en matière tenues à l'écart : {topicless_share(model, vague):.3f} sans sujet sûr "
              f"({len(vague)} sans sujet) ; exactitude {accuracy(model, named)[0]:.3f} ({len(named)} avec sujet)")
    model.save(categories.MODEL_PATH)
    print(f"modèle écrit : {categories.MODEL_PATH} ({categories.MODEL_PATH.stat().st_size / 1e6:.1f} Mo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
