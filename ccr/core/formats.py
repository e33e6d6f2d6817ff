"""French display formats, written once for the screens, the reports and the exports.

Numbers use a decimal comma and a narrow no-break space between thousands (« 12 345,6 »), units and
percentages a no-break space (« 77,8 % »), so that a value never wraps away from its unit. Stored
identifiers (statuses, verdicts, categories…) are shown through their French label, never raw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

THOUSANDS_SEP = "\u202f"  # narrow no-break space: the French thousands separator (CLDR fr)
UNIT_SEP = "\u00a0"  # no-break space before a unit or « % »: they never wrap onto the next line
MISSING = "—"  # shown where there is no value, as everywhere else in the interface


def fr_number(value: float | int | None, digits: int = 1, *, trim: bool = False, unit: str = "") -> str:
    """``value`` in French notation with ``digits`` decimals (« 77,8 », « 12 345 »), ``—`` for None.

    ``trim`` drops the zero decimals (« 80 » rather than « 80,0 »); ``unit`` is appended after a
    no-break space.
    """
    if value is None:
        return MISSING
    rounded = round(float(value), digits)
    if rounded == 0:
        rounded = 0.0  # no « -0,0 »
    text = f"{rounded:,.{max(digits, 0)}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    text = text.replace(",", THOUSANDS_SEP).replace(".", ",")
    return f"{text}{UNIT_SEP}{unit}" if unit else text


def fr_percent(value: float | None, digits: int = 1, *, ratio: bool = False, trim: bool = False) -> str:
    """A percentage in French notation (« 77,8 % »); ``ratio`` means ``value`` is a fraction (0.778)."""
    if value is None:
        return MISSING
    return fr_number(value * 100 if ratio else value, digits, trim=trim, unit="%")


def fr_score(value: float | None) -> str:
    """A score out of 100 as the screens show it: one decimal at most (« 77,8 », « 80 »)."""
    return fr_number(value, 1, trim=True)


def label_of(labels: Mapping[Any, str], key: Any, *, missing: str = MISSING) -> str:
    """The French label of a stored identifier; the identifier itself only when no label is known."""
    if key is None or key == "":
        return missing
    return labels.get(key) or str(key)
