"""Give a labelled transcript set real speech-recognition errors, to test a scorer on what ASR produces.

Each call is spoken with espeak-ng (stereo: agent left, customer right, the set's gaps kept), then each
channel is transcribed by faster-whisper with CCR's own decoding options (ccr.speech.transcription's
FASTER_WHISPER_OPTIONS: beam 5, temperature 0, repetition penalty, VAD, word timestamps), segments whose
compression ratio marks a loop are dropped as CCR drops them, and the words are cut into segments at pauses
over 1.5 s. The output has the same format as the input, and each segment also keeps its words with
faster-whisper's probabilities: "words": [{"word", "start", "end", "probability"}, ...] (times rounded to
2 decimals, probabilities to 3). labels.jsonl and hard_cases.json are copied unchanged; the README is not.

usage: python -m scripts.asrize SRC_DIR OUT_DIR [--model-dir DIR] [--threads N] [--keep-audio]
  SRC_DIR      a set with transcripts/*.json and labels.jsonl (e.g. tests/fixtures/eval/public-d)
  --model-dir  a faster-whisper model directory; by default the offline Whisper base that CCR assembles
               from its weight packages (ccr.speech.transcription.ensure_offline_model, under CCR's data/models)
needs: espeak-ng (Debian), numpy and faster-whisper (the project's virtualenv). Run it from the repo root.

Calls already in OUT_DIR/transcripts are skipped, so an interrupted run resumes where it stopped. The tool
is deterministic for a given model, options and thread count (beam search, temperature 0). At the end it
prints the mean word probability and the share of words under 0.5 over the whole output set.

Caveats: spoken lengths differ from the text timings, so a turn said near the 30 s greeting window may cross
it; the tool prints a warning for every call whose first agent turn ends after 25 s in the audio. Whisper
base loops on some synthetic channels: the tool warns for every looping segment it drops and for every
channel that comes out with no words, whose labels then cannot be recovered from the transcript.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel, decode_audio

from ccr.core.config import Settings
from ccr.speech.transcription import FASTER_WHISPER_OPTIONS, MAX_COMPRESSION_RATIO, ensure_offline_model

SR = 16000
VOICES = {"agent": "fr+f5", "customer": "fr+m7"}  # the most intelligible espeak-ng French voices for Whisper base
GAP_S = 1.5
LOW_PROBABILITY = 0.5  # the summary reports the share of words Whisper was less than even on
COPIED_FILES = ("labels.jsonl", "hard_cases.json")


def synthesize(transcript: dict, wav_path: Path) -> None:
    """Stereo 16 kHz audio of a transcript; re-times its segments in place to the spoken lengths."""
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, seg in enumerate(transcript["segments"]):
            raw = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", VOICES.get(seg["speaker"], "fr"), "-s", "145", "-w", str(raw),
                            seg["text"]], check=True)
            # PyAV (faster-whisper's own decoder) resamples espeak-ng's 22.05 kHz, so sox is not needed.
            clips.append((seg, decode_audio(str(raw), SR)))
    t, prev_end, placed = 0.0, 0.0, []
    for seg, x in clips:
        t += max(0.0, seg["start"] - prev_end)
        prev_end = seg["end"]
        placed.append((t, seg, x))
        seg["start"], seg["end"] = round(t, 2), round(t + len(x) / SR, 2)
        t += len(x) / SR
    transcript["duration_s"] = round(t + 0.6, 2)
    left = np.zeros(int(transcript["duration_s"] * SR), np.float32)
    right = np.zeros_like(left)
    for start, seg, x in placed:
        a = int(start * SR)
        (right if seg["speaker"] == "customer" else left)[a:a + len(x)] += x * 0.8
    pcm = (np.clip(np.stack([left, right], 1), -1, 1) * 32767).astype("<i2")
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def word_dict(w) -> dict:
    """One faster-whisper word in the transcript format (faster-whisper's own field names, rounded)."""
    return {"word": w.word.strip(), "start": round(w.start, 2), "end": round(w.end, 2),
            "probability": round(w.probability, 3)}


def split_on_pauses(words, speaker: str) -> list[dict]:
    """Segments with word-accurate bounds (Whisper's own segment ends can stretch over long silences)."""
    groups, cur = [], []
    for w in words:
        if cur and w.start - cur[-1].end > GAP_S:
            groups.append(cur)
            cur = []
        cur.append(w)
    if cur:
        groups.append(cur)
    return [{"speaker": speaker, "start": round(g[0].start, 2), "end": round(g[-1].end, 2),
             "text": "".join(w.word for w in g).strip(), "words": [word_dict(w) for w in g]} for g in groups]


def summary(out: Path) -> str:
    """Calls, words, mean word probability and share of words under LOW_PROBABILITY over an output set."""
    probs, calls = [], 0
    for f in sorted((out / "transcripts").glob("*.json")):
        calls += 1
        tr = json.loads(f.read_text(encoding="utf-8"))
        probs += [w["probability"] for s in tr["segments"] for w in s.get("words", [])]
    if not probs:
        return f"{calls} calls, no words"
    p = np.array(probs)
    return (f"{calls} calls, {len(p)} words, mean word probability {p.mean():.3f}, "
            f"{(p < LOW_PROBABILITY).mean():.1%} of words under {LOW_PROBABILITY}")


def main() -> None:
    """Speak and re-transcribe every call of SRC_DIR that OUT_DIR does not hold yet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model-dir", help="faster-whisper model directory (default: CCR's offline base)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for faster-whisper")
    parser.add_argument("--keep-audio", action="store_true", help="also write OUT_DIR/audio/<call_id>.wav")
    args = parser.parse_args()
    src, out = args.src, args.out
    model_dir = args.model_dir or str(ensure_offline_model(Settings().models_dir))
    (out / "transcripts").mkdir(parents=True, exist_ok=True)
    for name in COPIED_FILES:
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads)
    print(f"model: {model_dir}", flush=True)
    # CCR's options, not faster-whisper's defaults: with the default VAD and no repetition penalty, Whisper
    # base looped on a whole 30 s window of d21-000's agent channel and lost a third of its turns.
    opts = {**FASTER_WHISPER_OPTIONS, "language": "fr"}
    for f in sorted((src / "transcripts").glob("*.json")):
        target = out / "transcripts" / f.name
        if target.exists():
            continue
        tr = json.loads(f.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory() as tmp:
            wav = (out / "audio" / f"{f.stem}.wav") if args.keep_audio else Path(tmp) / "call.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            synthesize(tr, wav)
            left, right = decode_audio(str(wav), SR, split_stereo=True)
        first_agent = next((s for s in tr["segments"] if s["speaker"] == "agent"), None)
        if first_agent and first_agent["end"] > 25:
            print(f"warning: {f.stem}: first agent turn ends at {first_agent['end']} s in the audio", file=sys.stderr)
        t0, segs = time.time(), []
        for pcm, speaker in ((left, "agent"), (right, "customer")):
            decoded = list(model.transcribe(pcm, **opts)[0])
            kept = [s for s in decoded if s.compression_ratio <= MAX_COMPRESSION_RATIO]
            if len(kept) < len(decoded):
                print(f"warning: {f.stem}: {len(decoded) - len(kept)} looping {speaker} segment(s) dropped",
                      file=sys.stderr)
            channel = split_on_pauses([w for s in kept for w in (s.words or [])], speaker)
            if not channel:
                print(f"warning: {f.stem}: the {speaker} channel came out with no words", file=sys.stderr)
            segs += channel
        segs.sort(key=lambda s: s["start"])
        result = {"call_id": tr["call_id"], "duration_s": round(len(left) / SR, 2), "language": "fr", "segments": segs}
        # Written to a temporary name first, so an interrupted run never leaves a half file that a resume would skip.
        partial = target.with_suffix(".part")
        partial.write_text(json.dumps(result, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        partial.replace(target)
        print(f"{f.stem}: {round(time.time() - t0, 1)} s for {round(len(left) / SR, 1)} s of audio", flush=True)
    print(summary(out), flush=True)


if __name__ == "__main__":
    main()
