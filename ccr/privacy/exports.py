"""Exports: the whole organisation (a ZIP built in the background) and one data subject (access, portability).

Archives are sealed at rest (``ccr.core.sealed``: AES-GCM, key derived from the secret, files 0600)
because they may hold decrypted recordings; they are decrypted in memory when downloaded.
Every export and every download is audited; the retention job deletes them after the
"exports" duration (``Settings.export_keep_days`` by default). Every CSV cell goes through
``ccr.core.csvsafe`` so a spreadsheet never runs a formula found in the data."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import time
import uuid
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from ccr.core import audit, sealed, storage
from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.csvsafe import rows_to_csv
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, CcrError, InvalidInput, NotFound
from ccr.core.models import Agent, AuditLog, Call, Evaluation, Export, Organisation, Review, Team, Transcript
from ccr.core.users import Actor
from ccr.privacy import explanations, subjects
from ccr.privacy.records import (
    AUDIT_FIELDS,
    CALL_FIELDS,
    EVALUATION_FIELDS,
    REVIEW_FIELDS,
    audio_extension,
    audit_row,
    call_row,
    evaluation_row,
    export_path,
    iso,
    review_row,
    transcript_row,
)
from ccr.privacy.retention import retention_days

log = logging.getLogger(__name__)
MANIFEST_FORMAT = "ccr-export-1"
PROGRESS_EVERY_S = 0.5  # write the progress row at most twice a second: cheap, still smooth on the page
AUDIT_CHECKPOINTS_NAME = "audit_checkpoints.jsonl"


def _require_role(actor: Actor) -> None:
    if not may(actor.role, "export_data"):
        raise AccessDenied("Seuls le DPO et l'administrateur peuvent exporter les données.")


class _Archive:
    """A ZIP streamed into a sealed file, recording sha256, size and row count of every member."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self._writer = sealed.SealedWriter(path, sealed.derive_key(sealed.EXPORT_INFO, settings))
        self.zip = zipfile.ZipFile(self._writer, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: dict[str, dict[str, Any]] = {}

    def add(self, name: str, data: bytes, rows: int | None = None, compress: bool = True) -> None:
        self.zip.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        if rows is not None:
            self.files[name]["rows"] = rows

    def add_lines(self, name: str, lines) -> int:
        digest, size, rows = hashlib.sha256(), 0, 0
        with self.zip.open(name, "w", force_zip64=True) as fh:
            for line in lines:
                data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
                fh.write(data)
                digest.update(data)
                size += len(data)
                rows += 1
        self.files[name] = {"sha256": digest.hexdigest(), "bytes": size, "rows": rows}
        return rows

    def close(self, manifest: dict[str, Any]) -> None:
        manifest["files"] = self.files
        self.zip.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))
        self.zip.close()
        self._writer.close()


