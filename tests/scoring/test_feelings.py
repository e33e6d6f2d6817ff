"""The classifier of words of feeling: trained on our bank, measured on lines another writer wrote apart, and
the irritant it lets a word of feeling voice in a call."""

from __future__ import annotations

import pytest

from ccr.scoring import feelings
from ccr.scoring.acts import ActModelError
from ccr.scoring.grid import default_taxonomy
from ccr.scoring.rules import detect_irritants
from ccr.scoring.transcript import Call, validate_transcript
from scripts.train_feelings import figures, read_heldout

# Held-out floors, a little under what the shipped model measured: ranking AUC 0.966; at the bar of 0.5, 90.6 %
# of the meant lines read as discontent and 10.6 % of the words used in passing. The act model's reading, at half
# its bar as the scorer used it before, let 43.5 % of those through (and 77.1 % of the meant ones).
FLOORS = {"auc": 0.95, "meant": 0.87}
CEILING_UNMEANT = 0.13


def test_the_shipped_model_was_trained_on_the_current_banks():
    model = feelings.default_model()
    assert model is not None
    assert model.bank_sha256 == feelings.training_hash(), "retrain: python -m scripts.train_feelings"
    assert model.acts == (feelings.DISCONTENT,) and model.head is not None


def test_held_out_words_of_feeling_are_told_meant_or_in_passing():
    lines = read_heldout()
    assert sum(t for _, t in lines) >= 150 and sum(not t for _, t in lines) >= 150
    f = figures(feelings.default_model(), lines)
    assert f["auc"] >= FLOORS["auc"] and f["meant"] >= FLOORS["meant"], f
    assert f["unmeant"] <= CEILING_UNMEANT, f


@pytest.mark.parametrize(("text", "expected"), [
    ("Trois techniciens, trois versions différentes : c'est du grand n'importe quoi.", True),
    ("Je vous le dis gentiment, mais ça commence à m'agacer, ces relances pour une facture réglée.", True),
    ("Franchement je suis déçue, on m'avait promis la pose avant Noël.", True),
    ("Mon petit-fils est furieux, il a perdu au foot ce matin, bref, je vous appelle pour la box.", False),
    ("Ce serait absurde de résilier maintenant, je voulais juste connaître la date de fin.", False),
    ("Votre collègue a été parfait, rien à voir avec de l'amateurisme, je tenais à le dire.", False),
])
def test_lines_of_our_own(text, expected):
    assert feelings.voices_discontent(text) is expected


def _call(customer_line: str) -> Call:
    return Call.from_transcript(validate_transcript({"segments": [
        {"start": 0.0, "end": 3.0, "speaker": "agent", "text": "Service clients, Hélène, bonjour."},
        {"start": 3.5, "end": 9.0, "speaker": "customer", "text": customer_line},
        {"start": 9.5, "end": 12.0, "speaker": "agent", "text": "Je regarde votre dossier."},
    ]}))


def test_a_word_of_feeling_voices_discontent_in_a_call_only_when_meant():
    meant = detect_irritants(_call("Troisième coupure ce mois-ci, ça m'énerve, je travaille de chez moi."),
                             default_taxonomy())
    assert "mecontentement" in [label for label, _ in meant]
    passing = detect_irritants(_call("Mon chat est énervé par l'orage, excusez le bruit. C'est pour un "
                                     "changement d'adresse."), default_taxonomy())
    assert "mecontentement" not in [label for label, _ in passing]


def test_a_bank_line_without_its_verdict_is_refused(tmp_path):
    bank = tmp_path / "bank.jsonl"
    bank.write_text('{"text": "C\'est ridicule.", "discontent": "oui"}\n', encoding="utf-8")
    with pytest.raises(ActModelError, match="discontent"):
        feelings.read_bank(bank)
