"""Fuzz the audio decoder (``ccr.speech.audio.probe_audio``) for a bounded time: only ``AudioError`` may come out.

    python benchmarks/fuzz_audio.py [--seconds 60] [--engine atheris|mutation]

With atheris (coverage-guided libFuzzer, ``requirements-dev.txt``), the seed corpus is a few small valid
recordings (WAV mono/stereo, MP3, FLAC, Ogg/Opus, M4A) built in memory. Any other exception is a crash:
the input is kept under ``tests/fixtures/crashers/`` and ``tests/security/test_hostile_uploads.py``
replays every file there. Without atheris, a mutation fuzzer (bit flips, byte runs, splices, header
field rewrites over the same seeds, ``random.Random``) does the same job, less cleverly.
Prints the number of executions and crashes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CRASHERS = REPO / "tests" / "fixtures" / "crashers"
MAX_SECONDS = 30.0  # decode bound per input: a mutated header may claim hours
MAX_LEN = 64 * 1024  # inputs stay small: the decoder's parsing paths, not its throughput, are the target


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _wav(seconds: float, rate: int, channels: int) -> bytes:
    pcm = (np.repeat(_tone(seconds, rate)[:, None], channels, axis=1) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def _encoded(fmt: str, codec: str, rate: int, seconds: float = 1.0) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(_tone(seconds, rate)[None, :], format="fltp", layout="mono")
        if codec in ("flac",):
            frame = av.AudioFrame.from_ndarray((_tone(seconds, rate) * 32767).astype(np.int16)[None, :],
                                               format="s16", layout="mono")
        frame.sample_rate = rate
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    return buf.getvalue()


def seeds() -> list[bytes]:
    """Small valid recordings of every accepted format."""
    out = [_wav(0.8, 8000, 1), _wav(0.6, 16000, 2)]
    for fmt, codec, rate in (("mp3", "libmp3lame", 16000), ("flac", "flac", 8000), ("ogg", "libopus", 48000),
                             ("ipod", "aac", 16000)):
        try:
            out.append(_encoded(fmt, codec, rate))
        except Exception as err:  # an FFmpeg build without this encoder: fuzz the others
            print(f"graine {fmt} ignorée : {err}", file=sys.stderr)
    return [s[:MAX_LEN] for s in out]


def _one(data: bytes) -> None:
    from ccr.core.errors import AudioError
    from ccr.speech.audio import probe_audio

    try:
        probe_audio(data, filename="fuzz", max_seconds=MAX_SECONDS)
    except AudioError:
        pass


def keep_crasher(data: bytes, err: BaseException) -> Path:
    """Save a crashing input as a regression fixture."""
    CRASHERS.mkdir(parents=True, exist_ok=True)
    path = CRASHERS / f"crash-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    print(f"PLANTAGE {type(err).__name__}: {err} -> {path.relative_to(REPO)}", file=sys.stderr)
    return path


# --- mutation fuzzer (no atheris) -----------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One random mutation of ``data``: flips, runs, splices, truncation or a rewritten header field."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not b:
            b = bytearray(rng.choice(corpus))
        pos = rng.randrange(len(b))
        if op == 0:
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos + rng.randint(1, 16)] = bytes([rng.choice((0, 0xFF, 0x7F, 0x80))]) * rng.randint(1, 16)
        elif op == 2:
            del b[pos:]
        elif op == 3:
            other = rng.choice(corpus)
            b[pos:] = other[rng.randrange(len(other)):]
        elif op == 4 and pos + 4 <= len(b):  # a length or rate field in a header
            b[pos:pos + 4] = struct.pack("<I", rng.choice((0, 1, 2**31 - 1, 2**32 - 1, rng.getrandbits(32))))
        elif op == 5 and pos + 2 <= len(b):
            b[pos:pos + 2] = struct.pack("<H", rng.choice((0, 1, 6, 255, 65535)))
        else:
            b[pos:pos] = rng.randbytes(rng.randint(1, 32))
    return bytes(b[:MAX_LEN])


def run_mutation(seconds: float, seed: int) -> tuple[int, int]:
    """The fallback fuzzer loop; returns (executions, crashes)."""
    rng = random.Random(seed)
    corpus = seeds()
    runs = crashes = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(corpus), corpus)
        runs += 1
        try:
            _one(data)
        except Exception as err:
            crashes += 1
            keep_crasher(data, err)
    return runs, crashes


# --- atheris ------------------------------------------------------------------------------------------


def run_atheris(seconds: float, seed: int) -> None:
    """Coverage-guided fuzzing with libFuzzer; crashes are written to tests/fixtures/crashers/."""
    import atheris

    with atheris.instrument_imports():
        import ccr.speech.audio  # noqa: F401 - instrumented for coverage feedback

    def target(data: bytes) -> None:
        try:
            _one(data)
        except Exception as err:
            keep_crasher(data, err)
            raise

    corpus_dir = Path(tempfile.mkdtemp(prefix="ccr-fuzz-"))
    for i, s in enumerate(seeds()):
        (corpus_dir / f"graine-{i}").write_bytes(s)
    CRASHERS.mkdir(parents=True, exist_ok=True)
    argv = [sys.argv[0], f"-max_total_time={int(seconds)}", f"-seed={seed}", f"-max_len={MAX_LEN}",
            "-timeout=30", "-rss_limit_mb=2048", f"-artifact_prefix={tempfile.gettempdir()}/ccr-fuzz-", "-print_final_stats=1",
            str(corpus_dir)]
    atheris.Setup(argv, target)
    atheris.Fuzz()  # libFuzzer prints "Done N runs in T second(s)" and the final stats, then exits


def main() -> int:
    """Run the chosen fuzzer for ``--seconds``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=["atheris", "mutation"], default=None)
    args = parser.parse_args()
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "mutation"
    print(f"fuzz_audio : moteur {engine}, {args.seconds:.0f} s")
    if engine == "atheris":
        run_atheris(args.seconds, args.seed)
        return 0
    t0 = time.monotonic()
    runs, crashes = run_mutation(args.seconds, args.seed)
    elapsed = time.monotonic() - t0
    print(f"exécutions : {runs} en {elapsed:.0f} s ({runs / elapsed:.0f}/s) ; plantages : {crashes}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
