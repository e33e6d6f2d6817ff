"""A small network that reads sentence embeddings: one hidden layer of rectified units, one logistic output per
label; trained as one network, or as several from different random starts whose probabilities are averaged.

Why several members: a network's readings depend on where its hidden layer started. Retrained on the same
lines from another start, one network moved the readings of the evaluation calls' lines by 0.04 at the 95th
percentile (up to 0.23), enough to push lines across their act's bar: a bank pass that helps on average then
breaks calls it never touched. Five members move half as much between two trainings (figures in
``ccr/scoring/data/acts/README.md``) and cost little at run time: the encoder, the expensive part, is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

_MEMBER_ARRAYS = ("hidden_weights", "hidden_bias", "weights", "bias")


class Adam:
    """Full-batch Adam over named parameter arrays, updated in place; deterministic."""

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """One update from the gradients of every parameter."""
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        scale = self.lr * np.sqrt(1 - beta2**self.t) / (1 - beta1**self.t)
        for k, g in grads.items():
            self.m[k] = beta1 * self.m[k] + (1 - beta1) * g
            self.v[k] = beta2 * self.v[k] + (1 - beta2) * g * g
            self.params[k] -= scale * self.m[k] / (np.sqrt(self.v[k]) + eps)


@dataclass(frozen=True)
class DenseHead:
    """The trained members on embeddings standardised with the training mean and spread; every member array has
    the members on its first axis."""

    mean: np.ndarray  # float32, (dim,)
    std: np.ndarray  # float32, (dim,)
    hidden_weights: np.ndarray  # float32, (members, dim, hidden)
    hidden_bias: np.ndarray  # float32, (members, hidden)
    weights: np.ndarray  # float32, (members, hidden, n_labels)
    bias: np.ndarray  # float32, (members, n_labels)

    @property
    def members(self) -> int:
        """How many networks are averaged."""
        return int(self.hidden_weights.shape[0])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The probability of each label for each row of embeddings: the mean of the members'."""
        xs = (x - self.mean) / self.std
        # One product per member, in the order a single network always used, so a one-member head reads
        # exactly as before members existed.
        return np.mean([1.0 / (1.0 + np.exp(-(np.maximum(xs @ hw + hb, 0.0) @ w + b)))
                        for hw, hb, w, b in zip(self.hidden_weights, self.hidden_bias, self.weights, self.bias,
                                                strict=True)], axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """The parameters by name, as the act model stores them and :meth:`from_arrays` reads them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DenseHead:
        """A head from :meth:`arrays`' names (values converted to float32); a file written before heads had
        members holds one network, without the member axis."""
        values = {f.name: np.asarray(arrays[f.name], dtype=np.float32) for f in fields(cls)}
        if values["hidden_weights"].ndim == 2:
            values.update({k: values[k][None] for k in _MEMBER_ARRAYS})
        return cls(**values)


def fit(x: np.ndarray, y: np.ndarray, sample_w: np.ndarray, *, seeds: tuple[int, ...], epochs: int, l2: float,
        hidden: int, lr: float) -> DenseHead:
    """Train one member per seed on the rows of ``x`` against targets ``y`` weighted by ``sample_w`` (both
    (rows, labels)); deterministic (fixed seeds, full batches)."""
    mean, std = x.mean(0).astype(np.float32), (x.std(0) + 1e-6).astype(np.float32)
    xs = ((x - mean) / std).astype(np.float32)
    members = [_fit_member(xs, y, sample_w, seed=s, epochs=epochs, l2=l2, hidden=hidden, lr=lr) for s in seeds]
    return DenseHead(mean=mean, std=std, **{k: np.stack([m[k] for m in members]) for k in _MEMBER_ARRAYS})


def _fit_member(xs: np.ndarray, y: np.ndarray, sample_w: np.ndarray, *, seed: int, epochs: int, l2: float,
                hidden: int, lr: float) -> dict[str, np.ndarray]:
    n, k = y.shape
    rng = np.random.default_rng(seed)
    p = {"hidden_weights": (rng.standard_normal((xs.shape[1], hidden)) / np.sqrt(xs.shape[1])).astype(np.float32),
         "hidden_bias": np.zeros(hidden, dtype=np.float32), "weights": np.zeros((hidden, k), dtype=np.float32),
         "bias": np.zeros(k, dtype=np.float32)}
    adam = Adam(p, lr)
    for _ in range(epochs):
        h = np.maximum(xs @ p["hidden_weights"] + p["hidden_bias"], 0.0)
        prob = 1.0 / (1.0 + np.exp(-(h @ p["weights"] + p["bias"])))
        err = ((prob - y) * sample_w / n).astype(np.float32)
        err_h = (err @ p["weights"].T) * (h > 0)
        adam.step({"hidden_weights": xs.T @ err_h + l2 * p["hidden_weights"], "hidden_bias": err_h.sum(0),
                   "weights": h.T @ err + l2 * p["weights"], "bias": err.sum(0)})
    return p
