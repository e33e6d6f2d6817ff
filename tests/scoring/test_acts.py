"""Dialogue acts: features, negation scope, the shipped model, and what it recognises on lines it never saw."""

from __future__ import annotations

import json
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from ccr.scoring import actrules, acts, boundaries
from ccr.scoring.encoder import default_encoder
from ccr.scoring.grid import default_grid
from scripts import calibrate_acts
from scripts.calibrate_acts import CANDIDATES, EVAL_DIR, ascend, load_set, objective
from scripts.train_acts import macro_f1
from tests.conftest import FIXTURES
from tests.scoring.bankdata import in_bank

HELDOUT = FIXTURES / "acts" / "heldout.jsonl"
# Macro F1 of the shipped model on the held-out set written in another style (0.83 when first trained, 0.85
# with the embedding head, 0.88 once that head had a hidden layer):
# a retrained model that loses generalisation fails here.
MIN_HELDOUT_MACRO_F1 = 0.78


@pytest.mark.parametrize(("words", "marked"), [
    ("je ne vais pas vous mettre en attente", "je ne ¬vais pas ¬vous ¬mettre en attente"),  # « en »: a new idea
    ("ce ne est pas la 1e fois", "ce ne ¬est pas ¬la ¬1e ¬fois"),
    ("pas de souci mais je vous rappelle", "pas ¬de ¬souci mais je vous rappelle"),
    ("je vous rappelle demain", "je vous rappelle demain"),
])
def test_a_negator_marks_the_words_of_its_clause(words, marked):
    assert " ".join(acts.mark_negation(words.split())) == marked


def test_features_are_stable_across_processes_and_negated_words_have_their_own():
    plain = set(acts.feature_strings("c'est la première fois"))
    negated = set(acts.feature_strings("ce n'est pas la première fois"))
    assert "w:fois" in plain and "w:¬fois" in negated and "w:fois" not in negated
    assert acts._hash("w:attente") == acts._hash("w:attente") == 4024202160 % acts.N_BUCKETS


@lru_cache(maxsize=1)
def raw_model() -> acts.ActModel:
    """The shipped model with its trained thresholds (0.5): line-level figures are a property of the model;
    the thresholds calibrated on whole calls serve the scorer's verdicts (tests/scoring/test_actrules.py)."""
    return acts.ActModel.load(acts.MODEL_PATH)


