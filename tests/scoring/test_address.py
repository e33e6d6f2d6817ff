"""Speaking to the customer as « tu », read on the words of an agent's line."""

from __future__ import annotations

import pytest

from ccr.scoring.address import addresses_as_tu


@pytest.mark.parametrize("text", [
    "Tu me rappelles demain, d'accord ?",
    "Je te transfère au service des litiges.",
    "C'est noté pour toi, pas de souci.",
    "T'as bien reçu le code par SMS ?",
    "Bouge pas, je t'ouvre un dossier.",
    "As-tu encore le ticket de caisse ?",
    "Veux-tu que je regarde le relevé ?",
    "Calme-toi, on va trouver.",
    "Ta commande part ce soir, et tes points sont crédités.",
    "TU PEUX ME DONNER LE NUMÉRO ?",
])
def test_the_familiar_pronouns_are_read(text):
    assert addresses_as_tu(text)


@pytest.mark.parametrize("text", [
    "Vous me rappelez demain, d'accord ?",
    # Québec's question particle, said to a « vous » as well.
    "C'est-tu correct pour le rendez-vous de jeudi ?",
    "Y a-tu autre chose que je peux faire ?",
    # A slip taken back, and another person's words.
    "Tu... pardon, vous avez le numéro sous les yeux ?",
    "Votre fils vous a dit tu verras, ça va s'arranger, et il avait raison.",
    "Le technicien a noté « tu me rappelles » sur le bon, je le corrige.",
    # Lookalike words and the noun « ton ».
    "Votre statut est à jour et le toit sera réparé mardi.",
    "Sur ce ton, je préfère qu'on reprenne calmement.",
    "Testez la box, puis redémarrez-la.",
    "A-t-il bien reçu l'attestation ?",
    "Dites-moi ce que l'écran affiche.",
])
def test_lookalikes_and_the_customer_as_vous_are_not(text):
    assert not addresses_as_tu(text)
