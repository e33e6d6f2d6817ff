"""Whether an agent's line addresses the customer as « tu »: over-familiar in French customer service, where the
customer is « vous » unless the organisation has chosen otherwise (the politeness criterion's
``familiar_address: false``).

A grammatical fact, read on the words: the pronouns « tu », « toi », « te » and « t' » before a vowel, and the
possessives « ta » and « tes ». « Ton » is left out, as it is also a noun (« sur ce ton », « un ton plus clair »).
Words between quotation marks are someone else's (« il m'a dit "tu verras" ») and do not count. The politeness
criterion reads it only on the agent's typed or clearly heard lines, and only to second the act model: speech
recognition writes a stray « tu » too often (« passion t'es » for « patientez »).
"""

from __future__ import annotations

import re

# Quoted words are someone else's: French guillemets, straight and curly double quotes.
_QUOTED = re.compile(r"«[^»]*»|\"[^\"]*\"|“[^”]*”")
_FAMILIAR = re.compile(
    r"(?<![\w'’-])(?:tu|toi|te|ta|tes)(?![\w'’])"  # whole words (« toi-même »), not « tutu » or « toit »
    # « -tu » after a verb of the second person singular (« as-tu », « veux-tu »): after any other form it is
    # Québec's question particle, said to a « vous » as well (« c'est-tu correct ? », « vous faut-tu autre chose ? »)
    r"|(?<=[sx])-tu(?![\w'’])"
    r"|(?<=\w)-(?:toi|te)(?![\w'’])"  # an imperative: « rassure-toi », « dépêche-toi »
    r"|(?<![\w'’])t['’](?=[aeiouyhéèêàâîôû])",  # elided before a vowel: « t'as », « t'inquiète », « va-t'en »
    re.IGNORECASE)
_VOUS = re.compile(r"(?<![\w'’])vous(?![\w'’])", re.IGNORECASE)


def addresses_as_tu(text: str) -> bool:
    """Whether ``text`` speaks to the customer as « tu » (« tu me rappelles demain »): outside quoted words, and
    not in a line that also says « vous », where the « tu » is a slip taken back (« tu... vous voyez le bouton ? »)
    or another person's words (« votre voisin vous a dit tu vas voir »)."""
    own = _QUOTED.sub(" ", text)
    return _FAMILIAR.search(own) is not None and _VOUS.search(own) is None