class _Progress:
    def __init__(self, export_id: int, total: int) -> None:
        self.export_id, self.total, self.done, self._last = export_id, max(total, 1), 0, 0.0

    def step(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self._last >= PROGRESS_EVERY_S:
            self._last = time.monotonic()
            with db_session() as s:
                ex = s.get(Export, self.export_id)
                ex.progress = min(0.99, self.done / self.total)
                s.add(ex)


def _names(s: Session, org_id: int) -> tuple[dict[int, str], dict[int, str]]:
    teams = dict(s.exec(select(Team.id, Team.name).where(Team.org_id == org_id)).all())
    agents = dict(s.exec(select(Agent.id, Agent.name).where(Agent.org_id == org_id)).all())
    return teams, agents


def _export_days(s: Session, org_id: int, settings: Settings) -> int:
    return retention_days(session=s, org_id=org_id, settings=settings)["exports"]


def start_organisation_export(*, actor: Actor, include_audio: bool = False, background: bool = True,
                              settings: Settings | None = None) -> int:
    """Create an organisation export and build it in a background thread; returns the export id."""
    _require_role(actor)
    settings = settings or get_settings()
    with db_session(settings) as s:
        now = utcnow()
        ex = Export(org_id=actor.org_id, kind="organisation", include_audio=include_audio, status="queued",
                    file_key=uuid.uuid4().hex, created_by=actor.user_id, created_at=now,
                    expires_at=now + timedelta(days=_export_days(s, actor.org_id, settings)))
        s.add(ex)
        s.flush()
        audit.log_event(session=s, who=actor.who, action="export_requested", target_type="export",
                        target_id=ex.id, detail={"type": "organisation", "audio": include_audio})
        export_id = ex.id
    if background:
        threading.Thread(target=build_organisation_export, args=(export_id,), kwargs={"settings": settings},
                         name=f"ccr-export-{export_id}", daemon=True).start()
    else:
        build_organisation_export(export_id, settings=settings)
    return export_id


def build_organisation_export(export_id: int, *, settings: Settings | None = None) -> None:
    """Build the archive of an organisation export (runs in its own thread); failures are recorded."""
    settings = settings or get_settings()
    with db_session(settings) as s:
        ex = s.get(Export, export_id)
        ex.status, ex.progress = "running", 0.0
        s.add(ex)
        org = s.get(Organisation, ex.org_id)
        org_id, org_name, key, include_audio = org.id, org.name, ex.file_key, ex.include_audio
    path = export_path(settings, org_id, key)
    part = path.with_name(path.name + ".part")
    try:
        audit.write_checkpoint(settings=settings)  # the archive carries a signed head as of now
        with db_session(settings) as s:
            teams, agents = _names(s, org_id)
            n_calls = len(s.exec(select(Call.id).where(Call.org_id == org_id)).all())
            n_audio = len(s.exec(select(Call.id).where(Call.org_id == org_id, col(Call.audio_key).is_not(None)))
                          .all()) if include_audio else 0
        progress = _Progress(export_id, 2 * n_calls + n_audio + 3)
        archive = _Archive(part, settings)
        counts: dict[str, int] = {}
        with db_session(settings) as s:
            calls = list(s.exec(select(Call).where(Call.org_id == org_id).order_by(Call.id)).all())
            archive.add("calls.csv", rows_to_csv((call_row(c, teams, agents) for c in calls), CALL_FIELDS),
                        rows=len(calls))
            counts["calls"] = len(calls)
            progress.step(len(calls))

            def transcripts():
                for t in s.exec(select(Transcript).where(Transcript.org_id == org_id).order_by(Transcript.call_id)
                                .execution_options(yield_per=200)):
                    progress.step()
                    yield transcript_row(t)

            counts["transcripts"] = archive.add_lines("transcripts.jsonl", transcripts())
            evs = s.exec(select(Evaluation).where(Evaluation.org_id == org_id).order_by(Evaluation.id)).all()
            archive.add("evaluations.csv", rows_to_csv((evaluation_row(e) for e in evs), EVALUATION_FIELDS),
                        rows=len(evs))
            counts["evaluations"] = len(evs)
            progress.step()
            reviews = s.exec(select(Review).where(Review.org_id == org_id).order_by(Review.id)).all()
            archive.add("reviews.csv", rows_to_csv((review_row(r) for r in reviews), REVIEW_FIELDS),
                        rows=len(reviews))
            counts["reviews"] = len(reviews)
            entries = s.exec(select(AuditLog).where(AuditLog.org_id == org_id).order_by(AuditLog.id)).all()
            archive.add("audit_log.csv", rows_to_csv((audit_row(e) for e in entries), AUDIT_FIELDS),
                        rows=len(entries))
            counts["audit_log"] = len(entries)
            # The signed checkpoints and anchors of this chain only: a copy kept apart from the server, with
            # which ``python -m ccr audit verify --points`` still sees a truncation if the server's are lost.
            records = audit.chain_records(org_id, settings)
            archive.add(AUDIT_CHECKPOINTS_NAME, records, rows=records.count(b"\n"))
            counts["audit_checkpoints"] = records.count(b"\n")
            progress.step()
        counts["audio"] = 0
        if include_audio:
            for call in calls:
                if not call.audio_key:
                    continue
                try:
                    data = storage.get_audio(call.audio_key, org_id=org_id, settings=settings)
                except CcrError as err:  # a missing or unreadable file is listed, not fatal
                    log.warning("Export %s : audio de l'appel %s illisible (%s)", export_id, call.id, err)
                    continue
                # Audio is already compressed (or PCM that deflate barely shrinks): store it as is.
                archive.add(f"audio/{call.id}.{audio_extension(call)}", data, compress=False)
                counts["audio"] += 1
                progress.step()
        manifest = {"format": MANIFEST_FORMAT, "kind": "organisation",
                    "organisation": {"id": org_id, "name": org_name}, "created_at": iso(utcnow()),
                    "include_audio": include_audio, "counts": counts}
        archive.close(manifest)
        part.replace(path)
        with db_session(settings) as s:
            _mark_done(s, export_id, manifest)
            audit.log_event(session=s, who=audit.SYSTEM, org_id=org_id, action="export_built",
                            target_type="export", target_id=export_id, detail={"comptes": counts})
    except Exception as err:
        log.exception("Export %s en échec", export_id)
        part.unlink(missing_ok=True)
        with db_session(settings) as s:
            ex = s.get(Export, export_id)
            ex.status, ex.error = "failed", f"{type(err).__name__}: {err}"[:500]
            s.add(ex)


def list_exports(*, session: Session, actor: Actor, limit: int = 20) -> list[Export]:
    """The organisation's exports still on record, newest first."""
    _require_role(actor)
    return list(session.exec(select(Export).where(Export.org_id == actor.org_id)
                             .order_by(col(Export.id).desc()).limit(limit)).all())


def get_export(*, session: Session, actor: Actor, export_id: int) -> Export:
    """One export of the actor's organisation."""
    _require_role(actor)
    ex = session.get(Export, export_id)
    if ex is None or ex.org_id != actor.org_id:
        raise NotFound("Export introuvable.")
    return ex


def download_name(ex: Export) -> str:
    """The file name offered to the browser."""
    stamp = ex.created_at.strftime("%Y%m%d-%H%M")
    return f"ccr-export-{'organisation' if ex.kind == 'organisation' else 'personne'}-{ex.id}-{stamp}.zip"


def read_export(*, actor: Actor, export_id: int, settings: Settings | None = None) -> bytes:
    """The decrypted ZIP of a finished export, in memory; the download is audited."""
    settings = settings or get_settings()
    with db_session(settings) as s:
        ex = get_export(session=s, actor=actor, export_id=export_id)
        if ex.status != "done" or not ex.file_key:
            raise InvalidInput("Cet export n'est pas terminé.")
        path = export_path(settings, ex.org_id, ex.file_key)
        if not path.exists():
            raise NotFound("L'archive de cet export a expiré ou a été supprimée.")
        data = sealed.open_bytes(path, sealed.derive_key(sealed.EXPORT_INFO, settings))
        audit.log_event(session=s, who=actor.who, action="export_downloaded", target_type="export",
                        target_id=ex.id, detail={"type": ex.kind, "octets": len(data)})
    return data


def read_manifest(data: bytes) -> dict[str, Any]:
    """The manifest of an export ZIP, given its bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return json.loads(zf.read("manifest.json"))


def create_subject_export(*, actor: Actor, agent_id: int | None = None, phone: str | None = None,
                          include_audio: bool = False, settings: Settings | None = None) -> int:
    """Export everything about one agent or one phone number: JSON plus a French summary, sealed; returns its id."""
    _require_role(actor)
    settings = settings or get_settings()
    with db_session(settings) as s:
        subject = subjects.resolve_subject(session=s, actor=actor, agent_id=agent_id, phone=phone)
        data = subjects.collect_subject_data(session=s, actor=actor, subject=subject)
        explained = explanations.explanation_data(session=s, org_id=actor.org_id, agent_id=subject.agent_id) \
            if subject.kind == "agent" else None
        audio_keys = {c.id: (c.audio_key, audio_extension(c)) for c in subjects.subject_calls(
            session=s, actor=actor, subject=subject) if c.audio_key} if include_audio else {}
        now = utcnow()
        ex = Export(org_id=actor.org_id, kind="subject", subject=subject.kind, include_audio=include_audio,
                    status="running", file_key=uuid.uuid4().hex, created_by=actor.user_id, created_at=now,
                    expires_at=now + timedelta(days=_export_days(s, actor.org_id, settings)))
        s.add(ex)
        s.flush()
        export_id, key = ex.id, ex.file_key
        # The subject itself (a name, a phone number) is personal data: the log keeps only its kind and id.
        audit.log_event(session=s, who=actor.who, action="export_requested", target_type="export",
                        target_id=ex.id, detail={"type": "personne", "personne": subject.kind,
                                                 "agent_id": subject.agent_id, "audio": include_audio})
    path = export_path(settings, actor.org_id, key)
    part = path.with_name(path.name + ".part")
    archive = _Archive(part, settings)
    archive.add("donnees.json", json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    archive.add("resume.txt", subjects.summary_text(data, settings=settings).encode("utf-8"))
    if explained is not None:  # an agent: the same explanation of their evaluations as their own download
        archive.add("explication_evaluations.txt", explanations.explanation_text(explained, settings=settings)
                    .encode("utf-8"))
    n_audio = 0
    for call_id, (audio_key, ext) in audio_keys.items():
        try:
            blob = storage.get_audio(audio_key, org_id=actor.org_id, settings=settings)
        except CcrError:
            continue
        archive.add(f"audio/{call_id}.{ext}", blob, compress=False)
        n_audio += 1
    counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
    counts["audio"] = n_audio
    manifest = {"format": MANIFEST_FORMAT, "kind": "subject", "subject_kind": data["personne"]["type"],
                "created_at": iso(utcnow()), "counts": counts}
    archive.close(manifest)
    part.replace(path)
    with db_session(settings) as s:
        _mark_done(s, export_id, manifest)
    return export_id


def _mark_done(s, export_id: int, manifest: dict) -> None:
    """Record a finished export and its manifest, in the caller's transaction."""
    ex = s.get(Export, export_id)
    ex.status, ex.progress = "done", 1.0
    ex.manifest_json = json.dumps(manifest, ensure_ascii=False, sort_keys=True)
    s.add(ex)


def audit_log_csv(*, actor: Actor, user: str | None = None, action: str | None = None, target: str | None = None,
                  since: datetime | None = None, until: datetime | None = None, limit: int = 100_000) -> bytes:
    """The filtered audit log of the actor's organisation as a neutralised CSV; the export is itself audited."""
    _require_role(actor)
    with db_session() as s:
        entries = audit.list_events(session=s, org_id=actor.org_id, user=user, action=action, target=target,
                                    since=since, until=until, limit=limit)
        audit.log_event(session=s, who=actor.who, action="audit_exported", target_type="audit_log",
                        detail={"lignes": len(entries)})
    return rows_to_csv((audit_row(e) for e in entries), AUDIT_FIELDS)


def audit_checkpoints_file(*, actor: Actor, settings: Settings | None = None) -> bytes:
    """The signed checkpoints and anchors of the actor's organisation's chain (JSON Lines); audited."""
    _require_role(actor)
    settings = settings or get_settings()
    audit.write_checkpoint(settings=settings)  # the copy ends with the head as of now
    data = audit.chain_records(actor.org_id, settings)
    with db_session(settings) as s:
        audit.log_event(session=s, who=actor.who, action="audit_checkpoints_exported", target_type="audit_log",
                        detail={"lignes": data.count(b"\n")})
    return data


def export_organisation_to_file(*, org_id: int, out: Path, include_audio: bool = False,
                                settings: Settings | None = None) -> dict[str, Any]:
    """Operator export (CLI) of an organisation whose users can no longer log in, e.g. after termination.

    Builds the same archive as the page, then writes the decrypted ZIP to ``out`` (0600); audited.
    """
    settings = settings or get_settings()
    with db_session(settings) as s:
        if s.get(Organisation, org_id) is None:
            raise NotFound("Organisation introuvable.")
        now = utcnow()
        ex = Export(org_id=org_id, kind="organisation", include_audio=include_audio, status="queued",
                    file_key=uuid.uuid4().hex, created_at=now,
                    expires_at=now + timedelta(days=_export_days(s, org_id, settings)))
        s.add(ex)
        s.flush()
        export_id = ex.id
        audit.log_event(session=s, who=audit.Who(org_id=org_id, username="cli"), action="export_requested",
                        target_type="export", target_id=export_id, detail={"type": "organisation",
                                                                           "audio": include_audio})
    build_organisation_export(export_id, settings=settings)
    with db_session(settings) as s:
        ex = s.get(Export, export_id)
        if ex.status != "done":
            raise CcrError(f"L'export a échoué : {ex.error}")
        data = sealed.open_bytes(export_path(settings, org_id, ex.file_key),
                                 sealed.derive_key(sealed.EXPORT_INFO, settings))
        audit.log_event(session=s, who=audit.Who(org_id=org_id, username="cli"), action="export_downloaded",
                        target_type="export", target_id=export_id, detail={"fichier": out.name})
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, sealed.FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return json.loads(ex.manifest_json or "{}")
