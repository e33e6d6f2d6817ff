"""Encrypted backups of the embedded mode: a consistent online copy of the SQLite database plus the
(already encrypted) recordings, in one tar sealed with AES-GCM (``ccr.core.sealed``, HKDF info
``ccr-backup-v1``). The newest ``Settings.backup_keep`` backups are kept.

The copy uses SQLite's online backup API into memory, so the server keeps running and no
plaintext copy of the database is written outside the data directory. A backup opens only with
the same secret key: keep ``data/secret.key`` (or ``CCR_SECRET_KEY``) safe, apart from backups.
PostgreSQL deployments use ``pg_dump`` instead.

A restore migrates the restored database and records itself in the audit log (``ccr.core.audit.record_restore``):
the signed checkpoints of entries it discarded, kept outside the database, are then not taken for a truncation.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import tarfile
import time
from pathlib import Path
from typing import Any

from ccr.core import audit
from ccr.core.config import Settings, get_settings
from ccr.core.db import dispose_engines, migrate, utcnow
from ccr.core.errors import ConfigError, InvalidInput
from ccr.core.sealed import BACKUP_INFO, FILE_MODE, ChunkStream, SealedWriter, derive_key, iter_open

BACKUP_PREFIX = "ccr-backup-"
BACKUP_SUFFIX = ".tar.enc"
DB_MEMBER = "ccr.db"
MANIFEST_MEMBER = "backup.json"
AUDIO_MEMBER_RE = re.compile(r"^audio/(\d+)/([0-9a-f]{32}\.enc)$")  # nothing else is ever extracted
PG_MESSAGE = (
    "La sauvegarde intégrée ne concerne que SQLite. Avec PostgreSQL, sauvegardez la base avec "
    "pg_dump (par exemple : pg_dump -Fc -f ccr.dump \"$DATABASE_URL\") et copiez le répertoire "
    "data/audio chiffré à part."
)


def _require_sqlite(settings: Settings) -> Path:
    if not settings.is_sqlite:
        raise ConfigError(PG_MESSAGE)
    return settings.data_dir / "ccr.db"


def _db_snapshot(db_path: Path) -> bytes:
    """A transactionally consistent copy of a live SQLite database, in memory."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    dest = sqlite3.connect(":memory:")
    try:
        src.backup(dest)
        return dest.serialize()
    finally:
        src.close()
        dest.close()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = FILE_MODE
    tar.addfile(info, io.BytesIO(data))


def list_backups(settings: Settings | None = None) -> list[Path]:
    """Backups on disk, oldest first."""
    settings = settings or get_settings()
    if not settings.backups_dir.is_dir():
        return []
    return sorted(p for p in settings.backups_dir.iterdir()
                  if p.name.startswith(BACKUP_PREFIX) and p.name.endswith(BACKUP_SUFFIX))


def create_backup(settings: Settings | None = None) -> Path:
    """Write an encrypted backup of the database and recordings; older ones beyond the cap are deleted."""
    settings = settings or get_settings()
    db_path = _require_sqlite(settings)
    if not db_path.exists():
        raise InvalidInput("Aucune base de données à sauvegarder.")
    db = _db_snapshot(db_path)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S-%f")
    path = settings.backups_dir / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"
    settings.backups_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(path.name + ".part")
    audio = sorted(settings.audio_dir.glob("*/*.enc")) if settings.audio_dir.is_dir() else []
    audio = [p for p in audio if AUDIO_MEMBER_RE.match(f"audio/{p.parent.name}/{p.name}")]
    manifest = {"format": "ccr-backup-1", "created_at": utcnow().isoformat(timespec="seconds"),
                "db_sha256": hashlib.sha256(db).hexdigest(), "db_bytes": len(db), "audio_files": len(audio)}
    with SealedWriter(part, derive_key(BACKUP_INFO, settings)) as writer, \
            tarfile.open(fileobj=writer, mode="w|") as tar:
        _add(tar, MANIFEST_MEMBER, json.dumps(manifest, indent=2).encode())
        _add(tar, DB_MEMBER, db)
        for p in audio:
            try:
                _add(tar, f"audio/{p.parent.name}/{p.name}", p.read_bytes())
            except FileNotFoundError:  # deleted by the purge meanwhile: nothing to keep
                continue
    part.replace(path)
    for old in list_backups(settings)[: -max(settings.backup_keep, 1)]:
        old.unlink(missing_ok=True)
    return path


def _db_has_data(db_path: Path) -> bool:
    if not db_path.exists() or db_path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return "organisation" in tables and conn.execute("SELECT count(*) FROM organisation").fetchone()[0] > 0
    finally:
        conn.close()


def restore_backup(path: Path, *, force: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Restore a backup into the data directory (server stopped); refuses a non-empty database unless forced."""
    settings = settings or get_settings()
    db_path = _require_sqlite(settings)
    if not path.is_file():
        raise InvalidInput(f"Sauvegarde introuvable : {path}.")
    if _db_has_data(db_path) and not force:
        raise InvalidInput("La base de données actuelle contient des données : restauration refusée "
                           "(ajoutez --force pour l'écraser, serveur arrêté).")
    stream = io.BufferedReader(ChunkStream(iter_open(path, derive_key(BACKUP_INFO, settings))))
    db_bytes, audio_files, manifest = None, 0, {}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            if member.name == MANIFEST_MEMBER:
                manifest = json.loads(data)
            elif member.name == DB_MEMBER:
                db_bytes = data
            elif m := AUDIO_MEMBER_RE.match(member.name):
                target = settings.audio_dir / m.group(1) / m.group(2)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_atomic(target, data)
                audio_files += 1
    if db_bytes is None:
        raise InvalidInput("Sauvegarde incomplète : la base de données est absente.")
    if manifest.get("db_sha256") and hashlib.sha256(db_bytes).hexdigest() != manifest["db_sha256"]:
        raise InvalidInput("Sauvegarde corrompue : l'empreinte de la base ne correspond pas.")
    dispose_engines()
    for suffix in ("-wal", "-shm"):  # a stale WAL would be replayed over the restored database
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    _write_atomic(db_path, db_bytes)
    migrate(settings)  # the audit chains are appended to in the current format
    chains = audit.record_restore(backup=path.name, backup_at=manifest.get("created_at"), settings=settings)
    return {"db_bytes": len(db_bytes), "audio_files": audio_files, "created_at": manifest.get("created_at"),
            "audit_chains": chains}


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".restore-{os.getpid()}-{target.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
