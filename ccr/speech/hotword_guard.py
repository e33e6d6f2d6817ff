"""Guards against the organisation's vocabulary (hot words) taking over a transcript.

Measured on synthesised calls (``benchmarks/bench_vocabulary.py``), hot words make Whisper base spell the names
right, but also make it loop on one of them (« Ophélie, Anaïs, Anaïs, Anaïs, Anaïs ») in place of what was said,
or drop a stretch of speech. Two guards, both deterministic:

- a loop is removed with its words: a stretch of nothing but vocabulary terms in which one comes back
  :data:`MIN_REPEATS` times or more (« Anaïs, Anaïs, Anaïs », or a cycle « Yannick, Anaïs, Réparéo, Yannick,
  Anaïs, Réparéo... »), or a near spelling of a term repeated as often; a segment that still says one term that
  often goes, and so does the whole utterance when only vocabulary is left around a loop (:func:`drop_term_loops`);
- the stretches of speech that the hot-word pass left without text (dropped by Whisper, dropped as a loop, or
  emptied by the first guard) are decoded again without the hot words, all in one pass (:func:`fill_holes`).

Segments are ``(start, end, text[, words])`` as in ``ccr.speech.transcription``; a changed segment keeps only
its remaining words and spans exactly them, so word timings and probabilities stay those of its text.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from difflib import SequenceMatcher
from typing import Any

import numpy as np

# A name said three times in a row by a person is rare (twice happens: « Anaïs ? Oui, Anaïs. »), while Whisper's
# hot-word loops run on (« Anaïs » five times over a greeting in bench_vocabulary's k13): three catches them.
MIN_REPEATS = 3
# A loop also comes out misspelled (« Laëlle, Laëlle, Laëlle » with « Maëlle » in the list): 0.8 of shared letters
# takes one wrong letter in six (0.83) and leaves apart common words close to short terms (« mars » and « Marc »:
# 0.75): a repeated « non, non, non » is taken for a loop only if the list holds a name that close to « non ».
NEAR_SPELLING = 0.8
# VAD pads speech by 0.2 s on each side and Whisper's word timings are approximate: an uncovered stretch
# under a second is that slack or a breath, and re-decoding it alone would mostly invite a hallucination.
MIN_HOLE_S = 1.0
SAMPLE_RATE = 16_000  # Whisper's input rate (ccr.speech.audio.TARGET_SR, not imported to keep this module light)

Term = tuple[str, ...]  # a vocabulary term as lower-case word tokens: « Pack Azur » -> ("pack", "azur")
Span = tuple[float, float]


def vocabulary_terms(hotwords: str | None) -> list[Term]:
    """The terms of a hot-word text (``ccr.speech.vocabulary.hotwords_text``) as word tokens, longest first."""
    terms = {tuple(_tokens(t)) for t in (hotwords or "").split(",")}
    # Longest first, so « Quiétude Plus » is matched before a shorter term that begins like it.
    return sorted((t for t in terms if t), key=lambda t: (-len(t), t))


def drop_term_loops(pieces: list[tuple], terms: list[Term]) -> list[tuple]:
    """The pieces of one decoded utterance without its runs of one term said ``MIN_REPEATS`` times or more, and
    without the pieces that still say one term that often; none when only vocabulary is left around a loop."""
    if not terms or not pieces:
        return list(pieces)
    if not all(len(p) > 3 and p[3] for p in pieces):  # no word timings (other engines): text only
        return [q for p in pieces for q in _drop_text_loops(p, terms)]
    words = [w for p in pieces for w in p[3]]
    owners = [(i, tok) for i, w in enumerate(words) for tok in _tokens(w["word"])]
    # Runs are looked for across the pieces: a pause inside a loop does not make it speech.
    runs = loop_runs([tok for _, tok in owners], terms)
    # A word with any token in a run goes: « l'Anaïs » opening a loop is part of it.
    looped = {owners[k][0] for a, b in runs for k in range(a, b)}
    # The vocabulary alone left around a loop (« Ophélie, » before « Anaïs » five times) is the loop's start.
    if runs and only_terms([tok for i, tok in owners if i not in looped], terms):
        return []
    out: list[tuple] = []
    index = 0
    for piece in pieces:
        kept = [w for n, w in enumerate(piece[3], start=index) if n not in looped]
        index += len(piece[3])
        text = "".join(w["word"] for w in kept).strip()
        if not kept or not re.search(r"\w", text) or repeats_a_term(_tokens(text), terms):
            continue
        # A changed piece spans exactly the words it keeps, so its timings and probabilities are its text's.
        out.append(piece if len(kept) == len(piece[3]) else (kept[0]["start"], kept[-1]["end"], text, kept))
    return out


def guard_segments(segments: list[tuple], hotwords: str | None) -> list[tuple]:
    """Each segment through :func:`drop_term_loops` on its own; unchanged without hot words."""
    terms = vocabulary_terms(hotwords)
    return [q for seg in segments for q in drop_term_loops([seg], terms)] if terms else list(segments)


def loop_runs(tokens: list[str], terms: list[Term]) -> list[tuple[int, int]]:
    """Token ranges ``[a, b)`` of loops: nothing but terms, one of them ``MIN_REPEATS`` times or more (« Yannick,
    Anaïs, Yannick, Anaïs, Yannick »), or a near spelling of one term that many times in a row (« Laëlle » x3)."""
    runs: list[tuple[int, int]] = []
    sizes = sorted({len(t) for t in terms}, reverse=True)
    i = 0
    while i < len(tokens):
        said, k = [], i
        # Once a run has begun, a near spelling of a term carries it on (« Anaïs, Laëlle, Anaïs, Laëlle »).
        while (term := _term_at(tokens, k, terms) or (_near_term_at(tokens, k, terms, sizes) if said else None)):
            said.append(term)
            k += len(term)
        end = k if said and max(said.count(t) for t in said) >= MIN_REPEATS else i
        for n in sizes:  # one unit said again and again, close to a term without being one
            unit, k, count = tokens[i : i + n], i, 0
            while len(unit) == n and tokens[k : k + n] == unit:
                k, count = k + n, count + 1
            if count >= MIN_REPEATS and k > end and _is_term_like(tuple(unit), terms):
                end = k
        if end > i:
            runs.append((i, end))
            i = end
        else:
            i += 1
    return runs


def repeats_a_term(tokens: list[str], terms: list[Term]) -> bool:
    """True when one term is said ``MIN_REPEATS`` times or more in ``tokens``, in a row or not."""
    return any(sum(tuple(tokens[i : i + len(t)]) == t for i in range(len(tokens))) >= MIN_REPEATS for t in terms)


def only_terms(tokens: list[str], terms: list[Term]) -> bool:
    """True when ``tokens`` are nothing but vocabulary terms one after the other (or nothing at all)."""
    i = 0
    while i < len(tokens):
        term = _term_at(tokens, i, terms)
        if term is None:
            return False
        i += len(term)
    return True


def _term_at(tokens: list[str], i: int, terms: list[Term]) -> Term | None:
    """The term (the longest) that ``tokens`` say from position ``i``, if any."""
    return next((t for t in terms if tuple(tokens[i : i + len(t)]) == t), None)


def _near_term_at(tokens: list[str], i: int, terms: list[Term], sizes: list[int]) -> Term | None:
    """The tokens from position ``i`` that spell a term nearly (« Laëlle » for « Maëlle »), as said, if any."""
    return next((unit for n in sizes if len(unit := tuple(tokens[i : i + n])) == n and _is_term_like(unit, terms)),
                None)


def holes(expected: list[Span], segments: list[tuple], min_s: float = MIN_HOLE_S) -> list[Span]:
    """The stretches of ``expected`` speech, ``min_s`` long or more, that no segment covers, in time order."""
    covered = sorted((float(s[0]), float(s[1])) for s in segments)
    out: list[Span] = []
    for start, end in sorted(expected):
        pos = start
        for c_start, c_end in covered:
            if c_end <= pos or c_start >= end:
                continue
            if c_start - pos >= min_s:
                out.append((pos, c_start))
            pos = max(pos, c_end)
        if end - pos >= min_s:
            out.append((pos, end))
    return out


def fill_holes(
    audio: np.ndarray, segments: list[tuple], expected: list[Span], decode: Callable[[np.ndarray], Any],
    deadline: float,
) -> tuple[list[tuple], bool]:
    """``segments`` with the holes of ``expected`` speech decoded again by ``decode`` (the same pass without hot
    words) on the channel silenced outside them; also returns True when the deadline stopped the work."""
    found = holes(expected, segments)
    if not found:
        return list(segments), False
    if time.monotonic() > deadline:
        return list(segments), True
    # One pass over the channel with everything else silenced, not one per hole: Whisper hears the holes one
    # after the other, as the first pass heard the call's speech, and the timings come back in the call's time.
    masked = np.zeros_like(audio)
    for start, end in found:
        a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
        masked[a:b] = audio[a:b]
    result = decode(masked)
    # Only what falls in a hole: a phrase made up over the silenced rest would duplicate or invent speech.
    added = [seg for seg in result.segments if any(a <= (seg[0] + seg[1]) / 2 <= b for a, b in found)]
    return sorted([*segments, *added], key=lambda seg: (seg[0], seg[1])), bool(result.truncated)


def speech_spans(audio: np.ndarray, vad_parameters: dict) -> list[Span]:
    """Where faster-whisper's voice activity detection (same parameters as the pass) hears speech, in seconds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions(**vad_parameters))
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in chunks]


