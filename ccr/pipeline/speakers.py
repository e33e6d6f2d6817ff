"""Who is the agent on a mono call: the two voices told apart by ``ccr.speech.diarization``, named by their acts.

The separation gives two anonymous voices, « A » (heard first) and « B ». The agent's is the one that performs
the acts only an agent performs in practice (``ccr.scoring.channel_check.AGENT_MARKERS``: introduction,
identification request, open question, empathy, solution...; the self-introduction counts double) rather
than the customer's (reason for calling, irritants, confirmations), each act counted once per voice and read
on each line whoever spoke, as the channel check does for stereo calls. Greetings and closings are left out,
as there: on the public call a01-003 the customer's « Bonjour » and « Au revoir » outweighed the agent's
and named the wrong voice. The voice expected to speak first gets a head start worth half an act: the
agent on an inbound call (the agent picks up), the customer on an outbound one (« allô ? »).

This lives in the pipeline because the speech layer may not read the scoring layer's acts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ccr.core.config import Settings
from ccr.scoring.acts import line_acts, words_heard_weight
from ccr.scoring.channel_check import AGENT_MARKERS, CUSTOMER_MARKERS
from ccr.scoring.transcript import is_recognition_loop
from ccr.speech import diarization

log = logging.getLogger(__name__)

AGENT, CUSTOMER, UNKNOWN = "agent", "customer", "inconnu"
SELF_INTRO_WEIGHT = 2.0  # « Nadia, du service clients Domivia » : the surest sign of the agent
FIRST_VOICE_WEIGHT = 0.5  # who speaks first: the agent's short « Bonjour » may be too short to be heard as a voice
OUTBOUND = "sortant"  # ccr.core.models.Call.direction


@dataclass
class SpeakerSeparation:
    """A mono call's segments after separation (agent/customer, or unchanged), and how it went."""

    segments: list[dict]
    separation: str | None  # ccr.core.vocab.SPEAKER_SEPARATIONS; None for a stereo call
    confidence: float | None = None
    agent_voice: str | None = None
    evidence: dict[str, float] = field(default_factory=dict)  # each voice's agent score, for the logs and tests


def needs_separation(segments: Sequence[dict]) -> bool:
    """True when every segment's speaker is unknown: a mono call (or a fake stereo one) with speech."""
    return bool(segments) and all(seg.get("speaker") == UNKNOWN for seg in segments)


def agent_scores(segments: Sequence[dict], *, direction: str = "entrant") -> dict[str, float]:
    """Each voice's score as the agent (« A », « B »): agent acts found on its lines minus customer acts, each act
    once, plus the head start of the voice expected to speak first."""
    found: dict[str, set[str]] = {v: set() for v in diarization.SPEAKERS}
    voiced = [seg for seg in segments if seg.get("speaker") in found and str(seg.get("text") or "").strip()]
    for seg in voiced:
        text = str(seg["text"])
        if not is_recognition_loop(text):
            # Both sides' acts, whoever spoke: the point is to see which voice performs the agent's.
            found[seg["speaker"]] |= line_acts(text, UNKNOWN, heard=words_heard_weight(seg.get("words"))).acts
    scores = {}
    for voice, acts in found.items():
        agent = sum(SELF_INTRO_WEIGHT if a == "self_intro" else 1.0 for a in AGENT_MARKERS if a in acts)
        scores[voice] = agent - sum(1.0 for a in CUSTOMER_MARKERS if a in acts)
    if voiced:
        first = min(voiced, key=lambda s: float(s["start"]))["speaker"]
        expected = first if direction != OUTBOUND else _other(first)
        scores[expected] += FIRST_VOICE_WEIGHT
    return scores


def agent_voice(segments: Sequence[dict], *, direction: str = "entrant",
                scores: dict[str, float] | None = None) -> str:
    """The voice (« A » or « B ») that is the agent's; on a tie, the one expected to speak first (A inbound).
    ``scores``: :func:`agent_scores` of these segments when already computed."""
    scores = scores if scores is not None else agent_scores(segments, direction=direction)
    a, b = diarization.SPEAKERS
    if scores[a] == scores[b]:
        return a if direction != OUTBOUND else b
    return a if scores[a] > scores[b] else b


def _other(voice: str) -> str:
    a, b = diarization.SPEAKERS
    return b if voice == a else a


def separate_speakers(audio: np.ndarray, segments: Sequence[dict], *, direction: str,
                      settings: Settings) -> SpeakerSeparation:
    """Give a mono call's segments to the agent and the customer when the extra is installed and
    ``CCR_DIARIZATION`` allows it; otherwise the segments stay as they are, with the reason recorded."""
    if not needs_separation(segments):
        return SpeakerSeparation(list(segments), None)
    if settings.diarization == "off":
        return SpeakerSeparation(list(segments), "off")
    if not diarization.available():
        return SpeakerSeparation(list(segments), "unavailable")
    try:
        result = diarization.diarize(audio)
    except Exception:  # an optional extra must not fail the call: its lines keep their unknown speaker
        log.exception("Séparation des locuteurs en échec : l'appel garde des locuteurs inconnus.")
        return SpeakerSeparation(list(segments), "insufficient")
    if not result.separated:
        log.info("Séparation des locuteurs impossible : %s.", result.reason)
        return SpeakerSeparation(list(segments), "insufficient")
    voices = diarization.assign_speakers(segments, result)
    scores = agent_scores(voices, direction=direction)
    agent = agent_voice(voices, direction=direction, scores=scores)
    labelled = diarization.relabel(voices, {agent: AGENT, _other(agent): CUSTOMER})
    return SpeakerSeparation(labelled, "separated", result.speaker_confidence, agent, scores)
