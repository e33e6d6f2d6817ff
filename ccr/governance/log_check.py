"""The audit-log check of the deployer pack: the log is kept long enough, and holds no transcript text.

A deployer keeps the logs of a high-risk AI system at least six months (AI Act art. 26(6)); CCR's audit log
records who did what, never what was said in a call. The check scans the organisation's newest entries
against its newest transcripts for any shared run of words, and reports the entries by id, never the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.errors import AccessDenied
from ccr.core.models import AuditLog, Transcript
from ccr.core.users import Actor
from ccr.governance.documents import fr_count, fr_days
from ccr.privacy import retention

# AI Act art. 26(6): a deployer keeps the logs of a high-risk system at least six months; 183 days covers
# any six calendar months, as for the recordings.
AUDIT_LOG_MIN_DAYS = 183
# Eight words in a row are a quotation, not a coincidence: shorter runs (« je vous remercie de votre appel »)
# recur across calls and in French prose, longer ones would miss a short quoted sentence.
SHARED_RUN_WORDS = 8
AUDIT_ROWS_SCANNED = 5_000  # the newest entries: a bounded check the page can run on demand
TRANSCRIPTS_SCANNED = 500  # the newest transcripts, those an entry written recently could quote


def _require(actor: Actor) -> None:
    if not may(actor.role, "deployer_pack"):
        raise AccessDenied("Accès refusé : seuls le DPO et l'administrateur peuvent consulter le dossier de "
                           "conformité IA.")


@dataclass(frozen=True)
class Leak:
    """An audit entry whose detail shares a run of words with a transcript (ids only, never the text)."""

    audit_id: int
    action: str
    created_at: datetime
    call_id: int


@dataclass(frozen=True)
class AuditLogCheck:
    """Whether the audit log is kept long enough and holds no transcript text."""

    retention_days: int
    rows_scanned: int
    transcripts_scanned: int
    leaks: tuple[Leak, ...]

    @property
    def retention_ok(self) -> bool:
        """True when the audit log is kept at least :data:`AUDIT_LOG_MIN_DAYS` days."""
        return self.retention_days >= AUDIT_LOG_MIN_DAYS

    @property
    def text_ok(self) -> bool:
        """True when no scanned entry quotes a scanned transcript."""
        return not self.leaks

    @property
    def passed(self) -> bool:
        """True when both checks pass."""
        return self.retention_ok and self.text_ok

    def lines(self) -> list[str]:
        """The result in French, one line per check."""
        keep = (f"Conservation du journal d'audit : {fr_days(self.retention_days)} — "
                + ("conforme" if self.retention_ok else "NON CONFORME")
                + f" (au moins {fr_days(AUDIT_LOG_MIN_DAYS)} exigés, règlement sur l'IA art. 26, § 6).")
        scanned = (f"{fr_count(self.rows_scanned)} entrée(s) récente(s) du journal comparée(s) à "
                   f"{fr_count(self.transcripts_scanned)} transcription(s)")
        if self.text_ok:
            text = f"Aucun texte de transcription dans le journal : conforme ({scanned})."
        else:
            calls = len({leak.call_id for leak in self.leaks})
            text = (f"Texte de transcription trouvé dans le journal : NON CONFORME — {fr_count(len(self.leaks))} "
                    f"entrée(s) reprennent au moins {SHARED_RUN_WORDS} mots consécutifs de {fr_count(calls)} "
                    f"transcription(s) ({scanned}).")
        return [keep, text]


# A word as a reader counts it: « c'est » and « aujourd'hui » are one word each, not two.
_WORD = re.compile(r"\w+(?:['’]\w+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _runs(words: list[str]) -> Iterator[str]:
    for i in range(len(words) - SHARED_RUN_WORDS + 1):
        yield " ".join(words[i:i + SHARED_RUN_WORDS])


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, item in value.items():
            yield str(k)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def audit_log_check(*, session: Session, actor: Actor, settings: Settings | None = None,
                    max_rows: int = AUDIT_ROWS_SCANNED, max_transcripts: int = TRANSCRIPTS_SCANNED) -> AuditLogCheck:
    """Check the audit log is kept 6 months at least and that its newest entries quote no stored transcript."""
    _require(actor)
    settings = settings or get_settings()
    days = retention.retention_days(session=session, org_id=actor.org_id, settings=settings)["audit_log"]
    rows = session.exec(select(AuditLog.id, AuditLog.action, AuditLog.created_at, AuditLog.detail_json)
                        .where(AuditLog.org_id == actor.org_id)
                        .order_by(col(AuditLog.id).desc()).limit(max_rows)).all()
    # The entries' runs are few (details are short): index them, then stream the transcripts past the index.
    runs: dict[str, list[int]] = {}
    meta = {}
    for audit_id, action, created_at, detail_json in rows:
        meta[audit_id] = (action, created_at)
        try:
            detail = json.loads(detail_json or "{}")
        except ValueError:
            detail = detail_json  # an unreadable detail is still scanned as text
        for text in _strings(detail):
            for run in _runs(_words(text)):
                runs.setdefault(run, []).append(audit_id)
    transcripts = session.exec(select(Transcript.call_id, Transcript.text).where(Transcript.org_id == actor.org_id)
                               .order_by(col(Transcript.id).desc()).limit(max_transcripts)).all()
    found: dict[int, int] = {}
    if runs:
        for call_id, text in transcripts:
            for run in _runs(_words(text or "")):
                for audit_id in runs.get(run, ()):
                    found.setdefault(audit_id, call_id)
    leaks = tuple(Leak(i, meta[i][0], meta[i][1], found[i]) for i in sorted(found, reverse=True))
    return AuditLogCheck(retention_days=days, rows_scanned=len(rows), transcripts_scanned=len(transcripts),
                         leaks=leaks)