def _is_term_like(unit: Term, terms: list[Term]) -> bool:
    """True when ``unit`` is a term or spelled within :data:`NEAR_SPELLING` of one (« Laëlle » for « Maëlle »)."""
    text = " ".join(unit)
    return unit in terms or any(SequenceMatcher(None, text, " ".join(t)).ratio() >= NEAR_SPELLING for t in terms)


def _tokens(text: str) -> list[str]:
    # NFC: « é » typed as e + combining accent in the list is the « é » Whisper writes (as clean_terms stores).
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold())


def _drop_text_loops(seg: tuple, terms: list[Term]) -> list[tuple]:
    """A segment without words, with its looped runs cut out of its text, as :func:`drop_term_loops` does."""
    start, end, text = seg[0], seg[1], seg[2]
    matches = list(re.finditer(r"\w+", unicodedata.normalize("NFC", text)))
    tokens = [m.group().casefold() for m in matches]
    runs = loop_runs(tokens, terms)
    inside = {k for a, b in runs for k in range(a, b)}
    rest = [t for k, t in enumerate(tokens) if k not in inside]
    if (runs and only_terms(rest, terms)) or repeats_a_term(rest, terms):
        return []
    if not runs:
        return [seg]
    normal, pieces, pos = unicodedata.normalize("NFC", text), [], 0
    for a, b in runs:
        # The run goes with the punctuation after it (« Anaïs, Anaïs, Anaïs, »), up to the next word.
        after = matches[b].start() if b < len(matches) else len(normal)
        pieces.append(normal[pos : matches[a].start()])
        pos = after
    kept = " ".join(("".join(pieces) + normal[pos:]).split())
    return [(start, end, kept)]
