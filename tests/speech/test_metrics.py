"""Conversation metrics on hand-built segments with exact expected values."""

from __future__ import annotations

import pytest

from ccr.speech.metrics import conversation_metrics, merge_intervals


def seg(speaker: str, start: float, end: float, text: str = "mot") -> dict:
    return {"speaker": speaker, "start": start, "end": end, "text": text}


def test_turn_taking_call():
    segments = [
        seg("agent", 1.0, 4.0, "bonjour je vous écoute"),  # 4 words
        seg("customer", 5.0, 9.0),
        seg("agent", 10.0, 13.0, "très bien merci beaucoup madame"),  # 5 words
        seg("customer", 15.5, 16.0),
    ]
    m = conversation_metrics(segments, duration_s=20.0)
    assert m == {
        "agent_talk_s": 6.0,
        "customer_talk_s": 4.5,
        "silence_s": 4.5,  # 1 + 1 + 2.5 between the first and the last word
        "longest_silence_s": 2.5,
        "overtalk_s": 0.0,
        "interruptions": 0,
        "agent_wpm": 90.0,  # 9 words in 6 s
        "talk_listen_ratio": 1.33,
    }


def test_overtalk_and_interruptions():
    segments = [
        seg("agent", 0.0, 10.0),
        seg("customer", 4.0, 6.0),  # starts while the agent talks: interruption, 2 s overtalk
        seg("customer", 9.95, 12.0),  # starts 0.05 s before the agent stops: a turn, not an interruption
        seg("agent", 11.0, 14.0),  # starts while the customer talks: interruption
    ]
    m = conversation_metrics(segments, duration_s=14.0)
    assert m["overtalk_s"] == 3.05  # 4-6, 9.95-10, 11-12
    assert m["interruptions"] == 2
    assert m["agent_talk_s"] == 13.0
    assert m["customer_talk_s"] == 4.05
    assert m["silence_s"] == 0.0
    assert m["longest_silence_s"] == 0.0


def test_overlapping_segments_of_one_speaker_count_once():
    segments = [seg("agent", 0.0, 5.0, "a b c d e"), seg("agent", 3.0, 6.0, "f"), seg("customer", 8.0, 9.0)]
    m = conversation_metrics(segments, duration_s=10.0)
    assert m["agent_talk_s"] == 6.0
    assert m["agent_wpm"] == 60.0
    assert m["interruptions"] == 0
    assert m["silence_s"] == 2.0


def test_mono_call_has_silences_but_no_sides():
    segments = [seg("inconnu", 0.5, 2.0), seg("inconnu", 3.0, 4.0), seg("inconnu", 7.25, 8.0)]
    m = conversation_metrics(segments, duration_s=9.0)
    assert m["agent_talk_s"] == 0.0 and m["customer_talk_s"] == 0.0
    assert m["silence_s"] == 4.25
    assert m["longest_silence_s"] == 3.25
    assert m["overtalk_s"] == 0.0 and m["interruptions"] == 0
    assert m["agent_wpm"] == 0.0
    assert m["talk_listen_ratio"] is None


def test_no_speech_is_all_silence():
    m = conversation_metrics([], duration_s=12.5)
    assert m["silence_s"] == 12.5 and m["longest_silence_s"] == 12.5
    assert m["agent_wpm"] == 0.0


def test_segments_past_the_end_are_clipped():
    m = conversation_metrics([seg("agent", 8.0, 12.0)], duration_s=10.0)
    assert m["agent_talk_s"] == 2.0


@pytest.mark.parametrize(
    ("intervals", "merged"),
    [
        ([], []),
        ([(0, 1), (1, 2)], [(0, 2)]),
        ([(3, 4), (0, 2), (1, 2.5)], [(0, 2.5), (3, 4)]),
        ([(0, 0), (2, 1)], []),
    ],
)
def test_merge_intervals(intervals, merged):
    assert merge_intervals(intervals) == merged


def test_public_transcript_longest_silence_matches_its_label():
    import json
    from pathlib import Path

    base = Path(__file__).parents[1] / "fixtures" / "eval" / "public"
    labels = {
        json.loads(line)["call_id"]: json.loads(line) for line in (base / "labels.jsonl").read_text().splitlines()
    }
    for call_id in ("a01-000", "a01-001", "a01-003"):
        t = json.loads((base / "transcripts" / f"{call_id}.json").read_text())
        m = conversation_metrics(t["segments"], t["duration_s"])
        assert round(m["longest_silence_s"], 1) == labels[call_id]["longest_silence_s"]
