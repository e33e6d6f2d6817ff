"""Train the classifier of words of feeling and write ``ccr/scoring/data/feelings/model.npz``.

    python -m scripts.train_feelings            # train on the bank, write the model
    python -m scripts.train_feelings --report   # also: figures on lines written apart by another writer
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccr.scoring import acts, feelings
from scripts import line_classifier

# Customer lines each holding a word of feeling, half meant, half not, written apart from the bank by another
# writer: never trained or tuned on.
HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "feelings" / "heldout.jsonl"


def read_heldout(path: Path = HELDOUT) -> list[tuple[str, bool]]:
    """Held-out customer lines and whether each voices discontent."""
    return [(row["text"], bool(row["discontent"])) for _, row in acts.jsonl_rows(path)]


def figures(model: acts.ActModel, lines: list[tuple[str, bool]]) -> dict[str, float]:
    """Ranking AUC of meant against unmeant lines, and the share of each read at the classifier's threshold."""
    scored = [(feelings.probability(text, model), truth) for text, truth in lines]
    meant = [p for p, t in scored if t]
    unmeant = [p for p, t in scored if not t]
    pairs = sum((m > u) + 0.5 * (m == u) for m in meant for u in unmeant)
    return {"auc": pairs / max(1, len(meant) * len(unmeant)),
            "meant": sum(p >= feelings.THRESHOLD for p in meant) / max(1, len(meant)),
            "unmeant": sum(p >= feelings.THRESHOLD for p in unmeant) / max(1, len(unmeant))}


def report(model: acts.ActModel) -> None:
    """Print the held-out figures."""
    f = figures(model, read_heldout())
    print(f"jeu tenu à l'écart : AUC {f['auc']:.3f} ; au seuil {feelings.THRESHOLD:g}, mécontentement lu "
          f"{100 * f['meant']:.1f} %, mot employé en passant lu {100 * f['unmeant']:.1f} %")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out figures, and write the model."""
    return line_classifier.run(argv, __doc__, feelings.training_lines, feelings.train, feelings.training_hash,
                               feelings.MODEL_PATH, report)


if __name__ == "__main__":
    sys.exit(main())
