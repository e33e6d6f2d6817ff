"""French text normalisation for the rules scorer: case, accents, elisions, numbers, stems.

Two forms are produced for a piece of text:

- ``normalize``: lowercase, no accents, elisions expanded (``j'`` -> ``je``), digits kept,
  number words turned into digits, punctuation removed. Used for display-independent matching.
- ``match_form``: ``normalize`` plus folding of the words that speech recognition confuses most
  on telephone French (object pronouns and possessives, "merci" heard as "même si"). Both the
  lexicon phrases and the transcript go through it, so the folding is symmetric.

``unpunctuated`` writes a line as a transcriber who neither punctuates nor capitalises would (words, accents,
apostrophes and hyphens kept): transcripts arrive in that form from other tools, so the scoring benchmark and
tests also score labelled calls written that way.

``spoken_numbers`` writes a line's numbers in words (« 30 € » -> « trente euros »), as typists and the acts bank
spell them and speech recognisers do not: the sentence model reads every line that way.

``strip_bidi`` removes the invisible bidirectional controls from names typed or imported by people:
a right-to-left override in an agent or team name would reverse what every screen shows after it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Elided articles and pronouns; expanded so "l'adresse" and "la adresse" match the same phrase.
ELISIONS = {
    "j": "je", "l": "le", "qu": "que", "d": "de", "n": "ne", "s": "se", "c": "ce", "m": "me", "t": "te",
    "jusqu": "jusque", "lorsqu": "lorsque", "puisqu": "puisque", "quoiqu": "quoique",
}
NUMBER_WORDS = {
    "zero": "0", "un": "1", "une": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "six": "6",
    "sept": "7", "huit": "8", "neuf": "9", "dix": "10", "onze": "11", "douze": "12", "treize": "13",
    "quatorze": "14", "quinze": "15", "seize": "16", "vingt": "20", "trente": "30", "quarante": "40",
    "cinquante": "50", "soixante": "60", "cent": "100", "mille": "1000",
}
# "un"/"une" are far more often articles than numbers: only turned into digits next to another number.
AMBIGUOUS_NUMBERS = frozenset({"un", "une"})
# Ordinals that customers use to count their calls ("troisième fois", "3e fois").
ORDINALS = {
    "premiere": "1e", "premier": "1e", "deuxieme": "2e", "second": "2e", "seconde": "2e", "troisieme": "3e",
    "quatrieme": "4e", "cinquieme": "5e", "dixieme": "10e", "enieme": "ne", "nieme": "ne",
}
# Words speech recognition swaps on 8 kHz telephone audio (v/m/n are close): folding them lets
# "je m'envoie" match "je vous envoie" and "mon dossier" match "votre dossier".
PRONOUN_FOLD = {w: "vous" for w in ("vous", "nous", "mous", "mou", "me", "te", "se", "vou", "tu", "toi", "moi")}
POSSESSIVE_FOLD = {
    w: "votre"
    for w in ("votre", "notre", "motre", "motte", "mon", "ma", "mes", "ton", "ta", "tes", "vos", "nos", "son", "sa")
}
# Multi-word ASR confusions seen with whisper on French telephone speech; applied on match_form only.
ASR_PHRASE_FOLD = (
    (re.compile(r"\bmeme si\b"), "merci"),
    (re.compile(r"\bmensi\b"), "merci"),
    (re.compile(r"\bmaille\b"), "mail"),
    (re.compile(r"\be mail\b"), "mail"),
    (re.compile(r"\bemail\b"), "mail"),
    (re.compile(r"\bcourriel\b"), "mail"),
)
_APOS = re.compile(r"[’'`´]")
_NON_WORD = re.compile(r"[^a-z0-9\[\] ]+")
_SPACES = re.compile(r"\s+")
_ELISION = re.compile(r"\b(" + "|".join(sorted(ELISIONS, key=len, reverse=True)) + r")'(?=\w)")

# Suffixes for the light stemmer, longest first (Snowball-like step 1 plus plural/feminine endings).
_SUFFIXES = (
    "issements", "issement", "atrices", "ateurs", "ations", "logies", "ements", "ements", "amment", "emment",
    "ations", "ation", "atrice", "ateur", "ences", "ances", "ismes", "istes", "ables", "ibles", "ement",
    "ments", "ment", "euses", "ence", "ance", "isme", "iste", "able", "ible", "euse", "ites", "ite", "eux",
    "ives", "ive", "ifs", "if", "erons", "eront", "erais", "erait", "erez", "eras", "era", "ions", "iez",
    "ais", "ait", "aient", "ant", "ants", "antes", "ante", "ees", "ee", "es", "er", "ez", "e", "s", "x",
)
MIN_STEM = 3  # shorter stems collide too much ("mes"/"met")
# Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks): invisible, and
# able to reorder the text displayed after them. Names never need them; Arabic or Hebrew letters do not.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_TABLE = dict.fromkeys(map(ord, BIDI_CONTROLS))


_PUNCTUATION = re.compile(r"[.,;:!?…«»\"“”()\[\]]|(?<!\w)-(?!\w)")


def unpunctuated(text: str) -> str:
    """``text`` in lowercase without punctuation marks, words and their accents, apostrophes and hyphens kept."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


