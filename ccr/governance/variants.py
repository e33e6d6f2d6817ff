"""The variants of a call for the counterfactual fairness test: who the agent is changes, nothing else.

Each generator is a pure function of a transcript in the scoring contract format (``{call_id, duration_s,
language, segments}``): it returns a new dict and never touches its argument. A variant changes only what
says who speaks, never what was done for the customer:

- ``genre``: the agent's first-person agreement (« je suis désolé » ↔ « je suis désolée », « navré(e) de »,
  « je me suis trompé(e) »), in the agent's lines only, towards the feminine and towards the masculine;
- ``noms``: the agent's and the customer's first names and surnames, found in self-introductions and after
  a civility, swapped for names of other origins and genders, in every line where they occur;
- ``regional``: Belgian, Swiss and Québec forms that mean the same (« septante », « nonante », « à tantôt »,
  « présentement », « courriel »…), towards them and back to the forms of France.

Recogniser ``words`` are kept as they were.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ccr.core.errors import InvalidInput

KIND_LABELS = {"genre": "Accord de genre de l'agent", "noms": "Prénoms et noms", "regional": "Formes régionales"}
NAMES_PER_CALL = 3  # three swaps per call: with calls taken in turn, a dozen calls cover the whole pool

Transcript_ = dict[str, Any]


def _match_case(src: str, repl: str) -> str:
    """``repl`` written in the case of ``src`` (all capitals, capitalised or as is)."""
    if len(src) > 1 and src.isupper():
        return repl.upper()
    return repl[:1].upper() + repl[1:] if src[:1].isupper() else repl


def _apply(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) span replaced; the spans never overlap."""
    out, last = [], 0
    for start, end, new in sorted(spans):
        out += [text[last:start], new]
        last = end
    return "".join(out) + text[last:]


def _map_lines(tr: Transcript_, fn: Callable[[str], str], speakers: tuple[str, ...] | None = None) -> Transcript_:
    """A deep copy of ``tr`` whose segment texts (of ``speakers``, or all) went through ``fn``."""
    out = copy.deepcopy(tr)
    for seg in out.get("segments") or []:
        if speakers is None or seg.get("speaker") in speakers:
            seg["text"] = fn(str(seg.get("text", "")))
    return out


# --- (a) the agent's gender agreement ---------------------------------------------------------------

# A first-person subject and a verb whose attribute agrees with it: être and the link verbs, with the
# negation and the clitics that may sit between (« je n'en suis pas sûr », « je m'en suis rendu compte »).
_FIRST_PERSON = re.compile(
    r"\b(?:je|j['’])\s*(?:ne\s+|n['’]\s*)?(?P<refl>me\s+|m['’]\s*)?(?:(?:en|y)\s+)?"
    r"(?P<verb>suis|serai|serais|étais|fus|sois|reste|resterai|restais|demeure|sens|sentais|"
    r"ai\s+été|avais\s+été|aurais\s+été|aurai\s+été|vais\s+être|voudrais\s+être|veux\s+être|dois\s+être)\b",
    re.IGNORECASE)
# Adverbs and negations between the verb and its attribute (« je suis vraiment tout à fait désolé »).
_MODIFIER = re.compile(
    r"\s*,?\s+(?:pas|plus|jamais|point|très|si|tellement|trop|assez|bien|fort|aussi|toujours|déjà|encore|presque|"
    r"désormais|parfois|souvent|ainsi|alors|donc|enfin|hélas|peut-être|quand\s+même|moi-même|"
    r"tout\s+à\s+fait|un\s+peu|\w{3,}ment)\b", re.IGNORECASE)
