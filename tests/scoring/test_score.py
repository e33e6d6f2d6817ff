"""The rules scorer: criteria tables, score arithmetic, contract, determinism, agreement floors."""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from ccr.core.errors import InvalidInput
from ccr.core.textnorm import unpunctuated
from ccr.scoring.grid import default_grid
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import validate_transcript

EVAL = Path(__file__).resolve().parents[1] / "fixtures" / "eval"
CONTRACT_KEYS = {"grid", "grid_version", "engine", "score", "passed", "critical_failed", "criteria", "category",
                 "irritants", "summary", "recommendations", "needs_review", "review_reasons", "category_evidence",
                 "category_confidence", "category_needs_review", "category_review_reason", "result_risk"}

GREETING = ("a", "Bonjour, service client Optima, Camille à votre écoute.")
REQUEST = ("c", "Bonjour, je vous appelle pour ma facture du mois dernier.")


def make_call(turns: list[tuple], call_id: str = "t-1") -> dict:
    """A transcript from (speaker, text) turns; ("gap", seconds) inserts a silence."""
    speakers = {"a": "agent", "c": "customer", "u": "inconnu"}
    t, gap, segs = 0.5, 0.0, []
    for kind, value in turns:
        if kind == "gap":
            gap = float(value)
            continue
        start = round(t + gap, 2)
        end = round(start + 0.5 + 0.06 * len(value), 2)
        segs.append({"speaker": speakers[kind], "start": start, "end": end, "text": value})
        t, gap = end, 0.5
    return {"call_id": call_id, "duration_s": round(t + 0.5, 2), "language": "fr", "segments": segs}


def verdict(turns: list[tuple], criterion: str) -> str:
    ev = score_transcript(make_call(turns))
    return next(c["verdict"] for c in ev["criteria"] if c["id"] == criterion)


# --- per-criterion tables ------------------------------------------------------------------


@pytest.mark.parametrize(("opening", "expected"), [
    ("Bonjour, service client Optima, Camille à votre écoute.", "pass"),
    ("Bonsoir et bienvenue chez Maisonia, je m'appelle Paul.", "pass"),
    ("Bonjour, vous êtes bien chez Assurances Léon, Marc à l'appareil.", "pass"),
    ("Allô, j'écoute.", "fail"),
    ("Bonjour.", "fail"),
    ("Oui ?", "fail"),
    # a greeting with talk about the line or a transfer still names no one
    ("Bonjour, la communication est bien passée, je suis à votre disposition.", "fail"),
    ("Bonjour monsieur, mon collègue de l'accueil vient de me basculer votre appel, allez-y.", "fail"),
    ("Bonjour ! Gaëlle, pôle abonnements d'Optima, la ligne vous convient ?", "pass"),
])
def test_accueil_needs_greeting_and_introduction(opening, expected):
    assert verdict([("a", opening), REQUEST], "accueil") == expected


def test_accueil_greeting_after_30_seconds_fails():
    late = [("a", "Allô ?"), ("gap", 31), ("a", "Bonjour, service client Optima, Camille à votre écoute."), REQUEST]
    assert verdict(late, "accueil") == "fail"


@pytest.mark.parametrize(("ask", "expected"), [
    ("Pouvez-vous me donner votre numéro client, s'il vous plaît ?", "pass"),
    ("Quelle est l'adresse e-mail associée à votre compte ?", "pass"),
    ("Pourriez-vous me rappeler votre nom et votre date de naissance ?", "pass"),
    ("Quel est votre code postal ?", "pass"),
    # asking who is on the line is asking for the name
    ("Puis-je vous demander qui vous êtes, madame ?", "pass"),
    ("Je n'ai pas retenu votre nom, vous êtes... ?", "pass"),
    ("D'accord, je regarde.", "fail"),
    ("Je vous envoie le détail par e-mail.", "fail"),
])
def test_identification_is_a_request_for_an_identifier(ask, expected):
    assert verdict([GREETING, REQUEST, ("a", ask)], "identification") == expected


