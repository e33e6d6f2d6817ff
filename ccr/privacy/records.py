"""What an export or a subject-access file holds: one row per call, transcript, evaluation, review, dispute,
audit entry; where sealed archives live on disk; and the quality records that go with an evaluation.

Shared by the organisation export, the data-subject export, the erasure and the purge."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select
from sqlmodel import Session, col

from ccr.core.config import Settings
from ccr.core.errors import NotFound
from ccr.core.models import (
    AuditLog,
    BlindScore,
    CalibrationSession,
    Call,
    Dispute,
    DisputeItem,
    Evaluation,
    Review,
    Transcript,
)

EXPORT_SUFFIX = ".zip.enc"  # a sealed ZIP: never a plain archive on disk
AUDIO_EXTENSIONS = frozenset({"wav", "mp3", "ogg", "oga", "opus", "flac", "m4a", "aac", "webm", "mp4", "wma"})
CALL_FIELDS = ["id", "external_id", "started_at", "direction", "campaign", "team", "agent", "customer_phone",
               "duration_s", "channels", "status", "restricted", "source_name", "has_audio", "agent_talk_s",
               "customer_talk_s", "silence_s", "longest_silence_s", "overtalk_s", "interruptions", "agent_wpm",
               "created_at"]


EVALUATION_FIELDS = ["id", "call_id", "grid", "grid_version", "engine", "is_current", "ai_score", "ai_passed",
                     "ai_critical_failed", "final_score", "final_passed", "final_critical_failed", "validated",
                     "category", "irritant_count", "restricted", "criteria", "irritants", "summary", "created_at"]


REVIEW_FIELDS = ["id", "call_id", "evaluation_id", "reviewer_id", "ai_score", "final_score", "final_passed",
                 "overrides", "comments", "summary", "recommendations", "coaching_note", "created_at"]


AUDIT_FIELDS = ["id", "created_at", "username", "action", "target_type", "target_id", "outcome", "detail",
                "prev_hash", "hash"]


def export_path(settings: Settings, org_id: int, key: str) -> Path:
    """Where the sealed archive ``key`` of ``org_id`` lives (the key is a random hex id, never a name)."""
    if not re.fullmatch(r"[0-9a-f]{32}", key or ""):
        raise NotFound("Export introuvable.")
    return settings.exports_dir / str(int(org_id)) / f"{key}{EXPORT_SUFFIX}"


def iso(dt: datetime | None) -> str | None:
    """A datetime as ISO 8601 to the second, or None."""
    return dt.isoformat(timespec="seconds") if dt else None


def audio_extension(call: Call) -> str:
    """The file extension of a recording in an archive, from its (sanitised) upload name."""
    ext = (call.source_name or "").rsplit(".", 1)[-1].lower() if "." in (call.source_name or "") else ""
    return ext if ext in AUDIO_EXTENSIONS else "bin"


def call_row(call: Call, teams: dict[int, str], agents: dict[int, str]) -> dict[str, Any]:
    """One call as an export row."""
    return {
        "id": call.id, "external_id": call.external_id, "started_at": iso(call.started_at),
        "direction": call.direction, "campaign": call.campaign, "team": teams.get(call.team_id),
        "agent": agents.get(call.agent_id), "customer_phone": call.customer_phone, "duration_s": call.duration_s,
        "channels": call.channels, "status": call.status, "restricted": call.restricted,
        "source_name": call.source_name, "has_audio": bool(call.audio_key), "agent_talk_s": call.agent_talk_s,
        "customer_talk_s": call.customer_talk_s, "silence_s": call.silence_s,
        "longest_silence_s": call.longest_silence_s, "overtalk_s": call.overtalk_s,
        "interruptions": call.interruptions, "agent_wpm": call.agent_wpm, "created_at": iso(call.created_at),
    }


def transcript_row(t: Transcript) -> dict[str, Any]:
    """One transcript as a JSON object (one line of transcripts.jsonl)."""
    return {"call_id": t.call_id, "language": t.language, "engine": t.engine, "model": t.model,
            "segments": json.loads(t.segments_json), "redactions": json.loads(t.redactions_json or "{}"),
            "truncated": t.truncated, "created_at": iso(t.created_at)}


def evaluation_row(ev: Evaluation) -> dict[str, Any]:
    """One evaluation as an export row (criteria and irritants as compact JSON)."""
    result = json.loads(ev.result_json or "{}")
    return {
        "id": ev.id, "call_id": ev.call_id, "grid": ev.grid_slug, "grid_version": ev.grid_version,
        "engine": ev.engine, "is_current": ev.is_current, "ai_score": ev.ai_score, "ai_passed": ev.ai_passed,
        "ai_critical_failed": ev.ai_critical_failed, "final_score": ev.final_score,
        "final_passed": ev.final_passed, "final_critical_failed": ev.final_critical_failed,
        "validated": ev.validated, "category": ev.category, "irritant_count": ev.irritant_count,
        "restricted": ev.restricted,
        "criteria": json.dumps([{"id": c.get("id"), "verdict": c.get("verdict")} for c in result.get("criteria", [])],
                               ensure_ascii=False),
        "irritants": json.dumps([i.get("label") for i in result.get("irritants") or []], ensure_ascii=False),
        "summary": result.get("summary"), "created_at": iso(ev.created_at),
    }


def review_row(r: Review) -> dict[str, Any]:
    """One human review as an export row."""
    return {"id": r.id, "call_id": r.call_id, "evaluation_id": r.evaluation_id, "reviewer_id": r.reviewer_id,
            "ai_score": r.ai_score, "final_score": r.final_score, "final_passed": r.final_passed,
            "overrides": r.overrides_json, "comments": r.comments_json, "summary": r.summary,
            "recommendations": r.recommendations_json, "coaching_note": r.coaching_note,
            "created_at": iso(r.created_at)}


def dispute_row(d: Dispute) -> dict[str, Any]:
    """One dispute as an export row (the agent's comment and the answer included: they are the agent's data)."""
    return {"id": d.id, "call_id": d.call_id, "evaluation_id": d.evaluation_id, "opened_at": iso(d.opened_at),
            "answer_due_at": iso(d.answer_due_at), "comment": d.comment, "status": d.status,
            "resolved_by": d.resolved_by, "resolved_at": iso(d.resolved_at), "resolution": d.resolution}


def delete_quality_records(session: Session, org_id: int, evaluation_ids: list[int]) -> int:
    """Delete the disputes, blind scores and calibration sessions of evaluations about to be deleted; returns
    the number of disputes (they hold the agent's own words)."""
    if not evaluation_ids:
        return 0
    disputes = select(Dispute.id).where(Dispute.org_id == org_id, col(Dispute.evaluation_id).in_(evaluation_ids))
    session.execute(delete(DisputeItem).where(col(DisputeItem.dispute_id).in_(disputes)))
    n = int(session.execute(delete(Dispute).where(Dispute.org_id == org_id,
                                                  col(Dispute.evaluation_id).in_(evaluation_ids))).rowcount or 0)
    sessions = select(CalibrationSession.id).where(CalibrationSession.org_id == org_id,
                                                   col(CalibrationSession.evaluation_id).in_(evaluation_ids))
    session.execute(delete(BlindScore).where(BlindScore.org_id == org_id, or_(
        col(BlindScore.evaluation_id).in_(evaluation_ids), col(BlindScore.calibration_id).in_(sessions))))
    session.execute(delete(CalibrationSession).where(CalibrationSession.org_id == org_id,
                                                     col(CalibrationSession.evaluation_id).in_(evaluation_ids)))
    return n


def audit_row(e: AuditLog) -> dict[str, Any]:
    """One audit entry as an export row (hashes included, so the chain can be re-verified offline)."""
    return {"id": e.id, "created_at": e.created_at.isoformat(timespec="microseconds"), "username": e.username,
            "action": e.action, "target_type": e.target_type, "target_id": e.target_id, "outcome": e.outcome,
            "detail": e.detail_json, "prev_hash": e.prev_hash, "hash": e.hash}