def ranking_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Share of (positive, negative) pairs the positive one scores above."""
    return float((pos[:, None] > neg[None, :]).mean())


def agent_readings(name: str, act: str) -> tuple[acts.ActModel, np.ndarray, np.ndarray]:
    """The shipped model, and its reading of ``act`` on the agent lines of a never-trained-on fixture that carry
    the act and on those that do not."""
    rows = acts.read_bank(FIXTURES / "acts" / name)
    assert not in_bank(e.text for e in rows)  # never trained on
    agent = [e for e in rows if e.speaker == "agent"]
    model = acts.default_model()
    model.prepare([e.text for e in agent])
    i = model.acts.index(act)
    score = np.array([model.probabilities(e.text)[i] for e in agent])
    has = np.array([act in e.acts for e in agent])
    return model, score[has], score[~has]


def test_the_shipped_model_was_trained_on_the_current_bank():
    model = acts.default_model()
    assert model.acts == acts.ACTS
    assert model.bank_sha256 == acts.bank_sha256(), "banque modifiée : relancez python -m scripts.train_acts"


def test_the_model_generalises_to_lines_written_in_another_style():
    scores = acts.evaluate(raw_model(), acts.read_bank(HELDOUT))
    assert macro_f1(scores) >= MIN_HELDOUT_MACRO_F1, {a: round(s["f1"], 2) for a, s in scores.items()}


def test_acts_only_count_for_their_speaker():
    said_by_agent = acts.line_acts("Merci de votre patience, je reviens vers vous.", "agent")
    said_by_customer = acts.line_acts("Merci de votre patience, je reviens vers vous.", "customer")
    assert said_by_agent.has("hold_thanks")
    assert not said_by_customer.acts & set(acts.AGENT_ACTS)
    unknown = acts.line_acts("Bonjour, vous êtes au service client d'Électra, Léon à l'appareil.", "inconnu")
    assert unknown.has("greeting") and unknown.has("self_intro")


# Written for this test, in words found in neither the bank nor the held-out set. The strict xfails are the
# first model's known misses: they fail the suite as soon as a retrained model gets them right.
@pytest.mark.parametrize(("speaker", "text", "present", "absent"), [
    ("agent", "Oui bonsoir, Margaux de l'assistance Domivolt, je vous écoute.", {"greeting", "self_intro"}, set()),
    pytest.param("agent", "Bonsoir, le transfert a fonctionné, on peut commencer quand vous voulez.", {"greeting"},
                 {"self_intro"}, marks=pytest.mark.xfail(strict=True, reason="known gap: « transfert » (a mid-call word) outweighs the opening « bonsoir »")),
    ("agent", "Bonjour, vous me recevez correctement ? Je suis à vous.", {"greeting"}, {"self_intro"}),
    ("agent", "Pour retrouver votre dossier, vous pouvez me rappeler le code postal de l'installation ?",
     {"ident_request"}, set()),
    ("agent", "Alors je ne vais pas vous faire patienter, j'ai la réponse sous les yeux.", set(),
     {"hold_announce"}),
    pytest.param("agent", "Je suis obligé de vous dire non pour le remboursement, le délai est dépassé.", {"refusal"},
                 {"solution"}, marks=pytest.mark.xfail(strict=True, reason="known gap of the first model: a refusal worded without « ne … pas »")),
    ("agent", "Je vous suis très reconnaissant d'être resté en ligne si longtemps.", {"hold_thanks"}, set()),
    ("agent", "Me voici de retour, où en étions-nous ?", set(), {"hold_thanks"}),
    ("agent", "Ça y est, je suis à nouveau là, on continue ?", set(), {"hold_thanks"}),
    ("agent", "Qui ai-je au téléphone, s'il vous plaît ?", {"ident_request"}, set()),
    pytest.param("agent", "Et je m'adresse à monsieur... ?", {"ident_request"}, set(),
                 marks=pytest.mark.xfail(strict=True, reason="known gap: a name asked by a trailing « monsieur… ? » reads 0.48")),
    # asking a name this way is not an insult (the politeness criterion sends such a line to a human, never zeroes it)
    pytest.param("agent", "Vous êtes monsieur... ?", set(), set(acts.RUDE_ACTS),
                 marks=pytest.mark.xfail(strict=True, reason="known gap: « vous êtes … ? » reads as the start of an insult")),
    ("agent", "Attendez, je ferme la session de l'ancien compte et je vous en crée un propre.", set(), set(acts.RUDE_ACTS)),
    ("agent", "Ce modèle-là, entre nous, c'est un peu la bête noire de nos techniciens.", set(), set(acts.RUDE_ACTS)),
    ("agent", "Écoutez, je vais vous le répéter doucement puisque visiblement ça ne rentre pas.",
     {"rude_condescension"}, set()),
    pytest.param("customer", "C'est la première fois que j'appelle pour ça, je ne savais pas à qui m'adresser.",
                 set(), {"irritant_repeat"}, marks=pytest.mark.xfail(strict=True, reason="known gap of the first model: « j'appelle » outweighs « première fois »")),
    ("customer", "Ce n'est pas la première fois que je vous appelle pour ce compteur, hein.", {"irritant_repeat"},
     set()),
    ("customer", "On m'a prélevé deux fois le même mois, je ne comprends pas.", {"irritant_billing_error"}, set()),
    ("customer", "Si c'est comme ça je vais voir chez un concurrent, franchement.", {"irritant_churn"}, set()),
])
def test_acts_on_lines_the_model_never_saw(speaker, text, present, absent):
    found = acts.line_acts(text, speaker, raw_model()).acts
    assert present <= found and not (absent & found), sorted(found)


# Short polite agent lines (back-channels, small talk, thanks, reassurance), written for this test before the
# model that passes it was trained and not tuned to any model. They are kept out of the bank (checked below),
# so the test measures what the model learnt about neutral lines, not what it memorised.
POLITE_PHATIC_AGENT_LINES = (
    "Allô, vous m'entendez ?", "Oui, oui, je suis là.", "Hm hm, d'accord.", "Bon, ben, alors...",
    "Faites, je vous en prie.", "Ce n'est pas grave du tout.", "Ah, tant mieux alors.", "Voilà, tout simplement.",
    "Ah, parfait.", "Très bien, merci.", "Entendu, madame.", "Je vous entends bien maintenant.",
    "Ah, la ligne grésille un peu.", "Il y a un petit écho, non ?", "Vous êtes dans le train, peut-être ?",
    "Il fait un temps splendide aujourd'hui.", "Oh, quelle pluie ce matin.", "Je vous attends, prenez votre temps.",
    "J'attends que la page se charge.", "Je note bien.", "Ah, je vois bien.", "Je note, oui.", "D'accord, je vois.",
    "Ah oui, je comprends le principe.", "C'est bien noté de mon côté.", "Bien sûr, monsieur.",
    "Mais oui, absolument.", "Aucun problème.", "Mais avec plaisir.", "Ah, c'est gentil de dire ça.",
    "Ah oui ? Intéressant.", "Oh là là, quelle histoire.", "Eh bien...", "Voyons voir un peu.", "Euh... oui, oui.",
    "Pardon ?", "Je vous écoute.", "Bonne nouvelle, alors.", "Oui, c'est exact.", "Ah, d'accord, oui.",
    "Pas de souci.", "C'est parfait comme ça.", "Un peu de vent chez vous ?", "On vous entend un peu loin.",
    "Votre chien aboie, ce n'est rien.", "Le système est un peu lent ce matin.", "Je suis toujours là, hein.",
    "Oui, oui, bien sûr.", "Super, merci beaucoup.", "Ah, génial, ça a fonctionné.", "Ça marche, très bien.",
    "Oui, volontiers.", "C'est tout à fait normal.", "Mais je vous en prie.", "De rien, c'est mon travail.",
    "Effectivement.", "Ah bon, vraiment ?", "Tiens, c'est bizarre, ça.", "Oui, allez-y.", "Dites-moi.",
    "Hm, je vois, je vois.", "Bon, eh bien, voilà.", "Ah, ça arrive.", "Faites donc.", "Bah, pas grave.",
    "Tant mieux, tant mieux.", "Mmh, mmh, oui.", "Bon, bon, eh bien.", "Voilà donc.", "Oui, je vous écoute, allez-y.",
    "Allô, madame ?",
)


def test_the_polite_phatic_lines_are_not_in_the_bank():
    assert not in_bank(POLITE_PHATIC_AGENT_LINES)


def test_no_polite_phatic_line_is_read_as_impolite():
    # Read at the bar the standard grid sets for zeroing a call (its politeness criterion's min_probability).
    bars = default_grid().criterion("politesse").params["min_probability"]
    model = raw_model().with_thresholds(bars)
    rude = {t: sorted(acts.line_acts(t, "agent", model).acts & set(acts.RUDE_ACTS)) for t in POLITE_PHATIC_AGENT_LINES}
    flagged = {t: found for t, found in rude.items() if found}
    assert not flagged, f"{len(flagged)}/{len(POLITE_PHATIC_AGENT_LINES)} lignes polies lues comme impolies : {flagged}"


def test_the_line_probability_averages_the_two_readers():
    model = raw_model()
    assert model.head is not None and model.blend == acts.HEAD_BLEND
    line = "Je regarde ça tout de suite, ne quittez pas."
    ngram = model.with_head(None).probabilities(line)
    meaning = model.head.probabilities(default_encoder().embed([line]))[0]
    assert model.probabilities(line) == pytest.approx((1 - model.blend) * ngram + model.blend * meaning, abs=1e-6)
    assert not (ngram == pytest.approx(model.probabilities(line), abs=1e-3))  # the head changes the reading


def test_both_readers_generalise_better_than_the_ngrams_alone():
    # On the held-out lines in another style, never trained on: 0.832 for the n-grams, 0.882 for both.
    held = acts.read_bank(HELDOUT)
    both, ngram = (macro_f1(acts.evaluate(m, held)) for m in (raw_model(), raw_model().with_head(None)))
    assert both >= ngram + 0.01, (both, ngram)


def test_the_head_learns_what_a_single_regression_cannot_and_trains_deterministically():
    # An act present when the first coordinate is far from zero on either side: no plane separates it, one
    # hidden layer does. Two trainings on the same rows give the same weights.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    lines = [acts.Example(text=str(i), speaker="agent", acts=frozenset({"greeting"} if abs(v) > 1 else ()))
             for i, v in enumerate(x[:, 0])]
    head = acts.train_head(x, lines, hidden=32, epochs=300, lr=0.03)
    col = acts.ACTS.index("greeting")
    got = head.probabilities(x)[:, col] >= 0.5
    truth = np.abs(x[:, 0]) > 1
    assert (got == truth).mean() >= 0.9
    again = acts.train_head(x, lines, hidden=32, epochs=300, lr=0.03)
    assert all(np.array_equal(a, b) for a, b in zip(head.arrays().values(), again.arrays().values(), strict=True))


def test_a_model_without_head_never_loads_the_encoder(monkeypatch):
    def refuse():
        raise AssertionError("encoder loaded")
    monkeypatch.setattr(acts, "default_encoder", refuse)
    assert raw_model().with_head(None).probabilities("Bonjour, Julie à l'appareil.").shape == (len(acts.ACTS),)


def test_the_head_survives_saving_and_changes_the_fingerprint(tmp_path):
    model = raw_model()
    model.save(tmp_path / "model.npz")
    back = acts.ActModel.load(tmp_path / "model.npz")
    assert back.fingerprint() == model.fingerprint() != model.with_head(None).fingerprint()
    line = "Je vous envoie le formulaire par courriel dès ce soir."
    assert back.probabilities(line) == pytest.approx(model.probabilities(line), abs=1e-6)


def test_a_bank_line_with_an_unknown_act_is_refused(tmp_path):
    bad = tmp_path / "bank.jsonl"
    bad.write_text('{"text": "bonjour", "speaker": "agent", "acts": ["salut"]}\n', encoding="utf-8")
    with pytest.raises(acts.ActModelError, match="actes inconnus"):
        acts.read_bank(bad)


def test_a_pass_aimed_at_one_act_tunes_that_act_s_bars_alone():
    # calibrate_acts --only: after a bank pass aimed at one act, its bars move and every other bar stays where the
    # calibration in place put it (a full ascent also moves bars that were overruled by hand). Bars of 0.9 find
    # almost nothing, so on these calls the ascent lowers every act it is allowed to (without --only, the
    # questions' and solutions' bars as well).
    calls = load_set(EVAL_DIR / "public-d")[:4]
    start = dict.fromkeys(("reformulation", "open_question", "empathy", "solution"), 0.9)
    try:
        got = ascend(raw_model(), calls, start, heard=False, only=["reformulation"])
        acts.install_model(raw_model().with_thresholds(start))
        before = objective(calls)[0]
        acts.install_model(raw_model().with_thresholds(got))
        after = objective(calls)[0]
    finally:
        acts.install_model(None)
    assert got["reformulation"] in CANDIDATES and got["reformulation"] < 0.9 and after > before
    assert {a: v for a, v in got.items() if a != "reformulation"} == dict.fromkeys(
        ("open_question", "empathy", "solution"), 0.9)


def _small_set(src: Path, dst: Path, n: int) -> None:
    """The first ``n`` calls of the labelled set ``src`` (as the script reads them), written to ``dst``."""
    (dst / "transcripts").mkdir(parents=True)
    calls = load_set(src)[:n]
    (dst / "labels.jsonl").write_text("".join(json.dumps(label) + "\n" for _, label in calls), encoding="utf-8")
    for transcript, label in calls:
        (dst / "transcripts" / f"{label['call_id']}.json").write_text(json.dumps(transcript), encoding="utf-8")


def test_a_change_to_the_reading_of_heard_lines_retunes_their_bars_and_keeps_the_typed_ones(tmp_path, monkeypatch):
    # calibrate_acts --heard-only: after a change that only moves recognised lines (sentence ends put back into
    # unpunctuated turns), the typed bars stay those in place and the file records the reading they were tuned
    # under. The script swaps in a probability cache; the test puts the real method back afterwards.
    monkeypatch.setattr(acts.ActModel, "probabilities", acts.ActModel.probabilities)
    for name in ("public-d", "public-d-asr"):
        _small_set(EVAL_DIR / name, tmp_path / "sets" / name, 3)
    monkeypatch.setattr(calibrate_acts, "EVAL_DIR", tmp_path / "sets")
    monkeypatch.setattr(calibrate_acts, "HOLDOUT_FROM", 2)
    monkeypatch.setattr(calibrate_acts, "SWEEPS", 1)  # one sweep is enough to exercise the path
    out = tmp_path / "calibration.json"
    try:
        assert calibrate_acts.main(["--heard-only", "--out", str(out)]) == 0
    finally:
        acts.install_model(None)
    got, in_place = json.loads(out.read_text(encoding="utf-8")), acts.read_calibration()
    assert got["thresholds"] == in_place["thresholds"] and got["model"] == in_place["model"]
    assert got["reading"] == boundaries.default_model().fingerprint()
    assert all(v in CANDIDATES or v == in_place["heard_thresholds"].get(a)
               for a, v in got["heard_thresholds"].items())
    assert got["tuned_on"].startswith("seuils du texte gardés")


def test_a_missing_or_unreadable_model_gives_a_french_error(tmp_path):
    broken = tmp_path / "model.npz"
    broken.write_bytes(b"pas un modele")
    with pytest.raises(acts.ActModelError, match="illisible"):
        acts.ActModel.load(broken)


def test_the_calibrated_thresholds_belong_to_the_shipped_model():
    calibration = acts.read_calibration()
    assert calibration["model"] == raw_model().fingerprint(), "modèle réentraîné : python -m scripts.calibrate_acts"
    # The bars were tuned under the shipped reading of unpunctuated turns, whose sentence ends are put back.
    assert calibration["reading"] == boundaries.default_model().fingerprint(), (
        "modèle des fins de phrase réentraîné : python -m scripts.calibrate_acts --heard-only")
    model = acts.default_model()
    assert all(model.threshold(a) == pytest.approx(v) for a, v in calibration["thresholds"].items())
    heard = calibration["heard_thresholds"]
    assert heard and all(model.threshold(a, heard=True) == pytest.approx(v) for a, v in heard.items())
    # An act tuned only on clean text keeps its clean bar on heard lines.
    for a in set(calibration["thresholds"]) - set(heard):
        assert model.threshold(a, heard=True) == pytest.approx(model.threshold(a))


def test_a_line_heard_by_speech_recognition_is_read_against_the_heard_bar():
    model = raw_model()
    line = "Euh bonjour, vous êtes bien au service clients, je vous écoute."
    p = float(model.probabilities(line)[model.acts.index("greeting")])
    assert 0.0 < p < 1.0
    bars = model.with_thresholds({"greeting": (p + 1.0) / 2}, heard={"greeting": p / 2})
    assert "greeting" not in acts.line_acts(line, "agent", bars).acts
    assert "greeting" in acts.line_acts(line, "agent", bars, heard=True).acts
    # Without heard bars, a heard line is read against the clean ones.
    assert "greeting" not in acts.line_acts(line, "agent", bars.with_thresholds({}), heard=True).acts


@pytest.mark.parametrize(("asr", "weight"), [
    (None, 0.0), (0.99, 0.0), (acts.HEARD_CLEARLY, 0.0), (0.75, 0.5), (acts.HEARD_BADLY, 1.0), (0.2, 1.0)])
def test_the_heard_bars_apply_in_proportion_to_how_badly_the_line_was_heard(asr, weight):
    assert acts.heard_weight(asr) == pytest.approx(weight)
    bars = raw_model().with_thresholds({"greeting": 0.8}, heard={"greeting": 0.4})
    assert bars.threshold("greeting", heard=acts.heard_weight(asr)) == pytest.approx(0.8 - 0.4 * weight)


def test_a_segment_s_words_give_its_heard_weight():
    assert acts.words_heard_weight(None) == acts.words_heard_weight([]) == 0.0
    assert acts.words_heard_weight([{"probability": 0.95}, {"probability": 0.97}]) == 0.0
    assert acts.words_heard_weight([{"probability": 0.3}, {"probability": 0.6}]) == 1.0


def test_an_act_said_in_one_sentence_of_a_long_turn_is_not_diluted_by_the_others():
    model = raw_model().with_head(None)  # piece_probabilities is the n-gram reader's
    i = model.acts.index("irritant_churn")
    alone = "Si ça continue comme ça, je pars chez un concurrent dès la fin du mois."
    turn = ("Alors je vous appelle depuis le bureau de ma fille, elle m'a prêté son poste. J'ai le courrier "
            "sous les yeux avec toutes les références et les dates. " + alone)
    assert model.probabilities(turn)[i] >= model.piece_probabilities(alone)[i] - 1e-6
    assert model.probabilities(turn)[i] >= model.piece_probabilities(turn)[i]


def test_pieces_too_short_to_read_alone_do_not_count():
    model = raw_model().with_head(None)
    for line in ("Ah. Bon.", "Ah. Bon. Je vérifie tout de suite votre dossier."):  # at most one piece to read
        assert model.probabilities(line).tolist() == model.piece_probabilities(line).tolist()


def test_a_line_is_cut_into_what_was_said_one_after_the_other():
    assert acts.stretches("Bonjour. Je voudrais fermer mon livret. Et aussi, une question sur les frais.") == [
        "Je voudrais fermer mon livret.", "Et aussi, une question sur les frais."]  # « Bonjour. » is too short
    assert acts.stretches("Je voudrais fermer mon livret, s'il vous plaît.") == [
        "Je voudrais fermer mon livret, s'il vous plaît."]
    assert acts.stretches("oui bonjour je voudrais fermer mon livret") == ["oui bonjour je voudrais fermer mon livret"]


def test_a_long_unpunctuated_turn_is_read_in_overlapping_windows():
    words = [f"mot{i}" for i in range(23)]
    windows = acts.stretches(" ".join(words))
    assert all(len(w.split()) == acts.WINDOW_WORDS for w in windows)
    starts = [words.index(w.split()[0]) for w in windows]
    assert starts[0] == 0 and windows[-1].split()[-1] == words[-1]  # every word is read, in order
    assert all(0 < b - a <= acts.WINDOW_STEP for a, b in pairwise(starts))
    # A line already cut into sentences is never windowed, however long its sentences.
    assert acts.stretches(" ".join(words) + ".") == [" ".join(words) + "."]


@pytest.fixture
def no_sentence_ends_found(monkeypatch):
    """Unpunctuated turns read as when no sentence end can be put back into them (``ccr.scoring.boundaries``)."""
    monkeypatch.setattr(boundaries, "default_model", lambda: None)


def test_a_complaint_in_a_long_unpunctuated_turn_is_read_window_by_window_at_half_weight(no_sentence_ends_found):
    model = acts.default_model()
    turn = ("oui bonjour alors je vous appelle pour le portail de la maison de ma sœur à côté de la gare et "
            "franchement ça commence à bien faire trois techniciens sont venus et il ne s'ouvre toujours pas")
    whole = model.probabilities(turn)
    best = np.max([model.probabilities(w) for w in acts.stretches(turn)], axis=0)
    read = acts.line_acts(turn, "customer").probs
    for i, act in enumerate(model.acts):
        expected = max(whole[i], (whole[i] + best[i]) / 2) if act in acts.IRRITANT_ACTS else whole[i]
        assert read[act] == pytest.approx(float(expected), abs=1e-6)
    assert any(read[a] > float(whole[model.acts.index(a)]) + 0.02 for a in acts.IRRITANT_ACTS)
    # The agent's lines, and lines with sentence marks (already read sentence by sentence), are read whole.
    assert acts.line_acts(turn, "agent").probs == {a: float(whole[i]) for i, a in enumerate(model.acts)}
    punctuated = turn.replace(" et franchement", ". Et franchement")
    assert acts.line_acts(punctuated, "customer").probs == {
        a: float(v) for a, v in zip(model.acts, model.probabilities(punctuated), strict=True)}


def test_preparing_a_call_embeds_its_lines_once_and_reads_them_the_same():
    model = acts.default_model()
    # Unusual wordings, so the shared encoder's cache cannot already hold them from another test.
    lines = ["Bonsoir, ici Capucine du service Hélioflux, je vous écoute.",
             "Mon compteur Hélioflux clignote en orange depuis mardi. Je n'ose plus y toucher.",
             "Je regarde ça tout de suite. Vous avez votre numéro de client Hélioflux ?"]
    pieces = {p for line in lines for p in acts.reading_pieces(line)}
    assert len(pieces) > len(lines)  # the two-sentence lines are also read sentence by sentence
    encoder = default_encoder()
    before = encoder.encoded
    model.prepare(lines)
    assert encoder.encoded - before == len(pieces)
    after = encoder.encoded
    # A batch embeds exactly as one line at a time does (tests/scoring/test_encoder.py): reading is unchanged.
    read = [model.probabilities(line) for line in lines]
    assert encoder.encoded == after  # every piece came from the batch
    assert all(p.shape == (len(model.acts),) for p in read)


def test_preparing_without_embedding_reader_does_nothing(monkeypatch):
    model = acts.default_model().with_head(None)
    monkeypatch.setattr(acts, "default_encoder", lambda: pytest.fail("the encoder must not be loaded"))
    model.prepare(["Bonjour, je vous écoute."])


@pytest.mark.parametrize(("name", "auc", "zeroed", "caught", "reviewed"), [
    # The sixth bank pass, written by helpers who had read the bank: AUC 0.917 when written (0.913 now), at the
    # bar for a zero 12 % of the impolite lines and 1 polite line in 319, at the review bar 58 % and 4.4 %.
    ("heldout-politeness.jsonl", 0.90, 0.005, 0.10, (0.54, 0.06)),
    # Written later by a helper who read nothing of the project (no bank, no call, no README), in sectors the bank
    # never has: AUC 0.853, 13.5 % and 1 in 279 at the bar for a zero, 57 % and 11.5 % at the review bar.
    ("heldout-politeness-2.jsonl", 0.83, 0.008, 0.11, (0.53, 0.14)),
])
def test_implicit_rudeness_never_trained_on_is_ranked_above_polite_lookalikes(name, auc, zeroed, caught, reviewed):
    # Impoliteness polite on the surface against polite lines sharing its words, never trained on. Floors are
    # the shipped model's figures minus a small margin: a retrained model that loses them fails here.
    rows = acts.read_bank(FIXTURES / "acts" / name)
    assert not in_bank(e.text for e in rows)  # never trained on
    model = acts.default_model()
    model.prepare([e.text for e in rows])
    rude = [i for i, a in enumerate(acts.ACTS) if a in acts.RUDE_ACTS]
    score = np.array([model.probabilities(e.text)[rude].max() for e in rows])
    is_rude = np.array([bool(e.acts & set(acts.RUDE_ACTS)) for e in rows])
    pos, neg = score[is_rude], score[~is_rude]
    assert len(pos) >= 240 and len(neg) >= 270
    assert ranking_auc(pos, neg) >= auc
    bar = min(default_grid().criterion("politesse").params["min_probability"].values())  # the bar for a zero
    assert (neg >= bar).mean() <= zeroed and (pos >= bar).mean() >= caught
    review = bar - actrules.RUDE_REVIEW_BAND  # from here a line is sent to a human (0.5)
    assert (pos >= review).mean() >= reviewed[0] and (neg >= review).mean() <= reviewed[1]


def test_greetings_that_introduce_no_one_are_told_from_introductions():
    # Agent openings written as a bank pass, measured on whole calls and not kept (acts README), so never trained
    # on: greetings with talk about the line, a transfer or an invitation to speak and no name, against the same
    # situations with a name, a company or a service. Floors are the shipped model's figures minus a margin.
    rows = acts.read_bank(FIXTURES / "acts" / "heldout-greetings.jsonl")
    assert not in_bank(e.text for e in rows)  # never trained on
    model = acts.default_model()
    model.prepare([e.text for e in rows])
    i = model.acts.index("self_intro")
    score = np.array([model.probabilities(e.text)[i] for e in rows])
    intro = np.array(["self_intro" in e.acts for e in rows])
    bare = np.array(["greeting" in e.acts and "self_intro" not in e.acts for e in rows])
    assert intro.sum() >= 25 and bare.sum() >= 55
    pos, neg = score[intro], score[bare]
    assert ranking_auc(pos, neg) >= 0.89  # measured 0.916
    typed, heard = model.threshold("self_intro"), model.threshold("self_intro", heard=1.0)
    assert (pos >= typed).mean() >= 0.62 and (neg >= typed).mean() <= 0.18  # measured 19/28 and 9/61
    # Recognised speech is read with a lower bar, where a bare greeting still passes for an introduction
    # (measured 28/28 and 40/61): the known weakness this set was written for.
    assert (pos >= heard).mean() >= 0.95 and (neg >= heard).mean() <= 0.70


@pytest.mark.parametrize(("name", "auc", "typed_floor", "heard_floor", "sizes"), [
    # Written by a helper who read nothing of the project: AUC 0.914; found 42.1 % at the typed bar (1.8 % of the
    # lookalikes), 68.4 % at the heard bar (9.7 %).
    ("heldout-reformulation.jsonl", 0.89, (0.38, 0.04), (0.64, 0.13), (150, 160)),
    # The eleventh bank pass, written by another helper who had read the bank, measured trained in and not kept
    # (acts README): AUC 0.910; 40.0 % (4.7 %) and 74.4 % (11.3 %).
    ("pass-reformulation.jsonl", 0.88, (0.36, 0.07), (0.70, 0.15), (150, 160)),
    # Framing phrases the bank never had (« sous réserve de bien vous avoir suivie », « en substance »), against
    # the agent's own checks, notes and summaries: the twelfth pass and its held-out set, by a helper who read
    # nothing of the project, measured trained in and not kept (acts README). Pass: AUC 0.984; 86.7 % (2.5 %)
    # and 97.1 % (19.1 %). Held out: AUC 0.942; 72.0 % (6.3 %) and 91.0 % (19.0 %).
    ("pass-reformulation-framed.jsonl", 0.96, (0.83, 0.05), (0.94, 0.22), (230, 150)),
    ("heldout-reformulation-framed.jsonl", 0.92, (0.68, 0.09), (0.87, 0.23), (95, 75)),
])
def test_reformulations_without_a_framing_phrase_against_readbacks_and_solution_checks(name, auc, typed_floor,
                                                                                       heard_floor, sizes):
    # Agent lines putting the customer's problem back to them, most with no « si je comprends bien » or « donc »
    # (the content and a check tag, a plain question), against agent lines of the same shape that read back an
    # identifier, check the agent's own solution, explore, close or agree; customer lines are left out, acts
    # count only for their speaker. The known weakness these sets were written for: fewer than half are found
    # on typed text. Floors are the shipped model's figures minus a margin, so a retrained model cannot lose more.
    model, pos, neg = agent_readings(name, "reformulation")
    assert len(pos) >= sizes[0] and len(neg) >= sizes[1]
    assert ranking_auc(pos, neg) >= auc
    for heard, (found, lookalikes) in ((0.0, typed_floor), (1.0, heard_floor)):
        bar = model.threshold("reformulation", heard=heard)
        assert (pos >= bar).mean() >= found and (neg >= bar).mean() <= lookalikes, (heard, bar)


# Per-act F1 with the trained thresholds (0.5), measured minus a margin. Before the seventh pass the model read
# 0.84, 0.58, 0.78 and 0.86 here; after it 0.92, 0.72, 0.82 and 0.84.
IDENT_IRRITANT_FLOORS = {"ident_request": 0.87, "irritant_discontent": 0.66, "irritant_repeat": 0.76,
                         "irritant_wait": 0.78}


def test_identification_requests_and_irritants_in_another_style_are_recognised():
    # Written alongside the seventh bank pass by a writer who saw neither that pass, the bank nor any call: indirect
    # identification requests against an agent dictating a reference, understated irritants against
    # disappointed-sounding questions and calm explanations, in other sectors than the bank's.
    rows = acts.read_bank(FIXTURES / "acts" / "heldout-ident-irritants.jsonl")
    assert len(rows) >= 200
    scores = acts.evaluate(raw_model(), rows)
    got = {a: round(scores[a]["f1"], 2) for a in IDENT_IRRITANT_FLOORS}
    assert all(got[a] >= floor for a, floor in IDENT_IRRITANT_FLOORS.items()), got


@pytest.mark.parametrize(("name", "least", "floors"), [
    # The thirteenth bank pass, written by three helpers who read the bank but no call, measured trained in and
    # not kept (acts README). Shipped model: AUC 0.898, 0.828, 0.885, 0.930, 0.977, 0.915 and 0.892.
    ("pass-wordings.jsonl", 15, {"hold_thanks": 0.87, "empathy": 0.80, "irritant_wait": 0.86, "irritant_repeat": 0.90,
                                 "irritant_billing_error": 0.95, "irritant_churn": 0.89, "irritant_discontent": 0.87}),
    # Its held-out set, by the same helpers in another style: 0.864, 0.775, 0.878, 0.888, 0.983, 0.917 and 0.859.
    ("heldout-wordings.jsonl", 15, {"hold_thanks": 0.84, "empathy": 0.75, "irritant_wait": 0.85, "irritant_repeat": 0.86,
                                    "irritant_billing_error": 0.96, "irritant_churn": 0.89, "irritant_discontent": 0.83}),
    # The fifteenth pass's held-out set (acts README), by a helper who read neither the pass nor any call: thanks
    # for waiting said formally or with no word of thanks, solutions told as a procedure, irritants told by a
    # broken promise, a flat delay, a competitor's offer or an idiom, half of it near-misses. Shipped model:
    # 0.946, 0.880, 0.906, 0.958, 0.947 and 0.972; at the typed bars it finds 27 to 42 % of these irritants. Its
    # churn and discontent complaints are 11 and 12, the other acts 16 to 58.
    ("heldout-indirect.jsonl", 10, {"hold_thanks": 0.92, "solution": 0.85, "irritant_wait": 0.88,
                                    "irritant_repeat": 0.93, "irritant_churn": 0.92, "irritant_discontent": 0.94}),
])
def test_acts_said_in_wordings_the_bank_rarely_uses_are_ranked_above_lookalikes(name, least, floors):
    # Thanks for waiting without « patience » or « patienté », sympathy without « je comprends » or « désolé »,
    # irritants in idioms, dates, irony and veiled threats, against lines sharing their words that perform none
    # (a planned call back, a calm question about a bill, thanks for something else). Ranking AUC of each act
    # against the other lines of its speaker; floors are the shipped model's figures minus a margin. The known
    # weakness these sets were written for: at the typed bars, 8 to 30 % of these irritants are found.
    rows = acts.read_bank(FIXTURES / "acts" / name)
    assert len(rows) >= 230 and not in_bank(e.text for e in rows)  # never trained on
    model = acts.default_model()
    model.prepare([e.text for e in rows])
    probs = np.array([model.probabilities(e.text) for e in rows])  # each line read once, for every act
    speakers = np.array([e.speaker for e in rows])
    got = {}
    for act in floors:
        mine = speakers == acts.SPEAKER_OF[act]
        score = probs[mine, model.acts.index(act)]
        has = np.array([act in e.acts for e in rows])[mine]
        assert has.sum() >= least and (~has).sum() >= 50
        got[act] = round(ranking_auc(score[has], score[~has]), 3)
    assert all(got[a] >= floor for a, floor in floors.items()), got


@pytest.mark.parametrize(("name", "auc", "found", "lookalikes"), [
    # Written by a helper who read the bank but no call: news on resuming a hold that commits to nothing (still
    # in progress, another service is aware, it should sort itself out) beside the same shapes that do commit.
    # Shipped model: AUC 0.976, 94 % found at the typed bar, 14 % of the lookalikes over it.
    ("pass-solutions.jsonl", 0.95, 0.88, 0.20),
    # Written apart by another helper who read neither the bank nor that pass: 0.970, 94 % and 12 %.
    ("heldout-solutions.jsonl", 0.95, 0.88, 0.18),
])
def test_a_solution_is_told_from_news_that_commits_to_nothing(name, auc, found, lookalikes):
    # A solution commits to a date, an amount or a concrete step; « le dossier suit son cours » does not, even
    # when it names the refund or the technician. Never trained on; floors under the shipped model's figures.
    model, pos, neg = agent_readings(name, "solution")
    assert len(pos) + len(neg) >= 150 and len(pos) >= 80 and len(neg) >= 80
    bar = model.threshold("solution")
    got = (ranking_auc(pos, neg), (pos >= bar).mean(), (neg >= bar).mean())
    assert got[0] >= auc and got[1] >= found and got[2] <= lookalikes, got


def test_a_customer_classifier_reads_letters_and_meaning_and_generalises_to_new_wordings():
    parcels = ["Mon colis n'est jamais arrivé.", "Le livreur est passé sans sonner.", "Le paquet a été déposé chez "
               "le voisin.", "J'attends ma commande depuis deux semaines.", "Le carton est arrivé tout abîmé."]
    bills = ["On m'a prélevé deux fois ce mois-ci.", "Le montant de ma facture a doublé.", "Je ne comprends pas ces "
             "frais sur mon relevé.", "Vous m'avez facturé une option que je n'ai pas.", "Le remboursement promis "
             "n'est pas sur mon compte."]
    labels = ("livraison", "facturation")
    examples = [acts.Example(t, "customer", frozenset({lab})) for lab, lines in zip(labels, (parcels, bills),
                                                                                     strict=True) for t in lines]
    model = acts.train_line_classifier(examples, labels, bank_hash="test")
    assert model.head is not None and model.acts == labels and model.bank_sha256 == "test"
    for text, want in [("La marchandise commandée lundi reste introuvable.", "livraison"),
                       ("Votre prélèvement est beaucoup plus élevé que prévu.", "facturation")]:
        p = model.probabilities(text)
        assert labels[int(np.argmax(p))] == want, (text, p)