@pytest.mark.parametrize(("turns", "expected"), [
    ([("a", "Pouvez-vous me préciser ce qui se passe exactement ?")], "pass"),
    ([("a", "Si je comprends bien, votre facture est trop élevée, c'est bien cela ?")], "pass"),
    ([("a", "Que s'est-il passé exactement avec ce prélèvement ?")], "pass"),
    ([("a", "Donc si je résume, vous avez été débité deux fois.")], "pass"),
    ([("a", "D'accord."), ("a", "Je vous rembourse le trop-perçu.")], "fail"),
    # the greeting's "que puis-je faire pour vous" comes before the need: it is not discovery
    ([("a", "Je vous souhaite une bonne journée.")], "fail"),
    # asking who is calling is identification, not exploring the need
    ([("a", "Puis-je vous demander qui vous êtes, madame ?")], "fail"),
])
def test_decouverte_open_question_or_reformulation(turns, expected):
    assert verdict([GREETING, REQUEST, *turns], "decouverte") == expected


@pytest.mark.parametrize(("turns", "expected"), [
    ([("c", "C'est la troisième fois que j'appelle, c'est inadmissible."),
      ("a", "Je suis vraiment désolé pour ce désagrément.")], "pass"),
    ([("c", "Ça fait trois semaines que j'attends."), ("a", "Je comprends tout à fait votre agacement.")], "pass"),
    # an irritant with no empathy
    ([("c", "Franchement, c'est inadmissible."), ("a", "Quel est votre numéro client ?")], "fail"),
    # "si je comprends bien" is a reformulation, not empathy
    ([("c", "Si ça continue je vais voir la concurrence."),
      ("a", "Si je comprends bien, vous voulez un remboursement ?")], "fail"),
    ([("a", "Quel est votre numéro client ?")], "na"),
])
def test_empathie_answers_customer_irritants(turns, expected):
    assert verdict([GREETING, REQUEST, *turns], "empathie") == expected


@pytest.mark.parametrize(("turns", "expected"), [
    ([("a", "Je procède tout de suite au remboursement, vous le recevrez sous cinq jours.")], "pass"),
    ([("a", "Je vous envoie un technicien jeudi matin.")], "pass"),
    ([("a", "Je ne peux pas annuler ce prélèvement, mais je vous fais un avoir du même montant.")], "pass"),
    ([("a", "Je ne peux rien faire de plus pour vous, il faudra rappeler un autre jour.")], "fail"),
    ([("a", "Là, je n'ai pas d'information, il faudra voir avec un autre service.")], "fail"),
    ([("a", "D'accord.")], "fail"),
])
def test_solution_concrete_step_or_alternative(turns, expected):
    assert verdict([GREETING, REQUEST, *turns], "solution") == expected


@pytest.mark.parametrize(("turns", "expected"), [
    ([("a", "Je vais vérifier, je vous mets en attente quelques instants."), ("gap", 25),
      ("a", "Merci de votre patience."), ("a", "Je vous rembourse.")], "pass"),
    ([("a", "Ne quittez pas, je consulte votre dossier."), ("gap", 15), ("a", "Merci d'avoir patienté.")], "pass"),
    # a hold announced, then the agent goes on as if nothing happened (no thanks, no sign of the return)
    ([("a", "Je vous mets en attente."), ("gap", 25), ("a", "Alors, votre colis est parti de l'entrepôt mardi.")],
     "fail"),
    # the agent only says it is back: the grid asks for thanks, a return signal is not one
    ([("a", "Un petit instant, je consulte l'historique."), ("gap", 30),
      ("a", "Me revoilà, alors."), ("a", "Le prélèvement date du trois.")], "fail"),
    ([("a", "Je me renseigne auprès du service, ne quittez pas."), ("gap", 40),
      ("a", "C'est bon, me voilà de retour.")], "fail"),
    # thanks in an old-fashioned formal wording
    ([("a", "Un petit instant, je consulte l'historique."), ("gap", 30),
      ("a", "Je vous suis bien obligée d'avoir patienté tout ce temps.")], "pass"),
    # a silence never announced
    ([("a", "D'accord."), ("gap", 18), ("a", "Merci de votre patience.")], "fail"),
    ([("a", "Je vous mets en attente."), ("gap", 8), ("a", "Voilà.")], "na"),
    ([("a", "D'accord.")], "na"),
])
def test_attente_holds_over_ten_seconds(turns, expected):
    assert verdict([GREETING, REQUEST, *turns], "attente") == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("Je vous envoie le détail par e-mail.", "pass"),
    ("Écoutez, c'est pas mon problème, vous n'aviez qu'à lire les conditions.", "fail"),
    pytest.param("Ouais bon, n'importe quoi, je vais regarder.", "fail",
                 marks=pytest.mark.xfail(strict=True, reason="known gap of the act model: a curt brush-off ending on « je vais regarder » stays under the zeroing bar")),
    ("Débrouillez-vous avec votre banque.", "fail"),
    ("C'est bon, c'est noté.", "pass"),
])
def test_politesse_forbidden_expressions(line, expected):
    assert verdict([GREETING, REQUEST, ("a", line)], "politesse") == expected


