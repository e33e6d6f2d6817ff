"""Shared act-bank test data: the bank's lines, to check that a held-out line was never trained on."""

from __future__ import annotations

from functools import lru_cache

from ccr.scoring import acts
from scripts.acts_bank_stats import loose


@lru_cache(maxsize=1)
def bank_texts() -> frozenset[str]:
    """The bank's lines, lowercased and stripped of punctuation, to check a held-out line was never trained on."""
    return frozenset(loose(e.text) for e in acts.read_bank())


def in_bank(texts) -> list[str]:
    """Those of ``texts`` that are bank lines once lowercased and stripped of punctuation."""
    return [t for t in texts if loose(t) in bank_texts()]
