"""Hostile uploads: each refused with a clear French reason by ``ccr.pipeline.ingest.ingest_files``, and nothing else
affected (a good file of the same batch is still queued; a refused one leaves no row and no file).
Hostile names on real audio are accepted, stored under an internal id, shown sanitised. Hostile metadata
CSVs: formula payloads neutralised once exported, odd encodings decoded, 100 000 lines parsed in bounded
time and memory with errors reported by line. Crashers found by ``benchmarks/fuzz_audio.py`` are replayed.
"""

from __future__ import annotations

import io
import re
import struct
import time
import tracemalloc
import wave
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from sqlmodel import select

from ccr.core import storage
from ccr.core.db import session
from ccr.core.errors import AudioError, InvalidInput
from ccr.core.models import Call
from ccr.pipeline.ingest import MAX_CSV_ROWS, ingest_files, parse_metadata_csv
from ccr.speech.audio import probe_audio
from tests.audiodata import cut_wav

CRASHERS = Path(__file__).resolve().parents[1] / "fixtures" / "crashers"
# CPU seconds of this process, not wall time: other processes' load does not count. 100 000 lines under
# tracemalloc take a few; generous, but a quadratic parser (or a million lines read) would blow it.
MAX_CSV_SECONDS = 60
MAX_CSV_PEAK_MB = 300  # the file itself is ~6 MB; a parser holding per-line objects many times over would not fit


def _wav(seconds: float, *, rate: int = 16000, channels: int = 1) -> bytes:
    n = int(seconds * rate)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone[:, None], channels, axis=1).tobytes())
    return out.getvalue()


def _lying_wav(claimed_s: float, real_s: float, rate: int = 8000) -> bytes:
    """A WAV whose data chunk announces ``claimed_s`` seconds but holds ``real_s``."""
    data = _wav(real_s, rate=rate)
    pos = data.index(b"data")
    return data[: pos + 4] + struct.pack("<I", int(claimed_s * rate * 2)) + data[pos + 8:]


def _mp3(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as c:
        s = c.add_stream("libmp3lame", rate=rate, layout="mono")
        t = np.arange(int(seconds * rate)) / rate
        frame = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :],
                                           format="fltp", layout="mono")
        frame.sample_rate = rate
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    return buf.getvalue()


