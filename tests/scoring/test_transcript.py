"""Prepared calls: the recognition quality a call carries into the confidence of its verdicts."""

from __future__ import annotations

import pytest

from ccr.scoring.transcript import (
    LOOP_COMPRESSION_RATIO,
    Call,
    is_recognition_loop,
    only_fillers,
    validate_transcript,
)
from ccr.speech import transcription


def _call(*segments: dict) -> Call:
    return Call.from_transcript(validate_transcript(
        {"call_id": "t", "duration_s": 20.0, "language": "fr", "segments": list(segments)}))


def _seg(start: float, text: str, probs: list[float] | None = None) -> dict:
    seg = {"speaker": "agent", "start": start, "end": start + 2.0, "text": text}
    if probs is not None:
        seg["words"] = [{"start": start + i * 0.2, "end": start + i * 0.2 + 0.1, "probability": p}
                        for i, p in enumerate(probs)]
    return seg


def test_text_that_did_not_come_from_speech_counts_as_well_heard():
    assert _call(_seg(0.0, "Bonjour, Ondine à votre écoute.")).asr_quality == 1.0


def test_the_quality_is_the_mean_over_the_recognised_lines_only():
    call = _call(_seg(0.0, "Bonjour madame.", [0.9, 0.7]), _seg(3.0, "Je regarde.", [0.4, 0.6]),
                 _seg(6.0, "Voilà."))
    assert call.asr_quality == pytest.approx((0.8 + 0.5) / 2)


@pytest.mark.parametrize(("text", "loop"), [
    ("t'as vu " * 20 + "ton colis", True),
    ("Je regarde, je regarde, je regarde " * 6, True),
    ("Non, non, non, non, non.", False),  # a short repetition is speech
    ("Je vous relis : zéro six, douze, douze, douze, quarante, c'est bien ça ?", False),
    ("Bon, alors. Là, je n'ai pas d'informations, il faudra voir avec un autre service.", False),
])
def test_a_recognition_loop_is_told_from_repetitive_speech(text, loop):
    assert is_recognition_loop(text) is loop


def test_a_recognition_loop_carries_no_act_even_when_its_words_would():
    familiar = "T'as reçu le mail, mon grand ? "
    call = _call(_seg(0.0, familiar), _seg(3.0, familiar * 12))
    first, looped = call.segs
    assert call.act_probability(first, "rude_familiar") >= 0.5
    assert call.acts(looped).acts == frozenset() and call.act_probability(looped, "rude_familiar") == 0.0


def test_the_scorer_and_the_transcriber_agree_on_what_a_loop_is():
    assert LOOP_COMPRESSION_RATIO == transcription.MAX_COMPRESSION_RATIO


# --- mono calls whose voices were separated automatically (ccr.speech.diarization) ---------------------------

def _separated(confidence: float | None) -> dict:
    import json

    from tests.pipeline.calldata import PUBLIC

    tr = json.loads((PUBLIC / "a01-000.json").read_text(encoding="utf-8"))
    return tr | {"speaker_confidence": confidence}


def test_speaker_dependent_criteria_go_to_a_human_when_the_voices_were_separated_unclearly():
    from ccr.scoring.score import score_transcript
    from ccr.scoring.transcript import SPEAKER_CONFIDENCE_FLOOR, SPEAKER_DOUBT

    sure = score_transcript(_separated(0.92))
    unsure = score_transcript(_separated(SPEAKER_CONFIDENCE_FLOOR - 0.2))
    assert not any(SPEAKER_DOUBT in (x["review_reason"] or "") for x in sure["criteria"])
    flagged = [x for x in unsure["criteria"] if x["review_reason"] == SPEAKER_DOUBT]
    assert flagged and all(x["needs_review"] for x in flagged) and unsure["needs_review"]
    assert any(SPEAKER_DOUBT in r for r in unsure["review_reasons"])
    assert all("séparées automatiquement" in x["explanation"] for x in flagged)
    # The verdicts themselves do not change: only who must check them.
    assert [x["verdict"] for x in sure["criteria"]] == [x["verdict"] for x in unsure["criteria"]]
    # A call without the figure (stereo, or transcribed before separation existed) is scored as before.
    assert score_transcript(_separated(None))["criteria"] == score_transcript(
        {k: v for k, v in _separated(None).items() if k != "speaker_confidence"})["criteria"]


def test_the_confidence_floor_lies_between_one_voice_and_two_measured_voices():
    from ccr.scoring.transcript import SPEAKER_CONFIDENCE_FLOOR
    from tests.speech.test_diarization import ONE_VOICE_CEILING, TWO_VOICES_CONFIDENCE

    assert ONE_VOICE_CEILING < SPEAKER_CONFIDENCE_FLOOR < TWO_VOICES_CONFIDENCE


