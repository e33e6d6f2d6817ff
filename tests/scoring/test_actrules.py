"""Criteria as rules over dialogue acts: verdicts, evidence, confidence and review flags on calls of our own."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from ccr.core.errors import InvalidInput
from ccr.core.textnorm import unpunctuated
from ccr.scoring import actrules, acts, courtesy, replies
from ccr.scoring.grid import V1_GRID_FILE, default_grid, load_grid_yaml, validate_criterion
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import Call, validate_transcript
from tests.scoring.bankdata import in_bank

EVAL = Path(__file__).resolve().parent.parent / "fixtures" / "eval"


def call(*turns, gap_after: dict[int, float] | None = None, words: dict[int, float] | None = None) -> dict:
    """A transcript from (speaker, text) turns, 3 s apart; ``gap_after`` adds silences, ``words`` sets ASR
    word probabilities on some turns (every word of that turn gets the probability)."""
    segs, t = [], 0.5
    for i, (speaker, text) in enumerate(turns):
        end = t + 2.5
        seg = {"speaker": speaker, "start": t, "end": end, "text": text}
        if words and i in words:
            n = len(text.split())
            seg["words"] = [{"word": w, "start": t + k * 2.5 / n, "end": t + (k + 1) * 2.5 / n,
                             "probability": words[i]} for k, w in enumerate(text.split())]
        segs.append(seg)
        t = end + 0.5 + (gap_after or {}).get(i, 0.0)
    return {"call_id": "t", "duration_s": t, "language": "fr", "segments": segs}


GOOD = [
    ("agent", "Bonjour, Hélène du service clients d'Aquavéo, que puis-je faire pour vous ?"),
    ("customer", "Bonjour, mon compteur d'eau affiche une consommation énorme ce mois-ci."),
    ("agent", "Pouvez-vous me donner votre numéro de contrat, s'il vous plaît ?"),
    ("customer", "Oui, c'est le 44 12 87."),
    ("agent", "Merci. Que se passe-t-il exactement depuis le relevé ?"),
    ("customer", "Le chiffre a doublé alors que je n'étais pas là de tout le mois."),
    ("agent", "Je vous envoie un technicien jeudi matin pour contrôler le compteur."),
    ("customer", "Parfait, merci."),
    ("agent", "Puis-je vous aider pour autre chose ?"),
    ("customer", "Non, ce sera tout."),
    ("agent", "Merci de votre appel, bonne journée, au revoir."),
]


def verdicts(ev: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in ev["criteria"]}


def as_mono(tr: dict) -> dict:
    """``tr`` as a mono recording not separated into voices: every speaker unknown."""
    for seg in tr["segments"]:
        seg["speaker"] = "inconnu"
    return tr


def item(ev: dict, cid: str) -> dict:
    return next(c for c in ev["criteria"] if c["id"] == cid)


def with_agent_line(line: str) -> tuple[dict, dict]:
    """The good call with ``line`` said by the agent after the customer's problem: (evaluation, politesse)."""
    ev = score_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:]))
    return ev, item(ev, "politesse")


def test_default_grid_is_act_based_and_keeps_the_contract_fields():
    ev = score_transcript(call(*GOOD))
    assert ev["grid_version"] == default_grid().version >= 2
    for c in ev["criteria"]:
        assert set(c) >= {"id", "verdict", "weight", "evidence", "explanation", "confidence", "needs_review",
                          "review_reason", "review_at"}
        assert 0.0 <= c["confidence"] <= 1.0
    assert isinstance(ev["needs_review"], bool) and isinstance(ev["review_reasons"], list)


def test_a_well_handled_call_passes_with_the_line_that_carries_each_act():
    ev = score_transcript(call(*GOOD))
    v = verdicts(ev)
    assert v["identification"] == "pass" and v["solution"] == "pass" and v["politesse"] == "pass"
    assert item(ev, "identification")["evidence"][0]["text"].startswith("Pouvez-vous me donner votre numéro")
    assert "technicien" in item(ev, "solution")["evidence"][0]["text"]
    assert v["attente"] == "na"


def test_a_missing_act_fails_with_no_quote_and_says_what_was_looked_for():
    turns = [t for t in GOOD if not t[1].startswith("Puis-je vous aider")]
    ev = score_transcript(call(*turns))
    c = item(ev, "conclusion")
    assert c["verdict"] == "fail"
    assert "autre besoin" in c["explanation"]
    assert all(e["speaker"] != "customer" for e in c["evidence"])


def test_the_customer_saying_agent_words_does_not_count_for_the_agent():
    turns = [
        ("agent", "Allô ? Oui ?"),
        ("customer", "Bonjour, je suis Paul Martin, du service comptable de la mairie, je vous appelle pour une "
                     "facture."),
        ("agent", "Oui."),
        ("customer", "Je comprends que ce soit compliqué, merci de votre patience, au revoir."),
        ("agent", "Hm."),
    ]
    v = verdicts(score_transcript(call(*turns)))
    assert v["accueil"] == "fail" and v["conclusion"] == "fail"


def test_a_long_silence_announced_and_thanked_passes_and_one_not_announced_fails():
    ok = call(GOOD[0], GOOD[1], ("agent", "Je vous mets en attente un instant, je vérifie votre dossier."),
              ("agent", "Merci d'avoir patienté, j'ai trouvé l'origine du problème."), *GOOD[6:],
              gap_after={2: 25.0})
    assert verdicts(score_transcript(ok))["attente"] == "pass"
    bad = call(GOOD[0], GOOD[1], ("agent", "D'accord."),
               ("agent", "Merci d'avoir patienté, j'ai trouvé l'origine du problème."), *GOOD[6:],
               gap_after={2: 25.0})
    ev = score_transcript(bad)
    assert verdicts(ev)["attente"] == "fail"
    assert "non annoncé" in item(ev, "attente")["explanation"]


@pytest.mark.parametrize("line", [
    "Je ferme la fiche et je vous envoie le récapitulatif par courriel.",
    "Je laisse le dossier ouvert le temps que le technicien passe.",
    "Ce type de panne, c'est un peu la bête noire du service, mais on la connaît bien.",
    "C'est bête, le courrier est parti à l'ancienne adresse ; je le renvoie aujourd'hui.",
    "Ma belle-sœur a eu la même panne l'hiver dernier, le technicien l'a réglée en une visite.",
    "Le contrat reste à votre nom, même si c'est votre grand-père qui paie les factures.",
])
def test_polite_lines_with_lookalike_words_are_not_zeroed(line):
    ev, pol = with_agent_line(line)
    assert pol["verdict"] == "pass", pol["explanation"]
    assert ev["score"] > 0


