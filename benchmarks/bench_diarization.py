"""Speaker separation of mono calls: accuracy, word error rate, speed and memory, with and without it.

Each public stereo recording is mixed down to mono (the sum of its channels) and transcribed as a mono call;
"with" then separates the two voices (``ccr.pipeline.speakers``, ``ccr.speech.diarization``) and names them.
Prints per call and overall:

- window accuracy: share of 1.6 s windows given to the voice of the louder original channel (better naming);
- speaker_confidence and whether the agent was named right (its words closer to the agent's reference than to
  the customer's);
- WER of the whole mono transcript (speakers ignored) against the public clean transcripts, and with separation
  the WER per side (the agent's words against the agent's reference, the customer's likewise);
- RTF (processing seconds / audio seconds; the separation alone in brackets) and peak RSS. Each mode runs in
  its own process, so that the peak memory of one does not hide the other's.

Usage: .venv/bin/python benchmarks/bench_diarization.py   (needs requirements-diarization.txt for "with")
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_asr import AUDIO_DIR, FILES, REF_DIR, THREADS, normalise  # noqa: E402
from ccr.core.config import get_settings  # noqa: E402
from ccr.speech import diarization  # noqa: E402
from ccr.speech.audio import TARGET_SR, load_audio  # noqa: E402
from ccr.speech.transcription import load_faster_whisper, transcribe  # noqa: E402


def window_accuracy(result: diarization.Diarization, channels: np.ndarray) -> float | None:
    """Share of windows whose voice is the louder original channel's, under the better naming of A and B."""
    if not result.windows:
        return None
    truth, got = [], []
    for w in result.windows:
        a, b = int(w.start * TARGET_SR), int(w.end * TARGET_SR)
        energy = np.square(channels[:, a:b], dtype=np.float64).sum(axis=1)
        truth.append(int(energy[1] > energy[0]))
        got.append(int(w.speaker == diarization.SPEAKER_B))
    same = float(np.mean(np.array(truth) == np.array(got)))
    return max(same, 1.0 - same)


def side_text(segments: list[dict], speaker: str | None) -> str:
    """The normalised words of one side (``None``: every line), in time order."""
    return normalise(" ".join(s["text"] for s in sorted(segments, key=lambda s: s["start"])
                              if speaker is None or s["speaker"] == speaker))