# Numbers said in words, as the typed calls and the acts bank write them (spelling of 1990 kept out: the
# traditional one is what French writers use), for readers that must not depend on how a number was written.
_UNITS_FR = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze", "douze",
             "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit", "dix-neuf")
_TENS_FR = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}
_ORDINAL_STEMS = {"un": "unième", "cinq": "cinquième", "neuf": "neuvième"}
SPELLED_MAX = 999_999  # longer runs of digits are identifiers, read digit by digit
_MONEY = re.compile(r"(?<![\w,.])(\d+)(?:[,.](\d{1,2}))?\s?(?:€|euros?\b)", re.IGNORECASE)
_PERCENT = re.compile(r"(?<![\w,.])(\d+)(?:,(\d+))?\s?%")
_HOUR = re.compile(r"(?<![\w,.])([01]?\d|2[0-3])\s?h(?:\s?([0-5]\d))?\b", re.IGNORECASE)
_ORDINAL_DIGITS = re.compile(r"(?<![\w,.])(\d+)\s?(er|re|ère|e|è|ème|eme|ième)\b", re.IGNORECASE)
_DECIMAL = re.compile(r"(?<![\w,.])(\d+),(\d+)(?![\w,])")
_DIGITS = re.compile(r"(?<![\w])\d+(?![\w])")


def number_in_words(n: int) -> str:
    """``n`` (0 to 999 999) written in French words: « vingt et un », « quatre-vingt-dix », « deux cents »."""
    if n < 20:
        return _UNITS_FR[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        if tens in (7, 9):  # soixante-dix, quatre-vingt-dix: counted on from the ten below
            tens, unit = tens - 1, unit + 10
        word = "quatre-vingt" if tens == 8 else _TENS_FR[tens]
        if unit == 0:
            return "quatre-vingts" if tens == 8 else word
        if unit in (1, 11) and tens != 8:
            return f"{word} et {_UNITS_FR[unit]}"
        return f"{word}-{_UNITS_FR[unit]}"
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{_UNITS_FR[hundreds]} cent{'s' if rest == 0 else ''}"
        return head if rest == 0 else f"{head} {number_in_words(rest)}"
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else f"{number_in_words(thousands).removesuffix('s')} mille"
    return head if rest == 0 else f"{head} {number_in_words(rest)}"


def _digits_in_words(digits: str) -> str:
    if len(digits) > len(str(SPELLED_MAX)) or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_UNITS_FR[int(d)] for d in digits)  # an identifier or a phone number: digit by digit
    return number_in_words(int(digits))


def _ordinal(digits: str, suffix: str) -> str:
    if digits == "1":
        return "première" if suffix.lower() in ("re", "ère") else "premier"
    words = _digits_in_words(digits)
    last = words.rsplit("-", 1)[-1].rsplit(" ", 1)[-1]
    if last in ("vingts", "cents"):  # quatre-vingtième, deux centième
        last, words = last[:-1], words[:-1]
    stem = _ORDINAL_STEMS.get(last) or (last[:-1] if last.endswith("e") else last) + "ième"
    return words[: len(words) - len(last)] + stem


