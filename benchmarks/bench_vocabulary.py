"""What the organisation's vocabulary (hot words) does to transcription, on synthesised calls that say its names.

Twenty short dialogues of an invented insurer (``benchmarks/data/vocabulary_calls.json``: brand, offers,
products, partner, agents' first names; three dialogues name nothing) are spoken with espeak-ng in stereo
(agent left, customer right, as ``../shared/tools/asrize.py`` does), then transcribed by CCR's own
``transcribe`` (offline Whisper base, the product's options) without and with the vocabulary. Prints:

- name recognition: the share of the names' occurrences written with the right spelling (case aside);
- names inserted: occurrences in the transcript beyond those said (the hint heard where it was not said);
- WER over all words, and over the three dialogues that name nothing;
- the real-time factor of each pass (processing seconds / audio seconds, ``asr_cpu_threads`` = 2).

With ``--recordings``, the same figures on the four real 8 kHz stereo recordings of ``tests/fixtures/audio``
(the demo's), against their clean transcripts, with the demo's vocabulary (``ccr.demo.DEMO_VOCABULARY``).

Usage: .venv/bin/python benchmarks/bench_vocabulary.py [--calls N] [--show] [--recordings]
Needs espeak-ng (Debian package) and jiwer (requirements-dev.txt). About 5 minutes on 2 free cores, 2 more
with ``--recordings``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccr.core.config import get_settings  # noqa: E402
from ccr.demo import DEMO_VOCABULARY  # noqa: E402
from ccr.speech.audio import TARGET_SR, load_audio  # noqa: E402
from ccr.speech.transcription import load_faster_whisper, transcribe  # noqa: E402
from ccr.speech.vocabulary import clean_terms, hotwords_text  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "vocabulary_calls.json"
RECORDINGS = [f"a01-00{i}" for i in range(4)]
AUDIO_DIR = ROOT / "tests" / "fixtures" / "audio"
REF_DIR = ROOT / "tests" / "fixtures" / "eval" / "public" / "transcripts"
THREADS = 2
# From asrize.py: the most intelligible espeak-ng French voices for Whisper base, at its speaking rate.
VOICES = {"agent": "fr+f5", "customer": "fr+m7"}
RATE = "145"
GAP_S = 0.6  # silence between turns: a quick phone exchange, well under the pipeline's pause split
LEVEL = 0.8  # asrize's gain: no clipping when a voice peaks


def speak(text: str, voice: str) -> np.ndarray:
    """espeak-ng's speech for ``text`` as mono float32 at 16 kHz (resampled in memory by CCR's decoder)."""
    wav = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-s", RATE, text], check=True,
                         capture_output=True).stdout
    return load_audio(wav, max_seconds=120)[1][0]


def synthesize(turns: list[dict]) -> np.ndarray:
    """A stereo (2, n) call: each turn on its speaker's channel, one after the other (after asrize.py)."""
    clips = [(t["speaker"], speak(t["text"], VOICES[t["speaker"]])) for t in turns]
    gap = int(GAP_S * TARGET_SR)
    total = sum(len(x) for _, x in clips) + gap * (len(clips) + 1)
    call = np.zeros((2, total), dtype=np.float32)
    pos = gap
    for speaker, x in clips:
        call[0 if speaker == "agent" else 1, pos : pos + len(x)] = x * LEVEL
        pos += len(x) + gap
    return call


