"""French text normalisation helpers: bidirectional controls removed from names."""

import pytest

from ccr.core.textnorm import BIDI_CONTROLS, content_stems, number_in_words, spoken_numbers, strip_bidi, unpunctuated


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


@pytest.mark.parametrize(("n", "words"), [
    (0, "zéro"), (7, "sept"), (17, "dix-sept"), (21, "vingt et un"), (38, "trente-huit"), (61, "soixante et un"),
    (70, "soixante-dix"), (71, "soixante et onze"), (79, "soixante-dix-neuf"), (80, "quatre-vingts"),
    (81, "quatre-vingt-un"), (91, "quatre-vingt-onze"), (100, "cent"), (105, "cent cinq"), (300, "trois cents"),
    (320, "trois cent vingt"), (1000, "mille"), (1980, "mille neuf cent quatre-vingts"),
    (80_000, "quatre-vingt mille"), (400_000, "quatre cent mille"), (2027, "deux mille vingt-sept"),
])
def test_numbers_are_written_in_words_as_french_spells_them(n, words):
    assert number_in_words(n) == words


@pytest.mark.parametrize(("heard", "said"), [
    ("Je patiente depuis 12 jours.", "Je patiente depuis douze jours."),
    ("On vous a prélevé 47,20 € de trop.", "On vous a prélevé quarante-sept euros vingt de trop."),
    ("Un technicien passe entre 9h et 11 h 45.", "Un technicien passe entre neuf heures et onze heures quarante-cinq."),
    ("C'est mon 4e appel et ma 1re réclamation.", "C'est mon quatrième appel et ma première réclamation."),
    ("Une baisse de 15 % sur 6 mois.", "Une baisse de quinze pour cent sur six mois."),
    ("Rappelez le 07 81 22 90 13.", "Rappelez le zéro sept quatre-vingt-un vingt-deux quatre-vingt-dix treize."),
    ("Dossier 90817265, modèle X3.", "Dossier neuf zéro huit un sept deux six cinq, modèle X3."),
    ("Aucun chiffre ici.", "Aucun chiffre ici."),
])
def test_numbers_written_in_digits_are_read_as_said(heard, said):
    assert spoken_numbers(heard) == said

