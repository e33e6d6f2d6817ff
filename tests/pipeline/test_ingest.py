"""Import: bad files refused in French without blocking the batch, de-duplication, metadata CSV, file names."""

from __future__ import annotations

import io
import wave
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlmodel import func, select

from ccr import cli
from ccr.core.db import session
from ccr.core.errors import AccessDenied
from ccr.core.models import AuditLog, Call
from ccr.pipeline import ingest
from ccr.pipeline.ingest import ingest_files, parse_metadata_csv, sanitize_filename
from tests.audiodata import cut_wav

GOOD = cut_wav("a01-000.wav", 3)


def _wav(seconds: float, *, rate: int = 16000, channels: int = 1, frames: bool = True) -> bytes:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        if frames:
            w.writeframes(np.repeat(tone[:, None], channels, axis=1).tobytes())
    return out.getvalue()


def _calls(org_id: int) -> list[Call]:
    with session() as s:
        return list(s.exec(select(Call).where(Call.org_id == org_id).order_by(Call.id)).all())


BAD_FILES = [
    ("vide.wav", b"", "vide"),
    ("tronque.wav", _wav(8)[: 16000 * 2 * 3], "tronqué"),
    ("notes.wav", b"Compte rendu de l'appel, pas de son.\n" * 20, "pas un enregistrement audio"),
    ("image.mp3", b"\x89PNG\r\n\x1a\n" + bytes(600), "image PNG"),
    ("zero.wav", _wav(0, frames=False), "aucun son|durée nulle"),
    ("long.wav", _wav(25), "durée maximale"),
    ("trois-canaux.wav", _wav(2, channels=3), "3 canaux"),
    ("4khz.wav", _wav(2, rate=4000), "Fréquence d'échantillonnage"),
    ("bruit.ogg", bytes(range(256)) * 40, "pas un enregistrement audio|format"),
]


def test_each_bad_file_is_refused_with_its_french_reason_and_the_good_ones_go_through(tenants, monkeypatch):
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_MAX_AUDIO_SECONDS", "20")
    get_settings.cache_clear()
    alpha, _ = tenants
    files = [("bon-1.wav", GOOD)] + [(n, d) for n, d, _ in BAD_FILES] + [("bon-2.wav", _wav(4))]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=files)
    by_name = {r.filename: r for r in batch.results}
    assert by_name["bon-1.wav"].status == by_name["bon-2.wav"].status == "accepted"
    for name, _, reason in BAD_FILES:
        result = by_name[name]
        assert result.status == "rejected", name
        assert result.status_label == "refusé"
        assert result.call_id is None
        import re

        assert re.search(reason, result.reason), (name, result.reason)
    assert [c.source_name for c in _calls(alpha.org_id)] == ["bon-1.wav", "bon-2.wav"]
    assert all(c.status == "queued" and c.audio_key for c in _calls(alpha.org_id))


def test_the_same_recording_is_imported_once_per_organisation(tenants):
    alpha, beta = tenants
    first = ingest_files(actor=alpha.actor("supervisor"), files=[("a.wav", GOOD), ("copie.wav", GOOD)])
    again = ingest_files(actor=alpha.actor("admin"), files=[("renomme.wav", GOOD)])
    other_org = ingest_files(actor=beta.actor("supervisor"), files=[("a.wav", GOOD)])
    assert [r.status for r in first.results] == ["accepted", "duplicate"]
    call_id = first.results[0].call_id
    assert first.results[1].call_id == call_id and again.results[0].call_id == call_id
    assert again.results[0].status_label == "déjà importé"
    assert f"appel n° {call_id}" in again.results[0].reason
    assert len(_calls(alpha.org_id)) == 1
    assert other_org.results[0].status == "accepted"  # another tenant is another archive
    assert len(_calls(beta.org_id)) == 1


def test_accepted_call_is_queued_with_metadata_and_audited(tenants):
    alpha, _ = tenants
    with session() as s:
        agent = s.get(ingest.Agent, alpha.agent_ids[1])
    result = ingest_files(actor=alpha.actor("supervisor"), files=[("appel.wav", GOOD)],
                          defaults={"agent_id": agent.id, "direction": "sortant", "campaign": "Fibre",
                                    "started_at": datetime(2026, 7, 1, 9, 30)}).results[0]
    (call,) = _calls(alpha.org_id)
    assert result.call_id == call.id and result.call_status == "queued"
    assert (call.agent_id, call.team_id) == (agent.id, agent.team_id)  # the team defaults to the agent's
    assert (call.direction, call.campaign, call.channels) == ("sortant", "Fibre", 2)
    assert call.started_at == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)  # 9:30 in Paris, summer time
    assert call.duration_s == pytest.approx(3.0, abs=0.01)
    with session() as s:
        entry = s.exec(select(AuditLog).where(AuditLog.action == "call_uploaded")).one()
    assert entry.target_id == str(call.id) and entry.username == "alpha.supervisor"