def test_politesse_customer_complaint_about_tone_sends_the_line_to_a_human():
    # A complaint about the tone is a reason to listen to the agent's line, not proof enough to zero the call.
    turns = [GREETING, REQUEST, ("a", "Bah, on verra bien."), ("c", "Pardon ? Vous pouvez être poli quand même.")]
    ev = score_transcript(make_call(turns))
    pol = next(c for c in ev["criteria"] if c["id"] == "politesse")
    assert pol["needs_review"] and "Bah, on verra bien." in pol["review_reason"]
    assert pol["review_at"] == next(s["start"] for s in make_call(turns)["segments"] if s["text"].startswith("Bah"))


@pytest.mark.parametrize(("turns", "expected"), [
    ([("a", "Avez-vous d'autres questions ?"), ("c", "Non merci."), ("a", "Merci de votre appel, au revoir.")], "pass"),
    ([("a", "Puis-je faire autre chose pour vous ?"), ("c", "Non."), ("a", "Bonne journée, au revoir.")], "pass"),
    # both parts are needed
    ([("a", "C'est bon, c'est noté."), ("c", "Au revoir.")], "fail"),
    ([("a", "Avez-vous d'autres questions ?"), ("c", "Non."), ("a", "Voilà.")], "fail"),
    ([("a", "Voilà."), ("c", "Merci, au revoir.")], "fail"),
])
def test_conclusion_needs_other_need_check_and_polite_close(turns, expected):
    body = [GREETING, REQUEST, ("a", "Je vous rembourse sous cinq jours."), ("c", "D'accord.")]
    assert verdict(body + turns, "conclusion") == expected


@pytest.mark.parametrize(("request_text", "category"), [
    ("Bonjour, j'ai été prélevé deux fois sur ma facture.", "facturation"),
    ("Bonjour, mon colis n'est jamais arrivé.", "livraison"),
    ("Bonjour, je voudrais résilier mon abonnement.", "resiliation"),
    ("Bonjour, ma box internet ne fonctionne plus.", "support_technique"),
    ("Bonjour, je voudrais connaître vos horaires d'ouverture.", "information"),
])
def test_category_from_customer_request(request_text, category):
    ev = score_transcript(make_call([GREETING, ("c", request_text)]))
    assert ev["category"] == category


@pytest.mark.parametrize(("line", "labels"), [
    ("C'est la troisième fois que j'appelle pour ça.", {"relances"}),
    ("Ça fait trois semaines que j'attends.", {"attente_delai"}),
    # « deux fois » about a charge read as a repeated contact too until the seventh act bank pass.
    ("On m'a prélevé deux fois ce mois-ci.", {"erreur_facturation"}),
    ("Si ça continue je vais voir la concurrence.", {"menace_depart"}),
    ("Franchement, c'est inadmissible.", {"mecontentement"}),
    ("Je voudrais connaître vos tarifs.", set()),
])
def test_irritants_from_customer_lexicon(line, labels):
    ev = score_transcript(make_call([GREETING, ("c", line)]))
    assert {i["label"] for i in ev["irritants"]} == labels


def test_irritants_are_never_read_in_the_agent_channel():
    ev = score_transcript(make_call([GREETING, REQUEST, ("a", "C'est inadmissible, ça fait trois semaines que j'attends.")]))
    assert ev["irritants"] == []


