"""Verdict reliability: the raw confidence turned into the chance that a verdict is right."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ccr.scoring import acts, reliability
from ccr.scoring.grid import default_grid
from scripts.calibrate_acts import load_set
from scripts.calibrate_confidence import auc, rows_of

# Thirty calls by a writer who saw neither the engine nor any other set; never used to fit anything.
OTHER_WRITER = Path(__file__).resolve().parents[1] / "fixtures" / "eval" / "heldout-b"


def _rows(n: int = 200, call_asr: float = 0.7) -> list[tuple]:
    """Greeting passes are right; empathy « na » verdicts are wrong one time in two; low raw confidence is
    wrong more often than high. ``call_asr`` 1 makes the calls typed text."""
    rows = []
    for i in range(n):
        raw = (i % 10) / 10
        rows.append(("accueil", "acts", "pass", raw, call_asr, raw >= 0.2 or i % 3 == 0))
        rows.append(("empathie", "acts_empathy", "na", raw, call_asr, i % 2 == 0 and raw >= 0.3))
    return rows


def test_on_recognised_text_a_kind_of_verdict_that_is_often_wrong_gets_a_lower_probability():
    rel = reliability.fit(_rows())
    assert rel.probability("empathie", "acts_empathy", "na", 0.8, 0.7) < rel.probability(
        "accueil", "acts", "pass", 0.8, 0.7) - 0.2


@pytest.mark.parametrize("call_asr", [0.7, 1.0])
def test_the_probability_rises_with_the_raw_confidence_and_stays_in_0_1(call_asr):
    rel = reliability.fit(_rows(call_asr=call_asr))
    got = [rel.probability("accueil", "acts", "pass", r / 10, call_asr) for r in range(11)]
    assert got == sorted(got) and got[0] < got[-1] and all(0.0 < p < 1.0 for p in got)
    # An unknown criterion falls back on its method's and the common weights.
    assert 0.0 < rel.probability("ma_regle", "acts", "pass", 0.9, call_asr) < 1.0


def test_on_typed_text_the_calibration_keeps_the_raw_ranking_whatever_the_kind():
    # Kinds fitted on tuning calls reordered typed verdicts in a way other calls did not bear out: on typed
    # text only the raw confidence counts, so two verdicts of any kinds keep the order of their raw confidence.
    rel = reliability.fit(_rows(call_asr=1.0) + _rows(call_asr=0.7))
    assert rel.probability("empathie", "acts_empathy", "na", 0.8, 1.0) == rel.probability(
        "accueil", "acts", "pass", 0.8, 1.0)
    assert rel.probability("empathie", "acts_empathy", "na", 0.6, 1.0) < rel.probability(
        "accueil", "acts", "pass", 0.7, 1.0)
    # Typed greetings at raw 0 are right one time in three, all those from 0.2 up right: the fit says so.
    greetings = reliability.fit([r for r in _rows(call_asr=1.0) if r[0] == "accueil"])
    assert greetings.probability("accueil", "acts", "pass", 0.0, 1.0) < 0.5 < 0.95 < greetings.probability(
        "accueil", "acts", "pass", 0.9, 1.0)


def test_without_rows_of_a_kind_of_text_its_model_is_neutral():
    typed_only = reliability.fit(_rows(call_asr=1.0))
    # Nothing learned about recognised text: an even chance, under any review bar, so a human checks it.
    assert typed_only.probability("accueil", "acts", "pass", 0.95, 0.9) == 0.5
    heard_only = reliability.fit(_rows(call_asr=0.7))
    # No typed calls to learn from: a typed verdict keeps its raw confidence.
    assert heard_only.probability("accueil", "acts", "pass", 0.73, 1.0) == pytest.approx(0.73)


def test_the_fit_is_deterministic():
    assert reliability.fit(_rows()) == reliability.fit(_rows())


def test_a_calibration_fitted_on_another_act_model_is_ignored(tmp_path, monkeypatch):
    rel = reliability.fit(_rows())
    path = tmp_path / "reliability.json"
    path.write_text(json.dumps(rel.to_json("0" * 64, {})), encoding="utf-8")
    monkeypatch.setattr(reliability, "RELIABILITY_PATH", path)
    assert reliability.default_reliability() is None
    path2 = tmp_path / "reliability2.json"
    path2.write_text(json.dumps(rel.to_json(acts.model_fingerprint(), {})), encoding="utf-8")
    monkeypatch.setattr(reliability, "RELIABILITY_PATH", path2)
    assert reliability.default_reliability() == rel


def test_the_shipped_calibration_belongs_to_the_shipped_act_model():
    got = reliability.read()
    assert got is not None and got[0] == acts.model_fingerprint(), \
        "modèle d'actes réentraîné : python -m scripts.calibrate_confidence"
    assert reliability.default_reliability() is not None


def test_an_unreadable_calibration_gives_a_french_error(tmp_path):
    path = tmp_path / "reliability.json"
    path.write_text('{"model": "x", "bias": "beaucoup"}', encoding="utf-8")
    with pytest.raises(acts.ActModelError, match="Calibration de la confiance illisible"):
        reliability.read(path)


def test_on_calls_by_another_writer_the_shipped_calibration_ranks_errors_and_beats_the_raw_number():
    # The calibration script's own rows: every criterion of every call, scored with raw confidences.
    reliability.use_raw(True)
    try:
        rows = rows_of(load_set(OTHER_WRITER))
    finally:
        reliability.use_raw(False)
    rel = reliability.default_reliability()
    assert rel is not None and len(rows) == 240 and all(r[4] == reliability.TYPED for r in rows)
    right = [r[5] for r in rows]
    raw = [r[3] for r in rows]
    calibrated = [rel.probability(*r[:5]) for r in rows]
    # The calibration ranks this writer's errors as well as the raw confidence (one model for both kinds of
    # text ranked them at 0.69 against 0.82)...
    assert auc(calibrated, right) >= auc(raw, right) - 0.01
    # ...and, read as a probability, it is closer to the truth than the raw number.
    def log_loss(p: list[float]) -> float:
        return -sum(math.log(x if r else 1.0 - x) for x, r in zip(p, right, strict=True)) / len(right)

    assert log_loss(calibrated) < log_loss(raw) - 0.02
    # The verdicts sent to a human are wrong far more often than the others.
    threshold = default_grid().review_threshold
    flagged = [r for r, p in zip(right, calibrated, strict=True) if p < threshold]
    kept = [r for r, p in zip(right, calibrated, strict=True) if p >= threshold]
    assert flagged and sum(flagged) / len(flagged) < sum(kept) / len(kept) - 0.1