def test_an_agent_of_another_organisation_cannot_be_assigned(tenants):
    alpha, beta = tenants
    result = ingest_files(actor=alpha.actor("supervisor"), files=[("a.wav", GOOD)],
                          defaults={"agent_id": beta.agent_ids[0]}).results[0]
    assert result.status == "rejected" and "Agent introuvable dans votre organisation" in result.reason
    assert _calls(alpha.org_id) == []


@pytest.mark.parametrize("role", ["team_lead", "dpo"])
def test_only_supervisors_and_admins_import(tenants, role):
    alpha, _ = tenants
    with pytest.raises(AccessDenied):
        ingest_files(actor=alpha.actor(role), files=[("a.wav", GOOD)])


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../etc/passwd.wav", "passwd.wav"),
        ("C:\\Users\\marie\\appel.wav", "appel.wav"),
        ("a\x00b\nc\x1b[31m.wav", "a b c [31m.wav"),
        ("  .cache.wav ", "cache.wav"),
        ("", "enregistrement"),
        ("x" * 300 + ".wav", "x" * (ingest.MAX_NAME_LEN - 5) + "….wav"),
    ],
)
def test_uploaded_names_are_sanitised_for_display(uploaded, shown):
    assert sanitize_filename(uploaded) == shown
    assert len(sanitize_filename(uploaded)) <= ingest.MAX_NAME_LEN


# --- metadata CSV ----------------------------------------------------------------------------