# Implicit rudeness may go to a human instead of zeroing the call; a pet name for the customer always zeroes it.
@pytest.mark.parametrize(("line", "always_zeroed"), [
    ("Écoutez, je vais vous le réexpliquer lentement, puisque visiblement ça ne rentre pas.", False),
    ("Vous n'aviez qu'à lire votre contrat avant de signer, ce n'est pas mon souci.", False),
    ("Bon, t'inquiète, mon grand, on va te régler ça.", False),
    ("Bon, mon lapin, je regarde votre dossier et je vous rappelle.", True),
    ("Ne vous inquiétez pas, ma jolie, le remboursement part ce soir.", True),
    ("D'accord mon chou, je note le changement d'adresse.", True),
])
def test_rudeness_zeroes_the_call_or_sends_it_to_a_human(line, always_zeroed):
    ev, pol = with_agent_line(line)
    assert pol["verdict"] == "fail" or (pol["needs_review"] and not always_zeroed), pol["explanation"]
    if pol["verdict"] == "fail":
        assert ev["score"] == 0 and ev["critical_failed"]
        assert any(line[:20] in e["text"] for e in pol["evidence"])
    if always_zeroed:
        assert [e["text"] for e in pol["evidence"]] == [line] and "familiarité" in pol["explanation"]


@pytest.mark.parametrize("line", [
    "Comme je le disais, et je le redis pour la troisième fois, le délai est de dix jours.",
])
def test_a_line_more_likely_impolite_than_not_is_heard_by_a_human(line):
    # Implicit rudeness the model reads between 0.5 and the bar for a zero: the call is not zeroed on it, but a
    # supervisor is sent to that line rather than the call passing in silence.
    model = acts.default_model()
    p = max(model.probabilities(line)[acts.ACTS.index(a)] for a in acts.RUDE_ACTS)
    assert 0.5 <= p < 0.65, f"pick another line for this band: {p:.2f}"
    ev = score_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:]))
    pol = item(ev, "politesse")
    assert pol["verdict"] == "pass" and ev["score"] > 0 and not ev["critical_failed"]
    assert pol["needs_review"] and line[:20] in pol["review_reason"] and ev["needs_review"]


def with_politeness(grid, **params):
    """``grid`` with extra params on its politeness criterion."""
    sections = tuple(replace(s, criteria=tuple(replace(c, params={**c.params, **params}) if c.id == "politesse"
                                                else c for c in s.criteria)) for s in grid.sections)
    return replace(grid, sections=sections)


def readings(text: str) -> tuple[float, float, float]:
    """An agent line's likeliest impolite act, its courtesy reading, and its likeliest act of the call's work."""
    probs = acts.default_model().probabilities(text)
    rude = max(probs[acts.ACTS.index(a)] for a in acts.RUDE_ACTS)
    work = max(probs[acts.ACTS.index(a)] for a in acts.AGENT_ACTS if a not in acts.RUDE_ACTS)
    return rude, courtesy.probability(text), work


def test_the_most_suspect_lines_are_named_to_the_reviewer_most_suspect_first():
    # The act model's likeliest line is often a polite lookalike and the impolite one sits below it: a reviewer
    # who hears only the first validates a rude call. Bars are set from the model's own reading of the lines,
    # so the test checks the listing, not one model's probabilities.
    lines = ["Je vous l'ai déjà expliqué deux fois, écoutez un peu.",
             "Bon, on va faire simple, pour que ce soit à votre portée.",
             "Vous avez de la chance, ce n'est pas souvent aussi rapide.",
             "Je vous remercie pour votre patience, c'est noté."]
    turns = [*GOOD[:6], *(("agent", line) for line in lines), *GOOD[6:]]
    agent = [text for speaker, text in turns if speaker == "agent"]
    read = {text: readings(text) for text in agent}
    rude = {text: r[0] for text, r in read.items()}
    bar = max(rude.values()) + 0.01
    grid = with_politeness(default_grid(), review_band=bar - min(rude[line] for line in lines) + 0.001,
                           min_probability=dict.fromkeys(acts.RUDE_ACTS, bar), cues={}, courtesy_bar=1.01)
    suspicion = {text: r[0] + r[1] - r[2] for text, r in read.items()}
    ranked = sorted(agent, key=suspicion.get, reverse=True)
    assert suspicion[ranked[2]] > suspicion[ranked[3]] + 0.01, "two lines read alike at the third place: pick others"
    ev = score_transcript(call(*turns), grid=grid)
    pol = item(ev, "politesse")
    assert pol["verdict"] == "pass" and pol["needs_review"] and ev["needs_review"]
    reason = pol["review_reason"]
    assert reason.startswith("lignes à écouter"), reason
    named = [text for text in ranked if text in reason]
    assert named == ranked[:3], reason
    assert [reason.index(text) for text in named] == sorted(reason.index(text) for text in named)
    assert pol["review_at"] == 0.5 + 3.0 * [t for _, t in turns].index(ranked[0])


def test_a_remark_under_the_review_level_is_named_before_a_working_line_above_it():
    # A rude remark that does no work (« on avance à grands pas ») may read under the review level while a firm
    # refusal that sent the call to review reads above it: the reviewer is sent to the remark first.
    working, remark = ("Je ne peux pas modifier ce montant, il faut passer par votre agence.",
                       "Eh bien, on avance à grands pas, dites donc.")
    (w_rude, w_courtesy, w_work), (r_rude, r_courtesy, r_work) = readings(working), readings(remark)
    assert r_rude < w_rude and r_rude + r_courtesy - r_work > w_rude + w_courtesy - w_work + 0.3, "pick other lines"
    floor = (w_rude + r_rude) / 2
    grid = with_politeness(default_grid(), review_band=0.5, min_probability=dict.fromkeys(acts.RUDE_ACTS, floor + 0.5),
                           cues={}, courtesy_bar=1.01)
    turns = [*GOOD[:6], ("agent", working), ("customer", "Ah bon ? Même par téléphone ?"), ("agent", remark),
             *GOOD[6:]]
    pol = item(score_transcript(call(*turns), grid=grid), "politesse")
    assert pol["verdict"] == "pass" and pol["needs_review"]
    reason = pol["review_reason"]
    assert reason.startswith("lignes à écouter : « " + remark), reason
    assert pol["review_at"] == 0.5 + 3.0 * [t for _, t in turns].index(remark)


