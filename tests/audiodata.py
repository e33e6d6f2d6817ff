"""Test audio helpers: fixture recordings cut in memory, and the offline Whisper model assembled once."""

from __future__ import annotations

import io
import wave
from pathlib import Path

AUDIO = Path(__file__).parent / "fixtures" / "audio"
_model_dir: list[Path] = []


def cut_wav(name: str, seconds: float, start: float = 0.0) -> bytes:
    """The first ``seconds`` (from ``start``) of a fixture recording, as WAV bytes in memory."""
    with wave.open(str(AUDIO / name)) as w:
        params = w.getparams()
        w.setpos(int(params.framerate * start))
        frames = w.readframes(int(params.framerate * seconds))
    out = io.BytesIO()
    with wave.open(out, "wb") as o:
        o.setparams(params)
        o.writeframes(frames)
    return out.getvalue()


def offline_model_dir(tmp_path_factory) -> Path:
    """The offline Whisper model directory, assembled once per test session (145 MB)."""
    if not _model_dir:
        from ccr.speech.transcription import ensure_offline_model

        _model_dir.append(ensure_offline_model(tmp_path_factory.mktemp("models")))
    return _model_dir[0]


def find_plaintext_audio(root: Path, uploads: list[bytes]) -> list[str]:
    """Files under ``root`` that start like an audio file, or contain a slice of an uploaded recording."""
    probes = [_busy_slice(u) for u in uploads]
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:4] in (b"RIFF", b"fLaC", b"OggS") or data[:3] == b"ID3" or data[4:8] == b"ftyp":
            hits.append(f"{path.relative_to(root)}: en-tête audio")
        hits += [f"{path.relative_to(root)}: extrait de l'audio en clair" for p in probes if p in data]
    return hits


def _busy_slice(data: bytes, size: int = 64) -> bytes:
    """A slice of speech, not silence: 64 varied bytes never occur by chance in ciphertext or a database."""
    for pos in range(len(data) // 2, len(data) - size, size):
        chunk = data[pos : pos + size]
        if len(set(chunk)) >= size // 2:
            return chunk
    raise ValueError("aucun extrait varié dans cet enregistrement")
