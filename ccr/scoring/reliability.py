"""How often a verdict like this one is right: the scorer's raw confidence turned into a probability.

The act rules give each verdict a raw confidence (how far the deciding line's act probability sits from
its threshold, lowered to the speech recognition's on that line). That number ranks verdicts but is not a
probability: a « na » of empathy at 0.6 and a « pass » of greeting at 0.6 are not equally often right.
A small logistic model, fitted by ``python -m scripts.calibrate_confidence`` on the tuning part of
labelled calls (clean and after speech recognition), maps the raw confidence, the call's overall
recognition quality and the kind of verdict to the probability that the verdict agrees with a human.
The file records the act model's fingerprint: fitted on one model, it is never applied to another, and
the raw confidence is used instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ccr.scoring import acts

RELIABILITY_PATH = acts.DATA_DIR / "reliability.json"
DEFAULT_L2 = 0.005  # weight shrinkage: enough to keep rare kinds of verdict near the common rate


@dataclass(frozen=True)
class Reliability:
    """Logistic weights: a bias, one per numeric feature, and one per kind of verdict."""

    bias: float
    raw: float  # weight of the raw confidence
    call_asr: float  # weight of the call's mean word probability (1 for text that was not recognised)
    kinds: dict[str, float] = field(default_factory=dict)  # "method:verdict" and "criterion:verdict"

    def probability(self, criterion: str, method: str, verdict: str, raw: float, call_asr: float) -> float:
        """The estimated probability that this verdict agrees with a human's."""
        z = (self.bias + self.raw * raw + self.call_asr * call_asr
             + self.kinds.get(f"{method}:{verdict}", 0.0) + self.kinds.get(f"{criterion}:{verdict}", 0.0))
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self, model: str, figures: dict) -> dict:
        """The calibration file's content, tied to the act model it was fitted with."""
        return {"model": model, "bias": self.bias, "raw": self.raw, "call_asr": self.call_asr,
                "kinds": dict(sorted(self.kinds.items())), "figures": figures}


def features(criterion: str, method: str, verdict: str) -> list[str]:
    """The kind features of a verdict (the names the weights are keyed by)."""
    return [f"{method}:{verdict}", f"{criterion}:{verdict}"]


def fit(rows: list[tuple[str, str, str, float, float, bool]], *, l2: float = DEFAULT_L2, epochs: int = 4000,
        lr: float = 0.5) -> Reliability:
    """Fit on (criterion, method, verdict, raw confidence, call ASR quality, was right) rows; deterministic."""
    kinds = sorted({k for r in rows for k in features(r[0], r[1], r[2])})
    col = {k: 3 + i for i, k in enumerate(kinds)}
    x = np.zeros((len(rows), 3 + len(kinds)))
    y = np.array([float(r[5]) for r in rows])
    for i, (crit, method, verdict, raw, call_asr, _) in enumerate(rows):
        x[i, 0], x[i, 1], x[i, 2] = 1.0, raw, call_asr
        for k in features(crit, method, verdict):
            x[i, col[k]] = 1.0
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0  # the bias is not shrunk
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= lr * (x.T @ (p - y) / len(y) + penalty * w)
    return Reliability(bias=float(w[0]), raw=float(w[1]), call_asr=float(w[2]),
                       kinds={k: round(float(w[col[k]]), 4) for k in kinds})


def read(path: Path = RELIABILITY_PATH) -> tuple[str, Reliability] | None:
    """(act model fingerprint, weights) from a calibration file, or None when there is none."""
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return str(d.get("model", "")), Reliability(bias=float(d["bias"]), raw=float(d["raw"]),
                                                     call_asr=float(d["call_asr"]),
                                                     kinds={k: float(v) for k, v in d.get("kinds", {}).items()})
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise acts.ActModelError(f"Calibration de la confiance illisible ({path.name}) : relancez "
                                 "« python -m scripts.calibrate_confidence ».") from e


@lru_cache(maxsize=4)
def _for_model(fingerprint: str, path: Path) -> Reliability | None:
    got = read(path)
    return got[1] if got is not None and got[0] == fingerprint else None


_raw_only: list[bool] = [False]


def use_raw(raw: bool) -> None:
    """Score with raw confidences (to fit a new calibration) or with the shipped one (the default)."""
    _raw_only[0] = raw


def default_reliability() -> Reliability | None:
    """The shipped calibration when it was fitted with the act model in use; None otherwise (raw confidence)."""
    if _raw_only[0]:
        return None
    return _for_model(acts.model_fingerprint(), RELIABILITY_PATH)