@pytest.mark.parametrize("bad", [1.5, -0.1, "0.9", True])
def test_a_speaker_confidence_outside_0_1_is_refused_in_french(bad):
    from ccr.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="speaker_confidence"):
        validate_transcript(_separated(bad))


@pytest.mark.parametrize(("text", "empty"), [
    ("Hm.", True), ("Ah bon ?", True), ("Euh... ben, bon.", True), ("HEIN ?!", True),
    ("", False), ("...", False),  # nothing said is not a filler either
    ("Non.", False), ("Oui.", False), ("Allô ?", False),  # short, but they answer or greet
    ("Bon, au revoir.", False), ("Durand.", False), ("Ah, c'est noté.", False),
])
def test_a_line_of_fillers_alone_is_told_from_a_short_line_with_words(text, empty):
    assert only_fillers(text) is empty


def test_the_words_said_before_a_line_are_gathered_from_one_side_only():
    c = _call({"speaker": "customer", "start": 0.0, "end": 2.0, "text": "Ma livraison de meubles est bloquée."},
              {"speaker": "agent", "start": 2.5, "end": 4.0, "text": "Votre commande de chaises, c'est noté."},
              {"speaker": "customer", "start": 4.5, "end": 6.0, "text": "Le transporteur ne répond jamais."},
              {"speaker": "agent", "start": 6.5, "end": 8.0, "text": "Je regarde."})
    before_last = c.said_before(c.segs[3], "customer")
    assert before_last == set(c.subject_words(c.segs[0])) | set(c.subject_words(c.segs[2]))
    agent_only = c.subject_words(c.segs[1]) - c.subject_words(c.segs[0]) - c.subject_words(c.segs[2])
    assert agent_only and not agent_only & before_last
    assert c.said_before(c.segs[1], "customer") == set(c.subject_words(c.segs[0]))
    assert c.said_before(c.segs[0], "customer") == set()
    assert c.subject_words(c.segs[1]) is c.subject_words(c.segs[1])  # computed once per call


def _piece(speaker: str, start: float, end: float, text: str, probs: list[float] | None = None) -> dict:
    seg = {"speaker": speaker, "start": start, "end": end, "text": text}
    if probs is not None:
        seg["words"] = [{"start": start, "end": end, "probability": p} for p in probs]
    return seg


def test_a_sentence_recognised_in_pieces_is_read_as_one_line_with_its_words():
    call = _call(_piece("customer", 0.0, 1.5, "Bonjour, je vous appelle parce que", [0.9, 0.8]),
                 _piece("customer", 2.2, 4.0, "ma facture de mars est fausse.", [0.4, 0.6]),
                 _piece("agent", 4.5, 6.0, "Je regarde ça."))
    assert [s.text for s in call.segs] == ["Bonjour, je vous appelle parce que ma facture de mars est fausse.",
                                           "Je regarde ça."]
    assert (call.segs[0].start, call.segs[0].end, call.segs[1].idx) == (0.0, 4.0, 1)
    assert call.segs[0].asr == pytest.approx((0.9 + 0.8 + 0.4 + 0.6) / 4)


@pytest.mark.parametrize(("first", "second"), [
    # the first piece closed its sentence
    ("Bonjour, je vous appelle.", _piece("customer", 2.2, 4.0, "Ma facture de mars est fausse.")),
    ("On m'a dit « c'est réglé. »", _piece("customer", 2.2, 4.0, "Ma facture de mars est fausse.")),
    ("Bonjour, je vous appelle", _piece("agent", 2.2, 4.0, "d'accord.")),  # another voice
    # a pause long enough to be a new turn
    ("Bonjour, je vous appelle", _piece("customer", 4.5, 6.0, "ma facture de mars est fausse.")),
])
def test_pieces_stay_apart_when_a_sentence_ended_another_voice_spoke_or_the_pause_was_long(first, second):
    assert len(_call(_piece("customer", 0.0, 1.5, first), second).segs) == 2


def test_unpunctuated_or_mono_pieces_are_never_joined():
    unpunctuated = _call(_piece("customer", 0.0, 1.5, "bonjour je vous appelle"),
                         _piece("customer", 2.0, 3.0, "pour ma facture"))
    mono = _call(_piece("inconnu", 0.0, 1.5, "Bonjour, je vous appelle"),
                 _piece("inconnu", 2.0, 3.0, "pour ma facture."))
    assert len(unpunctuated.segs) == 2 and len(mono.segs) == 2


