"""Audio validation and decoding: every accepted format decodes, every bad file is refused in French."""

from __future__ import annotations

import io
import struct
import sys
import tempfile
import wave
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from ccr.core.errors import AudioError
from ccr.speech.audio import (
    TARGET_SR,
    AudioInfo,
    decode_audio,
    load_audio,
    mono_mix,
    probe_audio,
    sha256_bytes,
    split_channels,
    within_audio,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "audio" / "a01-000.wav"
TONE_HZ = 440.0
TONE_AMP = 0.5  # RMS of the tone is TONE_AMP / sqrt(2)


def _tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    """A 440 Hz tone on the first channel, silence on the others: shows channel order survives."""
    t = np.arange(int(rate * seconds)) / rate
    out = np.zeros((channels, t.size), dtype=np.float32)
    out[0] = TONE_AMP * np.sin(2 * np.pi * TONE_HZ * t)
    return out


def encode(fmt: str, codec: str, *, rate: int = 16000, channels: int = 2, seconds: float = 2.0) -> bytes:
    """Encode a tone in memory with PyAV (its encoder converts sample format and frame size)."""
    layout = {1: "mono", 2: "stereo"}[channels]
    signal = _tone(rate, seconds, channels)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        for i in range(0, signal.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(signal[:, i : i + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def pcm_wav(*, rate: int = 16000, channels: int = 1, seconds: float = 1.0) -> bytes:
    """A 16-bit PCM WAV written by the standard library (any rate, any channel count)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    samples = (0.3 * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(samples, channels).tobytes())
    return buf.getvalue()


def lying_wav() -> bytes:
    """A 1 s WAV whose header claims ten times more data: what an interrupted upload looks like."""
    data = bytearray(pcm_wav(seconds=1.0))
    pos = data.index(b"data")
    (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
    data[pos + 4 : pos + 8] = struct.pack("<I", size * 10)
    return bytes(data)


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("appel.wav", pcm_wav())
    return buf.getvalue()


BAD_FILES = [
    ("empty", lambda: b"", "vide (0 octet)"),
    ("truncated mp3", lambda: (d := encode("mp3", "libmp3lame", seconds=6.0))[: len(d) // 2], "tronqué"),
    ("truncated flac", lambda: (d := encode("flac", "flac", seconds=3.0))[: len(d) // 2], "tronqué ou corrompu"),
    ("wav header lying about its length", lying_wav, "son en-tête annonce 10,0 s mais seules 1,0 s"),
    ("renamed ELF executable", lambda: Path(sys.executable).read_bytes()[:65536], "programme exécutable (ELF)"),
    ("renamed Windows executable", lambda: b"MZ\x90\x00" + bytes(range(256)) * 64, "exécutable Windows"),
    ("zip archive", zip_bytes, "archive ZIP"),
    ("text file", lambda: b"nom;agent\nappel1.wav;Nadia\n" * 50, "fichier texte"),
    ("random bytes", lambda: np.random.default_rng(0).bytes(50_000), "format non reconnu"),
    ("six channels", lambda: pcm_wav(channels=6), "6 canaux"),
    ("1 kHz sample rate", lambda: pcm_wav(rate=1000), "1000 Hz"),
    ("96 kHz sample rate", lambda: pcm_wav(rate=96000), "96000 Hz"),
    ("zero seconds", lambda: pcm_wav(seconds=0.0), "aucun son"),
    ("0.1 second", lambda: pcm_wav(seconds=0.1), "0,1 s : trop court"),
    ("longer than the maximum", lambda: pcm_wav(seconds=3.0), "durée maximale autorisée (2,0 s)"),
]


@pytest.mark.parametrize(("make", "reason"), [(m, r) for _, m, r in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_file_is_rejected_with_french_reason(make, reason):
    with pytest.raises(AudioError) as err:
        probe_audio(make(), filename="appel.wav", max_seconds=2.0 if "maximale" in reason else 7200)
    assert reason in str(err.value)


def test_too_long_rejection_states_the_limit_in_minutes():
    with pytest.raises(AudioError, match=r"durée maximale autorisée \(1 min 00 s\)"):
        probe_audio(pcm_wav(rate=8000, seconds=61.0), max_seconds=60.0)


GOOD_FILES = [
    # (id, fmt, codec, rate, channels, expected codec, lossless)
    ("wav pcm 8 kHz mono", "wav", "pcm_s16le", 8000, 1, "pcm_s16le", True),
    ("wav pcm 48 kHz stereo", "wav", "pcm_s16le", 48000, 2, "pcm_s16le", True),
    ("wav mu-law 8 kHz", "wav", "pcm_mulaw", 8000, 1, "pcm_mulaw", False),
    ("wav a-law 8 kHz stereo", "wav", "pcm_alaw", 8000, 2, "pcm_alaw", False),
    ("mp3 16 kHz stereo", "mp3", "libmp3lame", 16000, 2, "mp3float", False),
    ("mp3 44.1 kHz mono", "mp3", "libmp3lame", 44100, 1, "mp3float", False),
    ("ogg opus 48 kHz stereo", "ogg", "libopus", 48000, 2, "opus", False),
    ("flac 48 kHz stereo", "flac", "flac", 48000, 2, "flac", True),
    ("m4a aac 16 kHz stereo", "ipod", "aac", 16000, 2, "aac", False),
]


@pytest.mark.parametrize(
    ("fmt", "codec", "rate", "channels", "decoder", "lossless"),
    [g[1:] for g in GOOD_FILES],
    ids=[g[0] for g in GOOD_FILES],
)
def test_good_file_decodes_to_16k_float_keeping_channels(fmt, codec, rate, channels, decoder, lossless):
    data = encode(fmt, codec, rate=rate, channels=channels, seconds=2.0)
    info, audio = load_audio(data, filename=f"appel.{fmt}", max_seconds=7200)
    assert info.channels == channels
    assert info.sample_rate == rate
    assert info.codec == decoder
    assert info.duration_s == pytest.approx(2.0, abs=0.1)  # encoders pad a frame or two
    assert audio.dtype == np.float32
    assert audio.shape[0] == channels
    assert audio.shape[1] == pytest.approx(2.0 * TARGET_SR, abs=0.1 * TARGET_SR)
    # The tone stays on the first channel and the second stays silent: no channel swap, no mix.
    mid = audio[:, TARGET_SR // 2 : 3 * TARGET_SR // 2]
    rms = np.sqrt(np.mean(mid**2, axis=1))
    assert rms[0] == pytest.approx(TONE_AMP / np.sqrt(2), rel=0.02 if lossless else 0.15)
    if channels == 2:
        assert rms[1] < 0.01


def test_probe_reports_the_fixture():
    info = probe_audio(FIXTURE.read_bytes(), filename="a01-000.wav", max_seconds=7200)
    assert info == AudioInfo(duration_s=41.94, channels=2, sample_rate=16000, codec="pcm_s16le", format="wav")


def test_streaming_wav_with_placeholder_length_is_accepted():
    # espeak-ng and sox in a pipe write 0x7FFFF000 as the data size: unknown length, not a lie.
    data = bytearray(pcm_wav(seconds=1.0))
    pos = data.index(b"data")
    data[pos + 4 : pos + 8] = struct.pack("<I", 0x7FFFF000)
    assert probe_audio(bytes(data), max_seconds=7200).duration_s == pytest.approx(1.0)


def test_decode_audio_matches_load_audio():
    data = FIXTURE.read_bytes()
    audio = decode_audio(data)
    assert audio.shape == (2, 671040)
    np.testing.assert_array_equal(audio, load_audio(data, max_seconds=7200)[1])


def test_decoding_writes_nothing_to_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    load_audio(encode("mp3", "libmp3lame"), max_seconds=7200)
    load_audio(FIXTURE.read_bytes(), max_seconds=7200)
    assert list(tmp_path.iterdir()) == []


def test_split_channels_and_mono_mix():
    audio = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]], dtype=np.float32)
    left, right = split_channels(audio)
    np.testing.assert_array_equal(left, [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(right, [0.0, 1.0, 0.5])
    assert left.flags["C_CONTIGUOUS"] and left.dtype == np.float32
    mixed = mono_mix(audio)
    assert mixed.shape == (1, 3)
    np.testing.assert_allclose(mixed[0], [0.5, 0.5, 0.5])
    assert len(split_channels(mixed)) == 1


def test_sha256_identifies_identical_recordings():
    data = FIXTURE.read_bytes()
    assert sha256_bytes(data) == sha256_bytes(bytes(data))
    assert sha256_bytes(data) != sha256_bytes(data[:-1])
    assert len(sha256_bytes(b"")) == 64


def test_timings_past_the_end_of_the_sound_are_clamped_into_it():
    audio = np.zeros(10 * TARGET_SR, dtype=np.float32)
    segments = [(-0.2, 1.0, "a"), (8.0, 29.5, "b"), (26.0, 24.0, "c"), (3.0, 2.0, "d")]
    assert within_audio(segments, audio) == [(0.0, 1.0, "a"), (8.0, 10.0, "b"), (10.0, 10.0, "c"), (3.0, 3.0, "d")]