def normalise(text: str) -> str:
    """Lower case, no punctuation, apostrophes and hyphens split: what WER compares (as bench_asr.py)."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def occurrences(term: str, text: str) -> int:
    """How many times ``term`` is written in ``text``, whole words, case aside, accents exact."""
    return len(re.findall(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE))


@dataclass
class Pass:
    """The figures of one configuration (without or with the vocabulary)."""

    name: str
    hotwords: str | None
    seconds: float = 0.0
    said: int = 0
    written: int = 0
    inserted: int = 0
    refs: list[str] = field(default_factory=list)
    hyps: list[str] = field(default_factory=list)
    control_refs: list[str] = field(default_factory=list)
    control_hyps: list[str] = field(default_factory=list)
    per_term: dict[str, list[int]] = field(default_factory=dict)  # term -> [said, written right]


def run_pass(p: Pass, calls: list[dict], audio: dict[str, np.ndarray], terms: list[str], settings, show: bool) -> None:
    """Transcribe every call with ``p.hotwords`` and add up the figures."""
    for call in calls:
        started = time.perf_counter()
        transcript = transcribe(audio[call["id"]], settings=settings, agent_channel="left", hotwords=p.hotwords)
        p.seconds += time.perf_counter() - started
        named = False
        for speaker in ("agent", "customer"):
            ref = " ".join(t["text"] for t in call["turns"] if t["speaker"] == speaker)
            hyp = " ".join(s["text"] for s in transcript.segments if s["speaker"] == speaker)
            for term in terms:
                said, written = occurrences(term, ref), occurrences(term, hyp)
                named |= said > 0
                p.said += said
                p.written += min(said, written)
                p.inserted += max(0, written - said)
                counts = p.per_term.setdefault(term, [0, 0])
                counts[0] += said
                counts[1] += min(said, written)
            p.refs.append(normalise(ref))
            p.hyps.append(normalise(hyp))
            if show:
                print(f"  {p.name:>6} {call['id']} {speaker:8} {hyp}")
        if not named:
            p.control_refs += p.refs[-2:]
            p.control_hyps += p.hyps[-2:]


def recordings() -> tuple[list[dict], dict[str, np.ndarray]]:
    """The real recordings as calls (their clean transcripts as turns) and their decoded audio."""
    calls, audio = [], {}
    for name in RECORDINGS:
        reference = json.loads((REF_DIR / f"{name}.json").read_text(encoding="utf-8"))
        calls.append({"id": name, "turns": reference["segments"]})
        audio[name] = load_audio((AUDIO_DIR / f"{name}.wav").read_bytes(), max_seconds=7200)[1]
    return calls, audio


def report(passes: list[Pass], duration: float, terms: list[str]) -> None:
    """Print the table of the passes and, per term, how often it was said and written right."""
    print(f"{'':6} {'noms justes':>14} {'insérés':>8} {'WER':>6} {'WER sans nom':>12} {'RTF':>6}")
    for p in passes:
        control = jiwer.wer(p.control_refs, p.control_hyps) if p.control_refs else float("nan")
        print(f"{p.name:6} {p.written:>5}/{p.said:<4} {p.written / max(p.said, 1):4.0%} {p.inserted:8d} "
              f"{jiwer.wer(p.refs, p.hyps):6.3f} {control:12.3f} {p.seconds / duration:6.3f}")
    print()
    print(f"{'terme':16} {'dits':>4} {'sans':>5} {'avec':>5}")
    for term in terms:
        said, without = passes[0].per_term[term]
        print(f"{term:16} {said:4d} {without:5d} {passes[1].per_term[term][1]:5d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="only the first N dialogues")
    parser.add_argument("--show", action="store_true", help="print every transcript")
    parser.add_argument("--recordings", action="store_true", help="also the four real recordings (demo vocabulary)")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng est requis : apt-get install espeak-ng")
    data = json.loads(DATA.read_text(encoding="utf-8"))
    calls = data["calls"][: args.calls]
    terms = clean_terms(data["vocabulary"])  # the list as the page would store it
    settings = get_settings().model_copy(update={"asr_cpu_threads": THREADS, "asr_language": "fr"})
    t0 = time.perf_counter()
    load_faster_whisper(settings)
    print(f"model load: {time.perf_counter() - t0:.1f} s; {len(calls)} calls; vocabulary: {hotwords_text(terms)}")

    t0 = time.perf_counter()
    audio = {c["id"]: synthesize(c["turns"]) for c in calls}
    duration = sum(a.shape[1] for a in audio.values()) / TARGET_SR
    print(f"synthesis: {duration:.0f} s of stereo audio in {time.perf_counter() - t0:.1f} s")

    passes = [Pass("sans", None), Pass("avec", hotwords_text(terms))]
    for p in passes:
        run_pass(p, calls, audio, terms, settings, args.show)

    print()
    report(passes, duration, terms)

    if args.recordings:
        calls, audio = recordings()
        terms = clean_terms(list(DEMO_VOCABULARY))
        duration = sum(a.shape[1] for a in audio.values()) / TARGET_SR
        print(f"\nreal recordings: {len(calls)} calls, {duration:.0f} s; vocabulary: {hotwords_text(terms)}")
        passes = [Pass("sans", None), Pass("avec", hotwords_text(terms))]
        for p in passes:
            run_pass(p, calls, audio, terms, settings, args.show)
        report(passes, duration, terms)


if __name__ == "__main__":
    main()
