"""Transcription speed, memory and accuracy on the four public stereo recordings.

Prints the real-time factor (processing seconds / audio seconds) on 2 CPU threads for:
raw faster-whisper with the same model and options, the ``analyze`` pipeline, openai-whisper
when ``.pt`` weights are configured; the stereo / mono-mix cost ratio; peak RSS; and the word
error rate per channel against the public clean transcripts.

Usage: .venv/bin/python benchmarks/bench_asr.py   (HF_HUB_OFFLINE=1 is set by ccr.speech.transcription)
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from pathlib import Path

import jiwer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccr.core.config import get_settings  # noqa: E402
from ccr.speech.analysis import analyze_bytes  # noqa: E402
from ccr.speech.audio import TARGET_SR, load_audio, mono_mix  # noqa: E402
from ccr.speech.transcription import FASTER_WHISPER_OPTIONS, load_faster_whisper, transcribe  # noqa: E402

FILES = [f"a01-00{i}" for i in range(4)]
AUDIO_DIR = ROOT / "tests" / "fixtures" / "audio"
REF_DIR = ROOT / "tests" / "fixtures" / "eval" / "public" / "transcripts"
THREADS = 2


def normalise(text: str) -> str:
    """Lower case, no punctuation, apostrophes and hyphens split: what WER should compare."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def raw_faster_whisper(model, channels) -> float:
    """Seconds to transcribe these mono channels calling faster-whisper directly, same options."""
    started = time.perf_counter()
    for channel in channels:
        segments, _ = model.transcribe(channel, language="fr", **FASTER_WHISPER_OPTIONS)
        list(segments)
    return time.perf_counter() - started


def main() -> None:
    settings = get_settings().model_copy(update={"asr_cpu_threads": THREADS})
    t0 = time.perf_counter()
    model = load_faster_whisper(settings)
    print(f"model load (assembly/sha check included): {time.perf_counter() - t0:.2f} s, threads={THREADS}")

    total_audio = raw_s = pipe_s = mono_s = 0.0
    refs = {"agent": [], "customer": []}
    hyps = {"agent": [], "customer": []}
    print(f"{'file':8} {'audio_s':>7} {'raw_rtf':>7} {'pipe_rtf':>8} {'mono_rtf':>8} {'st/mono':>7} "
          f"{'wer_agent':>9} {'wer_cust':>8}")  # fmt: skip
    for name in FILES:
        data = (AUDIO_DIR / f"{name}.wav").read_bytes()
        _, audio = load_audio(data, max_seconds=7200)
        duration = audio.shape[1] / TARGET_SR
        raw = raw_faster_whisper(model, [audio[0], audio[1]])
        mono = raw_faster_whisper(model, [mono_mix(audio)[0]])
        result = analyze_bytes(data, filename=f"{name}.wav", settings=settings)
        pipe = result["timings"]["total_s"]
        total_audio += duration
        raw_s += raw
        pipe_s += pipe
        mono_s += mono
        reference = json.loads((REF_DIR / f"{name}.json").read_text())
        wers = {}
        for speaker in ("agent", "customer"):
            ref = normalise(" ".join(s["text"] for s in reference["segments"] if s["speaker"] == speaker))
            hyp = normalise(" ".join(s["text"] for s in result["segments"] if s["speaker"] == speaker))
            refs[speaker].append(ref)
            hyps[speaker].append(hyp)
            wers[speaker] = jiwer.wer(ref, hyp)
        print(f"{name:8} {duration:7.1f} {raw / duration:7.3f} {pipe / duration:8.3f} {mono / duration:8.3f} "
              f"{raw / mono:7.2f} {wers['agent']:9.3f} {wers['customer']:8.3f}")  # fmt: skip

    print(f"{'all':8} {total_audio:7.1f} {raw_s / total_audio:7.3f} {pipe_s / total_audio:8.3f} "
          f"{mono_s / total_audio:8.3f} {raw_s / mono_s:7.2f} {jiwer.wer(refs['agent'], hyps['agent']):9.3f} "
          f"{jiwer.wer(refs['customer'], hyps['customer']):8.3f}")  # fmt: skip
    print(f"pipeline overhead vs raw faster-whisper: {100 * (pipe_s / raw_s - 1):+.1f} % (target <= +10 %)")
    print(f"stereo per channel / mono mix: {raw_s / mono_s:.2f}x (target <= 1.3x)")

    checkpoint = settings.openai_whisper_checkpoint
    if checkpoint is None or not Path(checkpoint).is_file():
        print("openai-whisper: not available: no .pt weights offline")
    else:
        ow = settings.model_copy(update={"asr_engine": "openai-whisper"})
        started = time.perf_counter()
        for name in FILES:
            _, audio = load_audio((AUDIO_DIR / f"{name}.wav").read_bytes(), max_seconds=7200)
            transcribe(audio, settings=ow)
        print(f"openai-whisper ({Path(checkpoint).name}) rtf: {(time.perf_counter() - started) / total_audio:.3f}")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB (target < 1536 MB)")


if __name__ == "__main__":
    main()
