"""Encrypted audio storage: round trip, tenant binding, tamper detection, no plaintext on disk."""

from __future__ import annotations

import os

import pytest
from sqlmodel import select

from ccr.core import storage
from ccr.core.db import session
from ccr.core.errors import AccessDenied, CcrError, NotFound
from ccr.core.models import AuditLog, Call
from ccr.pipeline.ingest import ingest_files
from tests.audiodata import cut_wav, find_plaintext_audio

RECORDING = b"RIFF" + os.urandom(4000) + b"fin de l'appel"


def test_round_trip_returns_the_same_bytes_and_stores_only_ciphertext(settings_env):
    key = storage.put_audio(RECORDING, org_id=1)
    path = storage.audio_path(key, org_id=1)
    blob = path.read_bytes()
    assert blob.startswith(storage.MAGIC + bytes([storage.KEY_VERSION]))
    assert RECORDING[:64] not in blob and RECORDING[-64:] not in blob
    assert len(blob) == len(RECORDING) + storage.HEADER_LEN + 16  # nonce header + GCM tag
    assert storage.get_audio(key, org_id=1) == RECORDING


def test_stored_name_is_a_random_internal_id_under_the_org_directory(settings_env):
    keys = {storage.put_audio(RECORDING, org_id=7) for _ in range(3)}
    assert len(keys) == 3
    assert sorted(storage.iter_stored_keys(7)) == sorted(keys)
    for key in keys:
        assert storage.audio_path(key, org_id=7).parent == settings_env.audio_dir / "7"


def test_each_file_gets_its_own_nonce(settings_env):
    a = storage.audio_path(storage.put_audio(RECORDING, org_id=1), org_id=1).read_bytes()
    b = storage.audio_path(storage.put_audio(RECORDING, org_id=1), org_id=1).read_bytes()
    assert a[: storage.HEADER_LEN] != b[: storage.HEADER_LEN]
    assert a[storage.HEADER_LEN :] != b[storage.HEADER_LEN :]


def test_a_file_moved_to_another_organisation_cannot_be_decrypted(settings_env):
    key = storage.put_audio(RECORDING, org_id=1)
    other = storage.audio_path(key, org_id=2)
    other.parent.mkdir(parents=True)
    other.write_bytes(storage.audio_path(key, org_id=1).read_bytes())
    with pytest.raises(CcrError, match="altéré ou n'appartient pas"):
        storage.get_audio(key, org_id=2)


def test_a_file_swapped_for_another_key_cannot_be_decrypted(settings_env):
    a = storage.put_audio(RECORDING, org_id=1)
    b = storage.put_audio(b"autre enregistrement" * 10, org_id=1)
    storage.audio_path(b, org_id=1).write_bytes(storage.audio_path(a, org_id=1).read_bytes())
    with pytest.raises(CcrError, match="altéré"):
        storage.get_audio(b, org_id=1)


@pytest.mark.parametrize("offset", [0, 5, 6, 20, -1], ids=["magic", "version", "nonce", "ciphertext", "tag"])
def test_any_tampered_byte_is_detected(settings_env, offset):
    key = storage.put_audio(RECORDING, org_id=1)
    path = storage.audio_path(key, org_id=1)
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CcrError):
        storage.get_audio(key, org_id=1)


def test_a_different_secret_key_cannot_decrypt(settings_env, monkeypatch):
    from ccr.core.config import get_settings

    key = storage.put_audio(RECORDING, org_id=1)
    monkeypatch.setenv("CCR_SECRET_KEY", "f" * 64)
    get_settings.cache_clear()
    with pytest.raises(CcrError, match="altéré"):
        storage.get_audio(key, org_id=1)


@pytest.mark.parametrize("key", ["../../secret", "..", "abc", "A" * 32, "0" * 31 + "/", ""])
def test_keys_that_are_not_internal_ids_are_refused(settings_env, key):
    with pytest.raises(NotFound):
        storage.get_audio(key, org_id=1)
    with pytest.raises(NotFound):
        storage.delete_audio(key, org_id=1)


def test_delete_removes_the_file_and_is_idempotent(settings_env):
    key = storage.put_audio(RECORDING, org_id=1)
    assert storage.delete_audio(key, org_id=1) is True
    assert storage.delete_audio(key, org_id=1) is False
    with pytest.raises(NotFound, match="plus disponible"):
        storage.get_audio(key, org_id=1)
    assert list(storage.iter_stored_keys(1)) == []


def test_an_interrupted_write_leaves_no_file_and_no_temporary(settings_env, monkeypatch):
    def boom(*_args):
        raise OSError("disque plein")

    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(CcrError, match="n'a pas pu être écrit"):  # a French refusal, not a raw OSError
        storage.put_audio(RECORDING, org_id=1)
    assert list((settings_env.audio_dir / "1").iterdir()) == []


def test_no_plaintext_audio_in_the_data_directory_after_uploads(tenants):
    alpha, _ = tenants
    uploads = [cut_wav("a01-000.wav", 3), cut_wav("a01-002.wav", 2, start=5)]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("un.wav", uploads[0]), ("deux.wav", uploads[1])])
    assert [r.status for r in batch.results] == ["accepted", "accepted"]
    from ccr.core.config import get_settings

    assert find_plaintext_audio(get_settings().data_dir, uploads) == []
    assert len(list(storage.iter_stored_keys(alpha.org_id))) == 2


def test_load_call_audio_is_scoped_audited_and_refuses_restricted_calls(tenants):
    alpha, beta = tenants
    data = cut_wav("a01-000.wav", 2)
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", data)],
                         defaults={"team_id": alpha.team_ids[1]})
    call_id = batch.results[0].call_id
    with session() as s:
        assert storage.load_call_audio(session=s, actor=alpha.actor("supervisor"), call_id=call_id) == data
    with session() as s, pytest.raises(NotFound):
        storage.load_call_audio(session=s, actor=beta.actor("admin"), call_id=call_id)
    with session() as s, pytest.raises(NotFound):  # the team lead of team 1 cannot hear team 2's call
        storage.load_call_audio(session=s, actor=alpha.actor("team_lead"), call_id=call_id)
    with session() as s:
        call = s.get(Call, call_id)
        call.restricted = True
        s.add(call)
    with session() as s, pytest.raises(AccessDenied, match="limitation"):
        storage.load_call_audio(session=s, actor=alpha.actor("supervisor"), call_id=call_id)
    with session() as s:
        actions = [(e.action, e.outcome) for e in s.exec(
            select(AuditLog).where(AuditLog.target_id == str(call_id)).order_by(AuditLog.id)).all()]
    assert ("audio_played", "ok") in actions
    assert ("audio_accessed", "refused") in actions


def test_the_plaintext_scan_finds_a_copy_of_an_upload(tmp_path):
    upload = cut_wav("a01-001.wav", 2, start=3)
    (tmp_path / "cache.bin").write_bytes(b"xx" + upload[len(upload) // 3 :])
    (tmp_path / "entete.tmp").write_bytes(b"RIFF....WAVEfmt ")
    hits = find_plaintext_audio(tmp_path, [upload])
    assert any("cache.bin" in h for h in hits) and any("entete.tmp" in h for h in hits)
