"""Recordings encrypted at rest: AES-256-GCM, one file per call, decrypted in memory only.

File format (``<audio_dir>/<org_id>/<key>.enc``)::

    b"CCRA1" | key version (1 byte) | nonce (12 bytes) | ciphertext + 16-byte GCM tag

- The key of version *v* is derived from the secret key with HKDF-SHA256 (info ``ccr-audio-v<v>``).
  The version byte makes key rotation possible: a new version encrypts new files while old
  files stay readable with the key their header names.
- The associated data binds a file to its organisation and storage key, so a file copied into
  another tenant's directory, or renamed, fails authentication instead of being played.
- Files are written atomically (temporary file in the same directory, fsync, ``os.replace``);
  the temporary file only ever holds ciphertext. No plaintext audio is ever written to disk.
- The stored name is a random internal id; the uploaded name is untrusted and never a path.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session

from ccr.core import audit
from ccr.core.calls import get_call
from ccr.core.config import Settings, get_settings
from ccr.core.errors import AccessDenied, CcrError, NotFound
from ccr.core.users import Actor

log = logging.getLogger(__name__)

MAGIC = b"CCRA1"
KEY_VERSION = 1  # bump to rotate: new files use the new key, the header tells which key opens a file
NONCE_LEN = 12  # 96 bits: the GCM nonce size NIST recommends; random per file, never reused
KEY_LEN = 32  # AES-256
HEADER_LEN = len(MAGIC) + 1 + NONCE_LEN
SUFFIX = ".enc"
TMP_PREFIX = ".tmp-"  # temporary files of an interrupted write; they hold ciphertext only
KEY_BYTES = 16  # 128-bit random ids: unguessable and collision-free
_KEY_RE = re.compile(r"^[0-9a-f]{32}$")  # exactly what new_key() makes: never a path
# Everything under the data directory (database and its -wal/-shm, secret key, recordings, exports,
# backups) holds transcripts, names, phone numbers or password hashes: owner-only, whatever the umask
# the service was started with.
# The database and what SQLite keeps beside it (write-ahead log, its index, a rollback journal).


def _derive_key(settings: Settings, version: int) -> bytes:
    if version < 1 or version > 255:
        raise CcrError(f"Version de clé de chiffrement audio inconnue ({version}).")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=f"ccr-audio-v{version}".encode())
    return hkdf.derive(settings.secret().encode("utf-8"))


def _aad(org_id: int, key: str, version: int) -> bytes:
    # The header is authenticated too: changing the version byte cannot select another key silently.
    return MAGIC + bytes([version]) + f"|org={int(org_id)}|key={key}".encode("ascii")


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise NotFound("Enregistrement introuvable.")
    return key


def audio_path(key: str, *, org_id: int, settings: Settings | None = None) -> Path:
    """Where the encrypted file of ``key`` lives (the key is validated: it can never name another path)."""
    settings = settings or get_settings()
    return settings.audio_dir / str(int(org_id)) / f"{_check_key(key)}{SUFFIX}"


def encrypt(data: bytes, *, org_id: int, key: str, settings: Settings | None = None,
            version: int = KEY_VERSION) -> bytes:
    """The encrypted file content of ``data`` for this organisation and storage key."""
    settings = settings or get_settings()
    nonce = os.urandom(NONCE_LEN)
    ct = AESGCM(_derive_key(settings, version)).encrypt(nonce, data, _aad(org_id, key, version))
    return MAGIC + bytes([version]) + nonce + ct


def decrypt(blob: bytes, *, org_id: int, key: str, settings: Settings | None = None) -> bytes:
    """The plaintext of an encrypted file, checked against its organisation and storage key."""
    settings = settings or get_settings()
    if len(blob) < HEADER_LEN + 16 or not blob.startswith(MAGIC):
        raise CcrError("Le fichier audio chiffré est illisible (en-tête invalide).")
    version = blob[len(MAGIC)]
    nonce = blob[len(MAGIC) + 1 : HEADER_LEN]
    try:
        return AESGCM(_derive_key(settings, version)).decrypt(nonce, blob[HEADER_LEN:], _aad(org_id, key, version))
    except InvalidTag as e:
        raise CcrError(
            "Le fichier audio chiffré a été altéré ou n'appartient pas à cette organisation : lecture refusée."
        ) from e


def new_key() -> str:
    """A fresh random storage id."""
    return secrets.token_hex(KEY_BYTES)


def put_audio(data: bytes, *, org_id: int, settings: Settings | None = None) -> str:
    """Encrypt and store a recording atomically; return its storage key."""
    settings = settings or get_settings()
    key = new_key()
    path = audio_path(key, org_id=org_id, settings=settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    blob = encrypt(data, org_id=org_id, key=key, settings=settings)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):  # a full disk must refuse this upload in French, not kill the batch
            raise CcrError(_write_error_message(err)) from err
        raise
    _fsync_dir(path.parent)
    return key


def _write_error_message(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return ("Espace disque insuffisant sur le serveur : l'enregistrement n'a pas été stocké. "
                "Prévenez l'administrateur, puis importez-le de nouveau.")
    return (f"L'enregistrement n'a pas pu être écrit sur le disque du serveur ({err.strerror or 'erreur système'}) :"
            " prévenez l'administrateur.")


def get_audio(key: str, *, org_id: int, settings: Settings | None = None) -> bytes:
    """Read and decrypt a stored recording, in memory."""
    path = audio_path(key, org_id=org_id, settings=settings)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as e:
        raise NotFound("L'enregistrement audio de cet appel n'est plus disponible.") from e
    return decrypt(blob, org_id=org_id, key=key, settings=settings)


def delete_audio(key: str, *, org_id: int, settings: Settings | None = None) -> bool:
    """Delete a stored recording; True when a file was removed (a missing one is not an error)."""
    path = audio_path(key, org_id=org_id, settings=settings)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(path.parent)
    return True


def iter_stored_keys(org_id: int, *, settings: Settings | None = None) -> Iterator[str]:
    """Storage keys present on disk for an organisation (orphan sweeps compare them with the database)."""
    settings = settings or get_settings()
    folder = settings.audio_dir / str(int(org_id))
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if entry.is_file() and name.endswith(SUFFIX) and _KEY_RE.match(name[: -len(SUFFIX)]):
            yield name[: -len(SUFFIX)]


def load_call_audio(*, session: Session, actor: Actor, call_id: int, purpose: str = "lecture") -> bytes:
    """The decrypted recording of a call the actor may see (player, export); the access is audited."""
    call = get_call(session=session, actor=actor, call_id=call_id)
    if call.restricted:
        audit.log_event(session=session, who=actor.who, action="audio_accessed", target_type="call",
                        target_id=call.id, outcome="refused", detail={"motif": "appel restreint"})
        raise AccessDenied("Cet appel fait l'objet d'une limitation du traitement : son enregistrement "
                           "ne peut pas être écouté.")
    if not call.audio_key:
        raise NotFound("L'enregistrement audio de cet appel n'est plus disponible (supprimé ou expiré).")
    data = get_audio(call.audio_key, org_id=call.org_id)
    audit.log_event(session=session, who=actor.who,
                    action="audio_played" if purpose == "lecture" else "audio_accessed",
                    target_type="call", target_id=call.id, detail={"usage": purpose})
    return data


def _fsync_dir(folder: Path) -> None:
    # The rename itself must be durable, or a crash could lose a file the database points to.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems cannot sync a directory
            os.fsync(fd)
    finally:
        os.close(fd)