# --- contract, input validation, determinism, speed -------------------------------------------


def test_evaluation_follows_the_contract():
    tr = json.loads((EVAL / "public" / "transcripts" / "a01-000.json").read_text(encoding="utf-8"))
    ev = score_transcript(tr)
    assert set(ev) == CONTRACT_KEYS
    assert (ev["grid"], ev["grid_version"], ev["engine"]) == ("ccr-standard-fr", 2, "rules")
    assert [c["id"] for c in ev["criteria"]] == [c.id for c in default_grid().criteria]
    for c in ev["criteria"]:
        assert set(c) == {"id", "verdict", "weight", "evidence", "explanation", "confidence", "needs_review",
                          "review_reason", "review_at"}
        assert c["explanation"] and 0 <= c["confidence"] <= 1
        assert bool(c["review_reason"]) == c["needs_review"] and (c["review_at"] is None or c["needs_review"])
        for e in c["evidence"]:
            assert set(e) == {"start", "speaker", "text"}
            assert any(e["text"] == s["text"] and e["start"] == s["start"] for s in tr["segments"])
    failed = [c for c in ev["criteria"] if c["verdict"] == "fail"]
    assert len(ev["recommendations"]) == len(failed)
    assert "Motif" in ev["summary"]
    json.dumps(ev, ensure_ascii=False)


def test_pass_verdicts_on_speech_carry_evidence():
    tr = json.loads((EVAL / "public" / "transcripts" / "a01-004.json").read_text(encoding="utf-8"))
    ev = score_transcript(tr)
    for c in ev["criteria"]:
        if c["verdict"] == "pass" and c["id"] != "politesse":
            assert c["evidence"], c["id"]


def test_redacted_placeholders_do_not_break_scoring():
    tr = make_call([GREETING, ("c", "Mon e-mail c'est [EMAIL] et ma carte [CARTE], IBAN [IBAN], NIR [NIR]."),
                    ("a", "Merci, quel est votre numéro client ?")])
    assert score_transcript(tr)["criteria"][1]["verdict"] == "pass"


@pytest.mark.parametrize(("bad", "message"), [
    ([], "objet"),
    ({"segments": "x"}, "segments"),
    ({"segments": [{"speaker": "robot", "start": 0, "end": 1, "text": "x"}]}, "locuteur"),
    ({"segments": [{"speaker": "agent", "start": 2, "end": 1, "text": "x"}]}, "précède"),
    ({"segments": [{"speaker": "agent", "start": "0", "end": 1, "text": "x"}]}, "start"),
    ({"segments": [{"speaker": "agent", "start": 0, "end": 1, "text": None}]}, "text"),
])
def test_validate_transcript_rejects_bad_input_in_french(bad, message):
    with pytest.raises(InvalidInput, match=message):
        validate_transcript(bad)


def test_unknown_speakers_still_score_with_first_speaker_as_agent():
    turns = [("u", "Bonjour, service client Optima, Camille à votre écoute."),
             ("u", "Bonjour, c'est la troisième fois que j'appelle pour ma facture."),
             ("u", "Je suis désolée. Quel est votre numéro client ?"),
             ("u", "Je vous rembourse sous cinq jours.")]
    ev = score_transcript(make_call(turns))
    got = {c["id"]: c["verdict"] for c in ev["criteria"]}
    assert got["accueil"] == "pass" and got["identification"] == "pass" and got["solution"] == "pass"
    assert {i["label"] for i in ev["irritants"]} == {"relances"}


def test_unknown_engine_is_refused():
    with pytest.raises(InvalidInput):
        score_transcript(make_call([GREETING]), engine="magie")


def test_scoring_is_deterministic_and_fast():
    tr = json.loads((EVAL / "public-asr" / "transcripts" / "a01-010.json").read_text(encoding="utf-8"))
    first = score_transcript(copy.deepcopy(tr))
    t0 = time.perf_counter()
    for _ in range(10):
        assert score_transcript(copy.deepcopy(tr)) == first
    assert (time.perf_counter() - t0) / 10 < 0.05


