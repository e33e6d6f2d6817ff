"""The watched drop folder: stable recordings import themselves, then go to traites/ or refuses/ with a reason."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.models import AuditLog, Call, Organisation
from ccr.pipeline import dropfolder
from ccr.pipeline.dropfolder import DropState, folder_actor, scan_once, watch
from tests.audiodata import cut_wav
from tests.conftest import REPO

GOOD = cut_wav("a01-000.wav", 3)
OTHER = cut_wav("a01-001.wav", 3)
THIRD = cut_wav("a01-002.wav", 3)
DEADLINE_S = 120  # a cold interpreter, a decode and a commit on a busy 2-core machine


@pytest.fixture
def drop(tenants, tmp_path):
    """An empty drop folder « depot », the tenant Alpha and a scan function bound to both."""
    alpha, _ = tenants
    folder = tmp_path / "depot"
    folder.mkdir()
    state = DropState()
    actor = folder_actor(alpha.org_id, folder)

    def scan(now: float = 0.0, settle_s: float = 0.0):
        return scan_once(folder, actor=actor, state=state, settle_s=settle_s, now=now)

    return folder, alpha, scan


def _calls(org_id: int) -> list[Call]:
    with session() as s:
        return list(s.exec(select(Call).where(Call.org_id == org_id).order_by(Call.id)).all())


def _left(folder: Path, sub: str = "") -> list[str]:
    """The plain files (and links) of the folder or of one of its sub-folders, by name."""
    return sorted(p.name for p in (folder / sub).iterdir() if not p.is_dir() or p.is_symlink())


def test_a_good_recording_is_imported_moved_to_traites_and_audited_under_the_folder(drop):
    folder, alpha, scan = drop
    (folder / "appel-0001.wav").write_bytes(GOOD)
    [outcome] = scan()
    assert (outcome.filename, outcome.status, outcome.moved_to) == ("appel-0001.wav", "accepted", "traites/appel-0001.wav")
    assert _left(folder) == []
    assert (folder / "traites" / "appel-0001.wav").read_bytes() == GOOD
    assert _left(folder, "traites") == ["appel-0001.wav"]  # accepted: no motif
    [call] = _calls(alpha.org_id)
    assert (call.id, call.source_name, call.status) == (outcome.call_id, "appel-0001.wav", "queued")
    with session() as s:
        [entry] = s.exec(select(AuditLog).where(AuditLog.action == "call_uploaded")).all()
    assert (entry.username, entry.user_id, entry.target_id) == ("dossier:depot", None, str(call.id))
    assert "appel accepté" not in outcome.line() and "appel-0001.wav" in outcome.line()


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("casse.wav", b"Compte rendu de l'appel, pas de son.\n" * 40, "pas un enregistrement audio"),
    ("tronque.wav", GOOD[: len(GOOD) // 3], "tronqué"),
    ("notes.txt", b"une note", "Format non accepté"),
    ("SANS-EXTENSION", GOOD, "sans extension"),
])
def test_a_refused_file_goes_to_refuses_with_its_french_reason_beside_it(drop, name, data, reason):
    folder, alpha, scan = drop
    (folder / name).write_bytes(data)
    [outcome] = scan()
    assert outcome.status == "rejected" and outcome.call_id is None
    assert reason in outcome.reason
    stem = os.path.splitext(name)[0]
    assert outcome.moved_to == f"refuses/{name}"
    assert (folder / "refuses" / name).read_bytes() == data  # moved whole, never lost
    motif = (folder / "refuses" / f"{stem}.motif.txt").read_text(encoding="utf-8")
    assert reason in motif and motif == outcome.reason + "\n"
    assert _left(folder) == [] and _calls(alpha.org_id) == []


def test_a_file_still_growing_waits_and_is_imported_once_stable(drop):
    folder, alpha, scan = drop
    path = folder / "en-cours.wav"
    path.write_bytes(GOOD[:1000])
    assert [(o.filename, o.status) for o in scan(now=0, settle_s=5)] == [("en-cours.wav", "waiting")]
    with path.open("ab") as f:
        f.write(GOOD[1000:20000])
    assert [o.status for o in scan(now=4, settle_s=5)] == ["waiting"]  # grew: the 5 s start again
    with path.open("ab") as f:
        f.write(GOOD[20000:])
    assert [o.status for o in scan(now=8, settle_s=5)] == ["waiting"]
    assert [o.status for o in scan(now=12.9, settle_s=5)] == ["waiting"]  # unchanged for 4.9 s only
    assert path.exists() and _calls(alpha.org_id) == []
    [outcome] = scan(now=13, settle_s=5)
    assert outcome.status == "accepted"
    [call] = _calls(alpha.org_id)
    assert call.audio_size == len(GOOD)  # the whole recording, not the half seen first
    assert (folder / "traites" / "en-cours.wav").read_bytes() == GOOD


def test_a_sidecar_gives_the_metadata_and_goes_along_with_its_recording(drop):
    folder, alpha, scan = drop
    day = (datetime.now(UTC) - timedelta(days=3)).date()  # recent: within every retention duration
    meta = {"agent": "alpha agent 1", "external_id": "PBX-991", "direction": "sortant",
            "started_at": f"{day}T14:30:05+01:00", "campaign": "Fibre"}
    (folder / "appel-0042.json").write_text(json.dumps(meta), encoding="utf-8")
    assert scan() == [] and _left(folder) == ["appel-0042.json"]  # alone, a sidecar waits for its recording
    (folder / "appel-0042.wav").write_bytes(GOOD)
    [outcome] = scan()
    assert outcome.status == "accepted"
    [call] = _calls(alpha.org_id)
    assert (call.agent_id, call.external_id, call.direction, call.campaign) == \
        (alpha.agent_ids[1], "PBX-991", "sortant", "Fibre")
    assert call.started_at.astimezone(UTC) == datetime.fromisoformat(f"{day}T13:30:05+00:00")
    assert _left(folder) == [] and _left(folder, "traites") == ["appel-0042.json", "appel-0042.wav"]


def test_a_recording_waits_while_its_sidecar_is_still_being_written(drop):
    folder, alpha, scan = drop
    (folder / "appel.wav").write_bytes(GOOD)
    assert [o.status for o in scan(now=0, settle_s=2)] == ["waiting"]
    (folder / "appel.json").write_text('{"external_id": "PBX', encoding="utf-8")
    assert [o.status for o in scan(now=3, settle_s=2)] == ["waiting"]  # the recording is stable, not the sidecar
    (folder / "appel.json").write_text('{"external_id": "PBX-7"}', encoding="utf-8")
    assert [o.status for o in scan(now=4, settle_s=2)] == ["waiting"]
    [outcome] = scan(now=6, settle_s=2)
    assert outcome.status == "accepted"
    assert [c.external_id for c in _calls(alpha.org_id)] == ["PBX-7"]


@pytest.mark.parametrize(("sidecar", "reason"), [
    ('{"agent": "alpha agent 1", "client": "Dupont"}', "Champ de métadonnées inconnu : client"),
    ('{"started_at": "hier"}', "n'est pas une date ISO 8601"),
    ("[1, 2]", "doivent être un objet JSON"),
    ("{pas du json", "pas un JSON valide"),
    ('{"agent": "Personne Inconnue"}', "agent « Personne Inconnue » inconnu"),
])
def test_an_invalid_sidecar_refuses_the_recording_with_the_reason(drop, sidecar, reason):
    folder, alpha, scan = drop
    (folder / "appel.wav").write_bytes(GOOD)
    (folder / "appel.json").write_text(sidecar, encoding="utf-8")
    [outcome] = scan()
    assert outcome.status == "rejected" and reason in outcome.reason
    assert _left(folder) == []
    assert _left(folder, "refuses") == ["appel.json", "appel.motif.txt", "appel.wav"]
    assert (folder / "refuses" / "appel.json").read_text(encoding="utf-8") == sidecar
    assert reason in (folder / "refuses" / "appel.motif.txt").read_text(encoding="utf-8")
    assert _calls(alpha.org_id) == []


def test_the_file_name_pattern_gives_the_metadata_when_there_is_no_sidecar(drop):
    folder, alpha, scan = drop
    day = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y%m%d")
    (folder / f"{day}-143005_alpha-agent-2_sortant_Fibre.wav").write_bytes(GOOD)
    [outcome] = scan()
    assert outcome.status == "accepted"
    [call] = _calls(alpha.org_id)
    assert (call.agent_id, call.direction, call.campaign) == (alpha.agent_ids[2], "sortant", "Fibre")


def test_a_duplicate_goes_to_traites_with_the_reason_naming_the_existing_call(drop):
    folder, alpha, scan = drop
    (folder / "premier.wav").write_bytes(GOOD)
    [first] = scan()
    (folder / "copie.wav").write_bytes(GOOD)
    [again] = scan()
    assert again.status == "duplicate" and again.call_id == first.call_id
    assert f"appel n° {first.call_id}" in again.reason
    assert _left(folder, "traites") == ["copie.motif.txt", "copie.wav", "premier.wav"]
    assert (folder / "traites" / "copie.motif.txt").read_text(encoding="utf-8") == again.reason + "\n"
    assert len(_calls(alpha.org_id)) == 1


def test_a_name_already_taken_in_traites_gets_a_suffix_and_nothing_is_overwritten(drop):
    folder, _alpha, scan = drop
    traites = folder / "traites"
    traites.mkdir()
    (traites / "appel.wav").write_bytes(b"un fichier d'hier")
    (traites / "appel-2.json").write_bytes(b"{}")  # the sidecar's name is taken too: both move to -3
    (folder / "appel.wav").write_bytes(OTHER)
    (folder / "appel.json").write_text('{"external_id": "X-1"}', encoding="utf-8")
    [outcome] = scan()
    assert outcome.status == "accepted" and outcome.moved_to == "traites/appel-3.wav"
    assert (traites / "appel.wav").read_bytes() == b"un fichier d'hier"
    assert (traites / "appel-2.json").read_bytes() == b"{}"
    assert (traites / "appel-3.wav").read_bytes() == OTHER
    assert json.loads((traites / "appel-3.json").read_text(encoding="utf-8")) == {"external_id": "X-1"}
    assert "→ traites/appel-3.wav" in outcome.line()
    # The same name again the next day, refused this time: its motif's name is free, the file's is not.
    refuses = folder / "refuses"
    (refuses / "appel.wav").write_bytes(b"ancien refus")
    (folder / "appel.wav").write_bytes(b"toujours pas du son" * 50)
    [refused] = scan()
    assert refused.moved_to == "refuses/appel-2.wav"
    assert _left(folder, "refuses") == ["appel-2.motif.txt", "appel-2.wav", "appel.wav"]
    assert (refuses / "appel.wav").read_bytes() == b"ancien refus"


def test_temporary_hidden_and_system_files_sub_folders_and_links_are_left_alone(drop):
    folder, alpha, scan = drop
    ignored = [".cache.wav", "appel.wav.part", "appel.wav.tmp", "appel.wav.filepart", "appel.wav~",
               "~$verrou.wav", "appel.crdownload", "Thumbs.db", "desktop.ini", ".DS_Store"]
    for name in ignored:
        (folder / name).write_bytes(GOOD)
    (folder / "sous-dossier").mkdir()
    (folder / "sous-dossier" / "dedans.wav").write_bytes(GOOD)
    outside = folder.parent / "ailleurs.wav"
    outside.write_bytes(GOOD)
    (folder / "lien.wav").symlink_to(outside)
    for now in (0, 10, 20):
        assert scan(now=now, settle_s=5) == []
    assert _left(folder) == sorted([*ignored, "lien.wav"])
    assert (folder / "sous-dossier" / "dedans.wav").exists() and outside.exists()
    assert _left(folder, "traites") == _left(folder, "refuses") == []
    assert _calls(alpha.org_id) == []


def test_a_file_larger_than_the_upload_limit_is_refused_without_a_call(drop, monkeypatch):
    from ccr.core.config import get_settings

    folder, alpha, scan = drop
    monkeypatch.setenv("CCR_MAX_UPLOAD_MB", "1")
    get_settings.cache_clear()
    big = folder / "enorme.wav"
    with big.open("wb") as f:  # sparse: 3 MiB announced, nothing written
        f.truncate(3 * 1024 * 1024)
    [outcome] = scan()
    assert outcome.status == "rejected" and "1 Mo au maximum" in outcome.reason
    assert (folder / "refuses" / "enorme.wav").stat().st_size == 3 * 1024 * 1024
    assert _calls(alpha.org_id) == []


UNREADABLE_SCRIPT = """
import logging, os, sys
from ccr.pipeline.dropfolder import DropState, folder_actor, scan_once
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
folder, org_id = sys.argv[1], int(sys.argv[2])
state, actor = DropState(), folder_actor(org_id, folder)
for now in (0, 1):
    print([o.status for o in scan_once(folder, actor=actor, state=state, settle_s=0, now=now)], flush=True)