def spoken_numbers(text: str) -> str:
    """``text`` with its numbers in words, as said: « 30 € » -> « trente euros », « 8h30 » -> « huit heures
    trente », « 3e » -> « troisième », « 06 12 » -> « zéro six douze ». Speech recognisers write digits."""
    if not any(ch.isdigit() for ch in text):
        return text

    def money(m: re.Match) -> str:
        cents = f" {_digits_in_words(m.group(2).ljust(2, '0'))}" if m.group(2) else ""
        return f"{_digits_in_words(m.group(1))} euros{cents}"

    def percent(m: re.Match) -> str:
        decimals = f" virgule {_digits_in_words(m.group(2))}" if m.group(2) else ""
        return f"{_digits_in_words(m.group(1))}{decimals} pour cent"

    def hour(m: re.Match) -> str:
        minutes = f" {_digits_in_words(m.group(2))}" if m.group(2) and m.group(2) != "00" else ""
        return f"{_digits_in_words(m.group(1))} heure{'s' if int(m.group(1)) > 1 else ''}{minutes}"

    text = _MONEY.sub(money, text)
    text = _PERCENT.sub(percent, text)
    text = _HOUR.sub(hour, text)
    text = _ORDINAL_DIGITS.sub(lambda m: _ordinal(m.group(1), m.group(2)), text)
    text = _DECIMAL.sub(lambda m: f"{_digits_in_words(m.group(1))} virgule {_digits_in_words(m.group(2))}", text)
    return _DIGITS.sub(lambda m: _digits_in_words(m.group(0)), text)


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional control characters (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C)."""
    return text.translate(_BIDI_TABLE)


def strip_accents(text: str) -> str:
    """Remove diacritics ("é" -> "e", "ç" -> "c"), keeping the base letters."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("œ", "oe").replace("æ", "ae")


@lru_cache(maxsize=20000)
def normalize(text: str) -> str:
    """Lowercase, strip accents, expand elisions, map number words to digits, drop punctuation."""
    t = _APOS.sub("'", text.lower())
    t = t.replace("œ", "oe").replace("æ", "ae")
    t = strip_accents(t)
    t = _ELISION.sub(lambda m: ELISIONS[m.group(1)] + " ", t)
    t = t.replace("-", " ").replace("'", " ")
    t = _NON_WORD.sub(" ", t)
    words = _SPACES.sub(" ", t).strip().split(" ")
    out: list[str] = []
    for i, w in enumerate(words):
        if w in ORDINALS:
            out.append(ORDINALS[w])
        elif w in NUMBER_WORDS:
            if w in AMBIGUOUS_NUMBERS:
                near = [x for x in (words[i - 1] if i else "", words[i + 1] if i + 1 < len(words) else "")]
                out.append(NUMBER_WORDS[w] if any(x in NUMBER_WORDS or x.isdigit() for x in near) else w)
            else:
                out.append(NUMBER_WORDS[w])
        elif w:
            out.append(w)
    return " ".join(out)


@lru_cache(maxsize=20000)
def match_form(text: str) -> str:
    """``normalize`` plus folding of ASR-confusable pronouns, possessives and phrases."""
    t = normalize(text)
    for pattern, repl in ASR_PHRASE_FOLD:
        t = pattern.sub(repl, t)
    words = [PRONOUN_FOLD.get(w) or POSSESSIVE_FOLD.get(w) or w for w in t.split(" ") if w]
    return " ".join(words)


def tokens(text: str) -> list[str]:
    """Tokens of the normalised text."""
    norm = normalize(text)
    return norm.split(" ") if norm else []


@lru_cache(maxsize=50000)
def stem(word: str) -> str:
    """Light French stem: strips the longest known suffix while keeping at least 3 letters."""
    if len(word) <= MIN_STEM + 1 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> str:
    """Space-joined stems of the match form of ``text``."""
    return " ".join(stem(w) for w in match_form(text).split(" ") if w)


# Words of four letters or more that say nothing of what a call is about: pronouns, articles, prepositions,
# conjunctions, auxiliaries and the politeness and fillers of any conversation (normalised: no accents).
FUNCTION_WORDS = frozenset("""
    alors aussi autre autres avant avec avez avoir avons bien bonjour bonsoir cela celle celui cette ceux
    chez comme comment dans depuis deja donc elle elles encore entre est etait etes etre fait faire faut
    juste leur leurs madame mais merci meme moins monsieur notre nous oui parce pendant peut peux plus pour
    pourquoi puis quand quel quelle quelque rien sans sera sont sous suis tout toute tous tres vais veut
    voila voici votre vous vraiment avais avait ceci quoi
""".split())


def content_stems(text: str) -> frozenset[str]:
    """The stems of the words of ``text`` that carry its subject (four letters or more, not function words or
    numbers): « vos factures » and « mes factures » share « factur »."""
    return frozenset(stem(w) for w in normalize(text).split(" ")
                     if len(w) >= 4 and w not in FUNCTION_WORDS and not w.isdigit())