def test_an_agent_who_speaks_to_the_customer_as_tu_is_zeroed_when_the_act_model_doubts_the_line():
    # Read at the review level by the act model, a line that says « tu » to the customer counts as impolite; read
    # lower, the « tu » alone proves nothing (speech recognition writes « passion t'es » for « patientez »). An
    # organisation that chose « tu » turns it off.
    curt, mild = "Écoute, je t'envoie le lien par SMS.", "Je te rappelle demain pour le technicien."
    (curt_rude, curt_courtesy, _), (mild_rude, _, _) = readings(curt), readings(mild)
    bar = min(default_grid().criterion("politesse").params["min_probability"].values())
    assert bar - actrules.RUDE_REVIEW_BAND <= curt_rude < bar and curt_courtesy < bar, "pick another line"
    assert mild_rude < bar - actrules.RUDE_REVIEW_BAND, "pick another line"

    ev = score_transcript(call(*GOOD[:6], ("agent", curt), *GOOD[6:]))
    pol = item(ev, "politesse")
    assert pol["verdict"] == "fail" and ev["score"] == 0 and pol["needs_review"]
    assert [e["text"] for e in pol["evidence"]] == [curt] and "tutoyé" in pol["explanation"]

    pol = item(score_transcript(call(*GOOD[:6], ("agent", mild), *GOOD[6:])), "politesse")
    assert pol["verdict"] == "pass" and "tutoyé" not in pol["explanation"]

    chosen = with_politeness(default_grid(), familiar_address=False)
    pol = item(score_transcript(call(*GOOD[:6], ("agent", curt), *GOOD[6:]), grid=chosen), "politesse")
    assert pol["verdict"] == "pass" and "tutoyé" not in pol["explanation"]
    assert pol["needs_review"] and curt in pol["review_reason"]  # still heard: the act model's review level


def test_a_tu_the_recogniser_barely_heard_or_not_known_to_be_the_agents_is_not_read():
    # Speech recognition writes a stray « tu » for a swallowed « vous »: only typed or clearly heard lines count.
    line = "Écoute, je t'envoie le lien par SMS."
    pol = item(score_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:], words={6: 0.4})), "politesse")
    assert pol["verdict"] == "pass" and "tutoyé" not in pol["explanation"]
    # On a mono recording, a customer's words to someone in the room may read as an agent's line: the recording
    # does not say whose it is, so it is not read.
    aside = "Chérie, tu peux aller chercher la facture dans le tiroir ?"
    mono = as_mono(call(*GOOD[:6], ("customer", aside), *GOOD[6:]))
    prepared = Call.from_transcript(validate_transcript(copy.deepcopy(mono)))
    assert prepared.likely_speaker(prepared.segs[6]) == "agent", "pick a line the act model reads as the agent's"
    pol = item(score_transcript(mono), "politesse")
    assert pol["verdict"] == "pass" and "tutoyé" not in pol["explanation"]


@pytest.mark.parametrize("heard", [0.3, 0.55])
def test_an_impolite_line_the_recogniser_barely_heard_is_listened_to_not_zeroed(heard):
    line = "Espèce d'abruti, vous comprenez rien à rien."
    turns = [*GOOD[:6], ("agent", line), *GOOD[6:]]
    sure = item(score_transcript(call(*turns, words={6: 0.95})), "politesse")
    assert sure["verdict"] == "fail"  # heard clearly, the same words zero the call
    ev = score_transcript(call(*turns, words={6: heard}))
    pol = item(ev, "politesse")
    assert pol["verdict"] == "pass" and ev["score"] > 0 and not ev["critical_failed"]
    assert pol["needs_review"] and pol["confidence"] <= 0.5
    assert line[:15] in pol["review_reason"] and "transcription peu fiable" in pol["review_reason"]
    assert pol["review_at"] is not None and ev["needs_review"]


def test_an_impolite_line_a_mono_recording_does_not_give_the_agent_is_listened_to_not_zeroed():
    # Unseparated mono: who said a line is read from its acts, and the impolite reading would itself make the
    # line the agent's. The same insult zeroes the call on the agent's channel.
    insult = "Espèce d'abruti, vous comprenez rien à rien."
    turns = [*GOOD[:6], ("agent", insult), *GOOD[6:]]
    assert item(score_transcript(call(*turns)), "politesse")["verdict"] == "fail"
    mono = as_mono(call(*turns))
    prepared = Call.from_transcript(validate_transcript(copy.deepcopy(mono)))
    assert prepared.likely_speaker(prepared.segs[6]) == "agent"  # read as the agent's for its insult alone
    assert prepared.likely_speaker(prepared.segs[6], acts.RUDE_ACTS) == "inconnu"
    ev = score_transcript(mono)
    pol = item(ev, "politesse")
    assert pol["verdict"] == "pass" and ev["score"] > 0 and not ev["critical_failed"]
    assert pol["needs_review"] and ev["needs_review"]
    assert insult in pol["review_reason"] and "mono" in pol["review_reason"]
    assert pol["review_at"] == mono["segments"][6]["start"]


def test_an_impolite_line_a_mono_recording_gives_the_agent_by_its_other_acts_still_zeroes_the_call():
    # A hold announced with a pet name: announcing a hold is the agent's act, so the line is the agent's.
    line = "Ne quittez pas, mon lapin, je vous mets en attente deux minutes."
    mono = as_mono(call(*GOOD[:6], ("agent", line), *GOOD[6:]))
    prepared = Call.from_transcript(validate_transcript(copy.deepcopy(mono)))
    assert prepared.likely_speaker(prepared.segs[6], acts.RUDE_ACTS) == "agent", "pick a line with another act"
    ev = score_transcript(mono)
    pol = item(ev, "politesse")
    assert pol["verdict"] == "fail" and ev["score"] == 0
    assert [e["text"] for e in pol["evidence"]] == [line]


