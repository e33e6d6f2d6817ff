"""How often a verdict like this one is right: the scorer's raw confidence turned into a probability.

The act rules give each verdict a raw confidence (how far the deciding line's act probability sits from
its threshold, lowered to the speech recognition's on that line). That number ranks verdicts but is not a
probability. ``python -m scripts.calibrate_confidence`` fits two small logistic models on the tuning part of
labelled calls, one per kind of text, because the two do not go wrong the same way:

- **typed text** (no line carries word probabilities): the raw confidence's log-odds, scaled and shifted.
  On typed text the raw confidence ranks errors well and the kind of verdict does not: weights per kind,
  fitted on the tuning calls, reordered verdicts in a way that did not hold on other calls (held-out
  ranking AUC 0.84 with the raw confidence, 0.72 with the kinds).
- **recognised text**: the raw confidence, the call's overall recognition quality and the kind of verdict
  (a « na » of empathy at 0.6 and a « pass » of greeting at 0.6 are not equally often right once words are
  misheard); there the kinds improve the ranking on held-out calls.

The file records the act model's fingerprint: fitted on one model, it is never applied to another, and
the raw confidence is used instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ccr.scoring import acts

RELIABILITY_PATH = acts.DATA_DIR / "reliability.json"
DEFAULT_L2 = 0.005  # weight shrinkage: enough to keep rare kinds of verdict near the common rate
TYPED = 1.0  # a call's recognition quality when no line came from speech recognition
RAW_FLOOR = 1e-3  # raw confidences are clipped to [floor, 1 - floor] before taking their log-odds

Row = tuple[str, str, str, float, float, bool]  # criterion, method, verdict, raw, call ASR quality, right


def _log_odds(raw: float) -> float:
    p = min(1.0 - RAW_FLOOR, max(RAW_FLOOR, raw))
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Reliability:
    """Logistic weights: for typed text a bias and a slope on the raw log-odds; for recognised text a bias,
    one weight per numeric feature and one per kind of verdict."""

    typed_bias: float
    typed_slope: float
    bias: float
    raw: float  # weight of the raw confidence (recognised text)
    call_asr: float  # weight of the call's mean word probability (recognised text)
    kinds: dict[str, float] = field(default_factory=dict)  # "method:verdict" and "criterion:verdict"

    def probability(self, criterion: str, method: str, verdict: str, raw: float, call_asr: float) -> float:
        """The estimated probability that this verdict agrees with a human's."""
        if call_asr >= TYPED:
            return _sigmoid(self.typed_bias + self.typed_slope * _log_odds(raw))
        return _sigmoid(self.bias + self.raw * raw + self.call_asr * call_asr
                        + sum(self.kinds.get(k, 0.0) for k in features(criterion, method, verdict)))

    def to_json(self, model: str, figures: dict) -> dict:
        """The calibration file's content, tied to the act model it was fitted with."""
        return {"model": model, "typed": {"bias": self.typed_bias, "slope": self.typed_slope},
                "heard": {"bias": self.bias, "raw": self.raw, "call_asr": self.call_asr,
                          "kinds": dict(sorted(self.kinds.items()))},
                "figures": figures}


def features(criterion: str, method: str, verdict: str) -> list[str]:
    """The kind features of a verdict (the names the weights are keyed by)."""
    return [f"{method}:{verdict}", f"{criterion}:{verdict}"]


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, epochs: int, lr: float) -> np.ndarray:
    """Full-batch gradient descent from zero (deterministic); column 0 is the bias, never shrunk."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= lr * (x.T @ (p - y) / len(y) + penalty * w)
    return w


def fit(rows: Sequence[Row], *, l2: float = DEFAULT_L2, epochs: int = 4000, lr: float = 0.5) -> Reliability:
    """Fit on (criterion, method, verdict, raw confidence, call ASR quality, was right) rows; deterministic.

    With no typed rows, typed verdicts keep their raw confidence; with no recognised rows, recognised verdicts
    get an even chance, so a human checks them."""
    typed = [r for r in rows if r[4] >= TYPED]
    heard = [r for r in rows if r[4] < TYPED]
    typed_bias, typed_slope = 0.0, 1.0  # the identity on log-odds: the raw confidence itself
    if typed:
        x = np.array([[1.0, _log_odds(r[3])] for r in typed])
        typed_bias, typed_slope = (float(v) for v in _logistic(x, np.array([float(r[5]) for r in typed]),
                                                             l2, epochs, lr))
    if not heard:
        return Reliability(typed_bias, typed_slope, 0.0, 0.0, 0.0, {})
    kinds = sorted({k for r in heard for k in features(r[0], r[1], r[2])})
    col = {k: 3 + i for i, k in enumerate(kinds)}
    x = np.zeros((len(heard), 3 + len(kinds)))
    for i, (crit, method, verdict, raw, call_asr, _) in enumerate(heard):
        x[i, 0], x[i, 1], x[i, 2] = 1.0, raw, call_asr
        for k in features(crit, method, verdict):
            x[i, col[k]] = 1.0
    w = _logistic(x, np.array([float(r[5]) for r in heard]), l2, epochs, lr)
    return Reliability(typed_bias=typed_bias, typed_slope=typed_slope, bias=float(w[0]), raw=float(w[1]),
                       call_asr=float(w[2]), kinds={k: round(float(w[col[k]]), 4) for k in kinds})


def read(path: Path = RELIABILITY_PATH) -> tuple[str, Reliability] | None:
    """(act model fingerprint, weights) from a calibration file, or None when there is none."""
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        typed, heard = d["typed"], d["heard"]
        return str(d.get("model", "")), Reliability(
            typed_bias=float(typed["bias"]), typed_slope=float(typed["slope"]), bias=float(heard["bias"]),
            raw=float(heard["raw"]), call_asr=float(heard["call_asr"]),
            kinds={k: float(v) for k, v in heard.get("kinds", {}).items()})
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