CSV_OK = (
    "Fichier;Agent;Équipe;Date/heure;Direction;Campagne;ID_externe;Téléphone_client\n"
    "un.wav;alpha agent 1;Alpha Conseil équipe 1;15/03/2026 14:30;sortant;Fibre;EXT-1;06 12 34 56 78\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_metadata_csv_reads_common_encodings_and_delimiters(tenants, encoding, delimiter):
    alpha, _ = tenants
    data = CSV_OK.replace(";", delimiter).encode(encoding)
    with session() as s:
        rows, errors = parse_metadata_csv(data, session=s, actor=alpha.actor("supervisor"))
    assert errors == []
    row = rows["un.wav"]
    assert row["agent_id"] == alpha.agent_ids[1]
    assert row["team_id"] == alpha.team_ids[0]  # named in the line, even if the agent is in another team
    assert row["started_at"] == datetime(2026, 3, 15, 13, 30, tzinfo=UTC)
    assert (row["direction"], row["campaign"], row["external_id"]) == ("sortant", "Fibre", "EXT-1")
    assert row["customer_phone"] == "0612345678"


def test_metadata_csv_errors_are_reported_by_line_and_valid_lines_still_apply(tenants):
    alpha, _ = tenants
    data = (
        "fichier;agent;equipe;date;direction;campagne\n"
        "un.wav;alpha agent 0;;2026-03-15 10:00;entrant;A\n"
        "deux.wav;Inconnu Dupont;;2026-03-15 10:00;entrant;A\n"
        "trois.wav;alpha agent 2;;31/02/2026 10:00;entrant;A\n"
        "quatre.wav;alpha agent 2;Équipe fantôme;2026-03-15;entrant;A\n"
        "cinq.wav;alpha agent 2;;2026-03-15;par pigeon;A\n"
        "six.wav;alpha agent 3\n"
        "\n"
        "sept.wav;beta agent 0;;2026-03-15;sortant;B\n"
        "un.wav;alpha agent 1;;2026-03-15;entrant;A\n"
        "huit.wav;alpha agent 3;;16/03/2026 08:15:00;sortant;C\n"
    ).encode()
    with session() as s:
        rows, errors = parse_metadata_csv(data, session=s, actor=alpha.actor("supervisor"))
    assert sorted(rows) == ["huit.wav", "un.wav"]
    assert rows["un.wav"]["agent_id"] == alpha.agent_ids[0] and rows["un.wav"]["line"] == 2
    by_line = {e.line: e for e in errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 9, 10]
    assert "Agent « Inconnu Dupont » inconnu dans votre organisation" in by_line[3].message
    assert "Date « 31/02/2026 10:00 » invalide" in by_line[4].message
    assert "Équipe « Équipe fantôme » inconnue" in by_line[5].message
    assert "Direction « par pigeon » invalide" in by_line[6].message
    assert "Colonne manquante" in by_line[7].message
    assert "beta agent 0" in by_line[9].message  # another organisation's agent is unknown here
    assert "déjà décrit à la ligne 2" in by_line[10].message
    assert by_line[3].filename == "deux.wav"


def test_csv_line_numbers_count_leading_blank_lines_and_nul_bytes_are_dropped(tenants):
    alpha, _ = tenants
    data = b"\n \n\nfichier;agent\nun.wav;Inconnu\nde\x00ux.wav;alpha agent 1\n"
    with session() as s:
        rows, errors = parse_metadata_csv(data, session=s, actor=alpha.actor("supervisor"))
    assert [(e.line, e.filename) for e in errors] == [(5, "un.wav")]
    assert rows["deux.wav"]["agent_id"] == alpha.agent_ids[1]


def test_a_csv_without_the_file_column_is_refused_at_line_1(tenants):
    alpha, _ = tenants
    with session() as s:
        rows, errors = parse_metadata_csv(b"agent;date\nx;y\n", session=s, actor=alpha.actor("admin"))
    assert rows == {} and errors[0].line == 1 and "« fichier » absente" in errors[0].message


def test_batch_applies_csv_lines_and_refuses_files_whose_line_is_wrong(tenants):
    alpha, _ = tenants
    csv_data = (b"fichier;agent;date\n"
                b"bon.wav;alpha agent 3;01/04/2026 10:00\n"
                b"mauvais.wav;Personne;01/04/2026 10:00\n")
    batch = ingest_files(actor=alpha.actor("supervisor"), metadata_csv=csv_data,
                         files=[("bon.wav", GOOD), ("mauvais.wav", _wav(2)), ("sans-ligne.wav", _wav(3))],
                         defaults={"campaign": "Défaut"})
    status = {r.filename: r for r in batch.results}
    assert status["bon.wav"].status == "accepted" and status["sans-ligne.wav"].status == "accepted"
    assert status["mauvais.wav"].status == "rejected" and "Ligne 3" in status["mauvais.wav"].reason
    assert [e.line for e in batch.line_errors] == [3]
    calls = {c.source_name: c for c in _calls(alpha.org_id)}
    assert calls["bon.wav"].agent_id == alpha.agent_ids[3]
    assert calls["bon.wav"].campaign == "Défaut"  # the form fills what the line leaves empty
    assert calls["sans-ligne.wav"].agent_id is None


# --- call dates outside reason ----------------------------------------------------------------


def test_call_dates_in_the_future_or_before_any_retention_are_refused_per_line_and_per_file(tenants):
    alpha, _ = tenants
    soon = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(hours=2)  # a recorder's clock a little ahead
    csv_data = (f"fichier;date\n"
                f"futur.wav;31/12/2999 10:00\n"
                f"ancien.wav;01/01/1900 10:00\n"
                f"bientot.wav;{soon:%d/%m/%Y %H:%M}\n"
                f"bon.wav;01/04/2026 10:00\n").encode()
    files = [("futur.wav", _wav(2)), ("ancien.wav", _wav(2.2)), ("bientot.wav", _wav(2.4)), ("bon.wav", _wav(2.6)),
             ("29991231-100000_alpha-agent-1.wav", _wav(2.8)), ("19000101-100000.wav", _wav(3.2)),
             ("sans-date.wav", _wav(3.4))]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=files, metadata_csv=csv_data)
    by_name = {r.filename: r for r in batch.results}
    assert {n for n, r in by_name.items() if r.status == "accepted"} == {"bientot.wav", "bon.wav", "sans-date.wav"}
    assert [(e.line, e.filename) for e in batch.line_errors] == [(2, "futur.wav"), (3, "ancien.wav")]
    assert "Date de l'appel 31/12/2999 10:00 dans le futur" in batch.line_errors[0].message
    assert "Date de l'appel 01/01/1900 10:00 antérieure au" in batch.line_errors[1].message
    assert "Ligne 2 du fichier de métadonnées invalide : Date de l'appel" in by_name["futur.wav"].reason
    future = by_name["29991231-100000_alpha-agent-1.wav"]
    assert future.status == "rejected"
    assert future.reason.startswith("Date refusée (nom du fichier) : date de l'appel 31/12/2999 10:00 dans le futur")
    assert by_name["19000101-100000.wav"].reason.startswith(
        "Date refusée (nom du fichier) : date de l'appel 01/01/1900 10:00 antérieure au")
    assert sorted(c.source_name for c in _calls(alpha.org_id)) == ["bientot.wav", "bon.wav", "sans-date.wav"]


