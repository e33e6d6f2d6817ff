"""Rotation of the master secret: every encrypted file is re-encrypted with keys derived from a new secret.

``python -m ccr rotate-key`` (server and workers stopped) does, in this order:

1. writes the new secret to ``data/secret.key.new`` (0600), or reuses it when a previous run was
   interrupted: the rotation is resumable;
2. re-encrypts every recording (``ccr.core.storage``), export and backup (``ccr.core.sealed``; the recordings
   inside a backup too), one file at a time, atomically (temporary file, fsync, ``os.replace``).
   A file that already opens with the new secret is skipped (AES-GCM authentication tells which
   secret sealed it), so a second run finishes the first; then re-keys the audit chains
   (``ccr.core.audit.rekey_chains``: verified under the old key, re-hashed, recorded, checkpointed anew);
3. copies the old secret to ``secret.key.old-<horodatage>`` (0600), moves the new one into
   ``secret.key``, and deletes the old copy unless ``keep_old`` is asked.

Everything else derived from the secret changes with it, by design: login cookies (every user logs
in again), consent cookies (the banner asks again) and the calibration sample of the review queue.
A secret given by ``CCR_SECRET_KEY`` cannot be replaced from here: the command refuses.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ccr.core import audit, outbox, sealed, storage
from ccr.core.config import SECRET_KEY_FILE, Settings, get_settings
from ccr.core.db import session as db_session
from ccr.core.db import utcnow
from ccr.core.errors import CcrError, ConfigError, InvalidInput
from ccr.privacy.backup import AUDIO_MEMBER_RE, list_backups
from ccr.privacy.records import EXPORT_SUFFIX

NEW_SUFFIX = ".new"  # the secret being rolled out; its presence means a rotation is under way
OLD_INFIX = ".old-"  # the previous secret, kept until the new one is in place
KEY_MODE = 0o600  # secrets are readable by the service account only
NEW_SECRET_BYTES = 32  # 256 bits, as the first-start secret of ccr.core.config
BACKUP_AUDIO_PREFIX = "audio/"


@dataclass
class RotationReport:
    """What a rotation did: files re-encrypted per kind, files already under the new secret."""

    audio: int = 0
    exports: int = 0
    backups: int = 0
    already_done: int = 0
    audit_chains: int = 0  # audit chains re-hashed under the new secret (ccr.core.audit.rekey_chains)
    webhook_secrets: int = 0  # webhook signing secrets sealed again (ccr.core.outbox.reseal_secrets)

    @property
    def total(self) -> int:
        """Files re-encrypted by this run."""
        return self.audio + self.exports + self.backups


def _with_secret(settings: Settings, value: str) -> Settings:
    return settings.model_copy(update={"secret_key": SecretStr(value)})


def _write_secret(path: Path, value: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_with(path: Path, write) -> None:
    """Write a new version of ``path`` through ``write(tmp_path)`` then swap it in atomically."""
    tmp = path.with_name(f"{storage.TMP_PREFIX}rot-{path.name}")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, KEY_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _opens_with(path: Path, key: bytes) -> bool:
    try:
        next(sealed.iter_open(path, key))
    except CcrError:
        return False
    return True


# --- recordings ---------------------------------------------------------------------------------


def _decrypts(blob: bytes, org_id: int, key: str, settings: Settings) -> bool:
    """True when ``blob`` already decrypts with ``settings``' secret."""
    try:
        storage.decrypt(blob, org_id=org_id, key=key, settings=settings)
    except CcrError:
        return False
    return True


def _rotate_audio(old: Settings, new: Settings, report: RotationReport) -> None:
    root = old.audio_dir
    if not root.is_dir():
        return
    for org_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        org_id = int(org_dir.name)
        for key in storage.iter_stored_keys(org_id, settings=old):
            path = storage.audio_path(key, org_id=org_id, settings=old)
            blob = path.read_bytes()
            if _decrypts(blob, org_id, key, new):  # re-encrypted by an interrupted earlier run
                report.already_done += 1
                continue
            data = storage.decrypt(blob, org_id=org_id, key=key, settings=old)
            fresh = storage.encrypt(data, org_id=org_id, key=key, settings=new)
            _replace_with(path, lambda tmp, fresh=fresh: tmp.write_bytes(fresh))
            report.audio += 1


