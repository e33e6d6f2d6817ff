"""Verdict reliability: the raw confidence turned into the chance that a verdict is right."""

from __future__ import annotations

import json

import pytest

from ccr.scoring import acts, reliability


def _rows(n: int = 200) -> list[tuple]:
    """Greeting passes are right; empathy « na » verdicts are wrong one time in two; low raw confidence is
    wrong more often than high."""
    rows = []
    for i in range(n):
        raw = (i % 10) / 10
        rows.append(("accueil", "acts", "pass", raw, 1.0, raw >= 0.2 or i % 3 == 0))
        rows.append(("empathie", "acts_empathy", "na", raw, 1.0, i % 2 == 0 and raw >= 0.3))
    return rows


def test_a_kind_of_verdict_that_is_often_wrong_gets_a_lower_probability():
    rel = reliability.fit(_rows())
    assert rel.probability("empathie", "acts_empathy", "na", 0.8, 1.0) < rel.probability(
        "accueil", "acts", "pass", 0.8, 1.0) - 0.2


def test_the_probability_rises_with_the_raw_confidence_and_stays_in_0_1():
    rel = reliability.fit(_rows())
    got = [rel.probability("accueil", "acts", "pass", r / 10, 1.0) for r in range(11)]
    assert got == sorted(got) and got[0] < got[-1] and all(0.0 < p < 1.0 for p in got)
    # An unknown criterion falls back on its method's and the common weights.
    assert 0.0 < rel.probability("ma_regle", "acts", "pass", 0.9, 1.0) < 1.0


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
