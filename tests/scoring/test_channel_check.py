"""The channel check: a stereo transcript whose agent acts are heard on the customer's channel is suspect."""

from __future__ import annotations

import json

import pytest

from ccr.scoring.channel_check import check_channels
from tests.conftest import FIXTURES

A, C, U = "agent", "customer", "inconnu"


def _seg(speaker: str, start: float, text: str) -> dict:
    return {"speaker": speaker, "start": start, "end": start + 3.0, "text": text}


def swapped(segments: list[dict]) -> list[dict]:
    """The same call with the agent's and the customer's lines exchanged, as a swapped recording is heard."""
    other = {A: C, C: A}
    return [{**s, "speaker": other.get(s["speaker"], s["speaker"])} for s in segments]


NORMAL = [
    _seg(A, 0.5, "Bonjour, bienvenue chez Domivia, je m'appelle Nadia, que puis-je faire pour vous ?"),
    _seg(C, 5.0, "Bonjour, j'ai reçu une facture beaucoup plus élevée que d'habitude, c'est la troisième fois "
                 "que j'appelle."),
    _seg(A, 12.0, "Je suis vraiment désolée pour ce désagrément. Pouvez-vous me donner votre numéro client ?"),
    _seg(C, 18.0, "Oui, c'est le 4 5 6 7 8."),
    _seg(A, 22.0, "Je procède tout de suite au remboursement, vous le recevrez sous cinq jours."),
    _seg(C, 28.0, "D'accord, merci beaucoup."),
    _seg(A, 31.0, "Puis-je faire autre chose pour vous ? Merci de votre appel, bonne journée."),
    _seg(C, 35.0, "Non merci, au revoir."),
]
# A customer who only greets and takes leave, while speech recognition lost most of the agent's words.
POLITE_CUSTOMER = [
    _seg(A, 0.5, "Oui, allô, je vous écoute."),
    _seg(C, 3.0, "Bonjour, c'est au sujet de ma livraison, le colis n'est jamais arrivé."),
    _seg(A, 9.0, "D'accord, un instant s'il vous plaît."),
    _seg(C, 15.0, "Il devait arriver mardi dernier."),
    _seg(A, 20.0, "Oui, je vois, c'est noté."),
    _seg(C, 25.0, "Merci, au revoir."),
]
# A customer quoting what an agent asked last time: one agent act on the customer's side is not a swap.
QUOTING_CUSTOMER = [
    _seg(A, 0.5, "Bonjour, service client, Paul à votre écoute."),
    _seg(C, 3.0, "Bonjour. La dernière fois, votre collègue m'a demandé mon numéro client et rien ne s'est passé."),
    _seg(A, 9.0, "Je comprends, je regarde votre dossier."),
    _seg(C, 15.0, "Merci, au revoir."),
]


@pytest.mark.parametrize(("segments", "verdict"), [
    pytest.param(NORMAL, "ok", id="agent-on-its-channel"),
    pytest.param(swapped(NORMAL), "suspect", id="channels-swapped"),
    pytest.param([{**s, "speaker": U} for s in NORMAL], None, id="mono"),
    pytest.param([s for s in NORMAL if s["speaker"] == A], None, id="customer-channel-silent"),
    pytest.param([NORMAL[0], _seg(C, 5.0, "Oui, d'accord.")], None, id="customer-says-two-words"),
    pytest.param([], None, id="no-speech"),
    pytest.param(POLITE_CUSTOMER, "ok", id="customer-says-bonjour-and-au-revoir-only"),
    pytest.param(swapped(POLITE_CUSTOMER), "ok", id="little-to-go-on-either-way"),
    pytest.param(QUOTING_CUSTOMER, "ok", id="customer-quotes-one-agent-act"),
])
def test_channel_check_verdicts(segments, verdict):
    assert check_channels(segments).verdict == verdict


def test_a_swapped_call_names_the_agent_acts_heard_on_the_customer_channel_and_when():
    check = check_channels(swapped(NORMAL))
    assert check.verdict == "suspect"
    assert check.reason.startswith("actes de l'agent entendus sur le canal du client : présentation")
    assert "(00:31)" in check.reason and "motif d'appel" in check.reason
    assert check.times == [0.5, 12.0, 22.0, 31.0]  # one line each, however many acts it carries
    assert all(e.speaker == C for e in check.evidence)
    assert check.evidence[0].text.startswith("Bonjour, bienvenue chez Domivia")


def test_a_recognition_loop_on_a_channel_counts_for_nothing():
    loop = _seg(C, 40.0, "je m'appelle Nadia que puis-je faire pour vous " * 30)
    assert check_channels([*NORMAL, loop]).verdict == "ok"
    silent_agent = [loop, *[s for s in NORMAL if s["speaker"] == C]]
    assert check_channels(swapped(silent_agent)).verdict is None


def test_no_normal_public_call_is_flagged_and_nearly_every_swapped_one_is():
    # Measured when the check was written: 0 of 40 flagged as recorded, 39 of 40 flagged once swapped.
    false_alarms, found = [], 0
    for path in sorted((FIXTURES / "eval" / "public" / "transcripts").glob("*.json")):
        segments = json.loads(path.read_text(encoding="utf-8"))["segments"]
        if check_channels(segments).verdict == "suspect":
            false_alarms.append(path.stem)
        found += check_channels(swapped(segments)).verdict == "suspect"
    assert false_alarms == []
    assert found >= 36