os.chmod(os.path.join(folder, "secret.wav"), 0o600)
print([o.status for o in scan_once(folder, actor=actor, state=state, settle_s=0, now=2)], flush=True)
"""


def test_an_unreadable_file_stays_and_is_reported_once(drop):
    """Run where permissions bind: as root, the scan runs without the capabilities that bypass them."""
    folder, alpha, _scan = drop
    path = folder / "secret.wav"
    path.write_bytes(GOOD)
    path.chmod(0)
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root sans setpriv : la permission ne s'éprouve pas")
        prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}  # same data dir and database
    done = subprocess.run([*prefix, sys.executable, "-c", UNREADABLE_SCRIPT, str(folder), str(alpha.org_id)],
                          env=env, capture_output=True, text=True, timeout=DEADLINE_S, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['waiting']", "['waiting']", "['accepted']"]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "secret.wav" in warnings[0] and "illisible" in warnings[0], done.stderr
    assert (folder / "traites" / "secret.wav").read_bytes() == GOOD


def test_one_info_line_per_file_handled_with_its_name_and_outcome_only(drop, caplog):
    folder, _alpha, scan = drop
    (folder / "appel.wav").write_bytes(GOOD)
    (folder / "appel.json").write_text('{"external_id": "PBX-SECRET-42", "customer_phone": "0612345678"}')
    (folder / "refus.wav").write_bytes(b"rien" * 100)
    with caplog.at_level("INFO", logger="ccr.pipeline.dropfolder"):
        scan()
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert len(lines) == 2
    assert "appel.wav" in lines[0] and "accepté" in lines[0]
    assert "refus.wav" in lines[1] and "refusé" in lines[1]
    assert not any("PBX-SECRET-42" in line or "0612345678" in line for line in lines)


def test_a_missing_or_unusable_folder_is_refused_in_french(tenants, tmp_path):
    alpha, _ = tenants
    actor = folder_actor(alpha.org_id, tmp_path / "absent")
    with pytest.raises(CcrError, match="Dossier de dépôt introuvable"):
        scan_once(tmp_path / "absent", actor=actor, state=DropState(), settle_s=0)
    folder = tmp_path / "depot"
    folder.mkdir()
    (folder / "traites").write_text("un fichier, pas un dossier")
    with pytest.raises(CcrError, match="Impossible de créer le dossier « traites »"):
        scan_once(folder, actor=actor, state=DropState(), settle_s=0)
    assert (folder / "traites").read_text() == "un fichier, pas un dossier"


def test_traites_and_refuses_are_created_when_missing(drop):
    folder, _alpha, scan = drop
    assert scan() == []
    assert (folder / "traites").is_dir() and (folder / "refuses").is_dir()


def test_the_files_of_a_suspended_organisation_wait_in_the_folder(drop):
    folder, alpha, scan = drop
    with session() as s:
        s.get(Organisation, alpha.org_id).status = "suspended"
    (folder / "appel.wav").write_bytes(GOOD)
    with pytest.raises(CcrError, match="pas active"):
        scan()
    assert _left(folder) == ["appel.wav"] and _calls(alpha.org_id) == []
    with session() as s:
        s.get(Organisation, alpha.org_id).status = "active"
    assert [o.status for o in scan()] == ["accepted"]


def _wait_for(predicate, what: str, deadline_s: float = DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if (value := predicate()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"délai dépassé : {what}")


def _drop_whole(folder: Path, name: str, data: bytes) -> None:
    """Drop a file as a careful client does, written under a temporary name then renamed: a watcher with no
    settling time never sees it half-written."""
    (folder / f"{name}.part").write_bytes(data)
    os.replace(folder / f"{name}.part", folder / name)


def test_a_running_watch_imports_a_dropped_file_and_stops_when_asked(drop):
    folder, alpha, _scan = drop
    stop = threading.Event()
    results: queue.Queue = queue.Queue()
    thread = threading.Thread(target=watch, args=(folder,), daemon=True,
                              kwargs={"org_id": alpha.org_id, "stop": stop, "settle_s": 0.3, "interval_s": 0.1,
                                      "on_result": results.put})
    thread.start()
    try:
        _wait_for(lambda: (folder / "traites").is_dir(), "traites/ créé")
        _drop_whole(folder, "appel.wav", GOOD)
        outcome = results.get(timeout=DEADLINE_S)
        assert (outcome.filename, outcome.status) == ("appel.wav", "accepted")
        assert (folder / "traites" / "appel.wav").exists()
        assert [c.id for c in _calls(alpha.org_id)] == [outcome.call_id]
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)
    assert not thread.is_alive()
    assert results.empty()  # waiting scans are not reported


def test_watch_outlives_a_failing_scan_and_logs_it_once(drop, caplog):
    folder, alpha, _scan = drop
    stop = threading.Event()
    results: queue.Queue = queue.Queue()
    thread = threading.Thread(target=watch, args=(folder,), daemon=True,
                              kwargs={"org_id": alpha.org_id, "stop": stop, "settle_s": 0, "interval_s": 0.05,
                                      "on_result": results.put})
    with caplog.at_level("INFO", logger="ccr.pipeline.dropfolder"):
        thread.start()
        try:
            # The watcher checks the organisation once before its loop: suspend it only once the loop runs.
            _wait_for(lambda: any("surveillé" in r.getMessage() for r in caplog.records), "surveillance démarrée")
            with session() as s:
                s.get(Organisation, alpha.org_id).status = "suspended"
            _drop_whole(folder, "appel.wav", GOOD)
            _wait_for(lambda: any("pas active" in r.getMessage() for r in caplog.records), "échec journalisé")
            failed_once = sum("pas active" in r.getMessage() for r in caplog.records)
            assert results.empty() and (folder / "appel.wav").exists()
            with session() as s:
                s.get(Organisation, alpha.org_id).status = "active"
            assert results.get(timeout=DEADLINE_S).status == "accepted"
        finally:
            stop.set()
            thread.join(timeout=DEADLINE_S)
    assert not thread.is_alive()
    assert failed_once == 1 == sum("pas active" in r.getMessage() for r in caplog.records)


def test_watch_refuses_to_start_on_a_missing_folder(tenants, tmp_path):
    alpha, _ = tenants
    with pytest.raises(CcrError, match="introuvable"):
        watch(tmp_path / "absent", org_id=alpha.org_id, stop=threading.Event())


# --- the command line --------------------------------------------------------------------------------


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_watch_command_prints_one_line_per_file_and_stops_cleanly_on_a_signal(drop, sig):
    folder, alpha, _scan = drop
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}  # same data dir and database
    proc = subprocess.Popen([sys.executable, "-m", "ccr", "watch", str(folder), "--org", "Alpha Conseil",
                             "--settle", "0", "--interval", "0.2"], cwd=folder.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True).start()
    try:
        _drop_whole(folder, "bon.wav", THIRD)  # --settle 0: only a whole file may appear
        _drop_whole(folder, "mauvais.wav", b"pas du son" * 100)
        printed: list[str] = []
        end = time.monotonic() + DEADLINE_S
        while len(printed) < 2 and time.monotonic() < end:
            try:
                line = out.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"la commande s'est arrêtée (code {proc.wait(timeout=10)}) : {proc.stderr.read()}")
            if "bon.wav" in line or "mauvais.wav" in line:
                printed.append(line)
        assert len(printed) == 2, printed
        assert any("bon.wav" in line and "accepté" in line for line in printed)
        assert any("mauvais.wav" in line and "refusé" in line for line in printed)
        assert _left(folder) == []
        proc.send_signal(sig)
        assert proc.wait(timeout=DEADLINE_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert [c.source_name for c in _calls(alpha.org_id)] == ["bon.wav"]


def test_dropfolder_module_documents_the_sidecar_and_the_file_name_pattern():
    doc = dropfolder.__doc__
    assert "NAME.json" in doc and "AAAAMMJJ-HHMMSS_<agent>_<direction>_<campagne>.<ext>" in doc
    assert all(field in doc for field in ("agent", "started_at", "external_id", "customer_phone"))
