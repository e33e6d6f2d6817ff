"""Sealed files: encrypted streams round-trip, keep mode 0600 and refuse tampering, truncation and wrong keys."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from ccr.core import sealed
from ccr.core.config import Settings
from ccr.core.errors import CcrError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _seal(path, data: bytes, key: bytes = KEY, pieces: int = 1):
    with sealed.SealedWriter(path, key) as w:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            w.write(data[i:i + step])
    return path


def test_small_and_multi_chunk_contents_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 16)  # many chunks without writing megabytes
    for name, data in (("empty", b""), ("small", b"bonjour"), ("big", os.urandom(1000))):
        path = _seal(tmp_path / name, data, pieces=7)
        assert sealed.open_bytes(path, KEY) == data
    assert len(list(sealed.iter_open(tmp_path / "big", KEY))) > 1


def test_file_is_created_private_in_a_new_folder_and_not_plaintext(tmp_path):
    path = _seal(tmp_path / "sub" / "dir" / "x.sealed", b"secret-client-data" * 10)
    assert stat.S_IMODE(path.stat().st_mode) == sealed.FILE_MODE == 0o600
    raw = path.read_bytes()
    assert raw.startswith(sealed.MAGIC)
    assert b"secret-client-data" not in raw


def test_wrong_key_is_refused(tmp_path):
    path = _seal(tmp_path / "x", b"donnees")
    with pytest.raises(CcrError, match="mauvaise clé"):
        sealed.open_bytes(path, OTHER_KEY)


def test_a_flipped_byte_is_detected(tmp_path):
    path = _seal(tmp_path / "x", b"donnees " * 50)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CcrError):
        sealed.open_bytes(path, KEY)


def test_truncation_and_trailing_data_and_bad_header_are_detected(tmp_path, monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 16)
    path = _seal(tmp_path / "x", os.urandom(100))
    raw = path.read_bytes()
    # Dropping the last chunk leaves only non-final chunks: the file must not read short.
    first_len = int.from_bytes(raw[14:18], "big")
    path.write_bytes(raw[:18 + first_len])
    with pytest.raises(CcrError, match="tronqué"):
        sealed.open_bytes(path, KEY)
    path.write_bytes(raw + b"x")
    with pytest.raises(CcrError, match="après la fin"):
        sealed.open_bytes(path, KEY)
    path.write_bytes(b"NOTSEALED" + raw[9:])
    with pytest.raises(CcrError, match="illisible"):
        sealed.open_bytes(path, KEY)


def test_derived_keys_depend_on_purpose_and_secret(tmp_path):
    s1 = Settings(data_dir=tmp_path, secret_key="a" * 64, _env_file=None)
    s2 = Settings(data_dir=tmp_path, secret_key="b" * 64, _env_file=None)
    export_key = sealed.derive_key(sealed.EXPORT_INFO, s1)
    assert len(export_key) == 32
    assert export_key == sealed.derive_key(sealed.EXPORT_INFO, s1)
    assert export_key != sealed.derive_key(sealed.BACKUP_INFO, s1)
    assert export_key != sealed.derive_key(sealed.EXPORT_INFO, s2)
    path = _seal(tmp_path / "x", b"export", key=export_key)
    with pytest.raises(CcrError):
        sealed.open_bytes(path, sealed.derive_key(sealed.BACKUP_INFO, s1))


def test_a_sealed_tar_stream_reads_back_through_chunk_stream(tmp_path, monkeypatch):
    monkeypatch.setattr(sealed, "CHUNK", 64)
    path = tmp_path / "backup.sealed"
    payload = os.urandom(500)
    with sealed.SealedWriter(path, KEY) as w:
        assert w.writable() and not w.seekable()
        with tarfile.open(fileobj=w, mode="w|gz") as tar:
            info = tarfile.TarInfo("data.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    stream = io.BufferedReader(sealed.ChunkStream(sealed.iter_open(path, KEY)))
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        member = next(iter(tar))
        assert member.name == "data.bin"
        assert tar.extractfile(member).read() == payload


def test_closing_twice_writes_the_final_chunk_once(tmp_path):
    path = tmp_path / "x"
    w = sealed.SealedWriter(path, KEY)
    w.write(b"abc")
    w.close()
    size = path.stat().st_size
    w.close()
    assert path.stat().st_size == size
    assert sealed.open_bytes(path, KEY) == b"abc"
