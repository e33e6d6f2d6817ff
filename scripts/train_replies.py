"""Train the customer-reply classifier from its bank and write ``ccr/scoring/data/replies/model.npz``.

    python -m scripts.train_replies            # train on the whole bank, write the model
    python -m scripts.train_replies --report   # also: precision and recall on replies written in another style
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccr.scoring import acts, replies
from scripts import line_classifier

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replies"
# Per reply, customer lines written apart from the bank, in other voices: never trained or tuned on.
HELDOUT = {"no_other_need": FIXTURES / "heldout.jsonl", "gives_identity": FIXTURES / "identity-heldout.jsonl"}


def read_heldout(path: Path = HELDOUT["no_other_need"]) -> list[tuple[str, bool]]:
    """Held-out customer lines and whether each is the reply its file is about."""
    return [(row["text"], bool(row["label"])) for _, row in acts.jsonl_rows(path)]


def precision_recall(model: acts.ActModel, lines: list[tuple[str, bool]], reply: str = "no_other_need",
                     threshold: float = replies.THRESHOLD) -> tuple[float, float]:
    """Precision and recall of ``reply`` at ``threshold`` on labelled lines."""
    said = [(replies.probability(text, reply, model) >= threshold, truth) for text, truth in lines]
    tp = sum(s and t for s, t in said)
    return tp / max(1, sum(s for s, _ in said)), tp / max(1, sum(t for _, t in said))


def report(model: acts.ActModel) -> None:
    """Print each reply's precision and recall on its held-out lines."""
    for reply, path in HELDOUT.items():
        if path.exists():
            precision, recall = precision_recall(model, read_heldout(path), reply)
            print(f"{reply}, jeu tenu à l'écart : précision {precision:.3f}, rappel {recall:.3f} "
                  f"(seuil {replies.THRESHOLD:g})")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out precision and recall, and write the model."""
    return line_classifier.run(argv, __doc__, replies.training_lines, replies.train, replies.training_hash,
                               replies.MODEL_PATH, report)


if __name__ == "__main__":
    sys.exit(main())
