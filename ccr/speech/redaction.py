"""Redaction of personal data in transcripts, applied before anything is stored.

Detected values are replaced by labelled placeholders. Numbers are only redacted when their
checksum holds (Luhn for cards, mod 97 for IBAN and NIR) so that amounts, dates and order
numbers stay readable; phone numbers and e-mails have no checksum and are matched by shape.
ASR often writes numbers digit by digit ("4 9 7 2 ..." or "quatre neuf sept deux ..."):
digits separated by single spaces, dots, dashes or ", " are joined before checking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CARD = "[CARTE]"
IBAN = "[IBAN]"
NIR = "[NIR]"
EMAIL = "[EMAIL]"
PHONE = "[TELEPHONE]"
LABELS = ("CARTE", "IBAN", "NIR", "EMAIL", "TELEPHONE")

CARD_DIGITS = (13, 19)  # ISO/IEC 7812 primary account numbers
IBAN_LENGTH = (15, 34)  # Norway (15) to Saint Lucia (32); 34 is the ISO 13616 maximum
IBAN_COUNTRY_LENGTH = {"FR": 27, "DE": 22, "BE": 16, "ES": 24, "IT": 27, "LU": 20, "CH": 21, "MC": 27, "GB": 22}
NIR_DIGITS = 15  # 13-digit number + 2-digit key
# Corsican departments 2A/2B are replaced by these numbers to compute the NIR key (INSEE rule).
NIR_CORSICA = {"2A": "19", "2B": "18"}
MIN_SPELLED_DIGITS = 8  # a shorter run of spelled digits is a quantity or a date, not an identifier

# E-mails as written ("jean.dupont@exemple.fr") and as dictated then transcribed
# ("jean point dupont arobase exemple point fr").
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_SPOKEN_EMAIL_RE = re.compile(
    r"\b(?:\w+\s+(?:point|tiret|underscore|tiret du bas)\s+)*\w+\s+(?:arobase|arrobase|at)\s+"
    r"\w+(?:\s+(?:point|tiret)\s+\w+)+\b",
    re.IGNORECASE | re.UNICODE,
)
# IBAN: country, check digits, then letters/digits possibly in groups of four.
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,30}\b")
# NIR with a Corsican department (letters, so not caught by the digit runs below).
_NIR_CORSICA_RE = re.compile(
    r"(?<![\w])[1-478][ .-]?\d{2}[ .-]?\d{2}[ .-]?2[ABab][ .-]?\d{3}[ .-]?\d{3}[ .-]?\d{2}(?![\w])"
)
# Runs of digit groups separated by one space, dot, dash or ", ", with an optional + or 00 prefix.
_DIGIT_RUN_RE = re.compile(r"(?<![\w+])\+?\d+(?:(?:[ .\-]|, )\d+)*(?![\w])")
# "+33 (0)1 ..." : the parenthesised trunk zero breaks digit runs, so it gets its own pattern.
_PHONE_TRUNK_RE = re.compile(r"(?<![\w+])(?:\+|00)33[ .-]?\(0\)[ .-]?[1-9](?:[ .-]?\d{2}){4}(?!\d)")
# A French phone number inside a longer run (e.g. followed by another number).
_PHONE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)33[ .-]?(?:\(0\)[ .-]?)?|0)[1-9](?:[ .-]?\d{2}){4}(?!\d)")
_DIGIT_WORDS = {
    "zéro": "0", "zero": "0", "un": "1", "une": "1", "deux": "2", "trois": "3", "quatre": "4",
    "cinq": "5", "six": "6", "sept": "7", "huit": "8", "neuf": "9",
}  # fmt: skip
_SPELLED_RUN_RE = re.compile(
    r"\b(?:(?:" + "|".join(_DIGIT_WORDS) + r"|\d)(?:[ ,\-]+|$)){" + str(MIN_SPELLED_DIGITS) + ",}",
    re.IGNORECASE | re.UNICODE,
)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when an IBAN (spaces allowed) has a plausible length and a valid mod-97 check."""
    s = re.sub(r"[ -]", "", iban).upper()
    if not IBAN_LENGTH[0] <= len(s) <= IBAN_LENGTH[1] or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    expected = IBAN_COUNTRY_LENGTH.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def nir_valid(nir: str) -> bool:
    """True when a French social security number (NIR) has the right shape and key (97 - n mod 97)."""
    s = re.sub(r"[ .-]", "", nir).upper()
    if len(s) != NIR_DIGITS or s[0] not in "123478":
        return False
    body, key = s[:13], s[13:]
    dept = body[5:7]
    if dept in NIR_CORSICA:
        body = body[:5] + NIR_CORSICA[dept] + body[7:]
    if not body.isdigit() or not key.isdigit():
        return False
    month = int(body[3:5])
    # 1-12, 20 (unknown), 30-42 and 50-99 are issued for people born abroad or with incomplete records.
    if not (1 <= month <= 12 or month == 20 or 30 <= month <= 42 or 50 <= month <= 99):
        return False
    return 97 - int(body) % 97 == int(key)


