"""The whole pipeline for one recording, without the database: decode, transcribe, metrics,
redaction and, when a scorer is given, scoring. ``python -m ccr analyze`` prints its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ccr.core.config import Settings, get_settings
from ccr.speech.audio import load_audio
from ccr.speech.metrics import conversation_metrics
from ccr.speech.redaction import redact_segments
from ccr.speech.transcription import transcribe

TIMING_DIGITS = 3  # milliseconds


def analyze_bytes(
    data: bytes,
    *,
    filename: str | None = None,
    agent_channel: str | None = None,
    settings: Settings | None = None,
    score: Callable[[dict], dict] | None = None,
) -> dict:
    """Analyse one recording held in memory; return duration, channels, redacted segments, metrics,
    timings and the evaluation (``None`` without a scorer). Raises ``AudioError``/``TranscriptionError``."""
    settings = settings or get_settings()
    t0 = time.perf_counter()
    info, audio = load_audio(data, filename=filename, max_seconds=settings.max_audio_seconds)
    t1 = time.perf_counter()
    transcript = transcribe(audio, settings=settings, agent_channel=agent_channel)
    t2 = time.perf_counter()
    del audio  # the decoded call is the largest object here; scoring does not need it
    # Metrics need the raw word counts; they are numbers only, so no raw text leaves this function.
    metrics = conversation_metrics(transcript.segments, info.duration_s)
    segments, _counts = redact_segments(transcript.segments)
    evaluation = None
    if score is not None:
        evaluation = score(
            {
                "duration_s": info.duration_s,
                "language": transcript.language,
                "channels": info.channels,
                "segments": segments,
                "metrics": metrics,
            }
        )
    t3 = time.perf_counter()
    return {
        "duration_s": info.duration_s,
        "channels": info.channels,
        "segments": segments,
        "metrics": metrics,
        "timings": {
            "decode_s": round(t1 - t0, TIMING_DIGITS),
            "transcribe_s": round(t2 - t1, TIMING_DIGITS),
            "total_s": round(t3 - t0, TIMING_DIGITS),
        },
        "evaluation": evaluation,
    }
