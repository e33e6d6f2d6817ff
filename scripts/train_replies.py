"""Train the customer-reply classifier from its bank and write ``ccr/scoring/data/replies/model.npz``.

    python -m scripts.train_replies            # train on the whole bank, write the model
    python -m scripts.train_replies --report   # also: precision and recall on replies written in another style
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccr.scoring import acts, replies
from scripts import line_classifier

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replies" / "heldout.jsonl"


def read_heldout(path: Path = HELDOUT) -> list[tuple[str, bool]]:
    """Held-out customer lines and whether each says the customer needs nothing more."""
    return [(row["text"], bool(row["label"])) for _, row in acts.jsonl_rows(path)]


def precision_recall(model: acts.ActModel, lines: list[tuple[str, bool]],
                     threshold: float = replies.THRESHOLD) -> tuple[float, float]:
    """Precision and recall of « needs nothing more » at ``threshold`` on labelled lines."""
    said = [(replies.probability(text, "no_other_need", model) >= threshold, truth) for text, truth in lines]
    tp = sum(s and t for s, t in said)
    return tp / max(1, sum(s for s, _ in said)), tp / max(1, sum(t for _, t in said))


def report(model: acts.ActModel) -> None:
    """Print precision and recall on the held-out replies."""
    if HELDOUT.exists():
        precision, recall = precision_recall(model, read_heldout())
        print(f"jeu tenu à l'écart : précision {precision:.3f}, rappel {recall:.3f} (seuil {replies.THRESHOLD:g})")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out precision and recall, and write the model."""
    return line_classifier.run(argv, __doc__, replies.training_lines, replies.train, replies.training_hash,
                               replies.MODEL_PATH, report)


if __name__ == "__main__":
    sys.exit(main())
