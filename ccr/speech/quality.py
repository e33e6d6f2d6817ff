"""How far a call's transcript can be trusted: the share of recognised words the recogniser itself doubted.

Whisper gives each word a probability; below :data:`LOW_WORD_PROBABILITY` a word is as likely wrong as right.
The share of such words is a per-call figure a reviewer can read next to the transcript: a high share means
verdicts hang on misheard words and the recording deserves a listen. Only words with a probability count;
text that did not come from speech recognition (an imported transcript) has no figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LOW_WORD_PROBABILITY = 0.5  # below this a recognised word is as likely wrong as right (as the scorer reads it)
# Above this share the reviewer is warned. The four public recordings, whose transcripts get about one word in
# two wrong (WER 0.507, ccr.speech.transcription), have 33 to 40 % of doubtful words; the speech-recognised
# evaluation sets 34 to 39 %. No well-transcribed recording was at hand to measure the other side, so a quarter
# is a judgement (between those and a transcript a reviewer can trust), to revisit with real calls.
WARN_SHARE = 0.25


def low_confidence_share(segments: Iterable[dict[str, Any]]) -> float | None:
    """The share (0..1) of recognised words with a probability under 0.5; None when no word has one."""
    total = low = 0
    for seg in segments:
        for word in seg.get("words") or ():
            p = word.get("probability") if isinstance(word, dict) else None
            if isinstance(p, (int, float)) and not isinstance(p, bool):
                total += 1
                low += p < LOW_WORD_PROBABILITY
    return low / total if total else None


def is_poor(share: float | None) -> bool:
    """True when the share of doubtful words is high enough to warn the reviewer."""
    return share is not None and share > WARN_SHARE
