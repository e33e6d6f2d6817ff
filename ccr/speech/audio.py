"""Audio validation and decoding, from bytes in memory only.

Uploaded recordings are untrusted: every file is fully decoded before it is accepted, and
nothing here ever writes audio to disk (no temporary files), because recordings are only
stored encrypted. PyAV (FFmpeg) reads from an in-memory ``BytesIO``.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import asdict, dataclass

import av
import numpy as np

from ccr.core.errors import AudioError

TARGET_SR = 16000  # Whisper models are trained on 16 kHz audio
MIN_SAMPLE_RATE = 8000  # telephony narrow band; below that speech is unintelligible
MAX_SAMPLE_RATE = 48000  # highest rate of the formats we accept; above is studio audio, not calls
MAX_CHANNELS = 2  # mono or stereo (agent / customer); more is a multitrack we cannot label
MIN_SECONDS = 0.5  # shorter than a word: a click or an empty recording, not a call
# A container whose header announces more than this beyond what really decodes is truncated.
# Relative + absolute slack because compressed formats estimate their duration (padding, VBR).
TRUNCATION_SLACK_RATIO = 0.05
TRUNCATION_SLACK_S = 1.0
# FFmpeg demuxers we accept. Anything else (playlists, images, video-only) is refused, which also
# keeps text-based demuxers (HLS, concat) that could open other files away from untrusted bytes.
ALLOWED_FORMATS = frozenset(
    {"wav", "w64", "mp3", "ogg", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "aac", "matroska,webm", "aiff", "au"}
)
ACCEPTED_FORMATS_FR = "wav, mp3, ogg/opus, flac ou m4a"
# Writers that stream a WAV before knowing its length (espeak-ng, sox in a pipe) put a placeholder
# size of 0, 0x7FFFF000, 0x7FFFFFFF or 0xFFFFFFFF: the length is unknown, not a lie.
WAV_STREAMING_SIZE = 0x7FFF0000
TEXT_SNIFF_BYTES = 4096  # enough to recognise a text file without reading a whole upload
# Magic numbers of common non-audio uploads, to give a precise reason instead of "unknown format".
NON_AUDIO_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "un programme exécutable (ELF)"),
    (b"MZ", "un programme exécutable Windows"),
    (b"PK\x03\x04", "une archive ZIP (ou un document Office)"),
    (b"PK\x05\x06", "une archive ZIP vide"),
    (b"%PDF", "un document PDF"),
    (b"\x89PNG", "une image PNG"),
    (b"\xff\xd8\xff", "une image JPEG"),
    (b"GIF8", "une image GIF"),
    (b"\x1f\x8b", "une archive gzip"),
    (b"Rar!", "une archive RAR"),
    (b"7z\xbc\xaf", "une archive 7-Zip"),
)


@dataclass(frozen=True)
class AudioInfo:
    """What a fully decoded recording really contains (not what its header claims)."""

    duration_s: float
    channels: int
    sample_rate: int
    codec: str
    format: str

    def to_dict(self) -> dict:
        """Plain dict, for JSON and the database."""
        return asdict(self)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a recording, used to detect re-uploads of the same file."""
    return hashlib.sha256(data).hexdigest()


def probe_audio(data: bytes, *, filename: str | None = None, max_seconds: float) -> AudioInfo:
    """Validate a recording by decoding all of it; raise ``AudioError`` with a French reason if unusable."""
    info, _ = _decode(data, filename=filename, max_seconds=max_seconds, sr=None)
    return info


def load_audio(
    data: bytes, *, filename: str | None = None, max_seconds: float, sr: int = TARGET_SR
) -> tuple[AudioInfo, np.ndarray]:
    """Validate and decode in one pass: the ``AudioInfo`` and a float32 array (channels, n) at ``sr``."""
    info, audio = _decode(data, filename=filename, max_seconds=max_seconds, sr=sr)
    assert audio is not None
    return info, audio


def decode_audio(data: bytes, *, sr: int = TARGET_SR) -> np.ndarray:
    """Decode a recording to float32 (channels, n) resampled to ``sr``, keeping mono or stereo."""
    return load_audio(data, max_seconds=float("inf"), sr=sr)[1]


def split_channels(audio: np.ndarray) -> list[np.ndarray]:
    """One contiguous 1-D array per channel of a (channels, n) array."""
    if audio.ndim == 1:
        return [np.ascontiguousarray(audio, dtype=np.float32)]
    return [np.ascontiguousarray(ch, dtype=np.float32) for ch in audio]


def mono_mix(audio: np.ndarray) -> np.ndarray:
    """Average the channels of a (channels, n) array into a (1, n) array."""
    if audio.ndim == 1:
        return audio.astype(np.float32)[None, :]
    return audio.mean(axis=0, dtype=np.float32)[None, :]


# --- internals -------------------------------------------------------------------------------


def _fmt_s(seconds: float) -> str:
    """French notation for a duration: '1,5 s', '3 min 05 s', '2 h 00 min'."""
    if seconds < 60:
        return f"{seconds:.1f}".replace(".", ",") + " s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _sniff_non_audio(data: bytes) -> str | None:
    """Name what the file is when its first bytes prove it is not audio, else None."""
    for magic, what in NON_AUDIO_MAGIC:
        if data.startswith(magic):
            return what
    head = data[:TEXT_SNIFF_BYTES]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the sniff boundary; retry without the last bytes.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if text and sum(c.isprintable() or c in "\r\n\t" for c in text) / len(text) > 0.98:
        return "un fichier texte"
    return None


