"""French text normalisation helpers: bidirectional controls removed from names."""

import pytest

from ccr.core.textnorm import BIDI_CONTROLS, content_stems, strip_bidi, unpunctuated


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Julie\u202e Martin", "Julie Martin"),  # right-to-left override
        ("\u2066Équipe\u2069 Nord\u200f", "Équipe Nord"),  # isolates and a right-to-left mark
        ("\u202aa\u202bb\u202cc\u202dd\u200ee\u061cf\u2067g\u2068h", "abcdefgh"),
        ("محمد Benali", "محمد Benali"),  # right-to-left letters themselves stay
        ("Très bien", "Très bien"),
    ],
)
def test_strip_bidi_removes_every_bidirectional_control(raw, clean):
    assert strip_bidi(raw) == clean


def test_bidi_controls_are_the_unicode_explicit_formatting_characters():
    expected = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    assert {ord(c) for c in BIDI_CONTROLS} == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Bonjour, Mme Adèle Roux ? Qu'est-ce qui vous amène…", "bonjour mme adèle roux qu'est-ce qui vous amène"),
    ("« Le code, c'est : E15 » (voyant rouge) - et le week-end ?!", "le code c'est e15 voyant rouge et le week-end"),
    ("Paris-Bordeaux, le 12/03 ; voilà.", "paris-bordeaux le 12/03 voilà"),
])
def test_unpunctuated_keeps_words_accents_apostrophes_and_hyphens(text, expected):
    assert unpunctuated(text) == expected


def test_content_stems_keep_what_a_line_is_about_across_inflections():
    assert content_stems("Mes factures sont à l'ancien nom de ma société.") == content_stems(
        "votre facture est à l'ancien nom de la société")
    assert content_stems("Bonjour, vous avez bien fait, merci, c'est tout pour aujourd'hui ?") <= {"aujourd"}
    assert content_stems("trois cent vingt euros") == {"euro"}  # numbers say nothing of the subject
