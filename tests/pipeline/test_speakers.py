"""Naming the voices of a mono call (agent, customer) and storing how they were separated, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlmodel import select

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.models import Evaluation, Transcript
from ccr.pipeline import speakers, steps
from ccr.pipeline.ingest import ingest_files
from ccr.speech import diarization, vocabulary
from ccr.speech.transcription import wav_bytes
from tests.pipeline.calldata import PUBLIC, call_row, claim
from tests.speech.test_diarization import CALLS, needs_extra, stereo

# Measured on the reference transcripts' lines (text and times, speaker hidden) given to the voices found in
# the mono mixes: 0.90, 1.00, 1.00 and 0.93 of the lines go to the right side once the agent is named (the
# misses are one-word lines, « Voilà. », « Bonjour. », too short for a voice window of their own).
LINE_ACCURACY_FLOOR = 0.85


def _unknown(segments: list[dict]) -> list[dict]:
    return [dict(seg, speaker="inconnu") for seg in segments]


@needs_extra
@pytest.mark.parametrize("name", CALLS)
def test_the_agent_is_found_on_each_mono_mix_from_the_reference_lines(name):
    reference = json.loads((PUBLIC / f"{name}.json").read_text(encoding="utf-8"))["segments"]
    channels = stereo(name)
    settings = get_settings()
    result = speakers.separate_speakers(channels.sum(axis=0), _unknown(reference), direction="entrant",
                                        settings=settings)
    assert result.separation == "separated" and result.confidence >= 0.8
    right = [got["speaker"] == ref["speaker"] for got, ref in zip(result.segments, reference, strict=True)]
    print(f"{name}: agent = voix {result.agent_voice}, scores {result.evidence}, "
          f"lignes bien attribuées {np.mean(right):.2f}")
    assert np.mean(right) >= LINE_ACCURACY_FLOOR
    for side in ("agent", "customer"):  # the agent is named: most of each side's lines carry its name
        mine = [got["speaker"] == side for got, ref in zip(result.segments, reference, strict=True)
                if ref["speaker"] == side]
        assert np.mean(mine) > 0.5, side


def test_the_agent_is_the_voice_that_introduces_itself_even_when_it_speaks_second():
    lines = [
        {"speaker": "A", "start": 0.3, "end": 0.8, "text": "Allô ?"},
        {"speaker": "B", "start": 1.0, "end": 4.0, "text": "Bonjour madame, Julien du service clients Domivia."},
        {"speaker": "A", "start": 4.5, "end": 8.0, "text": "Ma facture est beaucoup trop élevée ce mois-ci."},
        {"speaker": "B", "start": 8.5, "end": 11.0, "text": "Je vous remercie de votre appel, bonne journée."},
    ]
    assert speakers.agent_voice(lines, direction="entrant") == "B"
    scores = speakers.agent_scores(lines, direction="entrant")
    assert scores["B"] > scores["A"]


def test_without_any_act_the_first_voice_is_the_agent_inbound_and_the_customer_outbound():
    lines = [{"speaker": "A", "start": 0.0, "end": 1.0, "text": "Euh."},
             {"speaker": "B", "start": 1.5, "end": 2.0, "text": "Hum."}]
    assert speakers.agent_voice(lines, direction="entrant") == "A"
    assert speakers.agent_voice(lines, direction="sortant") == "B"


def test_segments_stay_as_they_are_without_the_extra_when_switched_off_and_on_stereo_calls(monkeypatch):
    mono = [{"speaker": "inconnu", "start": 0.0, "end": 1.0, "text": "Bonjour."}]
    audio = np.zeros(16000, dtype=np.float32)
    off = get_settings().model_copy(update={"diarization": "off"})
    auto = get_settings().model_copy(update={"diarization": "auto"})
    assert speakers.separate_speakers(audio, mono, direction="entrant", settings=off).separation == "off"
    monkeypatch.setattr(diarization, "available", lambda: False)
    missing = speakers.separate_speakers(audio, mono, direction="entrant", settings=auto)
    assert (missing.separation, missing.confidence, missing.segments) == ("unavailable", None, mono)
    monkeypatch.setattr(diarization, "available", lambda: True)

    def broken(audio):
        raise RuntimeError("torch en panne")

    monkeypatch.setattr(diarization, "diarize", broken)  # a failing extra leaves the call as it was, never fails it
    failed = speakers.separate_speakers(audio, mono, direction="entrant", settings=auto)
    assert (failed.separation, failed.segments) == ("insufficient", mono)
    stereo_lines = [dict(mono[0], speaker="agent")]
    assert speakers.separate_speakers(audio, stereo_lines, direction="entrant", settings=auto).separation is None
    assert speakers.separate_speakers(audio, [], direction="entrant", settings=auto).separation is None


@needs_extra
@pytest.mark.slow  # real Whisper on a 30 s call
def test_a_mono_call_comes_out_of_the_pipeline_with_agent_and_customer_and_its_confidence(asr_env):
    alpha, _ = asr_env
    with session() as s:
        version = vocabulary.save_vocabulary(session=s, actor=alpha.actor("supervisor"), terms=["Domivia"])
    mix = np.clip(stereo("a01-002").sum(axis=0), -1.0, 1.0)
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("mono.wav", wav_bytes(mix))])
    call_id = batch.results[0].call_id
    assert claim("hote:1:w0") == call_id
    assert steps.process_call(call_id, owner="hote:1:w0") == "done"
    call = call_row(call_id)
    with session() as s:
        row = s.exec(select(Transcript).where(Transcript.call_id == call_id)).one()
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
    segments = json.loads(row.segments_json)
    assert call.channels == 1 and ev.is_current
    assert {seg["speaker"] for seg in segments} == {"agent", "customer"}
    assert row.speaker_separation == "separated" and row.speaker_confidence >= 0.8
    assert row.vocabulary_version == version == 1
    assert segments[0]["speaker"] == "agent"  # « Bonsoir, Nadia du service clients Domivia... »
    assert call.agent_talk_s > 0 and call.customer_talk_s > 0  # the talk-time metrics see both sides now
