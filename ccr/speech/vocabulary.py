"""An organisation's business vocabulary: the names a call centre says all day, given to the recogniser.

Brands, products, offers and agents' first names are spelled out once by a supervisor; faster-whisper then
leans towards those spellings (``hotwords``), so « Domivia » stops coming out as « nominia ». Each save is a
new version, like a grid; the latest one is used by every later transcription.
"""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from ccr.core.models import Vocabulary

MAX_HOTWORDS_CHARS = 600  # Whisper's prompt holds about 220 tokens: the list is cut, whole terms only


def current_terms(*, session: Session, org_id: int) -> list[str]:
    """The organisation's latest vocabulary, as saved (empty when it has none)."""
    row = session.exec(select(Vocabulary).where(Vocabulary.org_id == org_id)
                       .order_by(col(Vocabulary.version).desc())).first()
    return list(json.loads(row.terms_json)) if row is not None else []


def hotwords_text(terms: list[str]) -> str | None:
    """The terms as one recogniser hint, within Whisper's prompt budget; None without terms."""
    kept: list[str] = []
    size = 0
    for term in terms:
        if size + len(term) + 2 > MAX_HOTWORDS_CHARS:
            break
        kept.append(term)
        size += len(term) + 2
    return ", ".join(kept) or None