def test_a_form_date_in_the_future_refuses_the_files_it_dates(tenants):
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[("a.wav", GOOD), ("b.wav", _wav(2))],
                         defaults={"started_at": date(2999, 12, 31)},
                         metadata_csv=b"fichier;date\nb.wav;01/04/2026 10:00\n")  # the CSV line wins for b
    a, b = batch.results
    assert a.status == "rejected" and a.reason.startswith("Date refusée (valeur par défaut du formulaire)")
    assert b.status == "accepted"


def test_cli_ingest_refuses_absurd_dates_from_names_and_metadata(tenants, tmp_path, capsys):
    alpha, _ = tenants
    (tmp_path / "29991231-100000.wav").write_bytes(_wav(2))
    (tmp_path / "vieux.wav").write_bytes(_wav(2.5))
    (tmp_path / "bon.wav").write_bytes(GOOD)
    (tmp_path / "meta.csv").write_bytes(b"fichier;date\nvieux.wav;1900-01-01 08:00\n")
    code = cli.main(["ingest", *(str(tmp_path / n) for n in ("29991231-100000.wav", "vieux.wav", "bon.wav")),
                     "--org", "Alpha Conseil", "--metadata", str(tmp_path / "meta.csv")])
    captured = capsys.readouterr()
    assert code == 1
    assert "Date refusée (nom du fichier) : date de l'appel 31/12/2999 10:00 dans le futur" in captured.out
    assert "Métadonnées, ligne 2 : Date de l'appel 01/01/1900 08:00 antérieure au" in captured.err
    assert [c.source_name for c in _calls(alpha.org_id)] == ["bon.wav"]


# --- file-name pattern -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("20260315-143005_alpha-agent-1_sortant_Fibre-Optique.wav",
         {"started_at": datetime(2026, 3, 15, 13, 30, 5, tzinfo=UTC), "agent": 1, "direction": "sortant",
          "campaign": "Fibre Optique"}),
        ("20260701-080000_Alpha.Agent.2.mp3",
         {"started_at": datetime(2026, 7, 1, 6, 0, tzinfo=UTC), "agent": 2}),
        ("20260701-080000_alpha-agent-2_Relance.wav",
         {"started_at": datetime(2026, 7, 1, 6, 0, tzinfo=UTC), "agent": 2, "campaign": "Relance"}),
        ("appel du client.wav", {}),
    ],
)
def test_file_name_pattern_gives_metadata_when_nothing_else_does(tenants, name, expected):
    alpha, _ = tenants
    with session() as s:
        meta, notes = ingest.metadata_from_filename(name, session=s, org_id=alpha.org_id)
    if "agent" in expected:
        expected = dict(expected)
        expected["agent_id"] = alpha.agent_ids[expected.pop("agent")]
    assert meta == expected and notes == []


def test_form_defaults_win_over_the_file_name_and_unknown_agents_are_noted(tenants):
    alpha, _ = tenants
    batch = ingest_files(actor=alpha.actor("supervisor"),
                         files=[("20260315-143005_alpha-agent-1_sortant_Fibre.wav", GOOD),
                                ("20260316-090000_Jean-Inconnu_entrant.wav", _wav(2))],
                         defaults={"campaign": "Campagne du formulaire"})
    first, second = _calls(alpha.org_id)
    assert first.agent_id == alpha.agent_ids[1] and first.direction == "sortant"
    assert first.campaign == "Campagne du formulaire"
    assert first.started_at == datetime(2026, 3, 15, 13, 30, 5, tzinfo=UTC)
    assert second.agent_id is None
    assert "Agent « Jean-Inconnu » du nom de fichier inconnu, non attribué" in batch.results[1].reason


# --- command line ----------------------------------------------------------------------------


def test_cli_ingest_queues_files_as_the_cli_and_reports_rejections(tenants, tmp_path, capsys):
    alpha, _ = tenants
    (tmp_path / "bon.wav").write_bytes(GOOD)
    (tmp_path / "faux.wav").write_bytes(b"pas de son")
    code = cli.main(["ingest", str(tmp_path / "bon.wav"), str(tmp_path / "faux.wav"), "--org", "Alpha Conseil",
                     "--agent", "alpha agent 2"])
    out = capsys.readouterr().out
    assert code == 1  # one file was refused
    assert "accepté" in out and "refusé" in out
    (call,) = _calls(alpha.org_id)
    assert call.agent_id == alpha.agent_ids[2] and call.uploaded_by is None
    with session() as s:
        entry = s.exec(select(AuditLog).where(AuditLog.action == "call_uploaded")).one()
        assert (entry.username, entry.user_id, entry.org_id) == ("cli", None, alpha.org_id)
        assert s.exec(select(func.count()).select_from(Call)).one() == 1
