"""The rules engine called directly: its evaluation, call measures, metric criteria, categories."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ccr.core.errors import InvalidInput
from ccr.core.formats import fr_number
from ccr.scoring import acts, categories, rules
from ccr.scoring.evaluation import compute_score
from ccr.scoring.grid import Criterion, default_grid, default_taxonomy
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import Call, validate_transcript

TRANSCRIPT = {"call_id": "t-rules", "duration_s": 30.0, "segments": [
    {"speaker": "agent", "start": 0.5, "end": 3.0, "text": "Bonjour, service client Optima, Camille à votre écoute."},
    {"speaker": "customer", "start": 3.5, "end": 7.0,
     "text": "Bonjour, je vous appelle pour ma facture du mois dernier, elle est trop élevée."},
    {"speaker": "agent", "start": 20.0, "end": 24.0, "text": "Je vous fais un avoir de vingt euros sur la prochaine facture."},
]}


def _call():
    return Call.from_transcript(validate_transcript(TRANSCRIPT))


def test_the_rules_evaluation_is_what_the_entry_point_returns_for_the_rules_engine():
    ev = rules.rules_evaluation(validate_transcript(TRANSCRIPT), default_grid(), default_taxonomy())
    assert ev == score_transcript(TRANSCRIPT)
    assert (ev["engine"], ev["category"], ev["category_evidence"]["start"]) == ("rules", "facturation", 3.5)
    assert {c["id"]: c["verdict"] for c in ev["criteria"]}["accueil"] == "pass"


def test_call_measures_cover_duration_silences_and_talk():
    m = rules.call_metrics(_call())
    assert (m["duration_s"], m["longest_silence_s"], m["segments"]) == (30.0, 13.0, 3.0)
    assert m["agent_talk_ratio"] + m["customer_talk_ratio"] == pytest.approx(1.0)
    assert (m["agent_words"], m["customer_words"]) == (20.0, 14.0)


def test_call_measures_count_the_pieces_of_a_sentence_recognised_in_pieces():
    tr = validate_transcript({"call_id": "p", "duration_s": 12.0, "language": "fr", "segments": [
        {"speaker": "agent", "start": 0.0, "end": 2.0, "text": "Bonjour, service client,"},
        {"speaker": "agent", "start": 3.5, "end": 5.0, "text": "je vous écoute."},
        {"speaker": "customer", "start": 6.0, "end": 10.0, "text": "Ma facture est fausse."}]})
    call = Call.from_transcript(tr)
    m = rules.call_metrics(call)
    assert len(call.segs) == 2
    assert (m["segments"], m["longest_silence_s"]) == (3.0, 1.5)
    assert m["agent_talk_ratio"] == pytest.approx(3.5 / 7.5)


def test_a_metric_criterion_compares_a_measure_and_says_so():
    c = Criterion(id="silences", label="Silences", weight=10, method="metric",
                  params={"metric": "longest_silence_s", "op": "<=", "value": 10})
    out = rules.evaluate_criterion(c, _call(), [])
    assert (out.verdict, out.evidence) == ("fail", [])
    assert out.explanation == "Silences : plus long silence 13\u00a0s (attendu ≤ 10\u00a0s)."


def test_a_ratio_is_explained_as_a_french_percentage():
    c = Criterion(id="ecoute", label="Écoute", weight=10, method="metric",
                  params={"metric": "agent_talk_ratio", "op": "<", "value": 0.5})
    out = rules.evaluate_criterion(c, _call(), [])
    assert out.verdict == "fail"  # the agent speaks 6.5 s of 10
    assert out.explanation == "Écoute : part de parole de l'agent 65\u00a0% (attendu < 50\u00a0%)."


def test_a_silence_is_told_with_a_decimal_comma():
    c = default_grid().criterion("attente")
    out = rules.evaluate_criterion(c, _call(), [])
    assert (out.verdict, out.explanation.split(" à ")[0]) == ("fail", "Gestion des mises en attente : silence de 13,0\u00a0s")


def test_an_unknown_method_is_refused_in_french():
    c = Criterion(id="x", label="X", weight=10, method="telepathie")
    with pytest.raises(InvalidInput, match="Méthode de détection inconnue « telepathie »"):
        rules.evaluate_criterion(c, _call(), [])


def test_the_category_is_decided_from_the_customer_s_request():
    pick = rules.category_verdict(_call(), default_taxonomy())
    assert pick.category == rules.detect_category(_call(), default_taxonomy()) == "facturation"
    assert pick.line is not None and pick.line.speaker == "customer"
    assert pick.confidence >= categories.REVIEW_BELOW and rules.category_doubt(pick, default_taxonomy()) == ""


def _customer_call(*lines: str) -> Call:
    turns = [("agent", "Bonjour, service clients Velora, Inès à l'appareil.")]
    for text in lines:
        turns += [("customer", text), ("agent", "D'accord, je regarde.")]
    segments = [{"speaker": who, "start": 4.0 * i, "end": 4.0 * i + 3.5, "text": text}
                for i, (who, text) in enumerate(turns)]
    return Call.from_transcript(validate_transcript({"call_id": "t-cat", "duration_s": 4.0 * len(turns),
                                                     "segments": segments}))


def test_a_category_decided_by_a_hair_is_sent_to_a_human_with_the_runner_up():
    # Two requests of equal weight in one call: whichever wins, it wins by little.
    call = _customer_call("Bonjour, je voudrais résilier mon abonnement box, et on m'a aussi facturé deux fois "
                          "l'option télévision ce mois-ci.", "Donc voilà : la résiliation, et le double prélèvement.")
    pick = rules.category_verdict(call, default_taxonomy())
    assert pick.confidence < categories.REVIEW_BELOW and pick.second is not None
    names = {c.id: c.label for c in default_taxonomy().categories}
    assert rules.category_doubt(pick, default_taxonomy()) == (
        f"« {names[pick.category]} » incertaine ({fr_number(pick.confidence, 2)}), de peu devant « "
        f"{names[pick.second]} »")


def test_a_call_with_no_reason_for_calling_says_its_category_is_a_default():
    call = _customer_call("Oui.", "D'accord, merci.")
    pick = rules.category_verdict(call, default_taxonomy())
    assert (pick.category, pick.confidence, pick.line) == ("information", 0.0, None)
    assert rules.category_doubt(pick, default_taxonomy()) == (
        "aucun motif d'appel net dans les paroles du client, « Information » par défaut")


def test_an_organisation_s_own_categories_decided_by_cues_carry_no_confidence_and_no_doubt():
    tax = default_taxonomy()
    own = replace(tax, categories=(replace(tax.categories[0], id="garantie", label="Garantie"),), default_category="garantie")
    pick = rules.category_verdict(_call(), own)
    assert (pick.category, pick.confidence) == ("garantie", None) and rules.category_doubt(pick, own) == ""


LONG_WAIT = "Franchement, ça commence à faire long, cette histoire."


def _waiting_call(reply: str, said_over: str = "") -> Call:
    """The customer complains of the wait and the agent replies; ``said_over``: what the agent slips in while the
    customer is still speaking."""
    over = [{"speaker": "agent", "start": 7.5, "end": 8.0, "text": said_over}] if said_over else []
    return Call.from_transcript(validate_transcript({"call_id": "t-ack", "duration_s": 20.0, "segments": [
        {"speaker": "agent", "start": 0.5, "end": 3.0, "text": "Bonjour, service client Vélia, Bastien à l'appareil."},
        {"speaker": "customer", "start": 3.5, "end": 6.0, "text": "Bonjour, c'est pour ma commande de chaises."},
        {"speaker": "customer", "start": 6.5, "end": 9.0, "text": LONG_WAIT},
        *over,
        {"speaker": "agent", "start": 9.5, "end": 13.0, "text": reply},
    ]}))


@pytest.fixture
def bars_at():
    """A setter installing the shipped model with irritant bars placed so the line reads at the given share of
    each (``{act: share}``); the irritants not named are out of reach."""
    model = acts.default_model()
    probs = model.probabilities(LONG_WAIT)

    def at_shares(shares: dict[str, float]) -> None:
        bars = {a: 0.999 for a in acts.ACTS if a.startswith("irritant_")}
        bars.update({a: float(probs[acts.ACTS.index(a)]) / share for a, share in shares.items()})
        acts.install_model(model.with_thresholds(bars))
    yield at_shares
    acts.install_model(None)


EMPATHY = "Je comprends, je suis vraiment navrée pour ce contretemps."


def _labels(call: Call) -> list[tuple[str, str]]:
    return [(label, s.text) for label, s in rules.detect_irritants(call, default_taxonomy())]


def test_a_nearly_recognised_irritant_counts_once_the_agent_answers_it_with_empathy(bars_at):
    bars_at({"irritant_wait": 0.85})
    assert _labels(_waiting_call(EMPATHY)) == [("attente_delai", LONG_WAIT)]
    # The same words answered with a plain question stay under the bar: the agent's reply is the only witness.
    assert _labels(_waiting_call("Quel est votre numéro de client ?")) == []


@pytest.mark.parametrize("said_over", ["Oui.", "Hm hm.", "D'accord, oui."])
def test_the_agent_s_acknowledgement_said_over_the_customer_is_not_the_reply_to_the_irritant(bars_at, said_over):
    bars_at({"irritant_wait": 0.85})
    assert _labels(_waiting_call(EMPATHY, said_over)) == [("attente_delai", LONG_WAIT)]
    assert _labels(_waiting_call("Quel est votre numéro de client ?", said_over)) == []


def test_empathy_said_over_the_customer_s_complaint_answers_it(bars_at):
    bars_at({"irritant_wait": 0.85})
    assert _labels(_waiting_call("Quel est votre numéro de client ?", "Je comprends.")) == [
        ("attente_delai", LONG_WAIT)]


def test_empathy_does_not_turn_a_line_far_from_the_bar_into_an_irritant(bars_at):
    bars_at({"irritant_wait": 0.5})
    assert _labels(_waiting_call(EMPATHY)) == []


def test_one_empathetic_reply_vouches_for_one_irritant_the_likeliest_not_yet_clear(bars_at):
    bars_at({"irritant_wait": 0.85, "irritant_discontent": 0.8})
    assert _labels(_waiting_call(EMPATHY)) == [("attente_delai", LONG_WAIT)]
    # A customer may voice two irritants in one breath: the clear one counts alone, the reply vouches for the other.
    bars_at({"irritant_wait": 0.85, "irritant_discontent": 1.1, "irritant_repeat": 0.75})
    assert _labels(_waiting_call(EMPATHY)) == [("attente_delai", LONG_WAIT), ("mecontentement", LONG_WAIT)]


def test_an_acknowledged_irritant_is_reported_in_the_customer_s_words_and_the_empathy_is_credited(bars_at):
    bars_at({"irritant_wait": 0.85})
    call = _waiting_call(EMPATHY)
    tr = {"call_id": "t-ack", "duration_s": call.duration,
          "segments": [{"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text} for s in call.segs]}
    ev = score_transcript(tr)
    assert [(i["label"], i["text"]) for i in ev["irritants"]] == [("attente_delai", LONG_WAIT)]
    empathy = next(c for c in ev["criteria"] if c["id"] == "empathie")
    assert empathy["verdict"] == "pass" and [e["text"] for e in empathy["evidence"]] == [EMPATHY]


def _complaint_call(line: str) -> Call:
    return Call.from_transcript(validate_transcript({"call_id": "t-feel", "duration_s": 20.0, "segments": [
        {"speaker": "agent", "start": 0.5, "end": 3.0, "text": "Bonjour, régie des eaux, Maëlle à l'appareil."},
        {"speaker": "customer", "start": 3.5, "end": 8.0, "text": line},
        {"speaker": "agent", "start": 8.5, "end": 11.0, "text": "Quel est votre numéro de compteur ?"},
    ]}))


@pytest.fixture
def discontent_read_at():
    """A setter installing the shipped model with the discontent bar placed so ``line`` reads at ``share`` of it."""
    model = acts.default_model()

    def at_share(line: str, share: float) -> None:
        p = float(model.probabilities(line)[acts.ACTS.index("irritant_discontent")])
        acts.install_model(model.with_thresholds({"irritant_discontent": p / share}))
    yield at_share
    acts.install_model(None)


ANGRY = "Je suis en colère, on m'a coupé l'eau deux jours sans prévenir."


@pytest.mark.parametrize(("line", "voiced"), [
    (ANGRY, True),  # a word of feeling, meant: discontent, however little the act model reads of it
    ("Je ne suis pas en colère, on m'a coupé l'eau deux jours sans prévenir.", False),  # negated
    ("On m'a coupé l'eau deux jours sans prévenir, voilà.", False),  # no word of feeling
    ("Mon voisin est en colère contre la mairie, moi je voulais juste ma facture en double.", False),  # elsewhere
    # Words of feeling said as verbs, judgements and weariness, not only as « je suis … »
    pytest.param("Honnêtement, ça m'énerve qu'on me redemande la même pièce justificative.", True,
                 marks=pytest.mark.xfail(strict=True, reason="known gap: the classifier of words of feeling "
                                         "reads it 0.48, under its bar of 0.5")),
    ("C'est ridicule, on m'envoie trois factures pour le même trimestre.", True),
    pytest.param("Je commence à être lassée de rappeler pour la même panne.", True,
                 marks=pytest.mark.xfail(strict=True, reason="known gap: the classifier of words of feeling "
                                         "reads it 0.40, under its bar of 0.5")),
    ("Ce n'est pas ridicule comme idée, le prélèvement au quinze du mois.", False),
])
def test_a_word_of_discontent_counts_when_the_classifier_of_feelings_reads_it_meant(discontent_read_at, line,
                                                                                    voiced):
    discontent_read_at(line, 0.2)  # the act model alone far from its bar: the word and how it is meant decide
    assert _labels(_complaint_call(line)) == ([("mecontentement", line)] if voiced else [])


# Written for this test, in sectors and words the development calls do not use: discontent the model alone
# mostly misses, and lookalikes that negate a word of feeling, lend it to someone else, or praise or ask.
SAID_IN_WORDS = [
    "Mon colis est reparti à l'entrepôt, je suis énervée, je vous le dis tout net.",
    "C'est une honte, on me coupe la ligne sans un courrier.",
    "Trois semaines sans chauffage, c'est inacceptable.",
    "Là, j'en ai assez, on me promet un technicien et personne ne vient.",
    "Sincèrement, je suis outrée qu'on me réclame encore ces frais.",
]
LOOKALIKES = [
    "Je ne suis pas en colère, je veux juste comprendre la facture.",
    "Non, je ne suis pas du tout mécontent du conseiller de la dernière fois.",
    "Ce n'est pas scandaleux en soi, c'est juste que je n'avais pas compris.",
    "Mon frère était furieux contre son ancienne banque, c'est pour ça qu'il vient chez vous.",
    "Je n'ai jamais été déçue par vos services jusqu'ici.",
    "C'est fou comme le site est pratique maintenant.",
    "Ce n'est pas normal que la box clignote orange ? Je demande juste.",
    # Words sharing a stem with a word of feeling: a customer's own apology, passing information on.
    "Désolé de vous déranger, c'est pour une petite question sur mon contrat.",
    "Je suis navrée, je n'ai pas mon numéro client sous la main.",
    "Je vais faire remonter l'information au syndic de l'immeuble.",
    "Non, ça ne m'énerve pas, je voulais juste savoir où en est le dossier.",
]


def test_discontent_said_in_words_of_feeling_is_heard_and_its_lookalikes_are_not():
    assert [line for line in SAID_IN_WORDS if not _labels(_complaint_call(line))] == []
    assert [line for line in LOOKALIKES if _labels(_complaint_call(line))] == []
    # The words decide where the model alone hesitates: at least some of these lines are under its bar.
    model = acts.default_model()
    bar = model.thresholds[acts.ACTS.index("irritant_discontent")]
    assert sum(model.probabilities(line)[acts.ACTS.index("irritant_discontent")] < bar for line in SAID_IN_WORDS) >= 3


def test_an_agent_naming_the_customer_s_feeling_on_a_mono_recording_is_no_irritant():
    lines = ["Bonjour, régie des eaux, Paul à l'appareil.", "Bonjour, ma facture d'eau a doublé ce trimestre.",
             "Je comprends tout à fait que vous soyez en colère, madame.", "Oui.",
             "Je comprends que vous soyez déçue, je regarde tout de suite."]
    call = Call.from_transcript(validate_transcript({"call_id": "t-mono", "duration_s": 12.0, "segments": [
        {"speaker": "inconnu", "start": 2.0 * i, "end": 2.0 * i + 1.5, "text": t} for i, t in enumerate(lines)]}))
    assert "mecontentement" not in {label for label, _ in _labels(call)}


def test_calls_whose_result_hangs_on_unsure_verdicts_go_to_review_with_those_verdicts_named():
    # Our own calls, never tuned on: wherever the scorer says a result is unsure, the verdicts it names are
    # each able to change the result alone, and their confidences multiply to less than the grid's bar.
    grid = default_grid()
    labels = {c.label: c.id for c in grid.criteria}
    found = 0
    for path in sorted((Path(__file__).resolve().parents[1] / "fixtures" / "eval" / "heldout" / "transcripts")
                       .glob("*.json")):
        ev = score_transcript(json.loads(path.read_text(encoding="utf-8")))
        doubts = [r for r in ev["review_reasons"] if "de l'appel incertain" in r]
        if not doubts:
            continue
        found += 1
        assert ev["needs_review"] and len(doubts) == 1
        (head, named), = re.findall(r"\(([0-9,]+)\) : un seul de ces verdicts faux l[ae] changerait : (.*)\.$",
                                    doubts[0])
        verdicts = {c["id"]: c["verdict"] for c in ev["criteria"]}
        confidence = {c["id"]: c["confidence"] for c in ev["criteria"]}
        assert float(head.replace(",", ".")) < grid.review_threshold
        for label, shown in re.findall(r"([^,(]+?) \(([0-9,]+)\)", named):
            cid = labels[label.strip()]
            assert abs(confidence[cid] - float(shown.replace(",", "."))) < 0.006
            others = ("pass", "fail") if verdicts[cid] == "na" else ("fail" if verdicts[cid] == "pass" else "pass",)
            assert any(compute_score({**verdicts, cid: o}, grid)[1] != ev["passed"] for o in others), cid
    assert found >= 1
