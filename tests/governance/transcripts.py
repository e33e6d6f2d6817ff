"""Small transcripts in the scoring contract, written line by line for the governance tests."""

from __future__ import annotations


def call(*lines: tuple[str, str], call_id: str = "essai") -> dict:
    """A transcript in the scoring contract from (speaker, text) lines, two seconds each."""
    return {"call_id": call_id, "duration_s": 2.0 * len(lines), "language": "fr",
            "segments": [{"speaker": who, "start": 2.0 * i, "end": 2.0 * i + 1.8, "text": text}
                         for i, (who, text) in enumerate(lines)]}


def texts(tr: dict) -> list[str]:
    return [s["text"] for s in tr["segments"]]