def run_mode(mode: str) -> None:
    """Transcribe each mono mix (and separate it when ``mode`` is ``with``); one JSON line per call, then peak RSS."""
    from ccr.pipeline.speakers import agent_voice, separate_speakers

    settings = get_settings().model_copy(update={"asr_cpu_threads": THREADS, "diarization": "auto"})
    load_faster_whisper(settings)
    # Both modes hold what a worker holds anyway: the act model (it scores the call next) and a warm Whisper.
    agent_voice([{"speaker": "A", "start": 0.0, "end": 1.0, "text": "Bonjour."}])
    _, warm = load_audio((AUDIO_DIR / f"{FILES[0]}.wav").read_bytes(), max_seconds=7200)
    transcribe(warm[:, : TARGET_SR * 8].sum(axis=0)[None, :], settings=settings)
    if mode == "with":
        diarization.load_encoder()
        diarization.diarize(warm[:, : TARGET_SR * 8].sum(axis=0))  # imports and filters, as a warm worker has
    for name in FILES:
        _, audio = load_audio((AUDIO_DIR / f"{name}.wav").read_bytes(), max_seconds=7200)
        mix = np.clip(audio.sum(axis=0), -1.0, 1.0)[None, :]
        duration = mix.shape[1] / TARGET_SR
        started = time.perf_counter()
        transcript = transcribe(mix, settings=settings)
        asr_s = time.perf_counter() - started
        out = {"name": name, "duration": duration, "asr_s": asr_s, "segments": transcript.segments}
        if mode == "with":
            started = time.perf_counter()
            result = separate_speakers(mix[0], transcript.segments, direction="entrant", settings=settings)
            out["diar_s"] = time.perf_counter() - started
            out["segments"] = result.segments
            out["confidence"] = result.confidence
            out["separation"] = result.separation
            out["window_accuracy"] = window_accuracy(diarization.diarize(mix[0]), audio)
        print(json.dumps(out, ensure_ascii=False), flush=True)
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _child(mode: str) -> list[dict]:
    proc = subprocess.run([sys.executable, __file__, "--mode", mode], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    if not diarization.available():
        print("Séparation des locuteurs non installée : pip install --no-deps --build-constraint "
              "requirements-diarization.txt -r requirements-diarization.txt")
        return
    plain, sep = _child("without"), _child("with")
    plain_rows = {r["name"]: r for r in plain if "name" in r}
    print(f"{'file':8} {'audio_s':>7} {'win_acc':>7} {'conf':>5} {'agent':>5} {'wer':>6} {'wer_ag':>6} "
          f"{'wer_cu':>6} {'rtf_off':>7} {'rtf_on':>7} {'(diar)':>7}")  # fmt: skip
    totals = {"audio": 0.0, "off": 0.0, "on": 0.0, "diar": 0.0}
    refs: dict[str | None, list[str]] = {None: [], "agent": [], "customer": []}
    hyps: dict[str | None, list[str]] = {None: [], "agent": [], "customer": []}
    accs = []
    for row in (r for r in sep if "name" in r):
        name, off = row["name"], plain_rows[row["name"]]
        reference = json.loads((REF_DIR / f"{name}.json").read_text(encoding="utf-8"))["segments"]
        wer = {}
        for side in (None, "agent", "customer"):
            ref, hyp = side_text(reference, side), side_text(row["segments"], side)
            refs[side].append(ref)
            hyps[side].append(hyp)
            wer[side] = jiwer.wer(ref, hyp)
        # The agent is named right when the words given to the agent are closer to the agent's reference than
        # to the customer's (a one-word first line may go to the wrong side without the sides being swapped).
        agent_hyp = side_text(row["segments"], "agent")
        agent_ok = jiwer.wer(side_text(reference, "agent"), agent_hyp) < jiwer.wer(side_text(reference, "customer"),
                                                                                   agent_hyp)
        rtf_off = off["asr_s"] / off["duration"]
        rtf_on = (row["asr_s"] + row["diar_s"]) / row["duration"]
        accs.append(row["window_accuracy"])
        totals["audio"] += row["duration"]
        totals["off"] += off["asr_s"]
        totals["on"] += row["asr_s"] + row["diar_s"]
        totals["diar"] += row["diar_s"]
        print(f"{name:8} {row['duration']:7.1f} {row['window_accuracy']:7.3f} {row['confidence']:5.2f} "
              f"{'oui' if agent_ok else 'NON':>5} {wer[None]:6.3f} {wer['agent']:6.3f} {wer['customer']:6.3f} "
              f"{rtf_off:7.3f} {rtf_on:7.3f} {row['diar_s'] / row['duration']:7.3f}")  # fmt: skip
    audio = totals["audio"]
    print(f"{'all':8} {audio:7.1f} {np.mean(accs):7.3f} {'':5} {'':5} {jiwer.wer(refs[None], hyps[None]):6.3f} "
          f"{jiwer.wer(refs['agent'], hyps['agent']):6.3f} {jiwer.wer(refs['customer'], hyps['customer']):6.3f} "
          f"{totals['off'] / audio:7.3f} {totals['on'] / audio:7.3f} {totals['diar'] / audio:7.3f}")  # fmt: skip
    peak_off = next(r["peak_mb"] for r in plain if "peak_mb" in r)
    peak_on = next(r["peak_mb"] for r in sep if "peak_mb" in r)
    print(f"peak RSS without separation: {peak_off:.0f} MB, with: {peak_on:.0f} MB ({peak_on - peak_off:+.0f} MB)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--mode":
        run_mode(sys.argv[2])
    else:
        main()
