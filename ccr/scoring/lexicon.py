"""Phrase lists matched against transcript lines: exactly, on stems, then fuzzily on whole words.

Text is compared in its normalised, ASR-folded form (``ccr.core.textnorm``) so that speech recognition
slips and inflections still match; fuzzy matching is kept for phrases long enough not to change meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from ccr.core.textnorm import match_form, normalize, stems
from ccr.scoring.acts import NEGATORS, SCOPE_BREAKS
from ccr.scoring.transcript import Seg

FUZZY_CANDIDATES = 4  # best partial-ratio candidates re-checked on word boundaries
FUZZY_MIN_CHARS = 9  # below this, a 1-letter ASR slip already changes the word: exact/stem only
DEFAULT_FUZZY = 86  # partial-ratio floor tuned on the public-asr set (WER 0.3-0.6)
EXACT_SCORE, STEM_SCORE = 100.0, 96.0
# A negation governs a phrase said within a few words after it (« pas du tout mécontent », « jamais reçu de
# facture erronée »); further on it is mostly rhetorical (« vous n'imaginez pas à quel point ça m'agace »).
NEGATION_REACH = 4
_CLAUSE_SPLIT = re.compile(r"[.!?;:,…]")  # a negation does not reach past a clause's end


@dataclass(frozen=True)
class Lexicon:
    """Compiled phrases: exact/stem forms and the list used for fuzzy matching."""

    texts: tuple[str, ...]
    mfs: tuple[str, ...]
    sts: tuple[str, ...]
    fuzzy_mfs: tuple[str, ...]
    fuzzy_idx: tuple[int, ...]


@lru_cache(maxsize=256)
def compile_lexicon(phrases: tuple[str, ...], folded: bool = True) -> Lexicon:
    """Normalise a phrase list once (cached by content); ``folded=False`` skips the ASR folding."""
    texts, mfs, sts = [], [], []
    for p in phrases:
        mf = match_form(p) if folded else normalize(p)
        if not mf:
            continue
        texts.append(p)
        mfs.append(mf)
        sts.append(stems(p))
    fuzzy = [(i, m) for i, m in enumerate(mfs) if len(m) >= FUZZY_MIN_CHARS]
    return Lexicon(tuple(texts), tuple(mfs), tuple(sts), tuple(m for _, m in fuzzy), tuple(i for i, _ in fuzzy))


def match_text(lex: Lexicon, mf: str, st: str, threshold: float) -> tuple[float, str | None]:
    """Best (score, phrase) of ``lex`` in a text given by its match form and stems; (0, None) if none."""
    if not mf:
        return 0.0, None
    padded = f" {mf} "
    for text, pmf in zip(lex.texts, lex.mfs, strict=True):
        if f" {pmf} " in padded:
            return EXACT_SCORE, text
    padded_st = f" {st} "
    for text, pst in zip(lex.texts, lex.sts, strict=True):
        if pst and f" {pst} " in padded_st:
            return STEM_SCORE, text
    if lex.fuzzy_mfs and threshold <= 100:
        hits = process.extract(mf, lex.fuzzy_mfs, scorer=fuzz.partial_ratio, score_cutoff=threshold,
                               limit=FUZZY_CANDIDATES)
        best = (0.0, None)
        for choice, _, i in hits:
            score = _word_aligned_ratio(choice, mf)
            if score >= threshold and score > best[0]:
                best = (score, lex.texts[lex.fuzzy_idx[i]])
        return best
    return 0.0, None


def plain_phrase(lex: Lexicon, text: str) -> str | None:
    """The first phrase of ``lex`` said in ``text`` word for word or by stems, not negated just before it in
    the same clause; else None. A phrase carrying its own negation (« ce n'est pas normal ») is taken as
    written. No fuzzy matching: a near spelling changes a short cue's meaning."""
    clauses = [(match_form(c).split(), stems(c).split()) for c in _CLAUSE_SPLIT.split(text)]
    for phrase, pmf, pst in zip(lex.texts, lex.mfs, lex.sts, strict=True):
        forms = pmf.split(), pst.split()
        own_negation = any(w in NEGATORS for w in forms[0])
        for words, word_stems in clauses:
            for said, target in zip((words, word_stems), forms, strict=True):
                if any(own_negation or not _negated_before(words, i) for i in _occurrences(said, target)):
                    return phrase
    return None


def _occurrences(words: list[str], phrase: list[str]) -> list[int]:
    n = len(phrase)
    if not n:
        return []
    return [i for i in range(len(words) - n + 1) if words[i:i + n] == phrase]


def _negated_before(words: list[str], i: int) -> bool:
    """Whether a negator stands within NEGATION_REACH words before position ``i``, in the same clause."""
    for w in reversed(words[max(0, i - NEGATION_REACH):i]):
        if w in NEGATORS:
            return True
        if w in SCOPE_BREAKS:
            return False
    return False


def _word_aligned_ratio(phrase: str, text: str) -> float:
    """Ratio of ``phrase`` against its best partial alignment in ``text`` widened to whole words.

    A bare partial ratio lets "si je comprends" match inside "situation je comprends"; widening
    the aligned span to word boundaries before scoring rejects such cross-word alignments.
    """
    if len(text) <= len(phrase):
        return fuzz.ratio(phrase, text)
    al = fuzz.partial_ratio_alignment(phrase, text)
    a, b = al.dest_start, al.dest_end
    while a > 0 and text[a - 1] != " ":
        a -= 1
    while b < len(text) and text[b] != " ":
        b += 1
    return fuzz.ratio(phrase, text[a:b])


def _mask(mf: str, st: str, exclude: Lexicon | None) -> tuple[str, str]:
    """Remove excluded phrases (e.g. "si je comprends bien" before looking for empathy)."""
    if exclude is None:
        return mf, st
    padded, padded_st = f" {mf} ", f" {st} "
    for pmf, pst in zip(exclude.mfs, exclude.sts, strict=True):
        padded = padded.replace(f" {pmf} ", " | ")
        if pst:
            padded_st = padded_st.replace(f" {pst} ", " | ")
    return padded.strip(), padded_st.strip()


def find_in(segs: Iterable[Seg], phrases: Iterable[str], threshold: float,
            exclude: Iterable[str] | None = None) -> list[tuple[Seg, float, str]]:
    """All segments matching one of ``phrases``, in time order, with score and phrase."""
    lex = compile_lexicon(tuple(phrases))
    exc = compile_lexicon(tuple(exclude)) if exclude else None
    hits = []
    for s in segs:
        mf, st = _mask(s.mf, s.st, exc)
        score, phrase = match_text(lex, mf, st, threshold)
        if phrase is not None:
            hits.append((s, score, phrase))
    return hits


def count_cues(lex: Lexicon, mf: str, st: str, threshold: float) -> float:
    """Number of distinct cues present (exact, stem or fuzzy), so one long request is not one vote."""
    if not mf:
        return 0.0
    padded, padded_st = f" {mf} ", f" {st} "
    n = 0.0
    for pmf, pst in zip(lex.mfs, lex.sts, strict=True):
        if f" {pmf} " in padded or (pst and f" {pst} " in padded_st):
            n += 1.0
    if n == 0 and lex.fuzzy_mfs:
        hits = process.extract(mf, lex.fuzzy_mfs, scorer=fuzz.partial_ratio, score_cutoff=threshold, limit=3)
        n += 0.5 * len(hits)
    return n