# A word without its elision: « d'accord » reads as « d », which stops the search.
_WORD = re.compile(r"\s+(?P<w>[^\W\d_][\w-]*)")
_COORDINATED = re.compile(r"\s*,?\s+(?:et|mais|ou)\b", re.IGNORECASE)
# Words an attribute never is: determiners, prepositions, pronouns, place adverbs. After « je suis »
# they start a complement (« je suis sur votre dossier », « je suis là ») that has no gender of the agent.
_NOT_ATTRIBUTES = frozenset("""
le la les l un une des du de d au aux ce cet cette ces mon ma mes ton ta tes son sa ses votre vos notre nos leur
leurs à a en dans sur sous sans chez avec pour par vers contre entre après avant depuis pendant parmi selon
comme chaque quel quelle moi toi lui elle eux nous vous celui celle ici là voilà oui non merci ça cela ceci
que qu qui quoi dont où ne n y il on tout toute tous toutes même mêmes quand si
""".split())
# Adjectives whose two forms are not one ending apart.
_IRREGULAR = {"nouveau": "nouvelle", "beau": "belle", "vieux": "vieille", "fou": "folle", "mou": "molle",
              "doux": "douce", "faux": "fausse", "frais": "fraîche", "sec": "sèche", "blanc": "blanche",
              "franc": "franche", "long": "longue", "gentil": "gentille", "bas": "basse", "gros": "grosse",
              "las": "lasse", "épais": "épaisse", "bon": "bonne", "pareil": "pareille", "public": "publique",
              "favori": "favorite", "jaloux": "jalouse", "nul": "nulle", "malin": "maligne", "muet": "muette",
              "net": "nette"}
_IRREGULAR_M = {f: m for m, f in _IRREGULAR.items()}
# Adjectives ending in -e that are the same for both genders even where the ending looks feminine.
_INVARIABLE = frozenset({"honnête", "bête", "sincère", "facile", "utile", "inutile", "fragile", "habile",
                         "drôle", "pâle", "sale", "calme", "triste", "libre", "vide", "rapide", "timide",
                         "super", "cool", "austère", "pilote", "enceinte"})
_ETE = frozenset({"inquiet", "complet", "incomplet", "discret", "secret", "concret", "replet"})
# Pronominal verbs whose « me » is an indirect object: their participle never agrees (« je me suis permis »).
_NO_AGREEMENT_AFTER_ME = frozenset({"permis", "demandé", "dit", "rendu", "plu", "parlé", "souri", "menti", "nui",
                                    "succédé", "téléphoné", "écrit"})
# Masculine ← feminine endings that are unambiguous, longest first; -Ce endings are handled apart.
_FEM_TO_MASC = (("enne", "en"), ("euse", "eux"), ("elle", "el"), ("onne", "on"), ("ette", "et"), ("ète", "et"),
                ("ère", "er"), ("ive", "if"), ("ée", "é"), ("ie", "i"), ("ue", "u"))
# Feminine endings after a consonant whose masculine drops the -e: participles (prise, faite, dite) and the
# adjectives of the same shape (contente, certaine, sûre, prête, seule, meilleure, fine).
_CONSONANT_FEM = re.compile(r"(?:ise|ite|ante|ente|aine|ûre|ête|ule|eure|ine|use|orte|erte|ourde|ande|onde)$")
# Nouns an agent may call themselves (« je suis votre conseillère »).
_NOUNS = {"conseiller": "conseillère", "technicien": "technicienne", "interlocuteur": "interlocutrice",
          "collaborateur": "collaboratrice", "opérateur": "opératrice", "chargé": "chargée", "employé": "employée",
          "correspondant": "correspondante", "référent": "référente", "assistant": "assistante",
          "superviseur": "superviseuse", "vendeur": "vendeuse"}
_NOUNS_M = {f: m for m, f in _NOUNS.items()}
_ARTICLES, _ARTICLES_M = {"le": "la", "un": "une"}, {"la": "le", "une": "un"}
# A clause that opens on a feeling is the speaker's own (« Désolée pour l'attente », « Ravi de vous aider »).
# « Certain » and « sûr » are left out: opening a clause they may qualify something else.
_FEELINGS = ("désolé", "navré", "ravi", "enchanté", "content", "heureux", "honoré", "confus")
_CLAUSE_FEELING = re.compile(
    r"(?:^|(?<=[.!?;:,…]))\s*(?:(?:oh|ah|bon|alors|vraiment|sincèrement|tellement|très)[\s,]+)*"
    r"(?P<w>" + "|".join(sorted({*_FEELINGS, "désolée", "navrée", "ravie", "enchantée", "contente", "heureuse",
                                 "honorée", "confuse"}, key=len, reverse=True)) + r")(?![\w’'-])",
    re.IGNORECASE)


