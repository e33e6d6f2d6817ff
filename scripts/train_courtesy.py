"""Train the courtesy classifier of agent lines and write ``ccr/scoring/data/courtesy/model.npz``.

    python -m scripts.train_courtesy            # train on the banks, write the model
    python -m scripts.train_courtesy --report   # also: figures on lines written apart by other writers
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ccr.scoring import actrules, acts, courtesy
from ccr.scoring.grid import default_grid
from scripts import line_classifier

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# Agent lines, discourteous or not, never trained on: the act bank's sixth pass, a helper who read nothing of the
# project, another who wrote for this classifier alone, and a third, mostly implicit rudeness and its lookalikes.
HELDOUT = {"sixth pass": FIXTURES / "acts" / "heldout-politeness.jsonl",
           "other writer": FIXTURES / "acts" / "heldout-politeness-2.jsonl",
           "written for courtesy": FIXTURES / "courtesy" / "heldout.jsonl",
           "implicit, third writer": FIXTURES / "courtesy" / "heldout-2.jsonl"}


def read_lines(path: Path) -> list[tuple[str, bool]]:
    """Agent lines and whether each is discourteous, from either held-out format (``impolite`` or ``acts``)."""
    rude = set(acts.RUDE_ACTS)
    return [(row["text"], bool(row["impolite"]) if "impolite" in row else bool(rude & set(row["acts"])))
            for _, row in acts.jsonl_rows(path)]


def ranking_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Share of (discourteous, courteous) pairs ranked the right way round, ties counting half."""
    wins = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(wins / max(1, len(pos) * len(neg)))


def readings(model: acts.ActModel, lines: list[tuple[str, bool]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each line's act-model impolite probability, courtesy probability, and truth."""
    act = acts.default_model()
    act.prepare([t for t, _ in lines])
    rude = [act.acts.index(a) for a in acts.RUDE_ACTS]
    a = np.array([act.probabilities(t)[rude].max() for t, _ in lines])
    c = np.array([courtesy.probability(t, model) for t, _ in lines])
    return a, c, np.array([truth for _, truth in lines])


def figures(model: acts.ActModel, lines: list[tuple[str, bool]]) -> dict[str, float]:
    """AUC of the act model and of the classifier, and the share of discourteous and courteous lines counted
    impolite by the act model's bar alone, and by it or the two readings together (as the scorer counts them)."""
    a, c, y = readings(model, lines)
    bar = min(default_grid().criterion("politesse").params["min_probability"].values())
    alone = a >= bar
    counted = alone | ((a >= bar - actrules.RUDE_REVIEW_BAND) & (c >= bar))
    return {"act_auc": ranking_auc(a[y], a[~y]), "auc": ranking_auc(c[y], c[~y]),
            "bar_rude": float(alone[y].mean()), "bar_polite": float(alone[~y].mean()),
            "both_rude": float(counted[y].mean()), "both_polite": float(counted[~y].mean())}


def report(model: acts.ActModel) -> None:
    """Print the held-out figures."""
    for name, path in HELDOUT.items():
        f = figures(model, read_lines(path))
        print(f"{name} : AUC {f['act_auc']:.3f} (modèle d'actes) -> {f['auc']:.3f} ; impolies comptées "
              f"{100 * f['bar_rude']:.1f} % -> {100 * f['both_rude']:.1f} %, polies comptées "
              f"{100 * f['bar_polite']:.1f} % -> {100 * f['both_polite']:.1f} %")


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out figures, and write the model."""
    return line_classifier.run(argv, __doc__, courtesy.training_lines, courtesy.train, courtesy.training_hash,
                               courtesy.MODEL_PATH, report)


if __name__ == "__main__":
    sys.exit(main())