def test_an_impolite_line_the_customer_objects_to_on_a_mono_recording_is_the_agents():
    # Someone who objects to the tone of the line before answers the other side: on a mono recording, a
    # customer's clear objection tells whose the line was.
    insult = "Espèce d'abruti, vous comprenez rien à rien."
    objection = "Pardon ? Je ne vous permets pas de me parler sur ce ton !"
    mono = as_mono(call(*GOOD[:6], ("agent", insult), ("customer", objection), *GOOD[6:]))
    prepared = Call.from_transcript(validate_transcript(copy.deepcopy(mono)))
    assert prepared.likely_speaker(prepared.segs[6], acts.RUDE_ACTS) != "agent", "pick a line with no other act"
    assert prepared.likely_speaker(prepared.segs[7]) == "customer"
    ev = score_transcript(mono)
    pol = item(ev, "politesse")
    assert pol["verdict"] == "fail" and ev["score"] == 0
    assert [e["text"] for e in pol["evidence"]] == [insult] and objection in pol["explanation"]


def test_low_asr_word_probabilities_flag_the_deciding_criterion_with_its_time():
    turns = list(GOOD)
    clean = score_transcript(call(*turns))
    assert not item(clean, "solution")["needs_review"]
    noisy = score_transcript(call(*turns, words={6: 0.2}))
    sol = item(noisy, "solution")
    assert sol["needs_review"] and sol["confidence"] <= 0.2 + 1e-9
    assert "transcription peu fiable à 00:" in sol["review_reason"]
    assert noisy["needs_review"] and any(r.startswith("Solution") for r in noisy["review_reasons"])


def test_mono_recordings_say_the_speaker_is_inferred():
    turns = [("inconnu", text) for _, text in GOOD]
    ev = score_transcript(call(*turns))
    assert all("mono" in c["explanation"] for c in ev["criteria"])


def test_the_irritant_comes_from_the_customer_with_negation():
    first = [GOOD[0], ("customer", "Bonjour, c'est la première fois que j'appelle, je voudrais un renseignement "
                                   "sur vos horaires."), *GOOD[2:]]
    assert "relances" not in {i["label"] for i in score_transcript(call(*first))["irritants"]}
    again = [GOOD[0], ("customer", "Bonjour, ce n'est pas la première fois que j'appelle pour cette facture, "
                                   "c'est la quatrième fois."), *GOOD[2:]]
    assert "relances" in {i["label"] for i in score_transcript(call(*again))["irritants"]}


def test_a_v1_grid_still_scores_with_its_phrase_lists():
    v1 = load_grid_yaml(V1_GRID_FILE.read_text(encoding="utf-8"))
    assert v1.version == 1 and v1.criterion("accueil").method == "phrases"
    ev = score_transcript(call(*GOOD), grid=v1)
    assert ev["grid_version"] == 1 and verdicts(ev)["identification"] == "pass"
    assert all("confidence" in c for c in ev["criteria"])


@pytest.fixture
def strict_on_text_lenient_on_speech():
    """The shipped model with a greeting bar no typed line reaches and one any heard line does."""
    acts.install_model(acts.default_model().with_thresholds({"greeting": 0.999}, heard={"greeting": 0.001}))
    yield
    acts.install_model(None)


def test_a_badly_heard_line_is_held_to_the_bar_for_speech_and_a_clearly_heard_one_to_the_bar_for_text(
        strict_on_text_lenient_on_speech):
    typed = item(score_transcript(call(*GOOD)), "accueil")
    garbled = item(score_transcript(call(*GOOD, words=dict.fromkeys(range(len(GOOD)), 0.5))), "accueil")
    clear = item(score_transcript(call(*GOOD, words=dict.fromkeys(range(len(GOOD)), 0.97))), "accueil")
    assert typed["verdict"] == "fail" and "salutation" in typed["explanation"]
    assert garbled["verdict"] == "pass"
    # Heard almost word for word, the line reads like typed text: the lenient bar would let lookalikes through.
    assert clear["verdict"] == "fail" and "salutation" in clear["explanation"]


# The agent's check for another need as the recogniser may mangle it: no act can be read in it.
MISHEARD_CHECK = ("agent", "Émile ôte chaussure pour la fer, mon sieur ?")


@pytest.mark.parametrize(("answer", "credited"), [
    ("Non merci, j'ai eu toutes les réponses qu'il me fallait.", True),
    ("Non, je n'ai toujours pas reçu le courrier de confirmation.", False),  # a « non » to something else
    ("Merci pour votre aide, bonne fin de journée.", False),  # thanks alone answer no question
    ("Bah bon.", False),  # interjections answer nothing
    ("Bon bon.", False),
])
def test_a_misheard_check_for_another_need_is_read_in_the_customers_answer(answer, credited):
    turns = [*GOOD[:8], MISHEARD_CHECK, ("customer", answer), GOOD[10]]
    heard = dict.fromkeys(range(len(turns)), 0.9)
    c = item(score_transcript(call(*turns, words=heard)), "conclusion")
    if credited:
        assert c["verdict"] == "pass" and c["needs_review"]
        assert "déduite" in c["review_reason"] and answer in c["review_reason"]
        assert [e["text"] for e in c["evidence"]][:1] == [MISHEARD_CHECK[1]]
    else:
        assert c["verdict"] == "fail"


def test_on_typed_text_the_answer_does_not_stand_in_for_the_question():
    # Typed text says what it says: a check the model cannot read there was not asked.
    turns = [*GOOD[:8], MISHEARD_CHECK, ("customer", "Non merci, j'ai eu toutes les réponses qu'il me fallait."),
             GOOD[10]]
    assert item(score_transcript(call(*turns)), "conclusion")["verdict"] == "fail"


# The agent asks who is calling in words the act model does not read as a request (probability about 0.01).
UNREAD_REQUEST = ("agent", "Et je parle à… ?")


def test_an_identifying_answer_shows_the_agent_asked_even_on_typed_text():
    answer = "Gérard Lemarchand. L, E, M, A, R, C, H, A, N, D."
    turns = [*GOOD[:2], UNREAD_REQUEST, ("customer", answer), *GOOD[4:]]
    assert acts.line_acts(UNREAD_REQUEST[1], "agent").acts == frozenset()
    c = item(score_transcript(call(*turns)), "identification")
    assert c["verdict"] == "pass"
    assert [e["text"] for e in c["evidence"]] == [UNREAD_REQUEST[1], answer]
    without = [*GOOD[:2], UNREAD_REQUEST, ("customer", "Oui, je vous écoute."), *GOOD[4:]]
    assert item(score_transcript(call(*without)), "identification")["verdict"] == "fail"


