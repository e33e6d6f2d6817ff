"""Exports: the organisation ZIP matches its manifest, is sealed at rest, neutralises formulas;
the data-subject export holds JSON plus a French summary; exports and downloads are audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest

from ccr.core import audit, storage
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import AccessDenied
from ccr.core.models import Agent, Call, Export
from ccr.privacy import exports, records
from tests.retdata import NOW, add_call


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _csv(zf: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def org_data(tenants):
    a, b = tenants
    ids = [add_call(a.org_id, a.agent_ids[i % 4], NOW, text=f"appel numero {i}", phone="06 12 34 56 78")
           for i in range(3)]
    add_call(b.org_id, b.agent_ids[0], NOW, text="secret de beta")
    return a, ids


def test_organisation_export_matches_its_manifest(org_data):
    a, ids = org_data
    dpo = a.actor("dpo")
    export_id = exports.start_organisation_export(actor=dpo, include_audio=True, background=False)
    data = exports.read_export(actor=dpo, export_id=export_id)
    zf = _zip(data)
    manifest = json.loads(zf.read("manifest.json"))
    names = set(zf.namelist()) - {"manifest.json"}
    assert {"calls.csv", "transcripts.jsonl", "evaluations.csv", "reviews.csv", "audit_log.csv"} <= names
    assert set(manifest["files"]) == names
    for name, meta in manifest["files"].items():
        content = zf.read(name)
        assert hashlib.sha256(content).hexdigest() == meta["sha256"], name
        assert len(content) == meta["bytes"]
    assert manifest["counts"]["calls"] == len(_csv(zf, "calls.csv")) == 3
    assert manifest["counts"]["transcripts"] == len(zf.read("transcripts.jsonl").splitlines()) == 3
    assert manifest["counts"]["evaluations"] == len(_csv(zf, "evaluations.csv")) == 3
    assert manifest["counts"]["audio"] == 3
    assert b"secret de beta" not in data  # another tenant's data never leaks in
    with session() as s:
        call = s.get(Call, ids[0])
        assert zf.read(f"audio/{ids[0]}.wav") == storage.get_audio(call.audio_key, org_id=a.org_id)


def test_the_archive_is_sealed_at_rest_and_private(org_data):
    a, _ = org_data
    export_id = exports.start_organisation_export(actor=a.actor("dpo"), background=False)
    with session() as s:
        ex = s.get(Export, export_id)
    path = records.export_path(get_settings(), a.org_id, ex.file_key)
    raw = path.read_bytes()
    assert not raw.startswith(b"PK") and b"appel numero" not in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_background_export_reports_progress_until_done(org_data):
    import time

    a, _ = org_data
    export_id = exports.start_organisation_export(actor=a.actor("dpo"))
    deadline = time.time() + 30
    while time.time() < deadline:
        with session() as s:
            ex = s.get(Export, export_id)
        if ex.status in ("done", "failed"):
            break
        time.sleep(0.2)
    assert ex.status == "done" and ex.progress == 1.0, ex.error


FORMULAS = [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+33 6 12", "'+33 6 12"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"),
    ("Campagne été", "Campagne été"),
]


@pytest.mark.parametrize(("campaign", "expected"), FORMULAS)
def test_csv_cells_are_neutralised_against_formula_injection(tenants, campaign, expected):
    a, _ = tenants
    cid = add_call(a.org_id, a.agent_ids[0], NOW)
    with session() as s:
        call = s.get(Call, cid)
        call.campaign = campaign
        s.add(call)
    dpo = a.actor("dpo")
    zf = _zip(exports.read_export(actor=dpo, export_id=exports.start_organisation_export(
        actor=dpo, background=False)))
    assert _csv(zf, "calls.csv")[0]["campaign"] == expected


def test_exports_and_downloads_are_audited_and_reserved_to_dpo_admin(org_data):
    a, _ = org_data
    with pytest.raises(AccessDenied):
        exports.start_organisation_export(actor=a.actor("supervisor"), background=False)
    dpo = a.actor("dpo")
    export_id = exports.start_organisation_export(actor=dpo, background=False)
    exports.read_export(actor=dpo, export_id=export_id)
    with session() as s:
        assert audit.count_events(session=s, org_id=a.org_id, action="export_requested") == 1
        assert audit.count_events(session=s, org_id=a.org_id, action="export_downloaded") == 1


def test_another_tenant_cannot_download_an_export(tenants, org_data):
    from ccr.core.errors import NotFound

    a, _ = org_data
    _, b = tenants
    export_id = exports.start_organisation_export(actor=a.actor("dpo"), background=False)
    with pytest.raises(NotFound):
        exports.read_export(actor=b.actor("dpo"), export_id=export_id)


@pytest.mark.parametrize("by", ["agent", "phone"])
def test_subject_export_has_json_and_a_french_summary(org_data, by):
    a, _ids = org_data
    dpo = a.actor("dpo")
    kwargs = {"agent_id": a.agent_ids[0]} if by == "agent" else {"phone": "+33612345678"}
    export_id = exports.create_subject_export(actor=dpo, **kwargs)
    zf = _zip(exports.read_export(actor=dpo, export_id=export_id))
    data = json.loads(zf.read("donnees.json"))
    summary = zf.read("resume.txt").decode("utf-8")
    expected_calls = 1 if by == "agent" else 3  # agents 0..2 took one call each; all share the number
    assert len(data["appels"]) == len(data["transcriptions"]) == expected_calls
    assert f"Appels : {expected_calls}" in summary and "RGPD" in summary
    if by == "agent":
        with session() as s:
            assert data["personne"]["nom"] == s.get(Agent, a.agent_ids[0]).name
    manifest = json.loads(zf.read("manifest.json"))
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"]


def test_cli_exports_a_terminated_organisation_before_its_deletion(org_data, tmp_path):
    import os
    import subprocess
    import sys

    from ccr.core.orgs import set_organisation_status
    from tests.conftest import REPO

    a, _ = org_data
    with session() as s:
        set_organisation_status(session=s, actor=a.actor("admin"), status="terminated")
    out = tmp_path / "alpha.zip"
    res = subprocess.run([sys.executable, "-m", "ccr", "export", "--org", "Alpha Conseil", "--out", str(out)],
                         cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    manifest = json.loads(_zip(out.read_bytes()).read("manifest.json"))
    assert manifest["counts"]["calls"] == 3
    purge = subprocess.run([sys.executable, "-m", "ccr", "purge", "--dry-run"], cwd=REPO, env=os.environ.copy(),
                           capture_output=True, text=True, timeout=120)
    assert "dans 30 jour(s)" in purge.stdout
