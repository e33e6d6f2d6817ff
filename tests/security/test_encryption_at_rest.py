"""Encryption at rest: after a full journey no recording and no transcript text lies in plaintext in the data
directory, except in the SQLite database (transcripts live there by design: they are searched with FTS5),
and ``python -m ccr rotate-key`` re-encrypts every recording, export and backup under a new secret.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from sqlmodel import select

from ccr import cli
from ccr.core import sealed, storage
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError, ConfigError
from ccr.core.models import Call, Transcript
from ccr.pipeline import worker
from ccr.pipeline.ingest import ingest_files
from ccr.privacy import backup, exports, keys
from tests.audiodata import cut_wav, find_plaintext_audio, offline_model_dir

DB_FILES = {"ccr.db", "ccr.db-wal", "ccr.db-shm"}  # the database holds transcripts by design


def _non_db_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and p.name not in DB_FILES]


@pytest.mark.slow
def test_no_audio_or_transcript_in_plaintext_outside_the_database_after_a_full_journey(
        tenants, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CCR_ASR_MODEL", str(offline_model_dir(tmp_path_factory)))
    get_settings.cache_clear()
    settings = get_settings()
    alpha, _ = tenants
    uploads = [cut_wav("a01-000.wav", 8), cut_wav("a01-001.wav", 6)]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("un.wav", uploads[0]), ("deux.wav", uploads[1])])
    assert worker.run_worker("hote:1:w0", once=True) == 2
    with session() as s:
        texts = [t.text for t in s.exec(select(Transcript)).all()]
        assert all(c.status == "done" for c in s.exec(select(Call)).all())
    dpo = alpha.actor("dpo")
    exports.start_organisation_export(actor=dpo, include_audio=True, background=False)
    with session() as s:
        agent_call = s.get(Call, batch.call_ids[0])
        agent_call.agent_id = alpha.agent_ids[0]
        s.add(agent_call)
    exports.create_subject_export(actor=dpo, agent_id=alpha.agent_ids[0], include_audio=True)
    backup.create_backup(settings)

    files = _non_db_files(settings.data_dir)
    names = {p.relative_to(settings.data_dir).parts[0] for p in files}
    assert {"audio", "exports", "backups"} <= names, names  # the journey really wrote all three
    assert find_plaintext_audio(settings.data_dir, uploads) == [] or all(
        h.split(":")[0] in DB_FILES for h in find_plaintext_audio(settings.data_dir, uploads))
    sentences = [line.strip() for text in texts for line in text.splitlines() if len(line.strip()) >= 20]
    assert sentences, texts
    for path in files:
        blob = path.read_bytes()
        for sentence in sentences[:20]:
            assert sentence.encode("utf-8") not in blob, (path, sentence)
    # The database does hold them (by design), which proves the search above could find them.
    db_blob = b"".join((settings.data_dir / n).read_bytes() for n in DB_FILES if (settings.data_dir / n).exists())
    assert any(s.encode("utf-8") in db_blob for s in sentences)


# --- key rotation -------------------------------------------------------------------------------------


@pytest.fixture
def stored(tenants):
    """Two recordings, an organisation export with audio, a subject export and a backup, under the old key."""
    settings = get_settings()
    alpha, _ = tenants
    uploads = [cut_wav("a01-002.wav", 3), cut_wav("a01-003.wav", 3)]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("a.wav", uploads[0]), ("b.wav", uploads[1])])
    with session() as s:
        call = s.get(Call, batch.call_ids[0])
        call.agent_id = alpha.agent_ids[0]
        s.add(call)
    dpo = alpha.actor("dpo")
    exports.start_organisation_export(actor=dpo, include_audio=True, background=False)
    exports.create_subject_export(actor=dpo, agent_id=alpha.agent_ids[0])
    backup.create_backup(settings)
    return {"alpha": alpha, "uploads": uploads, "call_ids": batch.call_ids, "old": settings.secret()}


def _sealed_files(settings):
    return sorted(settings.exports_dir.glob("*/*.zip.enc")), backup.list_backups(settings)


def _assert_everything_under(settings, secret: str, other: str, world) -> None:
    good, bad = keys._with_secret(settings, secret), keys._with_secret(settings, other)
    alpha = world["alpha"]
    with session() as s:
        calls = s.exec(select(Call).where(Call.org_id == alpha.org_id).order_by(Call.id)).all()
    for call, upload in zip(calls, world["uploads"], strict=True):
        blob = storage.audio_path(call.audio_key, org_id=call.org_id, settings=settings).read_bytes()
        assert storage.decrypt(blob, org_id=call.org_id, key=call.audio_key, settings=good) == upload
        with pytest.raises(CcrError):
            storage.decrypt(blob, org_id=call.org_id, key=call.audio_key, settings=bad)
    export_files, backup_files = _sealed_files(settings)
    assert len(export_files) == 2 and len(backup_files) == 1
    for path in export_files:
        assert sealed.open_bytes(path, sealed.derive_key(sealed.EXPORT_INFO, good))[:2] == b"PK"
        with pytest.raises(CcrError):
            sealed.open_bytes(path, sealed.derive_key(sealed.EXPORT_INFO, bad))
    raw = sealed.open_bytes(backup_files[0], sealed.derive_key(sealed.BACKUP_INFO, good))
    with pytest.raises(CcrError):
        sealed.open_bytes(backup_files[0], sealed.derive_key(sealed.BACKUP_INFO, bad))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:  # the recordings inside the backup moved too
        inner = [m for m in tar.getmembers() if m.name.startswith("audio/")]
        assert len(inner) == 2
        for m in inner:
            org_id, name = m.name.split("/")[1:]
            plain = storage.decrypt(tar.extractfile(m).read(), org_id=int(org_id), key=name[:-4], settings=good)
            assert plain in world["uploads"]


def test_rotate_key_reencrypts_recordings_exports_and_backups_and_the_app_still_reads_them(stored, capsys):
    settings = get_settings()
    assert cli.main(["rotate-key"]) == 0
    assert "2 enregistrement(s), 2 export(s) et 1 sauvegarde(s) rechiffrés" in capsys.readouterr().out
    get_settings.cache_clear()
    new = get_settings().secret()
    assert new != stored["old"]
    key_file = settings.data_dir / "secret.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert not list(settings.data_dir.glob("secret.key.*"))  # no .new left, old one removed once done
    _assert_everything_under(settings, new, stored["old"], stored)
    alpha = stored["alpha"]
    with session() as s:  # the app, with its freshly read settings, plays the recording
        data = storage.load_call_audio(session=s, actor=alpha.actor("supervisor"), call_id=stored["call_ids"][0])
    assert data == stored["uploads"][0]
    assert exports.read_export(actor=alpha.actor("dpo"), export_id=1)[:2] == b"PK"


def test_an_interrupted_rotation_resumes_and_keeps_the_old_key_until_done(stored, monkeypatch, tmp_path):
    settings = get_settings()
    calls = {"n": 0}
    real = keys._replace_with

    def crash_after_two(path, write):
        if calls["n"] == 2:
            raise KeyboardInterrupt("arrêt brutal")
        calls["n"] += 1
        real(path, write)

    monkeypatch.setattr(keys, "_replace_with", crash_after_two)
    new_key = tmp_path / "nouvelle.key"
    new_key.write_text("f" * 10 + "0123456789abcdef" * 3)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["rotate-key", "--new-key-file", str(new_key)])
    assert (settings.data_dir / "secret.key").read_text().strip() == stored["old"]  # still the old one
    assert (settings.data_dir / "secret.key.new").exists()
    monkeypatch.setattr(keys, "_replace_with", real)
    report = keys.rotate_secret(keep_old=True)
    assert report.already_done == 2 and report.total == 3
    get_settings.cache_clear()
    assert get_settings().secret() == new_key.read_text().strip()
    old_copies = list(settings.data_dir.glob("secret.key.old-*"))
    assert len(old_copies) == 1 and old_copies[0].read_text().strip() == stored["old"]
    assert oct(old_copies[0].stat().st_mode & 0o777) == "0o600"
    _assert_everything_under(settings, new_key.read_text().strip(), stored["old"], stored)


def test_rotation_refuses_a_secret_given_by_the_environment(settings_env, monkeypatch):
    monkeypatch.setenv("CCR_SECRET_KEY", "0123456789abcdef" * 4)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="CCR_SECRET_KEY"):
        keys.rotate_secret()


def test_rotate_key_seals_the_webhook_secret_again_so_deliveries_still_sign(settings_env):
    from ccr.core import outbox
    from ccr.core.db import migrate
    from ccr.core.integration_models import WebhookEndpoint
    from tests.conftest import make_tenant

    migrate()
    tenant = make_tenant("Alpha Conseil", "alpha")
    old = get_settings()
    with session() as s:
        s.add(WebhookEndpoint(org_id=tenant.org_id, url="https://crm.exemple.fr/ccr", events="call.scored",
                              secret_sealed=outbox.seal_secret("secret-du-recepteur-42", old)))
    old_secret = old.secret()
    report = keys.rotate_secret()
    assert report.webhook_secrets == 1
    get_settings.cache_clear()
    new = get_settings()
    with session() as s:
        sealed_now = s.get(WebhookEndpoint, tenant.org_id).secret_sealed
    assert outbox.open_secret(sealed_now, new) == "secret-du-recepteur-42"
    with pytest.raises(CcrError):
        outbox.open_secret(sealed_now, keys._with_secret(new, old_secret))