# --- exports and backups ------------------------------------------------------------------------


def _reseal(src: Path, dst: Path, old_key: bytes, new_key: bytes) -> None:
    with sealed.SealedWriter(dst, new_key) as writer:
        for chunk in sealed.iter_open(src, old_key):
            writer.write(chunk)


def _reseal_backup(src: Path, dst: Path, old: Settings, new: Settings) -> None:
    """Re-seal a backup, re-encrypting the recordings it holds (else a restore would bring old-key audio)."""
    old_key, new_key = sealed.derive_key(sealed.BACKUP_INFO, old), sealed.derive_key(sealed.BACKUP_INFO, new)
    reader = io.BufferedReader(sealed.ChunkStream(sealed.iter_open(src, old_key)))
    with sealed.SealedWriter(dst, new_key) as writer, tarfile.open(fileobj=writer, mode="w|") as out, \
            tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            if m := AUDIO_MEMBER_RE.match(member.name):
                org_id, key = int(m.group(1)), m.group(2)[: -len(storage.SUFFIX)]
                plain = storage.decrypt(data, org_id=org_id, key=key, settings=old)
                data = storage.encrypt(plain, org_id=org_id, key=key, settings=new)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def _rotate_sealed(old: Settings, new: Settings, report: RotationReport) -> None:
    old_key, new_key = sealed.derive_key(sealed.EXPORT_INFO, old), sealed.derive_key(sealed.EXPORT_INFO, new)
    if old.exports_dir.is_dir():
        for path in sorted(old.exports_dir.glob(f"*/*{EXPORT_SUFFIX}")):
            if _opens_with(path, new_key):
                report.already_done += 1
                continue
            _replace_with(path, lambda tmp, path=path: _reseal(path, tmp, old_key, new_key))
            report.exports += 1
    new_backup_key = sealed.derive_key(sealed.BACKUP_INFO, new)
    for path in list_backups(old):
        if _opens_with(path, new_backup_key):
            report.already_done += 1
            continue
        _replace_with(path, lambda tmp, path=path: _reseal_backup(path, tmp, old, new))
        report.backups += 1


# --- the rotation -------------------------------------------------------------------------------


def rotate_secret(*, new_secret: str | None = None, keep_old: bool = False,
                  settings: Settings | None = None) -> RotationReport:
    """Re-encrypt every recording, export and backup under a new master secret, then install it.

    Resumable: an interrupted run leaves ``secret.key.new`` and the next run finishes the work."""
    settings = settings or get_settings()
    if settings.secret_key is not None:
        raise ConfigError("La clé secrète vient de CCR_SECRET_KEY : la rotation ne peut pas la remplacer. "
                          "Retirez la variable pour utiliser data/secret.key, ou faites la rotation à la main.")
    old_value = settings.secret()  # creates data/secret.key on a fresh install: nothing to re-encrypt then
    key_path = settings.data_dir / SECRET_KEY_FILE
    new_path = key_path.with_name(key_path.name + NEW_SUFFIX)
    if new_path.exists():
        new_value = new_path.read_text().strip()
        if new_secret is not None and new_secret.strip() != new_value:
            raise InvalidInput(f"Une rotation interrompue utilise déjà une autre nouvelle clé ({new_path.name}) : "
                               "relancez la commande sans nouvelle clé pour la terminer.")
    else:
        new_value = (new_secret or secrets.token_hex(NEW_SECRET_BYTES)).strip()
        _with_secret(settings, new_value).secret()  # the same checks as at start: no default, long enough
        if new_value == old_value:
            raise InvalidInput("La nouvelle clé secrète est identique à l'actuelle.")
        _write_secret(new_path, new_value)
    old, new = _with_secret(settings, old_value), _with_secret(settings, new_value)

    report = RotationReport()
    _rotate_audio(old, new, report)
    _rotate_sealed(old, new, report)
    report.audit_chains = len(audit.rekey_chains(old=old, new=new))
    with db_session(new) as s:
        report.webhook_secrets = outbox.reseal_secrets(s, old, new)

    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    old_path = key_path.with_name(f"{key_path.name}{OLD_INFIX}{stamp}")
    _write_secret(old_path, old_value)
    os.replace(new_path, key_path)
    _fsync_dir(key_path.parent)
    if not keep_old:
        old_path.unlink()
    get_settings.cache_clear()
    return report
