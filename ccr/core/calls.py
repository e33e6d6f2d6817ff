"""Calls: tenant- and team-scoped reads, and the record of one call's metadata and processing state."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from ccr.core.errors import NotFound
from ccr.core.models import Call, Transcript
from ccr.core.users import Actor


def scope_calls(stmt: Select, actor: Actor, *, model=Call, include_restricted: bool = True) -> Select:
    """Restrict a SELECT on ``model`` (Call, Evaluation...) to what the actor may see."""
    stmt = stmt.where(model.org_id == actor.org_id)
    if not actor.sees_all_teams:
        stmt = stmt.where(col(model.team_id).in_(actor.team_ids or {-1}))
    if not include_restricted:
        stmt = stmt.where(model.restricted == False)  # noqa: E712
    return stmt


def get_call(*, session: Session, actor: Actor, call_id: int) -> Call:
    """One call the actor may see; another tenant's or team's id is simply not found."""
    call = session.get(Call, call_id)
    if call is None or call.org_id != actor.org_id:
        raise NotFound("Appel introuvable.")
    if not actor.sees_all_teams and call.team_id not in actor.team_ids:
        raise NotFound("Appel introuvable.")
    return call


def get_transcript(*, session: Session, actor: Actor, call_id: int) -> dict[str, Any] | None:
    """The redacted transcript of a call the actor may see, as the scoring contract's dict."""
    call = get_call(session=session, actor=actor, call_id=call_id)
    row = session.exec(select(Transcript).where(Transcript.call_id == call.id,
                                                Transcript.org_id == actor.org_id)).first()
    if row is None:
        return None
    return transcript_dict(call, row)


def transcript_dict(call: Call, row: Transcript) -> dict[str, Any]:
    """A stored transcript in the contract format: ``{call_id, duration_s, language, segments}``."""
    return {
        "call_id": str(call.id),
        "duration_s": call.duration_s or 0.0,
        "language": row.language,
        "segments": json.loads(row.segments_json),
    }


def flatten_text(segments: list[dict[str, Any]]) -> str:
    """The text of all segments, one per line, as indexed for full-text search."""
    return "\n".join(str(seg.get("text", "")) for seg in segments)


def optimize_search_index(*, session: Session) -> None:
    """Merge the full-text index so the words of deleted transcripts leave its blocks (after erasure, purge).

    SQLite's FTS5 only records a deletion next to the old index blocks, which keep the words until their
    segments are merged; an ``optimize`` merges them all (it returns at once when there is nothing to
    merge). On PostgreSQL no query finds a deleted row any more, but its bytes stay in the table and GIN
    index files until a ``VACUUM FULL`` rewrites them (a plain VACUUM leaves them): not done here, as it
    locks the table for its whole duration."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO transcript_fts(transcript_fts) VALUES ('optimize')"))