def gender_form(word: str, target: str) -> str | None:
    """``word`` (an attribute of « je ») in the gender ``target`` ("f" or "m"); None when it has none."""
    low = word.lower()
    if not low or low in _NOT_ATTRIBUTES or low in _INVARIABLE or (word[:1].isupper() and not word.isupper()):
        return None  # a capitalised word after « je suis » is a name: « je suis Clara »
    new = _to_feminine(low) if target == "f" else _to_masculine(low)
    return None if new is None or new == low else _match_case(word, new)


def _to_feminine(w: str) -> str | None:
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w in _IRREGULAR_M or w.endswith("e"):
        return None  # already feminine, or a word in -e the same for both genders
    for masc, fem in (("eux", "euse"), ("if", "ive"), ("en", "enne"), ("el", "elle"), ("er", "ère"), ("on", "onne")):
        if w.endswith(masc):
            return w[: -len(masc)] + fem
    if w.endswith("et"):
        return w[:-2] + ("ète" if w in _ETE else "ette")
    return w + "e" if w[-1] in "éiutdsnrl" else None  # -x, -a, -o…: no agreement by the ending


def _to_masculine(w: str) -> str | None:
    if w in _IRREGULAR_M:
        return _IRREGULAR_M[w]
    if not w.endswith("e"):
        return None
    for fem, masc in _FEM_TO_MASC:
        if w.endswith(fem) and len(w) > len(fem) + 1:
            return w[: -len(fem)] + masc
    return w[:-1] if _CONSONANT_FEM.search(w) and len(w) > 3 else None


def _flip_gender_line(text: str, target: str) -> str:
    """One agent line with every first-person attribute put in the gender ``target``."""
    edits: dict[int, tuple[int, str]] = {}  # start -> (end, replacement); one edit per word

    def attribute_at(pos: int, reflexive: bool) -> None:
        for _ in range(4):  # an attribute and up to three coordinated ones (« ravi et honoré »)
            while m := _MODIFIER.match(text, pos):
                pos = m.end()
            if (m := _WORD.match(text, pos)) is None:
                return
            word, start, end = m.group("w"), m.start("w"), m.end("w")
            article = _ARTICLES if target == "f" else _ARTICLES_M
            if word.lower() in (*_ARTICLES, *_ARTICLES_M, "votre", "ton") and (n := _WORD.match(text, end)):
                noun = (_NOUNS if target == "f" else _NOUNS_M).get(n.group("w").lower())
                if noun:  # « je suis le conseiller » → « je suis la conseillère »
                    edits[n.start("w")] = (n.end("w"), _match_case(n.group("w"), noun))
                    if word.lower() in article:
                        edits[start] = (end, _match_case(word, article[word.lower()]))
                return
            if reflexive and word.lower() in _NO_AGREEMENT_AFTER_ME:
                return
            if (new := gender_form(word, target)) is None:
                return
            edits[start] = (end, new)
            if (c := _COORDINATED.match(text, end)) is None:
                return
            pos = c.end()

    for m in _FIRST_PERSON.finditer(text):
        reflexive = bool(m.group("refl"))
        if m.group("verb").lower().startswith("sen") and not reflexive:
            continue  # « je sens » is not « je me sens »
        attribute_at(m.end(), reflexive)
    for m in _CLAUSE_FEELING.finditer(text):
        word = m.group("w")  # capitalised at the start of a sentence, and never a name here
        if m.start("w") not in edits and (new := gender_form(word.lower(), target)):
            edits[m.start("w")] = (m.end("w"), _match_case(word, new))
    return _apply(text, ((start, end, new) for start, (end, new) in edits.items()))


def gender_variant(transcript: Transcript_, target: str) -> Transcript_:
    """The transcript with the agent speaking of themself in the feminine (``"f"``) or masculine (``"m"``)."""
    if target not in ("f", "m"):
        raise InvalidInput("Genre cible inconnu (f ou m).")
    return _map_lines(transcript, lambda t: _flip_gender_line(t, target), speakers=("agent",))