def test_a_reference_the_agent_dictated_and_the_customer_notes_back_is_no_identification():
    dictated = ("agent", "Pour la suite, gardez cette référence : B, K, trois, sept, deux, neuf.")
    noted = ("customer", "Attendez, je le note : B, K, trois, sept, deux, neuf. Voilà.")
    # The reply classifier alone takes the noted reference for an identifier: the echo is what rules it out.
    assert replies.probability(noted[1], "gives_identity") >= replies.THRESHOLD
    turns = [*GOOD[:2], ("agent", "Je regarde ce qui se passe."), *GOOD[4:7], dictated, noted, *GOOD[7:]]
    c = item(score_transcript(call(*turns)), "identification")
    assert c["verdict"] == "fail" and noted[1] not in [e["text"] for e in c["evidence"]]


def test_a_name_given_unasked_when_the_call_opens_is_no_identification():
    opening = ("customer", "Bonjour, Gérard Lemarchand, client chez vous, mon compteur d'eau s'emballe.")
    turns = [GOOD[0], opening, ("agent", "Je regarde ce qui se passe."), *GOOD[4:]]
    assert item(score_transcript(call(*turns)), "identification")["verdict"] == "fail"


# Statements of our own that name an identifier without asking for one; the act model reads each of them as a
# request (0.56 to 0.81 when written), over the bar for typed text.
MENTIONS = [
    "Je vous renvoie par SMS le lien de paiement avec votre numéro de contrat.",
    "Pour cette démarche, il faut simplement le nom du titulaire et un justificatif de domicile.",
    "Donc vous souhaitez que le nom de votre association apparaisse sur les factures.",
    "Le changement de titulaire demande la date de naissance du nouveau titulaire et une pièce d'identité.",
    "Vous recevrez un courrier à votre nom avec le nouveau code client.",
]
NO_REQUEST = ("agent", "Je regarde ce qui se passe.")


def with_mention(line: str, reply: str, words: dict[int, float] | None = None) -> dict:
    """The good call with no request for an identifier, and ``line`` answered by ``reply`` after the solution."""
    turns = [*GOOD[:2], NO_REQUEST, ("customer", "D'accord."), *GOOD[4:7], ("agent", line), ("customer", reply),
             *GOOD[8:]]
    return item(score_transcript(call(*turns, words=words)), "identification")


@pytest.mark.parametrize("line", MENTIONS)
def test_a_statement_naming_an_identifier_that_gets_no_identity_back_asked_for_nothing(line):
    bar = actrules.act_threshold({}, "ident_request")
    assert acts.line_acts(line, "agent").probs["ident_request"] >= bar
    c = with_mention(line, "Très bien, merci.")
    assert c["verdict"] == "fail" and c["evidence"] == [] and c["needs_review"]
    assert f"« {line} »" in c["explanation"] and "n'est pas une question" in c["explanation"]


@pytest.mark.parametrize("reply", ["Bernard, Lucie Bernard.", "C'est le [TELEPHONE].",
                                   "Alors... lucie point bernard arobase orange point fr."])
def test_a_request_put_as_a_statement_counts_when_the_customer_gives_an_identity(reply):
    line = "Il me faut le nom du titulaire du contrat, ou son numéro de portable, ou son e-mail."
    assert not actrules.asks_back(Call.from_transcript(call(("agent", line))).segs[0])
    c = with_mention(line, reply)
    assert c["verdict"] == "pass" and c["evidence"][0]["text"] == line


def test_a_mention_put_as_a_question_or_badly_heard_still_counts():
    for asked in ("Vous avez le numéro de contrat sous les yeux ?", "auriez-vous le numéro de contrat",
                  "est-ce que vous avez le numéro de contrat"):
        assert acts.line_acts(asked, "agent").probs["ident_request"] >= actrules.act_threshold({}, "ident_request")
        assert with_mention(asked, "Non, pas sur moi, désolé.")["verdict"] == "pass", asked
    # A badly heard line may have been a question, and a badly heard answer an identity: neither tells.
    assert with_mention(MENTIONS[0], "Très bien, merci.", words={7: 0.5})["verdict"] == "pass"
    assert with_mention(MENTIONS[0], "Très bien, merci.", words={8: 0.5})["verdict"] == "pass"
    assert with_mention(MENTIONS[0], "Très bien, merci.", words={7: 0.95, 8: 0.95})["verdict"] == "fail"


@pytest.mark.parametrize("filler", ["Hm.", "Mmh...", "Euh... hein ?"])
def test_a_filler_from_the_customer_shows_no_question_was_asked(filler):
    # Two letters leave the reply classifier guessing from its bank's balance; a grunt gives no name.
    turns = [*GOOD[:2], ("agent", "Je regarde ce qui se passe."), ("customer", filler), *GOOD[4:]]
    c = item(score_transcript(call(*turns)), "identification")
    assert c["verdict"] == "fail" and filler not in [e["text"] for e in c["evidence"]]


@pytest.mark.parametrize("last", ["Bon.", "Ben... bon.", "Ah."])
def test_a_filler_as_the_agents_last_words_is_no_leave_taking(last):
    c = item(score_transcript(call(*GOOD[:10], ("agent", last))), "conclusion")
    assert c["verdict"] == "fail" and last not in [e["text"] for e in c["evidence"]]
    assert item(score_transcript(call(*GOOD)), "conclusion")["verdict"] == "pass"


# The customer answers the check for another need with a new request: the check came before it and does not
# close the call; asked again after the new request, it does.
REOPENED = [
    ("agent", "Puis-je vous aider pour autre chose ?"),
    ("customer", "Oui, justement : je voudrais aussi changer l'adresse de facturation, nous avons déménagé."),
    ("agent", "C'est modifié, la prochaine facture partira à la nouvelle adresse."),
    ("customer", "Merci."),
    ("agent", "Merci de votre appel, bonne journée, au revoir."),
]


