"""One recording arriving with JSON metadata: the metadata checked field by field, then the Import page's path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from ccr.core.db import session
from ccr.core.errors import InvalidInput
from ccr.core.models import AuditLog, Call
from ccr.pipeline import ingest
from ccr.pipeline.intake import MAX_METADATA_BYTES, MAX_VALUE_LEN, METADATA_FIELDS, ingest_one, parse_metadata
from tests.audiodata import cut_wav

GOOD = cut_wav("a01-000.wav", 3)
OTHER = cut_wav("a01-001.wav", 3, start=5)


@pytest.mark.parametrize("raw", [None, "", b""])
def test_no_metadata_is_an_empty_object(raw):
    assert parse_metadata(raw) == {}


@pytest.mark.parametrize(("raw", "message"), [
    ('{"agent": "A", "client": "Dupont"}', "Champ de métadonnées inconnu : client (possibles : agent, team"),
    ({"b": 1, "a": 2}, "Champ de métadonnées inconnu : a, b"),
    ("[1, 2]", "doivent être un objet JSON"),
    ('"texte"', "doivent être un objet JSON"),
    ("null", "doivent être un objet JSON"),
    ("42", "doivent être un objet JSON"),
    ("{agent: 'A'}", "ne sont pas un JSON valide"),
    ('{"agent": "A"', "ne sont pas un JSON valide"),
    (b'{"agent": "\xff"}', "ne sont pas un JSON valide"),
    ('{"started_at": "15/03/2026 14:30"}', "« started_at » n'est pas une date ISO 8601"),
    ('{"started_at": "2026-02-30T10:00:00"}', "« started_at » n'est pas une date ISO 8601"),
    ('{"agent": true}', "Le champ « agent » doit être un texte"),
    ('{"external_id": 1.5}', "Le champ « external_id » doit être un texte"),
    ('{"campaign": ["a"]}', "Le champ « campaign » doit être un texte"),
    ('{"team": {"id": 1}}', "Le champ « team » doit être un texte"),
    (json.dumps({"campaign": "x" * (MAX_VALUE_LEN + 1)}), f"dépasse {MAX_VALUE_LEN} caractères"),
    ('{"agent": "' + "x" * MAX_METADATA_BYTES + '"}', "Métadonnées trop longues : 16 Ko au plus"),
])
def test_bad_metadata_is_refused_with_a_french_reason(raw, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        parse_metadata(raw)


def test_fields_are_trimmed_texts_and_empty_ones_are_left_out():
    meta = parse_metadata(json.dumps({"agent": "  Julie Martin ", "team": "", "campaign": None,
                                      "external_id": 991, "line": "0140000000", "direction": "sortant"}))
    assert meta == {"agent": "Julie Martin", "external_id": "991", "line": "0140000000", "direction": "sortant"}


def test_every_documented_field_is_accepted():
    raw = {name: "2026-03-15T14:30:05+01:00" if name == "started_at" else "x" for name in METADATA_FIELDS}
    assert set(parse_metadata(raw)) == set(METADATA_FIELDS)


def test_a_date_with_an_offset_keeps_it_and_a_naive_one_is_local_time(settings_env, monkeypatch):
    from ccr.core.config import get_settings

    with_offset = parse_metadata('{"started_at": "2026-03-15T14:30:05+02:00"}')["started_at"]
    assert with_offset.astimezone(UTC) == datetime(2026, 3, 15, 12, 30, 5, tzinfo=UTC)
    assert parse_metadata('{"started_at": "2026-03-15T14:30:05Z"}')["started_at"] == \
        datetime(2026, 3, 15, 14, 30, 5, tzinfo=UTC)
    winter = parse_metadata('{"started_at": "2026-01-15T14:30:05"}')["started_at"]
    summer = parse_metadata('{"started_at": "2026-07-15 14:30"}')["started_at"]
    assert winter.astimezone(UTC).hour == 13 and summer.astimezone(UTC).hour == 12  # Paris: +1 then +2
    monkeypatch.setenv("CCR_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    there = parse_metadata('{"started_at": "2026-01-15T14:30:05"}')["started_at"]
    assert there.utcoffset() == ZoneInfo("America/New_York").utcoffset(datetime(2026, 1, 15))
    assert there.astimezone(UTC).hour == 19


def _recent(days: int = 2, *, naive: bool = False) -> str:
    moment = (datetime.now(ZoneInfo("Europe/Paris")) - timedelta(days=days)).replace(microsecond=0)
    return (moment.replace(tzinfo=None) if naive else moment).isoformat()


def _calls(org_id: int) -> list[Call]:
    with session() as s:
        return list(s.exec(select(Call).where(Call.org_id == org_id).order_by(Call.id)).all())


def test_ingest_one_imports_a_real_recording_with_its_metadata_through_the_import_path(tenants):
    alpha, _ = tenants
    started = _recent(naive=True)
    meta = parse_metadata({"agent": "alpha agent 2", "started_at": started, "direction": "sortant",
                           "campaign": "Fibre", "external_id": "PBX-1", "line": "0140000002",
                           "customer_phone": "06 12 34 56 78"})
    actor = ingest.cli_actor(alpha.org_id)
    result = ingest_one(actor=actor, filename="appel.wav", data=GOOD, metadata=meta)
    assert (result.filename, result.status, result.call_status) == ("appel.wav", "accepted", "queued")
    [call] = _calls(alpha.org_id)
    assert call.id == result.call_id
    assert (call.agent_id, call.team_id) == (alpha.agent_ids[2], alpha.team_ids[0])  # the agent's team
    assert (call.direction, call.campaign, call.external_id, call.line, call.customer_phone) == \
        ("sortant", "Fibre", "PBX-1", "0140000002", "0612345678")
    local = datetime.fromisoformat(started).replace(tzinfo=ZoneInfo("Europe/Paris"))
    assert call.started_at == local.astimezone(UTC)
    assert call.duration_s == pytest.approx(3, abs=0.1) and call.audio_key and call.uploaded_by is None
    with session() as s:
        [entry] = s.exec(select(AuditLog).where(AuditLog.action == "call_uploaded")).all()
    assert (entry.username, entry.target_id) == ("cli", str(call.id))


def test_the_same_external_id_with_another_recording_is_a_duplicate_of_the_existing_call(tenants):
    alpha, beta = tenants
    actor = ingest.cli_actor(alpha.org_id)
    first = ingest_one(actor=actor, filename="a.wav", data=GOOD, metadata={"external_id": "PBX-7"})
    again = ingest_one(actor=actor, filename="b.wav", data=OTHER, metadata={"external_id": "PBX-7"})
    assert (again.status, again.call_id, again.call_status) == ("duplicate", first.call_id, "queued")
    assert "identifiant externe « PBX-7 »" in again.reason and f"appel n° {first.call_id}" in again.reason
    assert [c.source_name for c in _calls(alpha.org_id)] == ["a.wav"]
    # Another organisation's ids are its own.
    theirs = ingest_one(actor=ingest.cli_actor(beta.org_id), filename="b.wav", data=OTHER,
                        metadata={"external_id": "PBX-7"})
    assert theirs.status == "accepted"


def test_the_same_recording_is_a_duplicate_whatever_its_metadata(tenants):
    alpha, _ = tenants
    actor = ingest.cli_actor(alpha.org_id)
    first = ingest_one(actor=actor, filename="a.wav", data=GOOD, metadata={"external_id": "PBX-1"})
    again = ingest_one(actor=actor, filename="a-bis.wav", data=GOOD, metadata={"external_id": "PBX-2"})
    assert (again.status, again.call_id) == ("duplicate", first.call_id)


@pytest.mark.parametrize(("filename", "data", "metadata", "reason"), [
    ("bruit.wav", b"Compte rendu, pas de son.\n" * 40, {}, "pas un enregistrement audio"),
    ("a.wav", GOOD, {"agent": "Personne Inconnue"}, "agent « Personne Inconnue » inconnu"),
    ("a.wav", GOOD, {"team": "Équipe fantôme"}, "équipe « Équipe fantôme » inconnue"),
    ("a.wav", GOOD, {"started_at": datetime(2001, 1, 1, tzinfo=UTC)}, "Date refusée"),
    ("a.wav", GOOD, {"started_at": datetime.now(UTC) + timedelta(days=30)}, "Date refusée"),
])
def test_a_refused_recording_says_why_in_french_and_creates_no_call(tenants, filename, data, metadata, reason):
    alpha, _ = tenants
    result = ingest_one(actor=ingest.cli_actor(alpha.org_id), filename=filename, data=data, metadata=metadata)
    assert result.status == "rejected" and result.call_id is None
    assert reason in result.reason
    assert _calls(alpha.org_id) == []


def test_a_role_that_may_not_import_gets_a_refusal_not_an_exception(tenants):
    alpha, _ = tenants
    result = ingest_one(actor=alpha.actor("agent"), filename="a.wav", data=GOOD)
    assert result.status == "rejected" and "superviseur ou un administrateur" in result.reason
    assert _calls(alpha.org_id) == []


def test_metadata_from_json_wins_over_the_file_name_pattern(tenants):
    alpha, _ = tenants
    day = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y%m%d")
    result = ingest_one(actor=ingest.cli_actor(alpha.org_id), filename=f"{day}-101500_alpha-agent-1_entrant.wav",
                        data=GOOD, metadata=parse_metadata({"agent": "alpha agent 3", "direction": "sortant"}))
    assert result.status == "accepted"
    [call] = _calls(alpha.org_id)
    assert (call.agent_id, call.direction) == (alpha.agent_ids[3], "sortant")
    assert call.started_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y%m%d-%H%M%S") == f"{day}-101500"
