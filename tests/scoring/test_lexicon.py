"""Phrase matching on transcript lines: exact, stem and word-aligned fuzzy matches, exclusions, cue counts."""

from __future__ import annotations

import pytest

from ccr.core.textnorm import match_form, stems
from ccr.scoring.lexicon import (
    DEFAULT_FUZZY,
    EXACT_SCORE,
    STEM_SCORE,
    compile_lexicon,
    count_cues,
    find_in,
    match_text,
    plain_phrase,
)
from ccr.scoring.transcript import Call, validate_transcript


def _match(phrases, text, threshold=DEFAULT_FUZZY):
    return match_text(compile_lexicon(tuple(phrases)), match_form(text), stems(text), threshold)


def test_a_phrase_matches_exactly_then_on_stems_then_fuzzily():
    assert _match(["si je comprends bien"], "Oui, si je comprends bien votre demande") == (
        EXACT_SCORE, "si je comprends bien")
    assert _match(["je vous remercie"], "je vous remerciais") == (STEM_SCORE, "je vous remercie")
    score, phrase = _match(["un instant"], "un instan")  # a letter lost by speech recognition
    assert phrase == "un instant" and DEFAULT_FUZZY <= score < STEM_SCORE
    assert _match(["un instant"], "un instan", threshold=101) == (0.0, None)  # above 100: no fuzzy matching
    assert _match(["un instant"], "") == (0.0, None)


def test_fuzzy_matches_keep_to_whole_words_and_long_phrases():
    assert _match(["si je comprends bien"], "situation je comprends bien") == (0.0, None)
    assert compile_lexicon(("merci",)).fuzzy_mfs == ()  # one slipped letter would already be another word


def test_unfolded_phrases_keep_their_possessives():
    assert compile_lexicon(("mon pote",)).mfs != compile_lexicon(("mon pote",), folded=False).mfs
    assert compile_lexicon(("mon pote",), folded=False).mfs == ("mon pote",)


def test_find_in_lists_matching_lines_in_order_without_the_excluded_phrases():
    call = Call.from_transcript(validate_transcript({"call_id": "x", "duration_s": 10, "segments": [
        {"speaker": "agent", "start": 0, "end": 2, "text": "Si je comprends bien, c'est la facture."},
        {"speaker": "agent", "start": 3, "end": 4, "text": "Je comprends votre gêne."},
    ]}))
    assert [s.idx for s, _, _ in find_in(call.segs, ["je comprends"], DEFAULT_FUZZY)] == [0, 1]
    hits = find_in(call.segs, ["je comprends"], DEFAULT_FUZZY, exclude=["si je comprends bien"])
    assert [(s.idx, phrase) for s, _, phrase in hits] == [(1, "je comprends")]


def test_cues_are_counted_once_each_and_a_fuzzy_one_counts_half():
    lex = compile_lexicon(("facture", "prélèvement"))
    assert count_cues(lex, match_form("ma facture, encore ma facture et le prélèvement"),
                      stems("ma facture, encore ma facture et le prélèvement"), 88) == 2.0
    assert count_cues(lex, match_form("un prélevemen"), stems("un prélevemen"), 80) == 0.5
    assert count_cues(lex, "", "", 88) == 0.0


FEELINGS = ("furieux", "en colère", "déçu", "ce n'est pas sérieux", "toujours rien")


@pytest.mark.parametrize(("text", "said"), [
    ("Franchement, je suis furieuse.", "furieux"),  # on stems
    ("Je suis en colère, je ne vais pas vous le cacher.", "en colère"),  # the negation comes after it
    ("Vous n'imaginez pas à quel point je suis déçue par tout ça.", "déçu"),  # too far to govern it
    ("Rien à voir, mais je suis déçu.", "déçu"),  # the negation stays in its own clause
    ("Alors là, ce n'est pas sérieux.", "ce n'est pas sérieux"),  # the phrase carries its own negation
    ("Je ne suis pas en colère, je voulais juste savoir.", None),
    ("Non, pas du tout déçu, au contraire.", None),
    ("Je n'ai jamais été déçue jusqu'ici.", None),
    ("Toujours en ligne, oui.", None),  # no fuzzy reading: a near spelling is another meaning
])
def test_a_plain_phrase_is_said_word_for_word_and_not_negated_just_before(text, said):
    assert plain_phrase(compile_lexicon(FEELINGS), text) == said
