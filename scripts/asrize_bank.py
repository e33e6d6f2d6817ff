"""Give every dialogue-act bank line the text faster-whisper produces when the line is spoken.

The act recogniser is trained on clean text and loses a lot on real speech-recognition output; this tool
writes, for each bank line, what CCR's ASR makes of it, with the same speaker and acts, so both can be
trained on. Lines are grouped by speaker into chunks of CHUNK_LINES, each chunk is spoken as one mono audio
with scripts.asrize's voices and speed (its own synthesize, so nothing drifts) and GAP_S of silence between
lines, transcribed once with the same model and decoding options as scripts.asrize (looping segments dropped
as CCR drops them), and each word goes to the line whose audio holds its midpoint. The VAD step is run here
rather than inside faster-whisper (same samples decoded), so a word is placed in the VAD-joined audio Whisper
heard, where lines are only 0.4 s apart. Whisper gives a join's silence to either word around it, so a word
(pieces glued by an apostrophe or hyphen count as one) next to a join goes before it if it ends a sentence,
else to the side whose source word at the join it resembles, else after it if it is capitalised, else where
its midpoint is. A line whose words are all lost is not written.

Output: one compact JSON object a line, appended and flushed after each chunk, so a partial run is usable:
  {"text": <whisper text>, "speaker", "acts", "register": "asr", "source": <original text>}
The category bank works too (``--bank ccr/scoring/data/categories/bank.jsonl --out
ccr/scoring/data/categories/bank-asr.jsonl``): its lines are the customer's, and each keeps its category.

usage: python -m scripts.asrize_bank [--bank FILE] [--out FILE] [--model-dir DIR] [--threads N] [--until HH:MM]
Lines already in the output (keyed by exact source text + speaker) are skipped, so an interrupted run
resumes (lost lines, which leave no trace, are tried again by a later run, not by the same one); the bank is
re-read after each pass, so lines added while it runs are processed too. With --until, no chunk is started
after that UTC time, so the run stops cleanly between chunks.
needs: espeak-ng (Debian), numpy and faster-whisper (the project's virtualenv). Run it from the repo root.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import difflib
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

from ccr.core.config import Settings
from scripts.asrize import FASTER_WHISPER_OPTIONS, MAX_COMPRESSION_RATIO, SR, ensure_offline_model, synthesize

BANK = Path("ccr/scoring/data/acts/bank.jsonl")
OUT = Path("ccr/scoring/data/acts/bank-asr.jsonl")
CHUNK_LINES = 40  # about 4 minutes of audio: a handful of Whisper windows, and a resume loses little
GAP_S = 3.0  # far over the VAD's 0.5 s minimum silence, so two lines never share a speech chunk
SENTENCE_END = ".!?"  # Whisper ends a sentence with one of these, so the word closes a line
# A word at a join is taken to be the source word on one side when it is this close to it and clearly closer
# than to the other ("Jairaimie" is 0.4 from "Jérémy", 0.18 from "et").
SIMILAR = 0.35
SIMILAR_MARGIN = 0.15
JOIN_SLACK_S = 0.3  # how far off a join Whisper's word timings were seen to be (a lone "Je" ended 0.04 s early)


def key(row: dict) -> tuple[str, str]:
    """A bank line's identity: its exact text and its speaker."""
    return row["text"], row["speaker"]


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines file (none if it does not exist), skipping a torn last line."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            # A writer caught mid-line (the bank is edited while this runs): the line comes back next pass.
            continue
    return rows


def done_keys(out: Path) -> set[tuple[str, str]]:
    """Keys of the lines already written to the output."""
    return {(r["source"], r["speaker"]) for r in read_jsonl(out)}


def chunks(rows: list[dict], size: int) -> Iterator[list[dict]]:
    """Lines grouped by speaker in file order, a chunk yielded as soon as its speaker has ``size`` lines."""
    buffers: dict[str, list[dict]] = {}
    for row in rows:
        buf = buffers.setdefault(row["speaker"], [])
        buf.append(row)
        if len(buf) == size:
            yield buf
            buffers[row["speaker"]] = []
    for buf in buffers.values():
        if buf:
            yield buf


def nearest_line(spans: list[tuple[float, float]], t: float) -> int:
    """Index of the span holding time ``t``, or of the nearest one when ``t`` falls in a silence."""
    return min(range(len(spans)), key=lambda i: 0.0 if spans[i][0] <= t <= spans[i][1]
               else min(abs(t - spans[i][0]), abs(t - spans[i][1])))


