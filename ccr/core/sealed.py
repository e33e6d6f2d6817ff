"""Sealed files: exports and backups encrypted at rest, written and read as a stream.

Format: ``MAGIC`` + an 8-byte random nonce prefix, then chunks of ``4-byte length + AES-GCM
ciphertext``. Chunk ``i`` uses the nonce ``prefix || i`` and the associated data ``b"\\x01"`` on the
last chunk only, so a truncated or reordered file fails to open instead of reading short.
The key is derived from the master secret with HKDF and a purpose label (``info``), so an export
key never decrypts a backup or a recording.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ccr.core.config import Settings, get_settings
from ccr.core.errors import CcrError

MAGIC = b"CCRSL1"
CHUNK = 1 << 20  # 1 MiB: bounded memory whatever the archive size
PREFIX_LEN = 8  # random per file; with a 4-byte chunk counter it completes the 96-bit GCM nonce
FILE_MODE = 0o600  # only the service account reads exports and backups
EXPORT_INFO = b"ccr-export-v1"
BACKUP_INFO = b"ccr-backup-v1"


def derive_key(info: bytes, settings: Settings | None = None) -> bytes:
    """A 256-bit key for one purpose, derived from the master secret with HKDF-SHA256."""
    secret = (settings or get_settings()).secret().encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class SealedWriter:
    """A write-only, non-seekable file object that encrypts what it receives into ``path`` (mode 0600)."""

    def __init__(self, path: Path, key: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self._aes = AESGCM(key)
        self._prefix = os.urandom(PREFIX_LEN)
        self._buf = bytearray()
        self._index = 0
        self._fh.write(MAGIC + self._prefix)
        self.closed = False

    def writable(self) -> bool:
        """Always True: this is an output stream."""
        return True

    def seekable(self) -> bool:
        """False: zipfile then writes data descriptors instead of seeking back."""
        return False

    def _emit(self, data: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        ct = self._aes.encrypt(nonce, bytes(data), b"\x01" if last else b"\x00")
        self._fh.write(struct.pack(">I", len(ct)) + ct)
        self._index += 1

    def write(self, data: bytes) -> int:
        """Buffer ``data`` and encrypt every full chunk."""
        self._buf += data
        while len(self._buf) > CHUNK:
            self._emit(self._buf[:CHUNK], last=False)
            del self._buf[:CHUNK]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: chunks are written when full, the rest on close."""

    def close(self) -> None:
        """Encrypt the last chunk (marked final) and close the file."""
        if self.closed:
            return
        self._emit(self._buf, last=True)
        self._buf.clear()
        self._fh.close()
        self.closed = True

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_open(path: Path, key: bytes) -> Iterator[bytes]:
    """Yield the decrypted chunks of a sealed file; raises CcrError if it was altered or truncated."""
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC) + PREFIX_LEN)
        if not head.startswith(MAGIC) or len(head) != len(MAGIC) + PREFIX_LEN:
            raise CcrError(f"Fichier chiffré illisible : {path.name}.")
        prefix = head[len(MAGIC):]
        aes = AESGCM(key)
        index = 0
        while True:
            size = fh.read(4)
            if len(size) != 4:
                raise CcrError(f"Fichier chiffré tronqué : {path.name}.")
            ct = fh.read(struct.unpack(">I", size)[0])
            nonce = prefix + struct.pack(">I", index)
            index += 1
            with contextlib.suppress(InvalidTag):  # not a middle chunk: it must be the final one
                yield aes.decrypt(nonce, ct, b"\x00")
                continue
            try:
                plain = aes.decrypt(nonce, ct, b"\x01")
            except InvalidTag as err:
                raise CcrError(f"Fichier chiffré altéré ou mauvaise clé : {path.name}.") from err
            if fh.read(1):
                raise CcrError(f"Fichier chiffré altéré (données après la fin) : {path.name}.")
            yield plain
            return


def open_bytes(path: Path, key: bytes) -> bytes:
    """The whole decrypted content of a sealed file, in memory."""
    return b"".join(iter_open(path, key))


class ChunkStream(io.RawIOBase):
    """A readable stream over decrypted chunks, so ``tarfile`` can read a sealed backup as a stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        """Always readable: it is a source of bytes."""
        return True

    def readinto(self, b) -> int:
        """Fill ``b`` from the next decrypted chunks; 0 at the end."""
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n