@pytest.mark.parametrize("slipped_in", ["Oui.", "Hm hm.", "Ah oui, d'accord."])
def test_a_sentence_goes_on_across_the_other_voice_s_acknowledgement_in_its_pause(slipped_in):
    call = _call(_piece("agent", 0.0, 2.0, "Je vais vérifier votre dossier,"),
                 _piece("customer", 2.1, 2.6, slipped_in),
                 _piece("agent", 2.8, 5.0, "et je vous rappelle demain matin."),
                 _piece("customer", 5.5, 6.5, "Très bien, merci."))
    assert [(s.speaker, s.text) for s in call.segs] == [
        ("agent", "Je vais vérifier votre dossier, et je vous rappelle demain matin."),
        ("customer", slipped_in), ("customer", "Très bien, merci.")]
    assert [s.idx for s in call.segs] == [0, 1, 2]
    assert call.said_over(call.segs[1]) and not call.said_over(call.segs[2])


@pytest.mark.parametrize("taken", [
    "Non, attendez, ce n'est pas ça.",  # a turn of its own: the first voice stopped to let it be said
    "Non.",  # an answer, not an acknowledgement
    "Combien ?",
    "Oui.",  # ...unless the first voice does not go on within the pause
])
def test_a_sentence_does_not_go_on_across_a_turn_or_after_a_long_pause(taken):
    later = 3.0 if taken != "Oui." else 5.0
    call = _call(_piece("agent", 0.0, 2.0, "Je vais vérifier votre dossier,"),
                 _piece("customer", 2.1, 2.8, taken),
                 _piece("agent", later, later + 2.0, "et je vous rappelle demain matin."))
    assert len(call.segs) == 3


def test_a_listener_who_goes_on_after_their_oui_takes_the_floor():
    call = _call(_piece("agent", 0.0, 2.0, "Je vais vérifier votre dossier,"),
                 _piece("customer", 2.1, 2.4, "Oui,"),
                 _piece("customer", 2.9, 5.0, "mais je vous l'ai déjà envoyé hier."),
                 _piece("agent", 5.4, 7.0, "et je vous rappelle demain."))
    assert [s.text for s in call.segs] == ["Je vais vérifier votre dossier,",
                                           "Oui, mais je vous l'ai déjà envoyé hier.", "et je vous rappelle demain."]


def test_a_transcript_that_rarely_closes_its_sentences_is_not_read_as_cut():
    # A recogniser that lets whole turns run on: the agent's question is left open, the customer's « oui »
    # answers it and the agent goes on with a new sentence. Nothing there was cut.
    call = _call(_piece("agent", 0.0, 6.0, "Bonjour et bienvenue chez Ondéa je m'appelle Rémi. Je vous écoute"),
                 _piece("customer", 6.5, 12.0, "oui bonjour j'ai été prélevée deux fois ce mois ci pour la même "
                        "facture et je voudrais comprendre pourquoi"),
                 _piece("agent", 12.6, 16.0, "alors si je résume vous avez été prélevée deux fois c'est bien ça"),
                 _piece("customer", 16.6, 17.1, "oui"),
                 _piece("agent", 17.6, 21.0, "je lance le remboursement du second prélèvement aujourd'hui"))
    assert len(call.segs) == 5


def test_only_a_few_words_begun_while_the_other_voice_speaks_are_said_over_it():
    call = _call(_piece("agent", 0.0, 6.0, "Je comprends, je vais regarder ce qui s'est passé sur votre compte."),
                 _piece("customer", 3.0, 3.4, "D'accord."),  # over the agent
                 _piece("customer", 6.5, 7.0, "Merci."),  # after the agent: an answer
                 _piece("agent", 7.2, 12.0, "Alors je vois deux prélèvements le même jour sur votre compte."),
                 _piece("customer", 9.0, 11.0, "Oui, c'est exactement ce que je disais tout à l'heure."))  # long
    assert [call.said_over(s) for s in call.segs] == [False, True, False, False, False]


def test_the_customer_s_first_turn_is_not_a_oui_slipped_into_the_agent_s_greeting():
    call = _call(_piece("agent", 0.0, 4.0, "Bonjour, Léa du service client, que puis-je pour vous ?"),
                 _piece("customer", 1.0, 1.3, "Oui."),
                 _piece("customer", 4.5, 8.0, "Bonjour, j'appelle pour mon abonnement."))
    assert call.first_customer_start == 4.5