# --- (b) names -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A name of the pool: first name, surname, gender (the civility that goes with it) and origin."""

    first: str
    last: str
    gender: str  # "f" or "m"
    origin: str
    said: str = ""  # the full name where the culture's order is not « first last »

    @property
    def full(self) -> str:
        """The name as said in full."""
        return self.said or f"{self.first} {self.last}"


NAME_POOL = (  # origins and genders mixed on purpose
    Person("Marie", "Dupont", "f", "France"), Person("Mohamed", "Benali", "m", "Maghreb"),
    Person("Lan", "Nguyen", "f", "Viêt Nam", said="Nguyen Thi Lan"), Person("Kevin", "Martin", "m", "France"),
    Person("Aïcha", "Diallo", "f", "Afrique de l'Ouest"), Person("Jean-Baptiste", "Leroy", "m", "France"),
    Person("Fatoumata", "Traoré", "f", "Afrique de l'Ouest"), Person("Rui", "Fernandes", "m", "Portugal"),
    Person("Yasmina", "Haddad", "f", "Maghreb"), Person("Wei", "Zhang", "m", "Chine", said="Zhang Wei"),
    Person("Chloé", "Lefebvre", "f", "France"), Person("Piotr", "Nowak", "m", "Pologne"),
)
_UP = "A-ZÀ-ÖØ-Ý"
_LOW = "a-zà-öø-ÿœ"
_NAME_TOKEN = rf"[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?"
_FULL_NAME = rf"(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,2}})"
_CIVILITY = r"(?P<civ>(?i:madame|monsieur|mademoiselle|mme|m\.))"
# Capitalised words that follow the cues without being names (greetings, fillers, sentence starts).
_NOT_NAMES = frozenset("""
bonjour bonsoir allô allo oui non merci alors voilà bon très je vous nous pour que qui quoi comment est bien ah
euh hein pardon parfait bonne excellente au il elle on ça ce mais madame monsieur mademoiselle service client
désolé désolée navré navrée votre le la les un une de du des et en à
""".split())
# The cues are read in any case, the names only capitalised (but after « je m'appelle »).
_AGENT_CUES = (
    re.compile(rf"\b(?i:je\s+m['’]appelle)\s+{_FULL_NAME}"),
    re.compile(rf"\b(?i:je\s+m['’]appelle)\s+(?P<name>[{_LOW}][{_LOW}-]+)\b"),  # a recogniser may write it lower case
    re.compile(rf"\b(?i:je\s+suis|ici|moi\s+c['’]est|c['’]est)\s+{_FULL_NAME}"),
    re.compile(rf"{_FULL_NAME},?\s+(?i:à\s+votre\s+écoute|je\s+vous\s+écoute)"),
    re.compile(rf"{_FULL_NAME}\s+(?i:du\s+service|de\s+l['’]équipe|pour\s+l['’]équipe|pour\s+le\s+service)"),
)
# A capitalised word after these is the company or the department, not the agent (« service client Domivia »).
_COMPANY_BEFORE = re.compile(r"(?i:chez|service|clients?|consommateurs|équipe|société|groupe)[\s,]*$")
_CUSTOMER_CUES = (re.compile(rf"\b{_CIVILITY}\s+{_FULL_NAME}"), re.compile(rf"\b(?i:au\s+nom\s+de)\s+{_FULL_NAME}"))
_CUSTOMER_SELF = re.compile(rf"\b(?i:je\s+m['’]appelle|ici|moi\s+c['’]est)\s+(?:{_CIVILITY}\s+)?{_FULL_NAME}")
_CIVILITY_SWAP = {"f": {"monsieur": "madame", "m.": "Mme", "mme": "Mme", "madame": "madame", "mademoiselle": "madame"},
                  "m": {"madame": "monsieur", "mademoiselle": "monsieur", "mme": "M.", "m.": "M.",
                        "monsieur": "monsieur"}}


@dataclass(frozen=True)
class FoundName:
    """A name said in the call: whose it is, its tokens, and the gender its civility gave, if any."""

    role: str  # "agent" or "customer"
    tokens: tuple[str, ...]
    civility: str | None = None