def test_a_check_for_another_need_before_the_customers_new_request_does_not_close_the_call():
    c = item(score_transcript(call(*GOOD[:8], *REOPENED)), "conclusion")
    assert c["verdict"] == "fail"
    assert "après la dernière demande du client « Oui, justement" in c["explanation"]
    assert "« Puis-je vous aider pour autre chose ? » (00:24) venant avant elle" in c["explanation"]
    assert [e["text"] for e in c["evidence"]] == [REOPENED[-1][1]]  # the goodbye found; nothing quoted for the check
    asked_again = [*REOPENED[:3], ("agent", "Y a-t-il autre chose que je puisse faire pour vous ?"),
                   ("customer", "Non, ce sera tout."), REOPENED[-1]]
    c = item(score_transcript(call(*GOOD[:8], *asked_again)), "conclusion")
    assert c["verdict"] == "pass" and c["evidence"][0]["text"].startswith("Y a-t-il autre chose")
    # A grid that leaves the rule out counts the early check.
    grid = default_grid()
    sections = tuple(replace(s, criteria=tuple(
        replace(x, params={k: v for k, v in x.params.items() if k != "after_customer_act"}) if x.id == "conclusion"
        else x for x in s.criteria)) for s in grid.sections)
    c = item(score_transcript(call(*GOOD[:8], *REOPENED), grid=replace(grid, sections=sections)), "conclusion")
    assert c["verdict"] == "pass" and c["evidence"][0]["text"] == REOPENED[0][1]


def test_a_grid_reopening_a_group_on_an_agent_act_or_an_unknown_group_is_refused():
    c = next(x for x in default_grid().criteria if x.id == "conclusion")
    with pytest.raises(InvalidInput, match="acte du client"):
        validate_criterion(replace(c, params={**c.params, "after_customer_act": {"other_need": ["solution"]}}))
    with pytest.raises(InvalidInput, match="after_customer_act"):
        validate_criterion(replace(c, params={**c.params, "after_customer_act": {"merci": ["reason"]}}))


def test_a_grid_naming_an_unknown_reply_is_refused():
    grid = default_grid()
    c = next(c for c in grid.criteria if c.id == "conclusion")
    with pytest.raises(InvalidInput, match="réponse"):
        validate_criterion(replace(c, params={**c.params, "answered_by": {"other_need": ["peut_etre"]}}))
    with pytest.raises(InvalidInput, match="answered_by"):
        validate_criterion(replace(c, params={**c.params, "answered_by": {"greeting": ["no_other_need"]}}))


# Greetings that introduce no one and read between the bar for garbled speech (0.35) and the typed one (0.7).
# Not one that reads at the typed bar itself: « allô, oui, bonjour, parlez plus fort » reads 0.7003 on one CPU
# and under 0.7 on another: the embedding engine and numpy sum in the order the CPU's vector instructions allow.
@pytest.mark.parametrize("call_id", ["d21-002", "d21-013", "d21-021"])
def test_a_call_heard_word_for_word_is_scored_as_its_typed_text(call_id):
    # Read against the bars for garbled speech, a clearly heard « bonjour, la ligne est bonne » passed for one.
    typed = json.loads((EVAL / "public-d" / "transcripts" / f"{call_id}.json").read_text(encoding="utf-8"))
    heard = copy.deepcopy(typed)
    for seg in heard["segments"]:
        words = seg["text"].split()
        step = (seg["end"] - seg["start"]) / len(words)
        seg["words"] = [{"word": w, "start": seg["start"] + k * step, "end": seg["start"] + (k + 1) * step,
                         "probability": 0.95} for k, w in enumerate(words)]
    a, b = score_transcript(typed), score_transcript(heard)
    assert verdicts(b) == verdicts(a) and verdicts(a)["accueil"] == "fail"
    assert [i["label"] for i in b["irritants"]] == [i["label"] for i in a["irritants"]]
    assert b["category"] == a["category"]


BOX = ("customer", "Bonjour, ma box redémarre toute seule plusieurs fois chaque soir depuis le changement de forfait.")
RESTATED = "Bon, votre box redémarre toute seule le soir depuis le changement de forfait."


def _prepared(*turns) -> Call:
    return Call.from_transcript(validate_transcript(call(("agent", "Service clients, je vous écoute."), *turns)))


ASKED_BACK = "Une box qui redémarre toute seule le soir depuis le changement de forfait, c'est ça ?"


# The same check as a transcriber with no punctuation writes it: the tag at its end still asks.
ASKED_BACK_FLAT = "une box qui redémarre toute seule le soir depuis le changement de forfait c'est bien ça madame"


@pytest.mark.parametrize(("line", "share", "lifted"), [
    (RESTATED, 0.8, True), (RESTATED, 0.5, False),
    # put back as a question, even a faint reading counts: stated flatly, it may be the agent's finding
    (ASKED_BACK, 0.3, True), (ASKED_BACK, 0.2, False),
    (ASKED_BACK_FLAT, 0.3, True), (ASKED_BACK_FLAT, 0.2, False),
])
def test_a_line_nearly_read_as_a_reformulation_counts_at_the_bar_when_it_restates_the_customer(line, share, lifted):
    c = _prepared(BOX, ("agent", line))
    seg = c.segs[2]
    p = c.act_probability(seg, "reformulation")
    bar = p / share  # the criterion's own bar, set so that the line reads at ``share`` of it
    params = {"min_probability": {"reformulation": bar}}
    assert actrules.probability(c, params, seg, "reformulation") == pytest.approx(bar if lifted else p)


@pytest.mark.parametrize("turns", [
    # the customer spoke of something else: the framing alone is no reformulation
    [("customer", "Bonjour, je voudrais changer l'adresse de livraison de ma commande."), ("agent", RESTATED)],
    # the agent acts on the customer's words: a solution repeats them too
    [BOX, ("agent", "Je redémarre votre box à distance et je remets votre ancien forfait dès ce soir.")],
    # two of the customer's words in a line about something else
    [BOX, ("agent", "Le changement d'adresse de facturation se fait dans votre espace, rubrique contrat, le soir.")],
    # the customer's words come after the line, not before it
    [("agent", RESTATED), BOX],
])
def test_a_line_that_does_not_put_the_customers_words_back_to_them_is_no_restatement(turns):
    c = _prepared(*turns)
    seg = next(s for s in c.segs[1:] if s.speaker == "agent")
    assert not actrules.restates_customer(c, {}, seg)