def test_timings_keep_every_piece_when_sentences_are_joined():
    call = _call(_piece("agent", 0.0, 2.0, "Bonjour, Paul,"), _piece("agent", 3.5, 5.0, "service client."),
                 _piece("customer", 20.0, 22.0, "Bonjour."))
    assert len(call.segs) == 2
    assert call.gaps(1.0) == [(2.0, 3.5), (5.0, 20.0)]


# A recording started when the customer dialled: a recorded voice on the agent's channel, then the queue.
def _recorded_then_answered(queue_s: float, *, customer_talks: bool = True, greets: bool = True) -> list[dict]:
    lines = [_piece("agent", 0.5, 4.0, "Merci d'avoir contacté l'assistance de votre fournisseur d'énergie, "
                    "cette conversation peut être écoutée pour la formation."),
             _piece("agent", 4.5, 9.0, "Un conseiller prendra votre appel dans un instant, ne raccrochez pas."),
             _piece("customer", 12.0, 12.6, "Allô ?")]
    at = 9.0 + queue_s
    opening = "Bonjour, Mathis à l'appareil, je vous écoute." if greets else "Donc le technicien passera jeudi matin."
    lines.append(_piece("agent", at, at + 3.0, opening))
    if customer_talks:
        lines.append(_piece("customer", at + 3.5, at + 8.0, "Bonjour, ma facture de mars est deux fois trop élevée."))
    return lines


def test_the_call_starts_where_the_agent_answers_after_a_recorded_message_and_the_queue():
    call = _call(*_recorded_then_answered(25.0))
    assert call.answered == 34.0
    assert [s.text[:7] for s in call.segs] == ["Bonjour", "Bonjour"]  # the message and the « allô ? » are no turn
    assert call.gaps(6.0) == []  # the queue is no hold
    assert call.first_customer_start == 37.5


@pytest.mark.parametrize(("queue_s", "customer_talks"), [
    (3.0, True),  # a pause a live agent may leave: not a queue
    (25.0, False),  # no one answers the « pickup »: a customer channel lost, not a queue
])
def test_without_a_queue_and_a_reply_the_call_starts_with_its_first_line(queue_s, customer_talks):
    call = _call(*_recorded_then_answered(queue_s, customer_talks=customer_talks))
    assert call.answered == 0.0 and call.segs[0].start == 0.5


def test_after_a_long_message_the_agent_s_first_words_answer_even_when_they_open_nothing():
    assert _call(*_recorded_then_answered(25.0, greets=False)).answered == 34.0


def test_a_greeting_the_customer_did_not_hear_stays_the_agent_s_unless_the_agent_opens_again():
    unheard = [_piece("agent", 0.5, 3.0, "Bonjour, Mathis à l'appareil, je vous écoute."),
               _piece("customer", 5.0, 5.4, "Allô ?")]
    reply = _piece("customer", 17.5, 21.0, "Oui pardon, je vous entends, c'est pour ma facture de mars.")
    again = _call(*unheard, _piece("agent", 12.0, 17.0, "Bonjour, Mathis de l'assistance, vous m'entendez ?"), reply)
    assert again.answered == 12.0
    on = _call(*unheard, _piece("agent", 12.0, 17.0, "Je reprends votre dossier là où on en était."), reply)
    assert on.answered == 0.0 and on.segs[0].text.startswith("Bonjour, Mathis à")


def test_a_customer_who_speaks_before_the_pause_has_begun_the_conversation():
    lines = _recorded_then_answered(25.0)
    lines[2] = _piece("customer", 12.0, 14.0, "Allô, oui, je voudrais parler de ma facture.")
    assert _call(*lines).answered == 0.0


def test_after_a_long_message_a_customer_who_speaks_first_opens_the_call():
    lines = _recorded_then_answered(25.0)
    lines[2:] = [_piece("customer", 30.0, 34.0, "Allô ? Il y a quelqu'un ? Je n'entends plus la musique."),
                 _piece("agent", 35.0, 38.0, "Oui, bonjour, excusez-moi, Mathis à l'appareil.")]
    call = _call(*lines)
    assert call.answered == 30.0 and call.first_customer_start == 30.0
    short = [_piece("agent", 0.5, 3.0, "Bonjour, Mathis à l'appareil."), *lines[2:]]
    assert _call(*short).answered == 0.0  # a live greeting unanswered, not a message


def test_a_live_allo_before_a_silence_is_where_the_call_starts():
    lines = [_piece("agent", 0.5, 1.0, "Allô ?"), _piece("agent", 20.0, 23.0, "Bonjour, Mathis à l'appareil."),
             _piece("customer", 23.5, 27.0, "Bonjour, ma facture de mars est deux fois trop élevée.")]
    assert _call(*lines).answered == 0.0