def _words(text: str) -> list[str]:
    """A text's words, lower-cased, without punctuation, for comparing Whisper's with the source's."""
    return re.findall(r"[\w'’-]+", text.lower())


def boundary_side(text: str, earlier: str, later: str) -> int | None:
    """For a word at the join of two lines: -1 for the earlier line, 1 for the later, None if unclear."""
    if not any(c.isalnum() for c in text):
        return -1
    # A full stop ends a sentence, an ellipsis does not: Whisper writes hesitations as "Je..." or "Euh…".
    if text[-1] in SENTENCE_END and not text.endswith(("...", "…")):
        return -1
    # Whisper's word against the earlier line's last source word and the later line's first one.
    mine, before, after = "".join(_words(text)), _words(earlier), _words(later)
    a = difflib.SequenceMatcher(None, mine, before[-1]).ratio() if before else 0.0
    b = difflib.SequenceMatcher(None, mine, after[0]).ratio() if after else 0.0
    if max(a, b) >= SIMILAR and abs(a - b) >= SIMILAR_MARGIN:
        return -1 if a > b else 1
    if text[:1].isupper():
        return 1
    return None


def word_units(words: list) -> list[list]:
    """Words glued into the units Whisper spelt: a piece starting with an apostrophe or hyphen ends a word."""
    units: list[list] = []
    for w in words:
        if units and w.word[:1] in "'’-":
            units[-1].append(w)
        else:
            units.append([w])
    return units


def place_words(words: list, pieces: list[tuple[float, float, int]], sources: list[str],
                show: bool = False) -> tuple[list[int], int]:
    """Line of each word from its unit's midpoint in the VAD-joined audio, and how many units moved at joins."""
    ends = [end for _, end, _ in pieces]
    units = word_units(words)
    texts = ["".join(w.word for w in u).strip() for u in units]
    line_of = [pieces[min(bisect.bisect(ends, (u[0].start + u[-1].end) / 2), len(pieces) - 1)][2] for u in units]
    moved = 0
    # Whisper gives the silence at a join to one of the two words around it and can be JOIN_SLACK_S off, so
    # the midpoint alone can pick the wrong line (in trials, "Peut" of "Peut-être" and a lone "Je" went to the
    # line before). Only the two units next to a join are reconsidered: punctuation, the source words on each
    # side and case settle it.
    for k in range(len(pieces) - 1):
        join, earlier, later = pieces[k][1], pieces[k][2], pieces[k + 1][2]
        if earlier == later:  # a pause inside one line
            continue
        last = max((i for i, line in enumerate(line_of) if line == earlier), default=None)
        first = min((i for i, line in enumerate(line_of) if line == later), default=None)
        move = None
        if last is not None and units[last][-1].end >= join - JOIN_SLACK_S and texts[last] \
                and boundary_side(texts[last], sources[earlier], sources[later]) == 1:
            move = last, later
        elif first is not None and units[first][0].start <= join + JOIN_SLACK_S and texts[first] \
                and boundary_side(texts[first], sources[earlier], sources[later]) == -1:
            move = first, earlier
        if move:
            line_of[move[0]] = move[1]
            moved += 1
            if show:
                print(f"  join ({earlier}, {later}): {texts[move[0]]!r} moved to line {move[1]}", flush=True)
    return [line for u, line in zip(units, line_of, strict=True) for _ in u], moved


