"""A stereo recording with its channels swapped, through the real worker steps and Whisper: flagged, then swapped
back by a supervisor, transcribed and scored again."""

from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest
from sqlmodel import select

from ccr.core.db import session
from ccr.core.models import AuditLog, Evaluation, Transcript
from ccr.pipeline import queue, steps
from ccr.pipeline.ingest import ingest_files
from ccr.scoring.acts import line_acts
from ccr.scoring.channel_check import check_channels
from tests.audiodata import cut_wav
from tests.conftest import count_rows
from tests.pipeline.calldata import call_row, claim

OWNER = "hote:1:w0"


def swapped_wav(name: str, seconds: float) -> bytes:
    """The first ``seconds`` of a stereo fixture with its left and right channels exchanged (16-bit PCM)."""
    with wave.open(io.BytesIO(cut_wav(name, seconds))) as w:
        params = w.getparams()
        frames = np.frombuffer(w.readframes(params.nframes), dtype="<i2")
    assert params.nchannels == 2 and params.sampwidth == 2
    out = io.BytesIO()
    with wave.open(out, "wb") as o:
        o.setparams(params)
        o.writeframes(np.ascontiguousarray(frames.reshape(-1, 2)[:, ::-1]).tobytes())
    return out.getvalue()


def _process(call_id: int) -> None:
    assert claim(OWNER) == call_id
    assert steps.process_call(call_id, owner=OWNER) == "done"


def _segments(call_id: int) -> list[dict]:
    with session() as s:
        return json.loads(s.exec(select(Transcript).where(Transcript.call_id == call_id)).one().segments_json)


def _agent_acts(segments: list[dict]) -> set[str]:
    return set().union(*(line_acts(s["text"], "agent").acts for s in segments if s["speaker"] == "agent"))


@pytest.mark.slow
def test_a_swapped_recording_is_flagged_then_swapped_back_transcribed_and_scored_again(asr_env):
    alpha, _ = asr_env
    # The public recordings have the agent on the left; this one has her on the right.
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("inverse.wav", swapped_wav("a01-000.wav", 40))])
    call_id = batch.results[0].call_id
    _process(call_id)
    call = call_row(call_id)
    assert (call.channels, call.channels_swapped, call.channel_check) == (2, False, "suspect")
    heard = _segments(call_id)
    assert not {"self_intro", "ident_request"} & _agent_acts(heard)  # the customer was read as the agent
    assert check_channels(heard).evidence[0].start < 5  # the welcome and introduction, at the very start

    with session() as s:
        queue.swap_channels(session=s, actor=alpha.actor("supervisor"), call_id=call_id,
                            reason="Le client est sur le canal de l'agent")
    assert call_row(call_id).status == "queued"
    _process(call_id)
    call = call_row(call_id)
    assert (call.status, call.channels_swapped, call.channel_check) == ("done", True, "ok")
    assert {"greeting", "self_intro"} <= _agent_acts(_segments(call_id))  # the agent's lines are hers again
    assert count_rows(Transcript, call_id=call_id) == 1  # transcribed again in place, not a second transcript
    with session() as s:
        evs = s.exec(select(Evaluation).where(Evaluation.call_id == call_id).order_by(Evaluation.id)).all()
        results = [json.loads(e.result_json) for e in evs]
        assert count_rows(AuditLog, action="call_channels_swapped", target_id=str(call_id)) == 1
    assert [e.is_current for e in evs] == [False, True]  # re-scored: the new evaluation replaces the old
    welcome = [{c["id"]: c for c in r["criteria"]}["accueil"] for r in results]
    # Once the channels are right, the welcome is credited on her own opening line. Before, that line was the
    # customer's: whatever the first verdict (the customer's « bonjour » read as the agent's, heard a little
    # differently from one machine to another), it could not cite it.
    assert welcome[1]["verdict"] == "pass" and welcome[1]["evidence"][0]["start"] < 5
    assert not any(e["start"] < 5 for e in welcome[0]["evidence"])
