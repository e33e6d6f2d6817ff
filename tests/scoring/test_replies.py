"""The customer-reply classifier: trained on our replies bank, measured on replies written in another style."""

from __future__ import annotations

import pytest

from ccr.scoring import replies
from ccr.scoring.acts import ActModelError
from ccr.speech import redaction
from scripts.train_replies import HELDOUT, precision_recall, read_heldout

# Held-out floors, a little under what the shipped model measured (precision, recall at the bar of 0.5):
# 0.931 / 0.810 for « nothing more », 0.938 / 0.849 for an identifying element.
FLOORS = {"no_other_need": (0.9, 0.78), "gives_identity": (0.9, 0.8)}


def test_the_shipped_model_was_trained_on_the_current_banks():
    model = replies.default_model()
    assert model is not None
    assert model.bank_sha256 == replies.training_hash(), "retrain: python -m scripts.train_replies"
    assert model.acts == replies.REPLIES
    assert model.head is not None, "replies are read by meaning too, not by letters alone"


@pytest.mark.parametrize("reply", replies.REPLIES)
def test_held_out_replies_are_recognised_and_lookalikes_are_not(reply):
    lines = read_heldout(HELDOUT[reply])
    assert sum(t for _, t in lines) >= 80 and sum(not t for _, t in lines) >= 80
    precision, recall = precision_recall(replies.default_model(), lines, reply)
    assert precision >= FLOORS[reply][0] and recall >= FLOORS[reply][1], (precision, recall)


@pytest.mark.parametrize(("text", "expected"), [
    ("Non merci, vous avez répondu à tout ce que je voulais savoir.", True),
    ("Ah non, rien de plus, c'est parfait.", True),
    ("non c'est bon pour aujourd'hui merci madame", True),
    ("Non, je n'ai toujours rien reçu dans ma boîte aux lettres.", False),  # a « non … rien » to another question
    ("Si, justement, il y a encore le problème de la box.", False),
    ("J'ai tout débranché et rien ne s'allume.", False),
    ("Merci, bonne soirée à vous.", False),
])
def test_lines_of_our_own(text, expected):
    assert (replies.probability(text, "no_other_need") >= replies.THRESHOLD) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Vasseur. Odile Vasseur, V, A, deux S, E, U, R.", True),
    ("Alors mon numéro d'abonnée… attendez… c'est le quarante-sept, zéro huit, soixante et onze.", True),
    ("Je suis née le quatorze juillet soixante-trois.", True),
    ("c'est odile point vasseur arobase orange point fr", True),
    ("Le contrat est au nom de ma fille, Inès Vasseur, c'est elle la titulaire.", True),
    pytest.param("Je note, hein : K, L, six, six, zéro, deux. C'est bon, je l'ai.", False, marks=pytest.mark.xfail(
        strict=True, reason="known gap: a reference noted back reads as an identifier; the scorer does not credit "
        "it, as it repeats the agent's line (test_actrules)")),
    ("On m'a débité soixante-quatre euros le trois du mois.", False),  # numbers of the problem
    ("Mon numéro client ? Je ne l'ai pas sur moi, là.", False),
    ("Le technicien, un certain Monsieur Roche, n'est jamais venu.", False),
    ("Hm ?", False),
])
def test_identifying_elements_of_our_own(text, expected):
    assert (replies.probability(text, "gives_identity") >= replies.THRESHOLD) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("[EMAIL].", True),
    ("Oui, c'est le [TELEPHONE], celui de la maison.", True),
    ("mon numéro de sécu c'est le [nir]", True),  # a transcriber that writes everything in lower case
    ("Euh, marc.aubry@laposte.net, sans accent.", True),
    ("Alors c'est jeanne tiret roux arobase free point fr", True),
    ("Le prélèvement est parti de mon [IBAN], deux fois.", False),  # a payment number identifies no one
    ("J'ai payé avec la carte [CARTE], ça n'a pas marché.", False),
    ("Vous pouvez m'écrire par mail si c'est plus simple.", False),
])
def test_an_address_or_what_redaction_left_of_an_identifier_gives_an_identity(text, expected):
    assert replies.states_identifier(text) is expected
    assert (replies.probability(text, "gives_identity") >= replies.THRESHOLD) is expected


def test_the_identity_placeholders_are_those_redaction_writes():
    assert {p.strip("[]") for p in replies.IDENTITY_PLACEHOLDERS} <= set(redaction.LABELS)
    redacted, _ = redaction.redact_text("Mon mail, c'est paul.roy@free.fr, et mon portable le 06 12 34 56 78.")
    assert replies.states_identifier(redacted)


def test_a_bank_line_with_an_unknown_reply_is_refused(tmp_path):
    bad = tmp_path / "bank.jsonl"
    bad.write_text('{"text": "Non merci.", "reply": "no_other_need"}\n{"text": "Oui.", "reply": "maybe"}\n',
                   encoding="utf-8")
    with pytest.raises(ActModelError, match="ligne 2"):
        replies.read_bank(bad)


def test_without_a_trained_classifier_no_line_is_a_reply(monkeypatch):
    monkeypatch.setattr(replies, "default_model", lambda: None)
    assert replies.probability("Non, ce sera tout.", "no_other_need") == 0.0