@pytest.mark.parametrize(("text", "asks"), [
    ("Le colis est reparti chez l'expéditeur ?", True),
    ("le colis est reparti chez l'expéditeur c'est ça", True),
    ("le colis est reparti chez l'expéditeur si je comprends bien c'est bien cela hein monsieur", True),
    ("Le colis est reparti chez l'expéditeur, n'est-ce pas", True),
    ("le colis est reparti chez l'expéditeur non", True),
    ("le colis est reparti chez l'expéditeur", False),
    ("c'est ça le problème avec les colis repartis chez l'expéditeur", False),
    ("je ne peux pas le faire revenir hein", False),
])
def test_a_line_asks_back_with_a_question_mark_or_a_check_tag_at_its_end(text, asks):
    c = _prepared(("agent", text))
    assert actrules.asks_back(c.segs[1]) is asks


@pytest.mark.parametrize("line", [RESTATED, ASKED_BACK])
def test_a_restatement_in_the_agents_words_is_one(line):
    # « vous » or not: « une box qui redémarre…, c'est ça ? » is put back to the customer all the same
    c = _prepared(BOX, ("agent", line))
    assert actrules.restates_customer(c, {}, c.segs[2])


ACTS_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "acts"
LOOKALIKES = ("readback", "solution_check", "answer", "other")


def _restatements_found(name: str, flat: bool = False) -> tuple[float, float, float]:
    """On call openings ending with the agent's line (``flat``: every turn without punctuation or capitals): the
    share of restatements the model finds alone, the share found with the call, and the share of lookalikes
    counted as reformulations."""
    params = {"after_customer": True}
    alone, found, wrong, n_ref, n_look = 0, 0, 0, 0, 0
    rows = [json.loads(x) for x in (ACTS_FIXTURES / name).read_text(encoding="utf-8").splitlines() if x]
    assert not in_bank(row["turns"][-1]["text"] for row in rows)  # no judged line was trained on
    for row in rows:
        turns = ((t["speaker"], unpunctuated(t["text"]) if flat else t["text"]) for t in row["turns"])
        c = Call.from_transcript(validate_transcript(call(*turns)))
        seg = c.segs[-1]
        bar = actrules.act_threshold(params, "reformulation", seg)
        counted = actrules.probability(c, params, seg, "reformulation") >= bar
        if row["label"] == "reformulation":
            n_ref += 1
            found += counted
            alone += c.act_probability(seg, "reformulation") >= bar
        elif row["label"] in LOOKALIKES:
            n_look += 1
            wrong += counted
    return alone / n_ref, found / n_ref, wrong / n_look


# Two writers, apart, who read nothing of the project: call openings whose last agent line restates the
# customer's problem (most with no framing phrase, half without « vous ») or only looks like it (read-backs,
# checks of the agent's own solution, answers in the customer's words). The rule was chosen on the first set;
# the second is held out. Floors a little under the figures in ccr/scoring/data/acts/README.md; without
# punctuation, a check tag ending the line (« c'est bien ça ») asks it back where no « ? » is left.
@pytest.mark.parametrize(("name", "flat", "floors"), [
    ("restatement-calls-tuning.jsonl", False, (0.63, 0.06)),
    ("restatement-calls-heldout.jsonl", False, (0.49, 0.03)),
    ("restatement-calls-tuning.jsonl", True, (0.54, 0.06)),
    ("restatement-calls-heldout.jsonl", True, (0.36, 0.02)),
])
def test_restatements_without_a_framing_phrase_are_read_from_the_call(name, flat, floors):
    alone, found, wrong = _restatements_found(name, flat)
    assert found >= floors[0] and found >= alone + 0.1
    assert wrong <= floors[1]


NAME_ASKED = "Pour commencer, c'est à quel nom, le dossier ?"
ANYTHING_ELSE = "Et sinon, c'est tout bon pour vous, d'autres questions peut-être ?"


@pytest.mark.parametrize(("line", "rival"), [(NAME_ASKED, "ident_request"), (ANYTHING_ELSE, "other_need")])
def test_a_question_read_faintly_as_exploring_but_clearly_as_another_question_is_that_question(line, rival):
    c = _prepared(BOX, ("agent", line))
    seg = c.segs[2]
    p, q = c.act_probability(seg, "open_question"), c.act_probability(seg, rival)
    assert 0.0 < p < actrules.OPEN_CLEARLY <= q
    # The rival at its bar: the line is that question, not an exploration of the need.
    params = {"min_probability": {rival: q}}
    assert actrules.probability(c, params, seg, "open_question") == pytest.approx(p * (1.0 - q))
    # The rival under its bar, or the exploring reading clear: the line keeps its reading.
    assert actrules.probability(c, {"min_probability": {rival: min(1.0, q + 0.01)}}, seg,
                                "open_question") == pytest.approx(p)


def test_a_clear_open_question_keeps_its_reading_whatever_else_it_asks():
    c = _prepared(BOX, ("agent", "Comment ça s'est passé avec le technicien la dernière fois ?"))
    seg = c.segs[2]
    p = c.act_probability(seg, "open_question")
    assert p >= actrules.OPEN_CLEARLY
    assert actrules.probability(c, {"min_probability": {"ident_request": 0.0, "other_need": 0.0}}, seg,
                                "open_question") == p


def test_need_discovery_is_not_passed_by_asking_for_a_name_or_for_other_needs():
    turns = [("agent", "Bonjour, Régis, service abonnés de Vélocité, je vous écoute."),
             ("customer", "Bonjour, mon vélo électrique loué ne charge plus depuis trois jours."),
             ("agent", NAME_ASKED),
             ("customer", "Au nom de Perrine Adjani."),
             ("agent", "Je vous envoie un chargeur neuf par colis demain."),
             ("agent", ANYTHING_ELSE),
             ("customer", "Non, c'est tout, merci."),
             ("agent", "Bonne journée, au revoir.")]
    verdicts = {c["id"]: c for c in score_transcript(call(*turns))["criteria"]}
    assert verdicts["decouverte"]["verdict"] == "fail"
    asked = [*turns[:3], ("agent", "Qu'est-ce qui se passe quand vous le branchez ?"), *turns[3:]]
    found = {c["id"]: c for c in score_transcript(call(*asked))["criteria"]}["decouverte"]
    assert found["verdict"] == "pass" and "branchez" in found["evidence"][0]["text"]


DOUBTFUL_RUDE = "Bah voilà, il suffisait de chercher un peu, hein."
OBJECTION = "Dites donc, vous pourriez être plus aimable."


def _politeness_params() -> dict:
    return next(c for c in default_grid().criteria if c.id == "politesse").params