def _clean_name(raw: str) -> tuple[str, ...]:
    return tuple(itertools.takewhile(lambda t: t.lower() not in _NOT_NAMES, raw.split()))


def find_names(transcript: Transcript_) -> list[FoundName]:
    """The agent's and the customer's names said in the call (self-introductions, civilities)."""
    found: dict[str, FoundName] = {}
    for seg in transcript.get("segments") or []:
        text, speaker = str(seg.get("text", "")), seg.get("speaker")
        own = {"agent": _AGENT_CUES, "customer": (_CUSTOMER_SELF,)}.get(speaker, ())
        hits = [(speaker, m) for cue in own for m in cue.finditer(text)]
        hits += [("customer", m) for cue in _CUSTOMER_CUES for m in cue.finditer(text)]
        for role, m in hits:
            if _COMPANY_BEFORE.search(text[: m.start("name")]):
                continue
            tokens = _clean_name(m.group("name"))
            key = " ".join(tokens).lower()
            if not tokens or key in found or any(key == " ".join(f.tokens).lower() for f in found.values()):
                continue
            civ = (m.groupdict().get("civ") or "").lower() or None
            found[key] = FoundName(role, tokens, civ)
    return [_completed(f, transcript) for f in found.values()]


def _completed(found: FoundName, transcript: Transcript_) -> FoundName:
    """A surname said after a civility, completed by the first name said before it elsewhere in the call."""
    if len(found.tokens) != 1 or not found.civility:
        return found
    rx = re.compile(rf"(?<!\w)(?P<first>{_NAME_TOKEN})\s+{re.escape(found.tokens[0])}(?![\w-])")
    for seg in transcript.get("segments") or []:
        m = rx.search(str(seg.get("text", "")))
        if m and m.group("first").lower() not in _NOT_NAMES:
            return FoundName(found.role, (m.group("first"), found.tokens[0]), found.civility)
    return found


def name_variant(transcript: Transcript_, agent: Person, customer: Person) -> Transcript_:
    """The transcript with the agent's names replaced by ``agent``'s and the customer's by ``customer``'s."""
    names = find_names(transcript)
    subs: list[tuple[re.Pattern, Callable[[re.Match], str]]] = []
    customer_gender_from: str | None = None
    for found in sorted(names, key=lambda f: -len(" ".join(f.tokens))):  # longest first: « Marie Dupont »
        person = agent if found.role == "agent" else customer
        if found.role == "customer" and found.civility:
            customer_gender_from = "m" if found.civility in ("monsieur", "m.") else "f"
        # One token after a civility is a surname; one token after « je m'appelle » a first name.
        if len(found.tokens) == 1:
            pairs = [(found.tokens[0], person.last if found.civility else person.first)]
        else:
            pairs = [(" ".join(found.tokens), person.full), (found.tokens[0], person.first),
                     (found.tokens[-1], person.last)]
        for original, new in pairs:
            pattern = re.compile(rf"(?:\b{_CIVILITY}\s+)?(?<![\w-])(?P<n>{re.escape(original)})(?![\w-])",
                                 re.IGNORECASE)
            subs.append((pattern, _name_replacer(new, person.gender)))
    if not subs:
        return copy.deepcopy(transcript)
    swap_bare = customer_gender_from is not None and customer_gender_from != customer.gender

    def rewrite(text: str) -> str:
        marks: list[tuple[int, int, str]] = []
        for pattern, repl in subs:  # one pass per name over the original line, never over a replacement
            for m in pattern.finditer(text):
                if not any(s < m.end() and m.start() < e for s, e, _ in marks):
                    marks.append((m.start(), m.end(), repl(m)))
        text = _apply(text, marks)
        if swap_bare:  # « bonne journée madame » follows the customer's new civility
            text = re.sub(r"\b(madame|monsieur|mademoiselle)\b(?!\s+[" + _UP + "])",
                          lambda m: _match_case(m.group(1), _CIVILITY_SWAP[customer.gender][m.group(1).lower()]),
                          text, flags=re.IGNORECASE)
        return text

    return _map_lines(transcript, rewrite)