def transcribe_chunk(model: WhisperModel, rows: list[dict], opts: dict,
                     show: bool = False) -> tuple[list[list], dict]:
    """Speak a one-speaker chunk, transcribe it once, and return each line's words plus chunk statistics."""
    speaker = rows[0]["speaker"]
    # synthesize re-times segments to their spoken lengths and keeps the gaps between the given timings.
    step = GAP_S + 1.0
    tr = {"segments": [{"speaker": speaker, "start": i * step, "end": i * step + 1.0, "text": r["text"]}
                       for i, r in enumerate(rows)]}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "chunk.wav"
        synthesize(tr, wav)
        left, right = decode_audio(str(wav), SR, split_stereo=True)
    pcm = right if speaker == "customer" else left
    spans = [(s["start"], s["end"]) for s in tr["segments"]]
    # The VAD step faster-whisper runs inside transcribe, done here so that the words' times in the joined
    # audio stay known: Whisper decodes exactly the same samples, and the joins between lines are exact.
    speech = get_speech_timestamps(pcm, VadOptions(**opts["vad_parameters"]))
    pieces, t = [], 0.0
    for c in speech:
        length = (c["end"] - c["start"]) / SR
        pieces.append((t, t + length, nearest_line(spans, (c["start"] + c["end"]) / 2 / SR)))
        t += length
    per_line: list[list] = [[] for _ in rows]
    stats = {"audio_s": len(pcm) / SR, "looping": 0, "moved": 0, "probs": []}
    if not pieces:
        return per_line, stats
    joined = np.concatenate(collect_chunks(pcm, speech)[0])
    decoded = list(model.transcribe(joined, **{**opts, "vad_filter": False})[0])
    kept = [s for s in decoded if s.compression_ratio <= MAX_COMPRESSION_RATIO]
    words = [w for s in kept for w in (s.words or [])]
    lines, stats["moved"] = place_words(words, pieces, [r["text"] for r in rows], show)
    for w, i in zip(words, lines, strict=True):
        per_line[i].append(w)
    stats["looping"] = len(decoded) - len(kept)
    stats["probs"] = [w.probability for w in words]
    return per_line, stats


def main() -> None:
    """Process every bank line not yet in the output, chunk by chunk, until none is left or --until passes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=BANK)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--model-dir", help="faster-whisper model directory (default: CCR's offline base)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for faster-whisper")
    parser.add_argument("--chunk-lines", type=int, default=CHUNK_LINES)
    parser.add_argument("--show-joins", action="store_true", help="print each word moved across a join")
    parser.add_argument("--until", help="UTC time HH:MM after which no new chunk is started (tomorrow if already past)")
    args = parser.parse_args()
    deadline = None
    if args.until:
        now = dt.datetime.now(dt.UTC)
        hh, mm = map(int, args.until.split(":"))
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if deadline <= now:  # a time already past today means that time tomorrow (a run across midnight)
            deadline += dt.timedelta(days=1)
    model_dir = args.model_dir or str(ensure_offline_model(Settings().models_dir))
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=args.threads)
    print(f"model: {model_dir}", flush=True)
    opts = {**FASTER_WHISPER_OPTIONS, "language": "fr"}
    lost: set[tuple[str, str]] = set()
    n_lines = n_written = n_words = 0
    prob_sum = 0.0
    t_start = time.time()
    while True:
        done = done_keys(args.out) | lost
        pending, seen = [], set()
        for row in read_jsonl(args.bank):
            row.setdefault("speaker", "customer")  # the category bank holds only what customers say
            if key(row) not in done and key(row) not in seen:
                seen.add(key(row))
                pending.append(row)
        print(f"pass: {len(pending)} lines to do, {len(done)} done", flush=True)
        if not pending:
            break
        for chunk in chunks(pending, args.chunk_lines):
            if deadline and dt.datetime.now(dt.UTC) >= deadline:
                print("deadline reached, stopping", flush=True)
                return
            t0 = time.time()
            per_line, stats = transcribe_chunk(model, chunk, opts, args.show_joins)
            out_rows, lost_rows = [], []
            for row, words in zip(chunk, per_line, strict=True):
                text = "".join(w.word for w in words).strip()
                if text:
                    # The source's labels (acts, or a category) travel with the recognised text.
                    labels = {k: v for k, v in row.items() if k not in ("text", "register")}
                    out_rows.append({"text": text, **labels, "register": "asr", "source": row["text"]})
                else:
                    lost_rows.append(row)
                    lost.add(key(row))
            with args.out.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in out_rows)
            n_lines += len(chunk)
            n_written += len(out_rows)
            n_words += len(stats["probs"])
            prob_sum += sum(stats["probs"])
            elapsed = time.time() - t_start
            print(f"{chunk[0]['speaker']} chunk: {len(chunk)} lines, {len(lost_rows)} lost, "
                  f"{stats['audio_s']:.0f} s audio in {time.time() - t0:.1f} s, {stats['looping']} looping, "
                  f"{stats['moved']} words moved at joins; total {n_lines} lines ({n_written} written), "
                  f"{n_lines / elapsed * 60:.1f} lines/min, mean word probability "
                  f"{prob_sum / max(n_words, 1):.3f}", flush=True)
            if stats["looping"]:
                print(f"warning: {stats['looping']} looping segment(s) dropped", file=sys.stderr)
    print(f"finished: {n_lines} lines, {n_written} written, mean word probability {prob_sum / max(n_words, 1):.3f}",
          flush=True)


if __name__ == "__main__":
    main()
