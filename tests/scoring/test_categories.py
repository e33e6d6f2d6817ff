"""The call-category classifier: trained on our reasons bank, measured on reasons written in another style."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.scoring import categories
from ccr.scoring.acts import ActModelError
from scripts.train_categories import accuracy, read_openers_heldout, topicless_share

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "categories"
HELDOUT = FIXTURES / "heldout.jsonl"


def test_the_shipped_model_was_trained_on_the_current_bank():
    model = categories.default_model()
    assert model is not None
    assert model.bank_sha256 == categories.training_hash(), "retrain: python -m scripts.train_categories"
    assert model.acts == categories.CATEGORIES
    assert model.head is not None, "the embedding reader is part of the shipped classifier"


def test_held_out_reasons_are_classified_well():
    overall, per = accuracy(categories.default_model(), categories.read_bank(HELDOUT))
    assert overall >= 0.91, per  # measured 0.945 (0.936 before the third pass, 0.900 with n-grams alone)
    assert min(per.values()) >= 0.85, per


def test_reasons_from_the_newer_sectors_by_another_writer_are_classified():
    # After-sales, garages, public services, clinics, schools, streaming...: the bank's third pass; these lines
    # are by a writer who read only the category definitions, never the bank.
    examples = categories.read_bank(FIXTURES / "sectors-other-writer.jsonl")
    assert len(examples) >= 250
    overall, per = accuracy(categories.default_model(), examples)
    assert overall >= 0.91, per  # measured 0.944 (0.900 before the third pass)
    assert min(per.values()) >= 0.85, per  # support_technique 0.90


def test_held_out_openers_name_no_topic_and_named_ones_keep_theirs():
    # Written apart from the training openers, in other voices (elderly callers, callers for someone else...).
    vague, named = read_openers_heldout()
    model = categories.default_model()
    assert len(vague) >= 80 and len(named) >= 80
    assert topicless_share(model, vague) >= 0.95  # measured 0.978 (1.000 before the third pass, 0.922 without openers)
    assert accuracy(model, named)[0] >= 0.92  # measured 0.978 (0.956 before the third pass)


def test_an_opener_does_not_become_the_main_reason():
    # Before openers were taught as naming no topic, « j'ai une question » was sure of « information » (0.72)
    # and, as the first line, outweighed the charge that followed.
    lines = [(0, "Oui bonjour, alors voilà, j'ai une question.", 0.9),
             (1, "On m'a prélevé deux fois l'abonnement le mois dernier.", 0.6)]
    verdict = categories.decide(lines, categories.CATEGORIES, "information")
    assert (verdict.category, verdict.line) == ("facturation", 1)


def test_an_opener_without_text_is_refused(tmp_path):
    bad = tmp_path / "openers.jsonl"
    bad.write_text('{"text": "Bonjour, j\'ai un souci."}\n{"register": "formal"}\n', encoding="utf-8")
    with pytest.raises(ActModelError, match="ligne 2"):
        categories.read_openers(bad)


@pytest.mark.parametrize(("text", "expected"), [
    ("Bonjour, le voyant de ma pompe à chaleur clignote en rouge et elle ne chauffe plus.", "support_technique"),
    ("Je voudrais mettre un terme à mon forfait mobile à la fin du mois.", "resiliation"),
    ("On m'a débité deux fois la même mensualité ce mois-ci.", "facturation"),
    ("Mon colis devait arriver lundi et le suivi n'a pas bougé depuis.", "livraison"),
    ("Vous êtes ouverts le samedi matin dans votre agence de Lyon ?", "information"),
])
def test_lines_of_our_own_get_their_category(text, expected):
    scores = categories.line_scores(text, categories.default_model())
    assert max(scores, key=scores.get) == expected, scores


def test_the_main_reason_outweighs_a_side_topic():
    lines = [(0, "Bonjour, je voudrais résilier mon abonnement internet, je pars à l'étranger.", 0.9),
             (1, "Et au passage, ma dernière facture était un peu élevée.", 0.6)]
    verdict = categories.decide(lines, categories.CATEGORIES, "information")
    assert (verdict.category, verdict.line) == ("resiliation", 0)


@pytest.mark.parametrize(("text", "expected"), [
    # Punctuated: the request, then a side remark about a bill in the same turn.
    ("Bonjour. Je voudrais clôturer mon compte joint, maintenant que nous sommes séparés. Et j'ai vu qu'on "
     "m'avait prélevé des frais de tenue de compte deux fois ce trimestre.", "resiliation"),
    ("Bonjour. Je pars m'installer à Montréal en juin, je voudrais mettre fin à mon forfait avant le départ. Au "
     "fait, ma dernière facture comptait deux fois l'option internationale.", "resiliation"),
    ("Bonjour monsieur. Mon lave-vaisselle affiche une erreur E15 depuis hier, il ne vidange plus du tout. Le "
     "livreur l'a pourtant installé il y a une semaine à peine.", "support_technique"),
    # The same kind of turns as a transcriber who does not punctuate writes them.
    ("bonjour monsieur mon lave-vaisselle affiche une erreur e quinze depuis hier et il ne vidange plus du tout "
     "alors que le livreur l'a installé il y a une semaine à peine", "support_technique"),
    ("oui bonjour alors je souhaite arrêter mon contrat d'électricité parce que je vends l'appartement et puis au "
     "passage la dernière mensualité a encore augmenté de quinze euros sans qu'on me prévienne", "resiliation"),
    ("bonsoir je vous appelle parce que je voudrais savoir si votre offre famille inclut les appels vers le "
     "portugal vu que toute ma famille est là-bas et que ma facture actuelle est trop élevée avec les options",
     "information"),
])
def test_a_request_comes_before_the_side_remark_said_after_it_in_the_same_turn(text, expected):
    # Read as a whole, a turn naming two topics leaned to whichever was named more surely; the first one said wins.
    verdict = categories.decide([(0, text, 0.9), (1, "D'accord, merci.", 0.05)], categories.CATEGORIES,
                                "information")
    assert verdict.category == expected


def test_lines_that_state_no_reason_do_not_vote_and_unknown_categories_fall_back():
    lines = [(0, "Oui, oui.", 0.05), (1, "D'accord, merci.", 0.02)]
    assert categories.decide(lines, categories.CATEGORIES, "information").category == "information"
    assert categories.decide(lines, ("garantie", "sav"), "sav") is None  # an organisation's own categories: cues


@pytest.mark.parametrize(("text", "expected"), [
    ("Bonjour, j'aurais juste une question rapide : est-ce que l'abonnement baisse si je n'utilise presque plus "
     "la ligne fixe ?", "information"),
    ("Alors voilà, c'est une simple question : vous avez un tarif pour les associations sportives ?", "information"),
    ("Oui bonjour, il y a une démarche à faire de mon côté : j'ai vendu la maison, il faut clore le contrat de gaz "
     "au 30.", "resiliation"),
    ("Bonjour, j'aurais besoin d'un coup de main : j'ai envoyé ma lettre pour arrêter l'assurance auto et je n'ai "
     "toujours pas le certificat de fin de contrat.", "resiliation"),
    ("Bonjour, j'ai un petit souci, c'est mon fils qui a tout installé : le détecteur de fumée connecté sonne toutes "
     "les nuits sans raison.", "support_technique"),
])
def test_the_request_decides_not_the_opener(text, expected):
    # « une question », « un souci », « une démarche » name no topic; what follows them does.
    scores = categories.line_scores(text, categories.default_model())
    assert max(scores, key=scores.get) == expected, scores


@pytest.mark.parametrize("text", [
    "Ah oui, voilà, c'est tout à fait ce que je disais.",
    "Je suis au volant, je vous mets sur haut-parleur.",
    "Attendez, je cherche mes lunettes.",
    "Mais ça fait une heure que j'attends au téléphone !",
    "Oui c'est bien moi, Gérard Lemoine.",
])
def test_a_line_that_names_no_topic_is_sure_of_no_category(text):
    # Without counter-examples every line, a garbled one included, was sure of some topic and voted for it.
    scores = categories.line_scores(text, categories.default_model())
    assert max(scores.values()) < 0.3, scores


def test_a_confirmation_taken_for_a_reason_does_not_outvote_the_reason():
    lines = [(0, "Bonjour, mon relais wifi ne capte plus rien depuis la mise à jour d'hier soir.", 0.7),
             (1, "Oui, oui, c'est exactement ça, vous avez tout compris.", 0.5)]
    assert categories.decide(lines, categories.CATEGORIES, "information").category == "support_technique"


def test_a_negated_cue_does_not_vote_for_its_category():
    text = "Je ne veux surtout pas résilier, je voudrais juste savoir comment fonctionne la période d'engagement."
    scores = categories.line_scores(text, categories.default_model())
    assert max(scores, key=scores.get) == "information", scores


@pytest.mark.xfail(strict=True, reason="known limit: moving house still reads as leaving, whatever follows")
def test_moving_house_while_keeping_the_contract_is_not_a_cancellation():
    scores = categories.line_scores("Je déménage et je veux garder mon contrat chez vous.", categories.default_model())
    assert max(scores, key=scores.get) != "resiliation", scores