def _politeness(*turns) -> tuple[dict, dict]:
    opening = [("agent", "Bonjour, Maëlle, service clients de Bibliodom, je vous écoute."),
               ("customer", "Bonjour, je ne trouve plus mon numéro d'abonné sur le site.")]
    closing = [("agent", "Je vous le renvoie par courriel. Bonne journée, au revoir.")]
    result = score_transcript(call(*opening, *turns, *closing))
    return result, next(c for c in result["criteria"] if c["id"] == "politesse")


def test_a_doubtful_impolite_line_the_customer_objects_to_at_once_zeroes_the_call_for_a_human_to_confirm():
    c = _prepared(("agent", DOUBTFUL_RUDE), ("customer", OBJECTION))
    line, reaction = c.segs[1], c.segs[2]
    rude = max(c.act_probability(line, a) for a in acts.RUDE_ACTS)
    zero_bar = min(_politeness_params()["min_probability"].values())
    assert zero_bar - actrules.RUDE_REVIEW_BAND <= rude < zero_bar  # doubtful: short of a zero on its own
    assert c.act_probability(reaction, "tone_reaction") >= actrules.act_threshold({}, "tone_reaction")
    result, politeness = _politeness(("customer", "C'est dans quel menu ?"), ("agent", DOUBTFUL_RUDE),
                                     ("customer", OBJECTION))
    assert politeness["verdict"] == "fail" and result["critical_failed"] and result["score"] == 0
    assert [e["text"] for e in politeness["evidence"]] == [DOUBTFUL_RUDE]
    assert "relève aussitôt le ton" in politeness["explanation"] and OBJECTION in politeness["explanation"]
    assert politeness["needs_review"] and result["needs_review"]


def test_a_doubtful_line_nobody_objects_to_and_an_objection_to_a_polite_line_are_heard_not_zeroed():
    _, unobjected = _politeness(("customer", "C'est dans quel menu ?"), ("agent", DOUBTFUL_RUDE),
                                ("customer", "D'accord, merci pour l'information."))
    assert unobjected["verdict"] == "pass" and unobjected["needs_review"]
    assert DOUBTFUL_RUDE in unobjected["review_reason"]
    polite = "Je regarde tout de suite dans votre espace abonné."
    c = _prepared(("agent", polite))
    zero_bar = min(_politeness_params()["min_probability"].values())
    assert max(c.act_probability(c.segs[1], a) for a in acts.RUDE_ACTS) < zero_bar - actrules.RUDE_REVIEW_BAND
    _, objected = _politeness(("agent", polite), ("customer", OBJECTION))
    assert objected["verdict"] == "pass"


@pytest.mark.parametrize(("heard", "zeroed"), [(0.95, True), (0.75, False)])
def test_two_readings_of_garbled_speech_do_not_zero_a_call(heard, zeroed):
    opening = [("agent", "Bonjour, Maëlle, service clients de Bibliodom, je vous écoute."),
               ("customer", "Bonjour, je ne trouve plus mon numéro d'abonné sur le site."),
               ("customer", "C'est dans quel menu ?")]
    tr = call(*opening, ("agent", DOUBTFUL_RUDE), ("customer", OBJECTION),
              ("agent", "Je vous le renvoie par courriel. Bonne journée, au revoir."), words={3: heard, 4: heard})
    result = score_transcript(tr)
    politeness = next(c for c in result["criteria"] if c["id"] == "politesse")
    assert (politeness["verdict"] == "fail", result["critical_failed"]) == (zeroed, zeroed)
    assert politeness["needs_review"]  # zeroed for a human to confirm, or sent to one with the line to hear


@pytest.mark.parametrize(("line", "bare"), [
    ("Allô, oui, bonjour madame !", True),
    ("Euh, bonjour à vous.", True),
    ("Oui allô ? B", True),  # a stray letter is recognition debris, not a name
    ("Bonjour, Maëlle à l'appareil.", False),
    ("Bonsoir, société Lumicar, Yannick pour vous servir.", False),
])
def test_a_bare_greeting_introduces_no_one(line, bare):
    c = _prepared(("customer", "Oui ?"), ("agent", line))
    seg = c.segs[2]
    assert actrules.greeting_only(seg) is bare
    p = c.act_probability(seg, "self_intro")
    assert actrules.probability(c, {}, seg, "self_intro") == (0.0 if bare else p)


@pytest.mark.parametrize(("opening", "passed"), [
    ("Allô, oui, bonjour madame !", False),
    ("Bonjour, Maëlle du service clients de Lumicar, je vous écoute.", True),
])
def test_an_agent_heard_saying_only_hello_has_not_introduced_themself(opening, passed):
    # Heard at 0.5, the line is held to the low bar for speech, which a bare greeting reads over.
    turns = [("agent", opening), ("customer", "Bonjour, ma voiture de location ne démarre plus ce matin."),
             ("agent", "D'accord, je regarde votre dossier tout de suite."), *GOOD[5:]]
    c = Call.from_transcript(validate_transcript(call(*turns, words={0: 0.5})))
    assert c.act_probability(c.segs[0], "self_intro") >= actrules.act_threshold({}, "self_intro", c.segs[0])
    accueil = item(score_transcript(call(*turns, words={0: 0.5})), "accueil")
    assert (accueil["verdict"] == "pass") is passed
    if not passed:
        assert "présentation" in accueil["explanation"]


FULL_TUESDAY = "Pour mardi c'est plein. En revanche, jeudi matin j'ai une place."


@pytest.mark.parametrize(("line", "verdict"), [(FULL_TUESDAY, "pass"), ("Pour mardi c'est plein.", "fail")])
def test_an_alternative_is_a_next_step_even_where_the_refusal_went_unread(line, verdict):
    # « c'est plein » reads far under the refusal bar; « en revanche, jeudi matin j'ai une place » is the step
    turns = [("agent", "Cabinet dentaire des Tilleuls, bonjour, Inès à l'appareil."),
             ("customer", "Bonjour, je voudrais un rendez-vous mardi pour un détartrage."), ("agent", line),
             ("customer", "D'accord."), ("agent", "Au revoir, bonne journée.")]
    c = item(score_transcript(call(*turns)), "solution")
    assert c["verdict"] == verdict
    assert [e["text"] for e in c["evidence"]] == ([line] if verdict == "pass" else [])
