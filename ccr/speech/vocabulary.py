"""An organisation's business vocabulary: the names a call centre says all day, given to the recogniser.

Brands, products, offers and agents' first names are spelled out once by a supervisor; faster-whisper then
leans towards those spellings (``hotwords``), so « Domivia » stops coming out as « nominia ». Each save is a
new version, like a grid; the latest one is used by every later transcription.

Guarantees:

- a stored list is clean: one term per entry, no comma (the hint joins terms with commas), no control or
  invisible character, at most :data:`MAX_TERM_CHARS` characters each and :data:`MAX_TERMS` terms, no
  duplicate (case-insensitive, the first spelling wins);
- saving the list already in force stores nothing; two saves at once get consecutive versions;
- the audit log records who saved which version and how many terms, never the terms (agents' first names
  are among them);
- only supervisors and administrators read or change the list (``edit_vocabulary``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import hold_write_lock
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import User, Vocabulary
from ccr.core.users import Actor

MAX_HOTWORDS_CHARS = 600  # Whisper's prompt holds about 220 tokens: the list is cut, whole terms only
MAX_TERM_CHARS = 60  # the longest offer names are about 30 characters; a longer line is a pasted sentence
# Far more than the prompt budget holds: the list also serves as the organisation's written glossary, but a
# longer one is a directory pasted by mistake, and every term beyond the budget is ignored by the recogniser.
MAX_TERMS = 200
VOCABULARY_LOCK_BASE = 0x0CC4_0000  # advisory-lock namespace of an organisation's saves (grids: 0x0CC3)
HISTORY_LIMIT = 50  # versions shown on the page; older ones stay in the table
_SEPARATOR = re.compile(r"[,\n\r]")  # one term per line, or several on a line separated by commas
SYSTEM_AUTHOR = "système"  # a version stored by a script, without a user (created_by is null)


@dataclass(frozen=True)
class VocabularyVersion:
    """One saved version of the vocabulary, with what changed since the version before it."""

    version: int
    terms: tuple[str, ...]
    author: str
    created_at: datetime
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def count(self) -> int:
        """How many terms this version holds."""
        return len(self.terms)


def _require(actor: Actor) -> None:
    if not may(actor.role, "edit_vocabulary"):
        raise AccessDenied("Accès refusé : le vocabulaire métier est tenu par les superviseurs et les "
                           "administrateurs.")


def clean_terms(terms: list[str] | str) -> list[str]:
    """The terms as they are stored: trimmed, split at commas and line breaks, deduplicated (case-insensitive,
    first spelling kept), in the editor's order; InvalidInput (in French, by line) when one breaks a limit."""
    lines = terms.splitlines() if isinstance(terms, str) else [str(t) for t in terms]
    kept: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        for piece in _SEPARATOR.split(line):
            # NFC: « é » typed as e + combining accent is the same word as the one Whisper writes.
            term = " ".join(unicodedata.normalize("NFC", piece).split())
            if not term:
                continue
            if not term.isprintable():
                raise InvalidInput(f"Ligne {number} : le terme contient un caractère invisible ou de contrôle. "
                                   "Retapez-le au clavier.")
            if len(term) > MAX_TERM_CHARS:
                raise InvalidInput(f"Ligne {number} : {len(term)} caractères, {MAX_TERM_CHARS} au plus par terme "
                                   "(un nom, une marque ou une offre par ligne).")
            if term.casefold() not in seen:
                seen.add(term.casefold())
                kept.append(term)
    if len(kept) > MAX_TERMS:
        raise InvalidInput(f"{len(kept)} termes : {MAX_TERMS} au plus. Gardez les noms que la transcription "
                           "écorche.")
    return kept


def _latest(session: Session, org_id: int) -> Vocabulary | None:
    return session.exec(select(Vocabulary).where(Vocabulary.org_id == org_id)
                        .order_by(col(Vocabulary.version).desc())).first()


def current_terms(*, session: Session, org_id: int) -> list[str]:
    """The organisation's latest vocabulary, as saved (empty when it has none)."""
    return current_vocabulary(session=session, org_id=org_id)[1]


def current_vocabulary(*, session: Session, org_id: int) -> tuple[int | None, list[str]]:
    """The organisation's latest vocabulary as (version number, terms); (None, []) when it has none."""
    row = _latest(session, org_id)
    return (row.version, list(json.loads(row.terms_json))) if row is not None else (None, [])


def save_vocabulary(*, session: Session, actor: Actor, terms: list[str] | str) -> int | None:
    """Store the cleaned ``terms`` as the organisation's next version and audit it; returns the new version
    number, or None when the list is the one already in force (nothing stored)."""
    _require(actor)
    cleaned = clean_terms(terms)
    # Two supervisors saving at once: the second reads the first's version before numbering its own.
    hold_write_lock(session, VOCABULARY_LOCK_BASE + actor.org_id)
    latest = _latest(session, actor.org_id)
    previous = json.loads(latest.terms_json) if latest is not None else []
    if cleaned == previous:
        return None
    version = (latest.version if latest is not None else 0) + 1
    row = Vocabulary(org_id=actor.org_id, version=version, terms_json=json.dumps(cleaned, ensure_ascii=False),
                     created_by=actor.user_id)
    session.add(row)
    session.flush()
    added, removed = _diff(previous, cleaned)
    # Counts only: the terms include agents' first names, and the versions themselves keep them.
    audit.log_event(session=session, who=actor.who, action="vocabulary_saved", target_type="vocabulary",
                    target_id=row.id, detail={"version": version, "termes": len(cleaned), "ajoutés": len(added),
                                              "retirés": len(removed)})
    return version


def vocabulary_history(*, session: Session, actor: Actor, limit: int = HISTORY_LIMIT) -> list[VocabularyVersion]:
    """The organisation's versions, newest first, each with its author, date, terms and the terms added or
    removed since the version before it."""
    _require(actor)
    rows = session.exec(
        select(Vocabulary, User.display_name).outerjoin(User, col(User.id) == Vocabulary.created_by)
        .where(Vocabulary.org_id == actor.org_id).order_by(col(Vocabulary.version).desc()).limit(limit + 1)
    ).all()
    out = []
    for i, (row, author) in enumerate(rows[:limit]):
        terms = json.loads(row.terms_json)
        # The oldest version on the page is compared with the one before it, read for that purpose only.
        before = json.loads(rows[i + 1][0].terms_json) if i + 1 < len(rows) else []
        added, removed = _diff(before, terms)
        out.append(VocabularyVersion(version=row.version, terms=tuple(terms), author=author or SYSTEM_AUTHOR,
                                     created_at=row.created_at, added=added, removed=removed))
    return out


def _diff(before: list[str], after: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Terms of ``after`` missing from ``before``, and the reverse; a new spelling counts as both."""
    old, new = set(before), set(after)
    return tuple(t for t in after if t not in old), tuple(t for t in before if t not in new)


def kept_terms(terms: list[str]) -> list[str]:
    """The leading terms that fit the recogniser's prompt budget (:data:`MAX_HOTWORDS_CHARS`), whole terms only."""
    kept: list[str] = []
    size = 0
    for term in terms:
        if size + len(term) + 2 > MAX_HOTWORDS_CHARS:
            break
        kept.append(term)
        size += len(term) + 2
    return kept


def hotwords_text(terms: list[str]) -> str | None:
    """The terms as one recogniser hint, within Whisper's prompt budget; None without terms."""
    return ", ".join(kept_terms(terms)) or None