def _ten_hours_of_silence() -> bytes:
    """A real, fully decodable 10 h MP3 (8 kHz, 8 kbit/s: 36 MB), built by repeating one silent frame."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as c:
        s = c.add_stream("libmp3lame", rate=8000, layout="mono")
        s.bit_rate = 8000
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000 * 5), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    with av.open(io.BytesIO(buf.getvalue())) as inp:
        packets = [bytes(p) for p in inp.demux() if p.size]
    return packets[len(packets) // 2] * (10 * 3600 * 8000 // 576 + 1)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("appel.wav", _wav(2))
    return out.getvalue()


HOSTILE = [
    # (uploaded name, bytes or a builder, French reason expected)
    ("vide.wav", lambda: b"", r"vide \(0 octet\)"),
    ("tronque.mp3", lambda: _mp3(6)[:6000], r"tronqué"),
    ("executable.wav", lambda: b"\x7fELF\x02\x01\x01" + bytes(4000), r"programme exécutable \(ELF\)"),
    ("archive.mp3", _zip, r"archive ZIP"),
    ("menteur.wav", lambda: _lying_wav(claimed_s=120, real_s=3), r"tronqué : son en-tête annonce"),
    ("six-canaux.wav", lambda: _wav(2, channels=6), r"6 canaux"),
    ("1khz.wav", lambda: _wav(3, rate=1000), r"1000 Hz non prise en charge"),
    ("dix-heures-entete.wav", lambda: _lying_wav(claimed_s=36_000, real_s=2), r"tronqué|durée maximale"),
    ("dix-heures-silence.mp3", _ten_hours_of_silence, r"durée maximale autorisée \(2 h 00 min\)"),
    ("court.wav", lambda: _wav(0.1), r"ne dure que 0,1 s"),
    ("texte.wav", lambda: "Nom;Prénom\nDupont;Jean\n".encode() * 50, r"fichier texte"),
]
# Real recordings with hostile names: accepted, stored under a random id, shown with a sanitised name.
HOSTILE_NAMES = [
    ("../../../etc/passwd.wav", "passwd.wav"),
    ("..\\..\\windows\\system32\\appel.wav", "appel.wav"),
    ("appel\x00.exe.wav", "appel .exe.wav"),
    ("a" * 5000 + ".wav", None),  # shown truncated, with its extension
    ("\u202egnp.wav", "gnp.wav"),  # right-to-left override: a control character, dropped
]


def _calls(org_id: int) -> list[Call]:
    with session() as s:
        return list(s.exec(select(Call).where(Call.org_id == org_id)).all())


def _files_on_disk(settings) -> list[Path]:
    return [p for p in settings.audio_dir.rglob("*") if p.is_file()] if settings.audio_dir.exists() else []


def test_every_hostile_file_is_refused_in_french_and_the_batch_goes_on(tenants, settings_env):
    alpha, _ = tenants
    good = [("bon-debut.wav", cut_wav("a01-000.wav", 3)), ("bon-fin.wav", cut_wav("a01-001.wav", 3))]
    hostile = [(name, build()) for name, build, _ in HOSTILE]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=[good[0], *hostile, good[1]])
    by_name = {r.filename: r for r in batch.results}
    for name, _, reason in HOSTILE:
        result = by_name[name]
        assert (result.status, result.call_id) == ("rejected", None), (name, result)
        assert re.search(reason, result.reason), (name, result.reason)
        assert result.reason[:1].isupper() and result.reason.endswith((".", ")")), result.reason
    assert by_name["bon-debut.wav"].status == by_name["bon-fin.wav"].status == "accepted"
    calls = _calls(alpha.org_id)
    assert sorted(c.source_name for c in calls) == ["bon-debut.wav", "bon-fin.wav"]
    assert all(c.status == "queued" for c in calls)
    files = _files_on_disk(settings_env)
    assert sorted(p.name for p in files) == sorted(f"{c.audio_key}.enc" for c in calls)  # no orphan, no temp


def test_hostile_names_are_stored_under_an_internal_id_and_shown_sanitised(tenants, settings_env):
    alpha, _ = tenants
    files = [(name, cut_wav("a01-002.wav", 2, start=2 * i)) for i, (name, _) in enumerate(HOSTILE_NAMES)]
    batch = ingest_files(actor=alpha.actor("supervisor"), files=files)
    assert [r.status for r in batch.results] == ["accepted"] * len(files), [r.reason for r in batch.results]
    calls = {c.id: c for c in _calls(alpha.org_id)}
    for result, (_, shown) in zip(batch.results, HOSTILE_NAMES, strict=True):
        call = calls[result.call_id]
        assert re.fullmatch(r"[0-9a-f]{32}", call.audio_key)
        path = storage.audio_path(call.audio_key, org_id=alpha.org_id)
        assert path.parent == settings_env.audio_dir / str(alpha.org_id) and path.exists()
        name = call.source_name
        assert "/" not in name and "\\" not in name and "\x00" not in name and len(name) <= 120
        assert not any(ord(c) < 32 or 0x202A <= ord(c) <= 0x202E for c in name)
        if shown:
            assert name == shown
        else:
            assert name.endswith("….wav")
    # Nothing was written outside the organisation's audio directory.
    assert {p.parent for p in _files_on_disk(settings_env)} == {settings_env.audio_dir / str(alpha.org_id)}


FORMULAS = ["=HYPERLINK(\"http://x.invalid\";\"clic\")", "+33 1 23", "-2+3", "@SUM(A1)", "=cmd|'/c calc'!A1"]
RESULT = {
    "grid": "ccr-standard-fr", "grid_version": 1, "engine": "rules", "score": 80.0, "passed": True,
    "critical_failed": False,
    "criteria": [{"id": "accueil", "verdict": "pass", "weight": 100, "evidence": [], "explanation": ""}],
    "category": "information", "irritants": [], "summary": "", "recommendations": [],
}


def test_formula_payloads_in_metadata_are_neutralised_in_the_calls_export(tenants):
    import csv
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ccr.core.config import get_settings
    from ccr.dashboards import reports
    from ccr.dashboards.filters import CallQuery, filters_from_query
    from ccr.quality import evaluations

    alpha, _ = tenants
    lines = ["fichier;campagne"]
    files = []
    for i, payload in enumerate(FORMULAS):
        lines.append(f"f{i}.wav;\"{payload.replace(chr(34), chr(34) * 2)}\"")
        files.append((f"f{i}.wav", cut_wav("a01-003.wav", 2, start=2 * i)))
    batch = ingest_files(actor=alpha.actor("supervisor"), files=files, metadata_csv="\n".join(lines).encode())
    assert [r.status for r in batch.results] == ["accepted"] * len(files), batch.line_errors
    with session() as s:  # scored as the worker would: the export lists evaluated calls
        for c in s.exec(select(Call).where(Call.org_id == alpha.org_id)).all():
            c.status = "done"
            s.add(c)
            evaluations.store_evaluation(session=s, call=c, result=RESULT, grid_id=None)
    actor = alpha.actor("supervisor")
    with session() as s:
        # The organisation's today, as the page computes it: near midnight UTC and local dates differ.
        today = datetime.now(ZoneInfo(get_settings().timezone)).date()
        _, data = reports.export_calls_file(session=s, actor=actor, query=CallQuery(), fmt="csv",
                                            filters=filters_from_query({}, actor, today))
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert sorted(r["Campagne"] for r in rows) == sorted("'" + p for p in FORMULAS)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_metadata_csv_in_latin1_or_utf16_with_bom_resolves_accented_agents(tenants, encoding):
    from ccr.core.models import Agent

    alpha, _ = tenants
    with session() as s:
        s.add(Agent(org_id=alpha.org_id, team_id=alpha.team_ids[0], name="Hélène Béranger"))
    text = "fichier;agent;campagne\nappel.wav;Hélène Béranger;Fidélité été\n"
    data = text.encode(encoding)
    if encoding == "utf-16":
        assert data.startswith((b"\xff\xfe", b"\xfe\xff"))  # Python writes the BOM
    with session() as s:
        rows, errors = parse_metadata_csv(data, session=s, actor=alpha.actor("supervisor"))
    assert not errors
    assert rows["appel.wav"]["campaign"] == "Fidélité été" and rows["appel.wav"]["agent_id"]


@pytest.mark.slow
def test_a_100k_line_metadata_csv_is_parsed_in_bounded_time_and_memory_with_errors_by_line(tenants):
    alpha, _ = tenants
    n = 100_000
    lines = ["fichier;agent;date;direction;campagne"]
    for i in range(n):
        date = "31/02/2026 10:00" if i % 10_000 == 5 else "15/03/2026 10:00"  # 10 impossible dates
        lines.append(f"appel-{i:06d}.wav;alpha agent {i % 4};{date};entrant;=1+{i}")
    data = "\n".join(lines).encode("utf-8")
    tracemalloc.start()
    t0 = time.process_time()
    with session() as s:
        rows, errors = parse_metadata_csv(data, session=s, actor=alpha.actor("supervisor"))
    elapsed = time.process_time() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(rows) == n - 10
    assert [e.line for e in errors] == [i + 2 for i in range(n) if i % 10_000 == 5]  # header is line 1
    assert all("date « 31/02/2026 10:00 » invalide" in e.message.lower() for e in errors)
    assert elapsed < MAX_CSV_SECONDS, f"{elapsed:.1f} s"
    assert peak / 1e6 < MAX_CSV_PEAK_MB, f"{peak / 1e6:.0f} Mo"


def _big_csv(n: int) -> bytes:
    """A metadata CSV of ``n`` lines about other recordings, each with an invalid date, then two of the batch."""
    head = "fichier;agent;date;direction;campagne\n"
    body = "".join(f"autre-{i:07d}.wav;alpha agent {i % 4};31/02/2026 10:00;entrant;=1+{i}\n" for i in range(n))
    return (head + body + "bon-1.wav;alpha agent 1;15/03/2026 10:00;sortant;Fibre\n"
            "bon-2.wav;Personne;15/03/2026 10:00;entrant;Fibre\n").encode()


def test_a_metadata_csv_far_bigger_than_its_batch_is_streamed_and_only_the_batch_lines_are_kept(tenants):
    alpha, _ = tenants
    data = _big_csv(MAX_CSV_ROWS - 2)  # at the limit: read in full
    files = [("bon-1.wav", cut_wav("a01-003.wav", 2, start=30)), ("bon-2.wav", cut_wav("a01-003.wav", 2, start=32))]
    tracemalloc.start()
    batch = ingest_files(actor=alpha.actor("supervisor"), files=files, metadata_csv=data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"CSV de {len(data) / 1e6:.1f} Mo : pic {peak / 1e6:.1f} Mo")
    assert batch.ignored_lines == MAX_CSV_ROWS - 2  # the other recordings' lines, invalid dates and all
    assert [(e.line, e.filename) for e in batch.line_errors] == [(MAX_CSV_ROWS + 1, "bon-2.wav")]
    assert [r.status for r in batch.results] == ["accepted", "rejected"]
    (call,) = _calls(alpha.org_id)
    assert (call.source_name, call.direction, call.campaign) == ("bon-1.wav", "sortant", "Fibre")
    # Not even one decoded copy of the file is held, let alone its lines or a row per line of another batch.
    assert peak < len(data), f"{peak / 1e6:.1f} Mo pour un CSV de {len(data) / 1e6:.1f} Mo"


def test_a_metadata_csv_beyond_the_line_limit_is_refused_in_french_before_any_file(tenants):
    alpha, _ = tenants
    data = _big_csv(1_000_000)
    files = [("bon-1.wav", cut_wav("a01-003.wav", 2, start=30))]
    tracemalloc.start()
    t0 = time.process_time()
    with pytest.raises(InvalidInput) as refused:
        ingest_files(actor=alpha.actor("supervisor"), files=files, metadata_csv=data)
    elapsed = time.process_time() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"CSV de {len(data) / 1e6:.0f} Mo refusé en {elapsed:.1f} s : pic {peak / 1e6:.1f} Mo")
    assert str(refused.value).startswith("Fichier de métadonnées trop long : plus de 100\u202f000 lignes.")
    assert "Aucun fichier n'a été importé." in str(refused.value)
    assert _calls(alpha.org_id) == []
    assert elapsed < MAX_CSV_SECONDS, f"{elapsed:.1f} s"  # it stops reading at the limit (it took minutes)
    assert peak < len(data) / 10, f"{peak / 1e6:.1f} Mo pour un CSV de {len(data) / 1e6:.0f} Mo"


@pytest.mark.parametrize("path", sorted(CRASHERS.glob("crash-*")) or [None], ids=lambda p: p.name if p else "aucun")
def test_fuzzer_crashers_only_raise_audio_errors(path):
    """Inputs that once escaped the decoder with another exception (kept by benchmarks/fuzz_audio.py)."""
    if path is None:
        pytest.skip("aucun cas de plantage conservé par le fuzzer")
    try:
        probe_audio(path.read_bytes(), filename=path.name, max_seconds=60)
    except AudioError as err:
        assert str(err)


def test_a_nul_byte_in_an_uploaded_name_costs_no_file_of_the_batch_on_the_import_page(tenants):
    """Streamlit's uploader refuses a whole batch, in English, when a name holds a NUL byte and file types are
    set; the page leaves the check to ``ccr.pipeline.ingest``, which sanitises the name and decodes the content."""
    from tests.pages.helpers import run_page

    alpha, _ = tenants
    at = run_page("pages/import_calls.py", alpha.users["supervisor"])
    recordings, metadata = at.file_uploader
    recordings.set_value([("bon.wav", cut_wav("a01-003.wav", 2, start=20), "audio/wav"),
                          ("appel\x00.exe.wav", cut_wav("a01-003.wav", 2, start=22), "audio/wav"),
                          ("notes\x00.txt", b"Compte rendu de l'appel, pas de son.\n" * 20, "text/plain")])
    metadata.set_value(("meta\x00.csv", b"fichier;campagne\nbon.wav;Fibre\nautre-envoi.wav;Relance\n", "text/csv"))
    next(b for b in at.button if b.label == "Importer").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    rows = {r["fichier"]: r for r in at.session_state["ccr_import_batch"]["results"]}
    assert rows["bon.wav"]["statut"] == rows["appel .exe.wav"]["statut"] == "accepté"
    assert rows["notes .txt"]["statut"] == "refusé" and "pas un enregistrement audio" in rows["notes .txt"]["raison"]
    assert sorted(c.campaign or "" for c in _calls(alpha.org_id)) == ["", "Fibre"]
    assert any("1 ligne(s) du fichier de métadonnées décrivent des fichiers absents de cet envoi" in c.value
               for c in at.caption)
