"""The agent's own first name in a line, as typed or as speech recognition heard it.

A call scored in the app knows its agent. An agent who says their own name in the opening has introduced
themselves, however the rest of the line reads to the act model: a service name it never met, or words the
recogniser mangled (« ma tilde pour vous » for « Mathilde pour vous », « la lentin » for « Valentin »).

Only the first name is looked for: surnames are often ordinary words (« Petit », « Blanc ») that an opening
line may hold for another reason. A long first name may be heard with a few letters wrong, missing or extra,
across word boundaries; a shorter one must stand as a whole word, as one slip in five letters or fewer makes
another word too often (« Marie » and « mairie », « Julie » and « jolie »).
"""

from __future__ import annotations

import re

from ccr.core.textnorm import strip_accents

MIN_APPROXIMATE_LETTERS = 6  # shorter names match exactly: one slip in five letters turns « Marie » into « mairie »
LETTERS_PER_SLIP = 4  # a longer name may be heard with one letter wrong, missing or extra per four of its letters
MAX_NAME_CHARS = 200
EXACT_PROBABILITY = 0.95  # the name as written: an introduction, like an organisation's own cue
HEARD_PROBABILITY = 0.85  # a name heard within a few letters: still well above the introduction bar
TITLES = frozenset({"m", "mme", "mlle", "mr", "mrs", "ms", "dr", "me", "monsieur", "madame", "mademoiselle"})
_WORD = re.compile(r"[a-z]+")


def first_name(agent_name: str | None) -> str:
    """The first name to look for in an agent's name as the organisation recorded it (« Inès Moreau » →
    « ines »), or "" when there is none: a word written all in capitals is a surname (« MOREAU Inès »), and a
    title is no name (« Mme Inès Moreau »)."""
    words = [w for w in re.split(r"[\s,;]+", (agent_name or "")[:MAX_NAME_CHARS].strip())
             if w and w.lower().rstrip(".") not in TITLES]
    given = [w for w in words if not (w.isupper() and len(w) > 1)] or words
    return "".join(_WORD.findall(strip_accents(given[0].lower()))) if given else ""


def says_name(name: str, text: str) -> float:
    """How surely ``text`` says the first ``name`` (from :func:`first_name`): ``EXACT_PROBABILITY`` for the name
    as a whole word, ``HEARD_PROBABILITY`` for a long name heard within a few letters, 0 otherwise."""
    if len(name) < 3:
        return 0.0
    plain = strip_accents(text.lower())
    words = _WORD.findall(plain)
    compound = "".join(words)
    if _whole_words(name, words):
        return EXACT_PROBABILITY
    if len(name) < MIN_APPROXIMATE_LETTERS:
        return 0.0
    return HEARD_PROBABILITY if substring_distance(name, compound) <= len(name) // LETTERS_PER_SLIP else 0.0


def _whole_words(name: str, words: list[str]) -> bool:
    # A compound name (« Marc-André ») is written as one word or as two: it may span consecutive words.
    for i in range(len(words)):
        joined = ""
        for w in words[i:]:
            joined += w
            if joined == name:
                return True
            if not name.startswith(joined):
                break
    return False


def substring_distance(pattern: str, text: str) -> int:
    """The fewest letters to change, drop or add for ``pattern`` to appear somewhere in ``text`` (edit distance
    to the closest substring)."""
    column = list(range(len(pattern) + 1))
    best = column[-1]
    for ch in text:
        diagonal, column[0] = column[0], 0  # a match may start at any letter of the text
        for j in range(1, len(pattern) + 1):
            above = column[j]
            column[j] = min(above + 1, column[j - 1] + 1, diagonal + (pattern[j - 1] != ch))
            diagonal = above
        best = min(best, column[-1])
    return best
