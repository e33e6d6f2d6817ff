"""The embedding head: members averaged, old one-network files, and why several members."""

from __future__ import annotations

import numpy as np
import pytest

from ccr.scoring import dense_head
from ccr.scoring.dense_head import DenseHead

SETTINGS = {"epochs": 150, "l2": 1e-3, "hidden": 16, "lr": 0.03}


def noisy_task(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of 12 features whose label depends on two of them, through a ring, with one label in ten flipped."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    y = ((x[:, 0] ** 2 + x[:, 1] ** 2) > 1.4).astype(np.float32)
    flip = rng.random(300) < 0.1
    y[flip] = 1.0 - y[flip]
    return x, np.stack([y, 1.0 - y], axis=1), np.ones((300, 2), dtype=np.float32)


def test_a_head_reads_the_mean_of_its_members_probabilities():
    x, y, w = noisy_task()
    both = dense_head.fit(x, y, w, seeds=(0, 1, 2), **SETTINGS)
    alone = [dense_head.fit(x, y, w, seeds=(s,), **SETTINGS) for s in (0, 1, 2)]
    assert both.members == 3
    assert both.probabilities(x) == pytest.approx(np.mean([h.probabilities(x) for h in alone], axis=0), abs=1e-5)
    assert not np.allclose(alone[0].probabilities(x), alone[1].probabilities(x), atol=1e-3)  # starts do matter


def test_a_file_written_before_members_loads_as_one_network_reading_the_same():
    x, y, w = noisy_task()
    head = dense_head.fit(x, y, w, seeds=(4,), **SETTINGS)
    old = {k: v[0] if k in ("hidden_weights", "hidden_bias", "weights", "bias") else v
           for k, v in head.arrays().items()}
    assert old["hidden_weights"].ndim == 2
    loaded = DenseHead.from_arrays(old)
    assert loaded.members == 1
    # Exactly the single network's products, in its order: the shipped model's readings do not move.
    xs = (x - old["mean"]) / old["std"]
    plain = 1.0 / (1.0 + np.exp(-(np.maximum(xs @ old["hidden_weights"] + old["hidden_bias"], 0.0) @ old["weights"]
                                  + old["bias"])))
    assert np.array_equal(loaded.probabilities(x), plain)


def test_averaged_members_move_less_between_two_trainings_than_one_network():
    # Trained from disjoint random starts on the same rows, two heads of five members disagree on unseen rows
    # far less than two single networks: what keeps a retrain from flipping lines it was not aimed at.
    x, y, w = noisy_task()
    unseen = np.random.default_rng(11).standard_normal((500, 12)).astype(np.float32)

    def spread(a: tuple[int, ...], b: tuple[int, ...]) -> float:
        pa, pb = (dense_head.fit(x, y, w, seeds=s, **SETTINGS).probabilities(unseen)[:, 0] for s in (a, b))
        return float(np.abs(pa - pb).mean())

    single = spread((0,), (5,))
    several = spread((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
    assert several < 0.75 * single, (several, single)
