"""The database-free pipeline, end to end on a real recording."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ccr.core.config import Settings
from ccr.core.errors import AudioError
from ccr.speech.analysis import analyze_bytes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
METRIC_KEYS = {
    "agent_talk_s", "customer_talk_s", "silence_s", "longest_silence_s", "overtalk_s", "interruptions", "agent_wpm",
}  # fmt: skip


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.mark.slow
def test_real_call_end_to_end(settings):
    received = []

    def scorer(transcript: dict) -> dict:
        received.append(transcript)
        return {"score": 80.0, "passed": True}

    result = analyze_bytes((FIXTURES / "a01-002.wav").read_bytes(), filename="a01-002.wav", settings=settings,
                           score=scorer)  # fmt: skip
    assert set(result) == {"duration_s", "channels", "segments", "metrics", "timings", "evaluation"}
    assert result["duration_s"] == 30.64 and result["channels"] == 2
    segments = result["segments"]
    assert {s["speaker"] for s in segments} == {"agent", "customer"}
    assert all(set(s) - {"words"} == {"speaker", "start", "end", "text"} for s in segments)
    assert any(s.get("words") for s in segments)  # word probabilities are kept for the scorer's confidence
    assert all(set(w) == {"start", "end", "probability"} for s in segments for w in s.get("words", []))
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert METRIC_KEYS <= set(result["metrics"])
    m = result["metrics"]
    assert 0 < m["agent_talk_s"] < 30.64 and 0 < m["customer_talk_s"] < 30.64
    assert m["agent_wpm"] > 60  # espeak speaks at about 145 words per minute
    timings = result["timings"]
    assert set(timings) == {"decode_s", "transcribe_s", "total_s"}
    assert 0 < timings["decode_s"] < timings["transcribe_s"] <= timings["total_s"]
    assert timings["total_s"] >= timings["decode_s"] + timings["transcribe_s"] - 0.002
    assert result["evaluation"] == {"score": 80.0, "passed": True}
    # The scorer sees the same redacted segments that are returned, and the metrics.
    assert received[0]["segments"] == segments and received[0]["metrics"] == result["metrics"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng absent (make test l'installe via apt-get)")
def test_dictated_phone_number_is_redacted(tmp_path):
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en", "-s", "150",
         "Hello. My phone number is zero six, one two, three four, five six, seven eight. Thank you."],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    result = analyze_bytes(wav, settings=Settings(data_dir=tmp_path, asr_language="en"))
    text = " ".join(s["text"] for s in result["segments"])
    assert result["evaluation"] is None
    assert "[TELEPHONE]" in text
    assert not any(ch.isdigit() for ch in text)


def test_corrupt_file_raises_audio_error(settings):
    with pytest.raises(AudioError, match="vide"):
        analyze_bytes(b"", filename="vide.wav", settings=settings)
