"""The customer-reply classifier: trained on our replies bank, measured on replies written in another style."""

from __future__ import annotations

import pytest

from ccr.scoring import replies
from ccr.scoring.acts import ActModelError
from scripts.train_replies import precision_recall, read_heldout

PRECISION_FLOOR, RECALL_FLOOR = 0.85, 0.7  # measured 0.881 and 0.740 when the model was shipped


def test_the_shipped_model_was_trained_on_the_current_banks():
    model = replies.default_model()
    assert model is not None
    assert model.bank_sha256 == replies.training_hash(), "retrain: python -m scripts.train_replies"
    assert model.acts == replies.REPLIES


def test_held_out_replies_are_recognised_and_lookalikes_are_not():
    lines = read_heldout()
    assert sum(t for _, t in lines) >= 80 and sum(not t for _, t in lines) >= 80
    precision, recall = precision_recall(replies.default_model(), lines)
    assert precision >= PRECISION_FLOOR and recall >= RECALL_FLOOR, (precision, recall)


@pytest.mark.parametrize(("text", "expected"), [
    ("Non merci, vous avez répondu à tout ce que je voulais savoir.", True),
    ("Ah non, rien de plus, c'est parfait.", True),
    ("non c'est bon pour aujourd'hui merci madame", True),
    pytest.param("Non, je n'ai toujours rien reçu dans ma boîte aux lettres.", False, marks=pytest.mark.xfail(
        strict=True, reason="known gap: « non … rien » answering another question sits at the bar (0.52)")),
    ("Si, justement, il y a encore le problème de la box.", False),
    ("J'ai tout débranché et rien ne s'allume.", False),
    ("Merci, bonne soirée à vous.", False),
])
def test_lines_of_our_own(text, expected):
    assert (replies.probability(text, "no_other_need") >= replies.THRESHOLD) is expected


def test_a_bank_line_with_an_unknown_reply_is_refused(tmp_path):
    bad = tmp_path / "bank.jsonl"
    bad.write_text('{"text": "Non merci.", "reply": "no_other_need"}\n{"text": "Oui.", "reply": "maybe"}\n',
                   encoding="utf-8")
    with pytest.raises(ActModelError, match="ligne 2"):
        replies.read_bank(bad)


def test_without_a_trained_classifier_no_line_is_a_reply(monkeypatch):
    monkeypatch.setattr(replies, "_loaded", [None])
    assert replies.probability("Non, ce sera tout.", "no_other_need") == 0.0