def _name_replacer(new: str, gender: str) -> Callable[[re.Match], str]:
    def repl(m: re.Match) -> str:
        name = m.group("n")
        written = new.lower() if name.islower() else new.upper() if len(name) > 1 and name.isupper() else new
        civ = m.group("civ")
        if not civ:
            return written
        spaced = m.group(0)[len(civ): m.start("n") - m.start()]
        return _match_case(civ, _CIVILITY_SWAP[gender][civ.lower()]) + spaced + written
    return repl


def name_swaps(transcript: Transcript_, *, index: int = 0, count: int = NAMES_PER_CALL) -> list[tuple[Person, Person]]:
    """``count`` (agent, customer) pairs from the pool, none equal to a name of the call, turning with ``index``."""
    said = {t.lower() for f in find_names(transcript) for t in f.tokens}
    pool = [p for p in NAME_POOL if not ({p.first.lower(), p.last.lower()} & said)]
    n = len(pool)
    return [(pool[(index * count + k) % n], pool[(index * count + k + n // 2) % n]) for k in range(min(count, n))]


# --- (c) regional forms ------------------------------------------------------------------------------

_UNITS = ("", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
_TEENS = ("dix", "onze", "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf")
_SEP = r"[\s-]+"
_TEEN_RX = "|".join(w.replace("-", _SEP) for w in sorted(_TEENS, key=len, reverse=True))  # « dix-sept » before « dix »
_UNIT_RX = "|".join(sorted(_UNITS[1:], key=len, reverse=True))


def _regional_number(base: str, unit: int) -> str:
    return base if unit == 0 else f"{base} et un" if unit == 1 else f"{base}-{_UNITS[unit]}"


def _teen_index(word: str) -> int:
    return _TEENS.index(re.sub(_SEP, "-", word.lower()))


_TO_REGIONAL_NUMBERS = (  # France → Belgium and Switzerland (huitante is Swiss)
    (re.compile(rf"\bsoixante{_SEP}(?:et{_SEP})?(?P<t>{_TEEN_RX})\b", re.IGNORECASE),
     lambda m: _regional_number("septante", _teen_index(m.group("t")))),
    (re.compile(rf"\bquatre{_SEP}vingts?{_SEP}(?P<t>{_TEEN_RX})\b", re.IGNORECASE),
     lambda m: _regional_number("nonante", _teen_index(m.group("t")))),
    (re.compile(rf"\bquatre{_SEP}vingt{_SEP}(?P<u>{_UNIT_RX})\b", re.IGNORECASE),
     lambda m: _regional_number("huitante", _UNITS.index(m.group("u").lower()))),
    (re.compile(rf"\bquatre{_SEP}vingts?\b", re.IGNORECASE), lambda m: "huitante"),
)
_REGIONAL_NUMBER = re.compile(
    rf"\b(?P<b>septante|nonante|huitante|octante)(?:{_SEP}et{_SEP}(?P<one>un)|{_SEP}(?P<u>{_UNIT_RX}))?\b",
    re.IGNORECASE)


def _standard_number(m: re.Match) -> str:
    base = m.group("b").lower()
    unit = 1 if m.group("one") else _UNITS.index(m.group("u").lower()) if m.group("u") else 0
    if base in ("huitante", "octante"):
        return "quatre-vingts" if unit == 0 else f"quatre-vingt-{_UNITS[unit]}"
    head = "soixante" if base == "septante" else "quatre-vingt"
    if base == "septante" and unit == 1:
        return "soixante et onze"
    return f"{head}-{_TEENS[unit]}"


# Words and phrases of the same meaning (France, then the regional form). « s'il vous plaît » is left
# alone: in Belgium it also means « voici », so a swap could change what the agent said.
_WORD_PAIRS = (("à tout à l'heure", "à tantôt"), ("actuellement", "présentement"), ("faire les magasins", "magasiner"),
               ("e-mails", "courriels"), ("e-mail", "courriel"), ("emails", "courriels"), ("email", "courriel"),
               ("mails", "courriels"), ("mail", "courriel"))
# Meals: in Belgium, Switzerland and Québec « déjeuner » is breakfast, « dîner » lunch, « souper » dinner.
_MEALS_TO_REGIONAL = {"petit-déjeuner": "déjeuner", "petit déjeuner": "déjeuner", "déjeuner": "dîner",
                      "dîner": "souper", "diner": "souper"}
_MEALS_TO_STANDARD = {"souper": "dîner", "dîner": "déjeuner", "diner": "déjeuner", "déjeuner": "petit-déjeuner"}


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern:
    alts = sorted(phrases, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", " ").replace(" ", r"\s+").replace("'", "['’]") for p in alts)
    return re.compile(r"(?<![\w-])(" + body + r")(?![\w-])", re.IGNORECASE)


def _swap_words(text: str, table: dict[str, str]) -> str:
    """Every phrase of ``table`` replaced at once (a replacement is never read again), keeping its case."""
    rx = _phrase_regex(table)
    return rx.sub(lambda m: _match_case(m.group(1), table[re.sub(r"\s+", " ", m.group(1).lower()).replace("’", "'")]),
                  text)


def regional_variant(transcript: Transcript_, direction: str) -> Transcript_:
    """The transcript in Belgian, Swiss and Québec forms (``"regional"``) or in those of France (``"standard"``)."""
    if direction == "regional":
        words = {fr: reg for fr, reg in _WORD_PAIRS} | _MEALS_TO_REGIONAL

        def rewrite(text: str) -> str:
            for rx, repl in _TO_REGIONAL_NUMBERS:
                text = rx.sub(lambda m, r=repl: _match_case(m.group(0), r(m)), text)
            # « portable » is a phone unless it follows « ordinateur »
            text = re.sub(r"(?<!ordinateur )\bportables?\b", "GSM", text, flags=re.IGNORECASE)
            return _swap_words(text, words)
    elif direction == "standard":
        words = {reg: fr for fr, reg in _WORD_PAIRS} | {"cellulaire": "portable"}
        # The meals are read the regional way only where « souper » says so: « déjeuner » alone is the lunch of France.
        regional_meals = any(re.search(r"\bsouper\b", str(s.get("text", "")), re.IGNORECASE)
                             for s in transcript.get("segments") or [])
        if regional_meals:
            words |= _MEALS_TO_STANDARD

        def rewrite(text: str) -> str:
            text = _REGIONAL_NUMBER.sub(lambda m: _match_case(m.group(0), _standard_number(m)), text)
            text = re.sub(r"\bGSM\b", "portable", text, flags=re.IGNORECASE)  # an acronym: never « PORTABLE »
            return _swap_words(text, words)
    else:
        raise InvalidInput("Direction inconnue (regional ou standard).")
    return _map_lines(transcript, rewrite)


# --- the variants of a call ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One counterfactual version of a call: its kind, its name and its transcript."""

    kind: str
    name: str
    transcript: Transcript_


def variants_of(transcript: Transcript_, *, index: int = 0, names_per_call: int = NAMES_PER_CALL) -> Iterator[Variant]:
    """Every variant of ``transcript``, including those identical to it (the audit counts them apart)."""
    yield Variant("genre", "agent au féminin", gender_variant(transcript, "f"))
    yield Variant("genre", "agent au masculin", gender_variant(transcript, "m"))
    for agent, customer in name_swaps(transcript, index=index, count=names_per_call):
        yield Variant("noms", f"agent {agent.full}, client {customer.full}", name_variant(transcript, agent, customer))
    yield Variant("regional", "formes belges, suisses et québécoises", regional_variant(transcript, "regional"))
    yield Variant("regional", "formes de France", regional_variant(transcript, "standard"))


def changed_lines(before: Transcript_, after: Transcript_) -> list[tuple[float, str, str]]:
    """(start, text before, text after) of each segment a variant changed."""
    return [(float(a.get("start", 0.0)), str(a.get("text", "")), str(b.get("text", "")))
            for a, b in zip(before.get("segments") or [], after.get("segments") or [], strict=True)
            if a.get("text") != b.get("text")]
