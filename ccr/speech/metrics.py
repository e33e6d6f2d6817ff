"""Conversation metrics computed from timed transcript segments.

Times are unions of intervals: two segments of the same speaker that overlap count once.
Silence is measured between the first and the last word of the call, because the ringing
before the agent picks up and the line noise after hang-up are not conversation.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

AGENT, CUSTOMER = "agent", "customer"
# A speaker who starts less than this before the other stops is taking the turn, not interrupting.
INTERRUPTION_MIN_OVERLAP_S = 0.1
ROUND = 2  # centiseconds: finer than Whisper's timestamps are accurate

Interval = tuple[float, float]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of (start, end) intervals; empty intervals are dropped."""
    merged: list[list[float]] = []
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _length(intervals: list[Interval]) -> float:
    return sum(e - s for s, e in intervals)


def _intersection(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two merged interval lists (two-pointer sweep)."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _interruptions(starts: Iterable[float], other: list[Interval]) -> int:
    """How many of ``starts`` fall while the other speaker is talking and keeps talking a moment."""
    return sum(1 for t in starts for s, e in other if s < t < e - INTERRUPTION_MIN_OVERLAP_S)


def conversation_metrics(segments: list[dict], duration_s: float) -> dict:
    """Talk times, silences, overtalk, interruptions and agent words per minute, rounded to 2 decimals."""
    by_speaker: dict[str, list[Interval]] = {}
    for seg in segments:
        start = max(0.0, float(seg["start"]))
        end = min(float(seg["end"]), duration_s) if duration_s > 0 else float(seg["end"])
        by_speaker.setdefault(seg.get("speaker", "inconnu"), []).append((start, end))
    agent = merge_intervals(by_speaker.get(AGENT, []))
    customer = merge_intervals(by_speaker.get(CUSTOMER, []))
    speech = merge_intervals(iv for ivs in by_speaker.values() for iv in ivs)

    if speech:
        gaps = [b[0] - a[1] for a, b in itertools.pairwise(speech)]
        silence, longest = sum(gaps), max(gaps, default=0.0)
    else:
        silence = longest = max(duration_s, 0.0)

    agent_talk, customer_talk = _length(agent), _length(customer)
    agent_words = sum(len(seg.get("text", "").split()) for seg in segments if seg.get("speaker") == AGENT)
    interruptions = _interruptions((s for s, _ in agent), customer) + _interruptions((s for s, _ in customer), agent)
    return {
        "agent_talk_s": round(agent_talk, ROUND),
        "customer_talk_s": round(customer_talk, ROUND),
        "silence_s": round(silence, ROUND),
        "longest_silence_s": round(longest, ROUND),
        "overtalk_s": round(_length(_intersection(agent, customer)), ROUND),
        "interruptions": interruptions,
        "agent_wpm": round(agent_words / (agent_talk / 60), ROUND) if agent_talk > 0 else 0.0,
        "talk_listen_ratio": round(agent_talk / customer_talk, ROUND) if customer_talk > 0 else None,
    }
