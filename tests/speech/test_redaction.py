"""Redaction of personal data: a table of inputs and their redacted form."""

from __future__ import annotations

import pytest

from ccr.speech.redaction import LABELS, iban_valid, luhn_valid, nir_valid, redact_segments, redact_text

# Luhn-valid test card numbers (issuers' published test PANs) and one-digit-off twins.
VISA = "4970101234567893"
VISA_BAD = "4970101234567891"
AMEX = "378282246310005"  # 15 digits
# NIR 1 85 05 78 006 084 + key 91 (97 - 1850578006084 mod 97), and a Corsican one (2A -> 19).
NIR_OK = "1 85 05 78 006 084 91"
NIR_CORSE = "2 90 03 2A 004 012 " + f"{97 - 2900319004012 % 97:02d}"

CASES = [
    # (id, text, expected)
    (
        "card in groups of four",
        f"ma carte {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]} merci",
        "ma carte [CARTE] merci",
    ),
    ("card with dashes", f"{VISA[:4]}-{VISA[4:8]}-{VISA[8:12]}-{VISA[12:]}", "[CARTE]"),
    ("card glued", f"numéro {VISA}.", "numéro [CARTE]."),
    ("card digit by digit", "c'est " + " ".join(VISA), "c'est [CARTE]"),
    ("amex 15 digits", f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", "amex [CARTE]"),
    (
        "luhn-invalid card stays",
        f"ma carte {VISA_BAD[:4]} {VISA_BAD[4:8]} {VISA_BAD[8:12]} {VISA_BAD[12:]}",
        f"ma carte {VISA_BAD[:4]} {VISA_BAD[4:8]} {VISA_BAD[8:12]} {VISA_BAD[12:]}",
    ),
    (
        "card spelled in words",
        "quatre neuf sept zéro un zéro un deux trois quatre cinq six sept huit neuf trois",
        "[CARTE]",
    ),
    ("french iban grouped", "IBAN FR76 3000 6000 0112 3456 7890 189 merci", "IBAN [IBAN] merci"),
    ("french iban glued", "FR7630006000011234567890189", "[IBAN]"),
    ("german iban", "DE89 3704 0044 0532 0130 00", "[IBAN]"),
    ("belgian iban", "c'est BE68 5390 0754 7034 voilà", "c'est [IBAN] voilà"),
    ("iban with a bad check stays", "FR76 3000 6000 0112 3456 7890 188", "FR76 3000 6000 0112 3456 7890 188"),
    ("nir spaced", f"mon numéro de sécu {NIR_OK}", "mon numéro de sécu [NIR]"),
    ("nir glued", "185057800608491", "[NIR]"),
    ("nir corsica", f"sécu {NIR_CORSE}", "sécu [NIR]"),
    ("nir with a bad key stays", "1 85 05 78 006 084 92", "1 85 05 78 006 084 92"),
    ("email", "écrivez à jean.dupont+sav@exemple.fr merci", "écrivez à [EMAIL] merci"),
    ("spoken email", "c'est jean point dupont arobase gmail point com", "c'est [EMAIL]"),
    ("mobile spaced", "rappelez-moi au 06 12 34 56 78", "rappelez-moi au [TELEPHONE]"),
    ("landline dotted", "le 01.23.45.67.89 ou", "le [TELEPHONE] ou"),
    ("landline dashed", "01-23-45-67-89", "[TELEPHONE]"),
    ("phone glued", "0612345678", "[TELEPHONE]"),
    ("international +33", "le +33 6 12 34 56 78", "le [TELEPHONE]"),
    ("international +33 (0)", "+33 (0)1 23 45 67 89", "[TELEPHONE]"),
    ("international 0033", "0033 6 12 34 56 78", "[TELEPHONE]"),
    ("foreign number with +", "+44 20 7946 0958", "[TELEPHONE]"),
    ("phone digit by digit", "zéro six un deux trois quatre cinq six sept huit, voilà", "[TELEPHONE], voilà"),
    ("phone followed by a number", "au 06 12 34 56 78 5 fois", "au [TELEPHONE] 5 fois"),
    ("two identifiers", f"carte {VISA} et tél 0612345678", "carte [CARTE] et tél [TELEPHONE]"),
    # No false positives on what calls are full of.
    ("amount", "le montant est de 1 250,50 euros", "le montant est de 1 250,50 euros"),
    ("big amount", "2 000 000 euros", "2 000 000 euros"),
    ("date slashes", "le 12/03/2024 à 14h30", "le 12/03/2024 à 14h30"),
    ("date spaced", "livré le 12 03 2024", "livré le 12 03 2024"),
    ("order number", "commande numéro 123456", "commande numéro 123456"),
    ("postcode and street", "75011 Paris, 12 rue Oberkampf", "75011 Paris, 12 rue Oberkampf"),
    ("spelled quantity", "un deux trois soleil", "un deux trois soleil"),
    ("time", "rappelez entre 9 heures et 12 heures", "rappelez entre 9 heures et 12 heures"),
    ("placeholder kept", "déjà [TELEPHONE] masqué", "déjà [TELEPHONE] masqué"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_redact_text(text, expected):
    assert redact_text(text)[0] == expected


def test_counts_report_each_label_once_per_value():
    _, counts = redact_text(f"carte {VISA}, tél 06 12 34 56 78 ou 01 23 45 67 89, mail a@b.fr, {NIR_OK}")
    assert counts == {"CARTE": 1, "IBAN": 0, "NIR": 1, "EMAIL": 1, "TELEPHONE": 2}
    assert set(counts) == set(LABELS)


def test_already_redacted_text_counts_nothing():
    assert redact_text("[CARTE] et [TELEPHONE]")[1] == dict.fromkeys(LABELS, 0)


def test_redact_segments_keeps_timings_and_sums_counts():
    segments = [
        {"speaker": "customer", "start": 1.0, "end": 3.0, "text": "mon numéro 06 12 34 56 78"},
        {"speaker": "agent", "start": 3.5, "end": 5.0, "text": "et votre mail ?"},
        {"speaker": "customer", "start": 5.5, "end": 7.0, "text": "paul@exemple.fr et 07 98 76 54 32"},
    ]
    redacted, counts = redact_segments(segments)
    assert [s["text"] for s in redacted] == ["mon numéro [TELEPHONE]", "et votre mail ?", "[EMAIL] et [TELEPHONE]"]
    assert [(s["speaker"], s["start"], s["end"]) for s in redacted] == [
        (s["speaker"], s["start"], s["end"]) for s in segments
    ]
    assert counts["TELEPHONE"] == 2 and counts["EMAIL"] == 1
    assert segments[0]["text"] == "mon numéro 06 12 34 56 78"  # the input is not modified


@pytest.mark.parametrize(
    ("digits", "valid"), [(VISA, True), (VISA_BAD, False), (AMEX, True), ("79927398713", True), ("79927398710", False)]
)
def test_luhn(digits, valid):
    assert luhn_valid(digits) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("FR76 3000 6000 0112 3456 7890 189", True),
        ("FR76 3000 6000 0112 3456 7890 18", False),  # French IBANs have 27 characters
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82 WEST 1234 5698 7654 33", False),
    ],
)
def test_iban_check(iban, valid):
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(
    ("nir", "valid"),
    [
        (NIR_OK, True),
        (NIR_CORSE, True),
        ("1 85 05 78 006 084 92", False),
        ("5 85 05 78 006 084 91", False),
        ("1 85 13 78 006 084 " + f"{97 - 1851378006084 % 97:02d}", False),
    ],  # month 13 does not exist
)
def test_nir_check(nir, valid):
    assert nir_valid(nir) is valid