def _wav_declared_seconds(data: bytes) -> float | None:
    """Duration announced by a RIFF/WAVE header's data chunk, or None when unknown or streaming."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk_id == b"fmt " and pos + 16 <= len(data):
            byte_rate = struct.unpack("<I", data[pos + 16 : pos + 20])[0] if pos + 20 <= len(data) else None
        if chunk_id == b"data":
            if not byte_rate or size == 0 or size >= WAV_STREAMING_SIZE:
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _open(data: bytes) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as e:
        raise AudioError(
            f"Ce fichier n'est pas un enregistrement audio lisible (format non reconnu ; "
            f"{ACCEPTED_FORMATS_FR} attendus).",
            detail=str(e),
        ) from e


def _decode(
    data: bytes, *, filename: str | None, max_seconds: float, sr: int | None
) -> tuple[AudioInfo, np.ndarray | None]:
    if not data:
        raise AudioError("Le fichier est vide (0 octet).", detail=filename)
    what = _sniff_non_audio(data)
    if what is not None:
        raise AudioError(f"Ce fichier n'est pas un enregistrement audio : c'est {what}.", detail=filename)

    container = _open(data)
    try:
        fmt = container.format.name
        if fmt not in ALLOWED_FORMATS:
            raise AudioError(f"Format « {fmt} » non pris en charge : {ACCEPTED_FORMATS_FR} attendus.", detail=filename)
        if not container.streams.audio:
            raise AudioError("Ce fichier ne contient aucune piste audio.", detail=filename)
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # found by benchmarks/fuzz_audio.py: a WAV with format tag 0
            raise AudioError(f"Le codage audio de ce fichier est inconnu : {ACCEPTED_FORMATS_FR} attendus.",
                             detail=filename)
        codec = stream.codec_context.name
        channels = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
        if channels > MAX_CHANNELS:
            raise AudioError(
                f"Le fichier a {channels} canaux : {MAX_CHANNELS} au maximum (mono ou stéréo agent/client).",
                detail=filename,
            )
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioError(
                f"Fréquence d'échantillonnage de {rate} Hz non prise en charge "
                f"(de {MIN_SAMPLE_RATE} à {MAX_SAMPLE_RATE} Hz).",
                detail=filename,
            )
        declared = _wav_declared_seconds(data) if fmt == "wav" else None
        if declared is None and container.duration is not None and container.duration > 0:
            declared = container.duration / 1_000_000  # AV_TIME_BASE microseconds

        # Resampling also converts any sample format to planar float32.
        resampler = (
            av.AudioResampler(format="fltp", layout="mono" if channels == 1 else "stereo", rate=sr)
            if sr is not None
            else None
        )
        chunks: list[np.ndarray] = []
        n_samples = 0  # at the source rate: the real duration, whatever the header says
        try:
            for frame in container.decode(stream):
                n_samples += frame.samples
                if n_samples / rate > max_seconds:
                    raise AudioError(
                        f"L'enregistrement dépasse la durée maximale autorisée ({_fmt_s(max_seconds)}).",
                        detail=filename,
                    )
                if resampler is not None:
                    frame.pts = None  # the resampler re-times frames; broken pts must not stop it
                    chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            if resampler is not None:
                chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        except AudioError:
            raise
        except (av.FFmpegError, ValueError, IndexError) as e:
            raise AudioError(
                f"Le fichier est tronqué ou corrompu : décodage impossible après {_fmt_s(n_samples / rate)}.",
                detail=f"{filename}: {e}",
            ) from e
    finally:
        container.close()

    duration = n_samples / rate
    if n_samples == 0:
        raise AudioError("L'enregistrement ne contient aucun son (durée nulle).", detail=filename)
    if declared is not None and declared - duration > max(TRUNCATION_SLACK_S, TRUNCATION_SLACK_RATIO * declared):
        raise AudioError(
            f"Le fichier est tronqué : son en-tête annonce {_fmt_s(declared)} mais seules "
            f"{_fmt_s(duration)} sont lisibles.",
            detail=filename,
        )
    if duration < MIN_SECONDS:
        raise AudioError(
            f"L'enregistrement ne dure que {_fmt_s(duration)} : trop court pour une conversation "
            f"({_fmt_s(MIN_SECONDS)} minimum).",
            detail=filename,
        )
    info = AudioInfo(duration_s=round(duration, 3), channels=channels, sample_rate=rate, codec=codec, format=fmt)
    if resampler is None:
        return info, None
    audio = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), dtype=np.float32)
    return info, np.ascontiguousarray(audio, dtype=np.float32)


def within_audio(segments: list[tuple[float, float, str]], audio: np.ndarray) -> list[tuple[float, float, str]]:
    """Clamp (start, end, text) timings into the channel's length, end never before start: a decoder
    can emit a timestamp past the end of the sound (its window is 30 s), which would misplace the line."""
    duration = audio.shape[-1] / TARGET_SR
    out = []
    for start, end, text in segments:
        start = min(max(start, 0.0), duration)
        out.append((start, min(max(end, start), duration), text))
    return out