def _classify_digits(digits: str, prefix_plus: bool) -> str | None:
    """The placeholder for a joined digit string, or None when it is not an identifier."""
    if len(digits) == NIR_DIGITS and nir_valid(digits):
        return NIR
    if CARD_DIGITS[0] <= len(digits) <= CARD_DIGITS[1] and luhn_valid(digits):
        return CARD
    if re.fullmatch(r"0[1-9]\d{8}", digits) and not prefix_plus:
        return PHONE
    if re.fullmatch(r"(?:00)?33[1-9]\d{8}", digits) or (prefix_plus and re.fullmatch(r"33[1-9]\d{8}", digits)):
        return PHONE
    if prefix_plus and 8 <= len(digits) <= 15:  # any other international number written with +
        return PHONE
    return None


def _redact_digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    label = _classify_digits(re.sub(r"\D", "", run), run.startswith("+"))
    if label is not None:
        return label
    # The run may glue a phone number to another number ("06 12 34 56 78 5 fois").
    return _PHONE_RE.sub(PHONE, run)


def _redact_spelled_run(match: re.Match[str]) -> str:
    run = match.group(0)
    tokens = re.findall(r"\w+", run.lower())
    digits = "".join(_DIGIT_WORDS.get(t, t) for t in tokens)
    label = _classify_digits(digits, prefix_plus=False)
    if label is None:
        return run
    trailing = run[len(run.rstrip(" ,-")) :]  # keep the separator that followed the last digit
    return label + trailing


def _redact_iban(match: re.Match[str]) -> str:
    # The pattern may swallow a following group (a reference, a word in capitals): try shorter ends.
    text = match.group(0)
    for end in range(len(text), 14, -1):
        candidate = text[:end]
        if candidate[-1].isalnum() and iban_valid(candidate):
            return IBAN + text[end:]
    return text


# Order matters: e-mails and IBANs contain digits; NIRs and cards are checked before phones.
_PASSES = (
    lambda t: _EMAIL_RE.sub(EMAIL, t),
    lambda t: _SPOKEN_EMAIL_RE.sub(EMAIL, t),
    lambda t: _IBAN_RE.sub(_redact_iban, t),
    lambda t: _NIR_CORSICA_RE.sub(lambda m: NIR if nir_valid(m.group(0)) else m.group(0), t),
    lambda t: _PHONE_TRUNK_RE.sub(PHONE, t),
    lambda t: _SPELLED_RUN_RE.sub(_redact_spelled_run, t),
    lambda t: _DIGIT_RUN_RE.sub(_redact_digit_run, t),
)


def empty_counts() -> dict[str, int]:
    """A zero count for every placeholder label."""
    return dict.fromkeys(LABELS, 0)


def redact_text(text: str) -> tuple[str, dict[str, int]]:
    """Replace cards, IBANs, NIRs, e-mails and phone numbers by placeholders; return text and counts."""
    before = {label: text.count(f"[{label}]") for label in LABELS}
    for apply in _PASSES:
        text = apply(text)
    return text, {label: text.count(f"[{label}]") - before[label] for label in LABELS}


def redact_segments(segments: Iterable[dict]) -> tuple[list[dict], dict[str, int]]:
    """Redact the ``text`` of each segment (copies); return the new segments and the summed counts."""
    total = empty_counts()
    out = []
    for seg in segments:
        text, counts = redact_text(seg.get("text", ""))
        out.append({**seg, "text": text})
        for label in LABELS:
            total[label] += counts[label]
    return out, total
