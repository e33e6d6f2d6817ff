"""The agent's own name as a self-introduction: typed, misheard, and the lookalikes that are not it."""

import pytest

from ccr.core.errors import InvalidInput
from ccr.scoring.agent_name import EXACT_PROBABILITY, HEARD_PROBABILITY, first_name, says_name, substring_distance
from ccr.scoring.score import score_transcript


@pytest.mark.parametrize(("recorded", "name"), [
    ("Inès Moreau", "ines"),
    ("MOREAU Inès", "ines"),  # a surname in capitals comes first in some directories
    ("Jean-Baptiste Roux", "jeanbaptiste"),
    ("  Gaëlle  ", "gaelle"),
    ("Mme Gaëlle Robin", "gaelle"),  # a title is no name
    ("M. DUVAL Théo", "theo"),
    ("", ""),
    (None, ""),
])
def test_first_name_is_the_given_name_without_accents(recorded, name):
    assert first_name(recorded) == name


@pytest.mark.parametrize(("agent", "line", "expected"), [
    ("Théo Lambert", "Bonjour, Théo à votre écoute.", EXACT_PROBABILITY),
    ("Jean-Baptiste Roux", "Assurances du Littoral, jean baptiste, bonjour", EXACT_PROBABILITY),
    ("Jean-Baptiste Roux", "Bonjour, c'est Jean-Baptiste.", EXACT_PROBABILITY),
    ("Noé Carpentier", "euh oui bonjour noé j'écoute", EXACT_PROBABILITY),
    # What a recogniser makes of a name: a letter changed, dropped or added, words cut elsewhere.
    ("Valentin Morel", "bonjour la lentin service des eaux", HEARD_PROBABILITY),
    ("Mathilde Perrin", "mutuelle bonjour ma tilde pour vous", HEARD_PROBABILITY),
    ("Stéphanie Colin", "Stefanie du standard bonjour", HEARD_PROBABILITY),
    ("Laurence Giraud", "l'aurance à l'appareil", HEARD_PROBABILITY),
    # Lookalikes: a short name inside another word, a surname that is an ordinary word, no name at all.
    ("Marie Faure", "La mairie de Saint-Malo, bonjour.", 0.0),
    ("Léa Roche", "Votre ligne est liée à ce compte.", 0.0),
    ("Sarah Petit", "Bonjour, un petit instant je vous prie.", 0.0),
    ("Valentin Morel", "Bonjour, service client, je vous écoute.", 0.0),
    ("Christophe Aubry", "Bonjour, c'est pour une facture ?", 0.0),
    ("", "Bonjour, Théo à votre écoute.", 0.0),
])
def test_a_line_says_the_agents_first_name(agent, line, expected):
    assert says_name(first_name(agent), line) == expected


def test_substring_distance_is_the_edit_distance_to_the_closest_stretch():
    assert substring_distance("sebastien", "bonjourcestbastionalappareil") == 2
    assert substring_distance("nadia", "xxnadiaxx") == 0
    assert substring_distance("abc", "") == 3


def _call(opening: list[tuple[str, float, str]], agent: str | None) -> dict:
    segments = [{"speaker": who, "start": at, "end": at + 4.0, "text": text} for who, at, text in opening]
    segments += [
        {"speaker": "agent", "start": 40.0, "end": 44.0, "text": "Je regarde votre dossier tout de suite."},
        {"speaker": "customer", "start": 45.0, "end": 48.0, "text": "Merci."},
        {"speaker": "agent", "start": 50.0, "end": 54.0, "text": "Très bonne journée, au revoir."},
    ]
    tr = {"call_id": "n1", "duration_s": 60.0, "language": "fr", "segments": segments}
    return tr if agent is None else tr | {"agent_name": agent}


def _accueil(tr: dict) -> dict:
    return next(c for c in score_transcript(tr)["criteria"] if c["id"] == "accueil")


def test_the_agent_saying_their_name_in_the_opening_is_an_introduction():
    opening = [("agent", 0.5, "Bonjour, Gwenaëlle, oui ?"),
               ("customer", 5.0, "Bonjour, j'appelle pour ma facture d'eau.")]
    accueil = _accueil(_call(opening, "Gwenaëlle Le Bihan"))
    assert accueil["verdict"] == "pass"
    assert accueil["evidence"][0]["text"] == "Bonjour, Gwenaëlle, oui ?"


@pytest.mark.parametrize("opening", [
    # The customer greeting the agent by name does not introduce the agent.
    [("agent", 0.5, "Bonjour."), ("customer", 3.0, "Bonjour Gwenaëlle, c'est encore moi pour la facture.")],
    # Said after the opening window, the name comes too late.
    [("agent", 0.5, "Bonjour."), ("customer", 3.0, "Bonjour, c'est pour ma facture."),
     ("agent", 35.0, "Moi c'est Gwenaëlle, je m'occupe de votre dossier.")],
])
def test_the_name_counts_only_when_the_agent_says_it_in_the_opening(opening):
    assert _accueil(_call(opening, "Gwenaëlle Le Bihan"))["verdict"] == "fail"


def test_a_name_that_is_not_text_is_refused_in_french():
    with pytest.raises(InvalidInput, match="agent_name"):
        score_transcript(_call([("agent", 0.5, "Bonjour.")], None) | {"agent_name": ["Gwenaëlle"]})
