"""Prepared calls: the recognition quality a call carries into the confidence of its verdicts."""

from __future__ import annotations

import pytest

from ccr.transcript import Call, validate_transcript


def _call(*segments: dict) -> Call:
    return Call.from_transcript(validate_transcript(
        {"call_id": "t", "duration_s": 20.0, "language": "fr", "segments": list(segments)}))


def _seg(start: float, text: str, probs: list[float] | None = None) -> dict:
    seg = {"speaker": "agent", "start": start, "end": start + 2.0, "text": text}
    if probs is not None:
        seg["words"] = [{"start": start + i * 0.2, "end": start + i * 0.2 + 0.1, "probability": p}
                        for i, p in enumerate(probs)]
    return seg


def test_text_that_did_not_come_from_speech_counts_as_well_heard():
    assert _call(_seg(0.0, "Bonjour, Ondine à votre écoute.")).asr_quality == 1.0


def test_the_quality_is_the_mean_over_the_recognised_lines_only():
    call = _call(_seg(0.0, "Bonjour madame.", [0.9, 0.7]), _seg(3.0, "Je regarde.", [0.4, 0.6]),
                 _seg(6.0, "Voilà."))
    assert call.asr_quality == pytest.approx((0.8 + 0.5) / 2)