# --- agreement floors on the labelled sets -----------------------------------------------------


class Agreement(NamedTuple):
    """A set's agreement with its labels: criteria, category, and the F1 of the irritants found."""

    criteria: float
    category: float
    irritant_f1: float


def _agreement(directory: Path, flat: bool = False) -> Agreement:
    labels = {}
    for line in (directory / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels[row["call_id"]] = row
    ok = total = cat = found = wrong = missed = 0
    for path in sorted((directory / "transcripts").glob("*.json")):
        tr = json.loads(path.read_text(encoding="utf-8"))
        if flat:
            for seg in tr["segments"]:
                seg["text"] = unpunctuated(seg["text"])
        ev = score_transcript(tr)
        label = labels[tr["call_id"]]
        got = {c["id"]: c["verdict"] for c in ev["criteria"]}
        ok += sum(got[k] == v for k, v in label["criteria"].items())
        total += len(label["criteria"])
        cat += ev["category"] == label["category"]
        got_irr, want_irr = {i["label"] for i in ev["irritants"]}, set(label["irritants"])
        found += len(got_irr & want_irr)
        wrong += len(got_irr - want_irr)
        missed += len(want_irr - got_irr)
    return Agreement(ok / total, cat / len(labels), 2 * found / (2 * found + wrong + missed))


# Floors = figures measured with benchmarks/bench_scoring.py minus a small margin.
@pytest.mark.parametrize(("name", "crit_floor", "cat_floor"), [
    # Thresholds are calibrated on clean and recognised calls together, then recognised lines get bars of their
    # own tuned on the recognised calls. With the n-grams alone: public 0.953 /
    # 1.0, public-asr 0.850 / 0.725, heldout 0.926 / 0.818, public-d 0.847 / 0.842, public-d-asr 0.696 / 0.575.
    ("public", 0.97, 0.97),  # measured 0.981 / 1.0 (0.978 before identifying answers, 0.984 before the seventh pass)
    # Categories read by meaning too: better on reasons worded in another style and after ASR, 2 calls lost on
    # public-asr and 1 on heldout (0.950 and 0.909 with the letters alone).
    # public-asr carries no word probabilities, so its garbled lines read as typed: five requests for an
    # identifier whose answers the recogniser turned into nonsense count as statements nobody answered (sent
    # to a human), since a typed statement naming an identifier must get one back.
    ("public-asr", 0.85, 0.87),  # measured 0.863 / 0.925 (0.878 before unanswered statements stopped counting) (0.900 before the fourth category pass; 0.925 category before turns were read stretch by stretch) (0.675 category before the categories learnt topicless lines)
    ("heldout", 0.94, 0.88),  # measured 0.972 / 0.909 (0.966 before words of discontent, 0.943 before identifying answers)
    # heldout-b: 30 calls by another writer who saw neither the scorer nor any other set; never tuned on.
    ("heldout-b", 0.90, 0.83),  # measured 0.946 / 0.900
    ("heldout-b-asr", 0.75, 0.70),  # measured 0.796 / 0.800
    # heldout-c: 30 calls by a third writer, written and scored after the scorer's last change; never tuned on.
    ("heldout-c", 0.92, 0.90),  # measured 0.954 / 0.967 (category 0.900 before the fourth category pass)
    ("heldout-c-asr", 0.76, 0.80),  # measured 0.796 / 0.867 (0.767 before the fourth category pass)
    # heldout-d: 30 calls by a fourth writer, in sectors no other set or bank pass has; never tuned on. Category
    # 0.767 / 0.567 after ASR when first scored, before the category bank's fourth pass (forty other sectors).
    ("heldout-d", 0.88, 0.80),  # measured 0.912 / 0.867
    ("heldout-d-asr", 0.73, 0.50),  # measured 0.767 / 0.567
    # public-d: two thirds of it tuned the thresholds and the openers. The category bank's third pass (new
    # sectors, recognised versions) lost 3 tuning calls and gained 1 held-out call: 0.933 before.
    ("public-d", 0.92, 0.90),  # measured 0.948 / 0.925 (0.938 / 0.917 before the reopening rule and the fourth category pass; 0.935 before words of discontent, 0.919 before identifying answers)
    # public-d-asr: 0.755 before a customer's « nothing else » could stand in for a misheard check.
    # Heard bars in proportion to how badly a line was heard: 0.770 criteria with them in full on every line.
    ("public-d-asr", 0.75, 0.75),  # measured 0.785 / 0.800 (0.752 / 0.725 before the bars for heard lines)
])
def test_agreement_stays_above_measured_floor(name, crit_floor, cat_floor):
    crit, cat, _ = _agreement(EVAL / name)
    assert crit >= crit_floor
    assert cat >= cat_floor


# The same calls as a mono recording that was not separated into voices (every speaker « inconnu »): before an
# impolite line had to be the agent's by its other acts, 17 of 216 polite calls of the typed sets were zeroed on
# a customer's line (heldout-b 3 of 23, heldout-d 7 of 22).
# Rude agents left silent: as many as on the agents' own channel, where the act model reads their line low.
@pytest.mark.parametrize(("name", "silent_most"), [("heldout-b", 0), ("heldout-d", 0), ("public-d", 2)])
def test_a_mono_recording_never_zeroes_a_polite_agent_nor_silences_a_rude_one_more(name, silent_most):
    directory = EVAL / name
    rows = [json.loads(line) for line in (directory / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    labels = {row["call_id"]: row for row in rows}
    zeroed = silent = 0
    for path in sorted((directory / "transcripts").glob("*.json"))[:40]:
        tr = json.loads(path.read_text(encoding="utf-8"))
        for seg in tr["segments"]:
            seg["speaker"] = "inconnu"
        pol = next(c for c in score_transcript(tr)["criteria"] if c["id"] == "politesse")
        if labels[tr["call_id"]]["criteria"]["politesse"] == "pass":
            zeroed += pol["verdict"] == "fail"
        else:
            silent += pol["verdict"] == "pass" and not pol["needs_review"]
    assert zeroed == 0
    assert silent <= silent_most


def _in_pieces(seg: dict, words_per_piece: int = 6, pause_s: float = 0.7) -> list[dict]:
    """One line as a recogniser that cuts at pauses inside sentences gives it: a piece after each comma and
    every few words, never at a sentence's end."""
    pieces: list[list[str]] = [[]]
    for word in seg["text"].split(" "):
        pieces[-1].append(word)
        if (word.endswith(",") or len(pieces[-1]) >= words_per_piece) and not word.endswith((".", "?", "!", "…")):
            pieces.append([])
    pieces = [p for p in pieces if p]
    step = (seg["end"] - seg["start"]) / len(pieces)
    pause_s = min(pause_s, step / 4)
    return [{"speaker": seg["speaker"], "start": seg["start"] + i * step,
             "end": seg["start"] + (i + 1) * step - (pause_s if i < len(pieces) - 1 else 0.0),
             "text": " ".join(p)} for i, p in enumerate(pieces)]


# Whisper cuts speech where the voice pauses, so a sentence may arrive in several pieces. Read piece by piece,
# cut after each comma, heldout-b lost 11 points of criteria and 23 of categories (pass/fail 96.7 → 70.0 %).
@pytest.mark.parametrize("name", ["heldout-b", "heldout-d"])
def test_a_call_recognised_in_pieces_scores_as_the_same_call_in_whole_lines(name):
    paths = sorted((EVAL / name / "transcripts").glob("*.json"))[::3]
    cut_lines = 0
    for path in paths:
        tr = json.loads(path.read_text(encoding="utf-8"))
        pieces = [p for seg in tr["segments"] for p in _in_pieces(seg)]
        cut_lines += len(pieces) > len(tr["segments"])
        whole, cut = score_transcript(tr), score_transcript(dict(tr, segments=pieces))
        assert [(c["id"], c["verdict"]) for c in cut["criteria"]] == [(c["id"], c["verdict"]) for c in whole["criteria"]]
        assert (cut["category"], cut["irritants"], cut["score"]) == (whole["category"], whole["irritants"], whole["score"])
    assert cut_lines == len(paths)


ACKNOWLEDGEMENTS = ("Mm.", "Oui, oui.", "D'accord.", "Ah oui.")


def _acknowledged(segments: list[dict]) -> list[dict]:
    """The call as a stereo recording of two people who acknowledge each other gives it: over each long line the
    other voice says a word, alternately in the middle of the line left whole and in the pause where the
    recogniser cut it."""
    other = {"agent": "customer", "customer": "agent"}
    out: list[dict] = []
    for i, seg in enumerate(segments):
        if len(seg["text"].split()) < 9 or seg["speaker"] not in other:
            out.append(seg)
            continue
        pieces = _in_pieces(seg) if i % 2 else [seg]
        at = (pieces[0]["end"] + 0.1) if len(pieces) > 1 else (seg["start"] + seg["end"]) / 2
        out.extend(pieces)
        out.append({"speaker": other[seg["speaker"]], "start": at, "end": at + 0.3,
                    "text": ACKNOWLEDGEMENTS[i % len(ACKNOWLEDGEMENTS)]})
    return sorted(out, key=lambda s: s["start"])


# In a stereo recording the listener says « oui », « d'accord » while the other speaks, so those words land in
# the middle of a sentence cut at a pause, or between a complaint and the agent's answer. Read as turns, they
# split the sentence and stood for the agent's reply: in the bench's « oui » variant, public-d's held-out part
# lost 2.2 points of criteria, 5 of categories and 15 of irritant recall.
@pytest.mark.parametrize("name", ["heldout-b", "heldout-d"])
def test_the_listener_s_acknowledgements_change_nothing_in_the_verdicts(name):
    paths = sorted((EVAL / name / "transcripts").glob("*.json"))[1::3]
    for path in paths:
        tr = json.loads(path.read_text(encoding="utf-8"))
        heard = _acknowledged(tr["segments"])
        assert len(heard) > len(tr["segments"])
        whole, acknowledged = score_transcript(tr), score_transcript(dict(tr, segments=heard))
        assert ([(c["id"], c["verdict"]) for c in acknowledged["criteria"]]
                == [(c["id"], c["verdict"]) for c in whole["criteria"]]), path.stem
        assert ((acknowledged["category"], acknowledged["irritants"], acknowledged["score"])
                == (whole["category"], whole["irritants"], whole["score"])), path.stem


def _bench_in_digits():
    """The bench's writer of numbers in digits (written apart from the scorer's reading of them)."""
    benchmarks = str(EVAL.parents[2] / "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        from bench_scoring import in_digits
    finally:
        sys.path.remove(benchmarks)
    return in_digits


# Whisper writes « 3 semaines », « 30 euros » where typists spell the numbers out, and the sentence model read the
# two apart: in the bench's digits variant public-d's tuning part lost a reformulation and a solution (criteria
# 95.6 → 95.3 %). A long line's reading windows still move when « deux cent trente » becomes one word, so an
# irritant may come or go there: one call of the twenty here.
@pytest.mark.parametrize("name", ["heldout-b", "heldout-d"])
def test_numbers_written_in_digits_change_no_verdict(name):
    in_digits = _bench_in_digits()
    paths = sorted((EVAL / name / "transcripts").glob("*.json"))[2::3]
    rewritten = irritants_moved = 0
    for path in paths:
        tr = json.loads(path.read_text(encoding="utf-8"))
        heard = [dict(seg, text=in_digits(seg["text"])) for seg in tr["segments"]]
        rewritten += heard != tr["segments"]
        typed, digits = score_transcript(tr), score_transcript(dict(tr, segments=heard))
        assert ([(c["id"], c["verdict"]) for c in digits["criteria"]]
                == [(c["id"], c["verdict"]) for c in typed["criteria"]]), path.stem
        assert (digits["category"], digits["score"]) == (typed["category"], typed["score"]), path.stem
        irritants_moved += {i["label"] for i in digits["irritants"]} != {i["label"] for i in typed["irritants"]}
    assert rewritten >= len(paths) // 2  # the calls do carry numbers to rewrite
    assert irritants_moved <= 1


RECORDED = ("Vous êtes bien au service après-vente.", "Nous traitons votre appel dans l'ordre d'arrivée.",
            "Pour être rappelé plus tard, appuyez sur dièse.")


def _after_queue(segments: list[dict], queue_s: float) -> list[dict]:
    """The call as a recording started at the dialling gives it: a recorded message on the agent's channel, then
    ``queue_s`` of queue before the agent answers."""
    recorded = [{"speaker": "agent", "start": 3.0 * i, "end": 3.0 * i + 2.5, "text": t} for i, t in enumerate(RECORDED)]
    shift = recorded[-1]["end"] + queue_s
    return recorded + [dict(seg, start=seg["start"] + shift, end=seg["end"] + shift) for seg in segments]


# A recording may start at the dialling. Read as the agent's, the message and the queue moved the greeting out of
# the opening's window and made the queue a hold: in the bench's variant, criteria fell from 95.6 to 84.5 % on
# public-d's tuning part and pass/fail from 92.5 to 81.2 %.
@pytest.mark.parametrize(("name", "queue_s"), [("heldout-b", 9.0), ("heldout-d", 70.0)])
def test_a_recorded_message_and_the_queue_before_the_agent_answers_change_no_verdict(name, queue_s):
    paths = sorted((EVAL / name / "transcripts").glob("*.json"))[::3]
    for path in paths:
        tr = json.loads(path.read_text(encoding="utf-8"))
        direct = score_transcript(tr)
        queued = score_transcript(dict(tr, segments=_after_queue(tr["segments"], queue_s),
                                       duration_s=tr["duration_s"] + 8.5 + queue_s))
        assert ([(c["id"], c["verdict"]) for c in queued["criteria"]]
                == [(c["id"], c["verdict"]) for c in direct["criteria"]]), path.stem
        assert ((queued["category"], [i["label"] for i in queued["irritants"]], queued["score"])
                == (direct["category"], [i["label"] for i in direct["irritants"]], direct["score"])), path.stem


def test_an_opening_missed_after_the_queue_says_its_window_counts_from_the_answer():
    tr = {"call_id": "file", "duration_s": 90.0, "language": "fr", "segments": [
        *_after_queue([], 30.0),
        {"speaker": "agent", "start": 39.0, "end": 41.0, "text": "Bonjour, oui ?"},
        {"speaker": "customer", "start": 41.5, "end": 46.0, "text": "Bonjour, mon colis n'est jamais arrivé."},
        {"speaker": "agent", "start": 46.5, "end": 50.0, "text": "Je regarde tout de suite où il en est."}]}
    accueil = next(c for c in score_transcript(tr)["criteria"] if c["id"] == "accueil")
    assert accueil["verdict"] == "fail"
    assert "30 premières secondes après la prise d'appel (00:39)" in accueil["explanation"]
    assert [e["start"] for e in accueil["evidence"]] == [39.0]  # the recording's time, where a supervisor hears it


# The same calls as a transcriber who neither punctuates nor capitalises writes them (never tuned on either).
# Categories were 0.833 and 0.867 before a turn was read stretch by stretch; irritant F1 0.85, 0.73 and 0.54
# before a long unpunctuated turn's irritants were also read window by window. Criteria were 0.933, 0.908 and
# 0.904, F1 0.929, 0.766 and 0.594, category 0.867 on heldout-d, before sentence ends were put back into
# unpunctuated turns (ccr.scoring.boundaries). Scored here without the agent's name, so figures differ a little
# from the benchmark's, which gives it.
@pytest.mark.parametrize(("name", "crit_floor", "cat_floor", "f1_floor"), [
    ("heldout-b", 0.91, 0.86, 0.87),  # measured 0.946 / 0.933, F1 0.893
    ("heldout-c", 0.90, 0.93, 0.83),  # measured 0.942 / 0.967, F1 0.880
    ("heldout-d", 0.90, 0.80, 0.60),  # measured 0.938 / 0.833, F1 0.657
])
def test_agreement_without_punctuation_stays_above_measured_floor(name, crit_floor, cat_floor, f1_floor):
    crit, cat, f1 = _agreement(EVAL / name, flat=True)
    assert crit >= crit_floor
    assert cat >= cat_floor
    assert f1 >= f1_floor
