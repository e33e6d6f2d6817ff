"""Train the call-category classifier from its bank and write ``ccr/scoring/data/categories/model.npz``.

    python -m scripts.train_categories            # train on the whole bank, write the model
    python -m scripts.train_categories --report   # also: accuracy on the held-out reasons written in another style
                                                  # and on those of another writer in the newer sectors
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccr.scoring import acts, categories
from scripts import line_classifier

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "categories"
HELDOUT = FIXTURES / "heldout.jsonl"
OPENERS_HELDOUT = FIXTURES / "openers-heldout.jsonl"
# Reasons from the sectors of the bank's third pass, by a writer who read only the category definitions.
SECTORS = FIXTURES / "sectors-other-writer.jsonl"


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


def report(model: acts.ActModel) -> None:
    """Print the accuracy on the held-out reasons and how the held-out openers are read."""
    for title, path in (("jeu tenu à l'écart", HELDOUT), ("secteurs de la troisième passe, autre auteur", SECTORS)):
        if path.exists():
            overall, per = accuracy(model, categories.read_bank(path))
            print(f"{title} : exactitude {overall:.3f} ; " + ", ".join(f"{c} {v:.2f}" for c, v in per.items()))
    if OPENERS_HELDOUT.exists():
        vague, named = read_openers_heldout()
        print(f"entrées en matière tenues à l'écart : {topicless_share(model, vague):.3f} sans sujet sûr "
              f"({len(vague)} sans sujet) ; exactitude {accuracy(model, named)[0]:.3f} ({len(named)} avec sujet)")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out accuracy, and write the model."""
    return line_classifier.run(argv, __doc__, categories.training_lines, categories.train, categories.training_hash,
                               categories.MODEL_PATH, report)


if __name__ == "__main__":
    sys.exit(main())
