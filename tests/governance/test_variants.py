"""The variants of the counterfactual test, on sentences written for these tests: gender agreement, names,
regional forms."""

from __future__ import annotations

import copy

import pytest

from ccr.governance import variants
from tests.governance.transcripts import call, texts

# --- (a) gender agreement ---------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "target", "expected"), [
    ("Je suis vraiment navré de ce contretemps.", "f", "Je suis vraiment navrée de ce contretemps."),
    ("Pardon, je suis désolée, je reviens vers vous.", "m", "Pardon, je suis désolé, je reviens vers vous."),
    ("Je serai ravi de vous rappeler demain.", "f", "Je serai ravie de vous rappeler demain."),
    ("Je ne suis pas certaine du montant exact.", "m", "Je ne suis pas certain du montant exact."),
    ("J'en suis sûr, le colis est déjà parti.", "f", "J'en suis sûre, le colis est déjà parti."),
    ("Je suis prêt et content de vous aider.", "f", "Je suis prête et contente de vous aider."),
    ("Je suis chargée de votre dossier depuis lundi.", "m", "Je suis chargé de votre dossier depuis lundi."),
    ("Je suis occupé sur une autre ligne, une seconde.", "f", "Je suis occupée sur une autre ligne, une seconde."),
    ("Je me suis trompée de date, je me suis permis de corriger.", "m",
     "Je me suis trompé de date, je me suis permis de corriger."),
    ("Navré pour ce délai, je suis là pour ça.", "f", "Navrée pour ce délai, je suis là pour ça."),
    ("Je suis le conseiller qui suit votre demande.", "f", "Je suis la conseillère qui suit votre demande."),
    ("JE SUIS DÉSOLÉ.", "f", "JE SUIS DÉSOLÉE."),
    # Nothing of the agent's gender here: complements, a name, words the same for both genders.
    ("Je suis sur votre dossier, je suis Nadia, je suis honnête avec vous.", "f",
     "Je suis sur votre dossier, je suis Nadia, je suis honnête avec vous."),
    ("Je suis tout à fait d'accord, je suis disponible jeudi.", "f",
     "Je suis tout à fait d'accord, je suis disponible jeudi."),
    ("Je suis ravie, vraiment.", "f", "Je suis ravie, vraiment."),
])
def test_gender_variant_puts_the_agents_own_agreement_in_the_target_gender(line, target, expected):
    tr = call(("agent", line))
    assert texts(variants.gender_variant(tr, target)) == [expected]


def test_gender_variant_leaves_the_customer_and_its_input_alone():
    tr = call(("agent", "Je suis désolé pour l'attente."), ("customer", "Je suis déçu, vraiment déçu."))
    before = copy.deepcopy(tr)
    out = variants.gender_variant(tr, "f")
    assert texts(out) == ["Je suis désolée pour l'attente.", "Je suis déçu, vraiment déçu."]
    assert tr == before


# --- (b) names ----------------------------------------------------------------------------------------

AISHA, MOHAMED = variants.NAME_POOL[4], variants.NAME_POOL[1]


def test_names_are_found_in_introductions_and_after_civilities_with_their_owner():
    tr = call(("agent", "Bonjour, service client Vitalis, ici Paul Girard, à votre écoute."),
              ("customer", "Oui bonjour, je m'appelle Irène Moreau."),
              ("agent", "Merci madame Moreau, Paul va vérifier cela."))
    found = {" ".join(f.tokens): f.role for f in variants.find_names(tr)}
    assert found == {"Paul Girard": "agent", "Irène Moreau": "customer"}


def test_name_variant_swaps_every_occurrence_and_the_civility_that_goes_with_it():
    tr = call(("agent", "Bonjour, service client Vitalis, ici Paul Girard, à votre écoute."),
              ("customer", "Oui bonjour, je m'appelle Irène Moreau."),
              ("agent", "Merci madame Moreau, Paul va vérifier cela. Bonne soirée madame."))
    out = variants.name_variant(tr, AISHA, MOHAMED)
    assert texts(out) == ["Bonjour, service client Vitalis, ici Aïcha Diallo, à votre écoute.",
                          "Oui bonjour, je m'appelle Mohamed Benali.",
                          "Merci monsieur Benali, Aïcha va vérifier cela. Bonne soirée monsieur."]


def test_a_company_before_the_greeting_is_not_taken_for_the_agent():
    tr = call(("agent", "Bonjour, service client Vitalis, Samir à votre écoute."))
    assert [f.tokens for f in variants.find_names(tr)] == [("Samir",)]
    assert texts(variants.name_variant(tr, AISHA, MOHAMED)) == ["Bonjour, service client Vitalis, Aïcha à votre écoute."]


def test_name_swaps_never_reuse_a_name_of_the_call_and_turn_through_the_pool():
    tr = call(("agent", "Bonjour, je m'appelle Marie, que puis-je pour vous ?"))
    seen = set()
    for index in range(len(variants.NAME_POOL)):
        for agent, customer in variants.name_swaps(tr, index=index):
            assert "Marie" not in (agent.first, customer.first) and agent != customer
            seen.add(agent)
    assert len(seen) == len(variants.NAME_POOL) - 1
    assert {p.gender for p in seen} == {"f", "m"} and len({p.origin for p in seen}) >= 5


# --- (c) regional forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "direction", "expected"), [
    ("Cela fait soixante-quinze euros.", "regional", "Cela fait septante-cinq euros."),
    ("Le code est quatre-vingt-dix-huit.", "regional", "Le code est nonante-huit."),
    ("Il reste quatre-vingt-un jours et soixante et onze heures.", "regional",
     "Il reste huitante et un jours et septante et un heures."),
    ("Envoyez-moi un e-mail, à tout à l'heure.", "regional", "Envoyez-moi un courriel, à tantôt."),
    ("Je peux vous rappeler après le déjeuner sur votre portable ?", "regional",
     "Je peux vous rappeler après le dîner sur votre GSM ?"),
    ("Septante-deux euros, s'il vous plaît.", "standard", "Soixante-douze euros, s'il vous plaît."),
    ("Présentement le magasin est fermé, à tantôt.", "standard", "Actuellement le magasin est fermé, à tout à l'heure."),
    ("On se rappelle après le souper, pas au dîner.", "standard", "On se rappelle après le dîner, pas au déjeuner."),
    # Without « souper » the meals are those of France: nothing to bring back.
    ("Je vous rappelle après le déjeuner.", "standard", "Je vous rappelle après le déjeuner."),
])
def test_regional_variant_swaps_forms_of_the_same_meaning(line, direction, expected):
    assert texts(variants.regional_variant(call(("agent", line)), direction)) == [expected]
