"""Speaker separation of mono calls: who speaks when, as two anonymous voices « A » and « B ».

A mono recording mixes the agent and the customer on one track, and its transcript comes out with the speaker
"inconnu". This optional extra (``requirements-diarization.txt``) separates the two voices:

1. voice activity (webrtcvad, 30 ms frames) keeps the windows that hold speech;
2. a speaker embedding (Resemblyzer's ``VoiceEncoder``, weights inside its wheel: nothing is downloaded) is
   computed for every 1.6 s window of speech, every 0.4 s;
3. the embeddings are split into two clusters (cosine k-means from the two most different windows: the same
   audio always gives the same answer), the assignment is smoothed over neighbouring windows and turns
   shorter than :data:`MIN_TURN_S` are merged into the voice around them;
4. each transcript segment goes to the voice that covers most of it, and a segment whose words have times is
   cut where the voice changes.

Which voice is the agent's is decided by the pipeline (``ccr.pipeline.speakers``), from the dialogue acts
each voice performs. ``speaker_confidence`` (0..1) says how clearly the two voices stand apart; a call
whose confidence is low has its speaker-dependent criteria sent to a human.

Without the extra, :func:`available` is False and nothing changes: mono lines stay "inconnu".
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ccr.speech.audio import TARGET_SR

INSTALL_HINT = "pip install --no-deps --build-constraint requirements-diarization.txt -r requirements-diarization.txt"
SPEAKER_A, SPEAKER_B = "A", "B"
SPEAKERS = (SPEAKER_A, SPEAKER_B)
SPEAKER_UNKNOWN = "inconnu"  # as ccr.speech.transcription labels mono lines

# --- voice activity -----------------------------------------------------------------------------------------
VAD_FRAME_S = 0.03  # webrtcvad accepts 10, 20 or 30 ms frames; 30 ms is Resemblyzer's own choice
# webrtcvad's strictness, 0 (lenient) .. 3 (strict). On the public mixes mode 3 embeds 6-10 % fewer windows
# (accuracy 0.988-1.0 on those it keeps), mode 1 about 10 % more (0.972-0.984); 2 (0.970-0.991) keeps the
# softer turn ends without letting much noise in.
VAD_MODE = 2
WINDOW_SPEECH_SHARE = 0.5  # a window is embedded when half of its frames hold speech

# --- embeddings ---------------------------------------------------------------------------------------------
WINDOW_S = 1.6  # Resemblyzer's partial utterance (160 mel frames): what its encoder was trained on
HOP_S = 0.4  # a window every 0.4 s: turn changes are placed within 0.2 s
MEL_HOP = 160  # 10 ms at 16 kHz, Resemblyzer's mel step
MEL_FFT = 400  # 25 ms window
MEL_BANDS = 40
WINDOW_FRAMES = 160
MEL_CHUNK_FRAMES = 6000  # a minute of frames at a time: a 2 h call never holds its whole STFT in memory
EMBED_BATCH = 128  # windows per forward pass (about 3 MB of mel frames)
TARGET_DBFS = -30.0  # Resemblyzer's volume normalisation (raised only), measured on the speech frames
# One torch thread: the encoder is small (3 LSTM layers of 256) and the worker's 2 cores are Whisper's.
DIARIZATION_THREADS = 1

# --- clustering and smoothing -------------------------------------------------------------------------------
MIN_WINDOWS = 6  # fewer windows of speech (about 3 s) cannot tell two voices apart
KMEANS_ITERATIONS = 30
# Averaging the similarity difference over 3 neighbouring windows cost 1.0-1.2 points of window accuracy on
# two of the four public calls and gained nothing elsewhere: the 1.6 s windows, 0.4 s apart, already overlap
# four times. Kept as a setting of the smoothing (1: off); turns shorter than MIN_TURN_S are still merged.
SMOOTH_WINDOWS = 1
MIN_TURN_S = 0.8  # a shorter run of one voice between two runs of the other is the other's
# Per-window certainty: the gap between a window's similarity to its own voice and to the other voice, scaled
# so that this gap counts as certain. Measured on the four public calls: windows of two different voices stand
# 0.31-0.36 apart (median), one voice split in two only 0.09-0.17 (see tests/speech/test_diarization.py).
MARGIN_SURE = 0.3
MIN_SPLIT_WORDS = 2  # a segment is cut at a voice change only when each piece keeps this many words

_ENCODER: list[Any] = []
_ENCODER_LOCK = threading.Lock()
_TORCH_LOCK = threading.Lock()  # torch's thread count is process-wide: one diarization at a time sets it


@dataclass(frozen=True)
class Window:
    """One embedded window: its span in seconds, the voice it was given, and how clearly (margin, 0..1)."""

    start: float
    end: float
    speaker: str
    margin: float


@dataclass(frozen=True)
class Turn:
    """A stretch of the call given to one voice, in seconds."""

    start: float
    end: float
    speaker: str


@dataclass
class Diarization:
    """The outcome on one call: windows, turns, the call's ``speaker_confidence`` and whether voices were split."""

    separated: bool
    speaker_confidence: float | None = None
    windows: list[Window] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    reason: str = ""  # French, when not separated

    def speaker_at(self, t: float) -> str | None:
        """The voice of the turn covering time ``t``, else the nearest turn's; None without turns."""
        if not self.turns:
            return None
        best = min(self.turns, key=lambda tr: 0.0 if tr.start <= t <= tr.end else min(abs(t - tr.start),
                                                                                        abs(t - tr.end)))
        return best.speaker


# --- availability -------------------------------------------------------------------------------------------


@functools.cache
def available() -> bool:
    """Whether the extra (Resemblyzer, webrtcvad, torch) is installed and importable in this process."""
    try:
        _imports()
    except Exception:  # ImportError, and pkg_resources missing inside webrtcvad
        return False
    return True


def _imports() -> tuple[Any, Any, Any]:
    """(webrtcvad, torch, resemblyzer.VoiceEncoder), imported quietly: webrtcvad's pkg_resources warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
        import webrtcvad
        from resemblyzer import VoiceEncoder
    return webrtcvad, torch, VoiceEncoder


def load_encoder() -> Any:
    """The process-wide Resemblyzer encoder on CPU, loaded on first use (about 0.2 s, 17 MB of weights)."""
    with _ENCODER_LOCK:
        if not _ENCODER:
            _, _, voice_encoder = _imports()
            _ENCODER.append(voice_encoder("cpu", verbose=False))
        return _ENCODER[0]


@functools.cache
def _mel_filters() -> np.ndarray:
    import librosa

    return np.asarray(librosa.filters.mel(sr=TARGET_SR, n_fft=MEL_FFT, n_mels=MEL_BANDS), dtype=np.float64)


# --- signal -------------------------------------------------------------------------------------------------


def _as_mono(audio: np.ndarray) -> np.ndarray:
    """A 1-D float32 view of a mono call (no copy when it already is one), or the mean of its channels."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio[0] if audio.shape[0] == 1 else audio.mean(axis=0, dtype=np.float32)
    return audio


VAD_BLOCK_FRAMES = 2000  # frames converted to 16-bit PCM at a time (a minute): a 2 h call is never copied whole


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """One boolean per 30 ms frame of a mono 16 kHz signal: True where webrtcvad hears speech."""
    webrtcvad, _, _ = _imports()
    x = _as_mono(audio)
    step = int(VAD_FRAME_S * TARGET_SR)
    n = x.size // step
    vad = webrtcvad.Vad(VAD_MODE)
    out = np.zeros(n, dtype=bool)
    for first in range(0, n, VAD_BLOCK_FRAMES):
        count = min(VAD_BLOCK_FRAMES, n - first)
        pcm = (np.clip(x[first * step:(first + count) * step], -1.0, 1.0) * 32767).astype("<i2")
        for i in range(count):
            out[first + i] = vad.is_speech(pcm[i * step:(i + 1) * step].tobytes(), TARGET_SR)
    return out


def mel_spectrogram(audio: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Resemblyzer's mel spectrogram (power, 40 bands, 10 ms frames) of ``gain`` x audio, (frames, 40) float32.
    Same values as librosa's, without its numba compilation on first use (about 30 s); chunked for long calls."""
    x = _as_mono(audio)
    half = MEL_FFT // 2
    n_frames = 1 + x.size // MEL_HOP  # librosa's centred frames: the signal is padded by half a window each side
    window = np.hanning(MEL_FFT + 1)[:-1]  # periodic Hann, as librosa's
    filters = _mel_filters()
    offsets = np.arange(MEL_FFT)[None, :]
    out = np.empty((n_frames, MEL_BANDS), dtype=np.float32)
    for first in range(0, n_frames, MEL_CHUNK_FRAMES):
        count = min(MEL_CHUNK_FRAMES, n_frames - first)
        lo = first * MEL_HOP - half
        hi = (first + count - 1) * MEL_HOP - half + MEL_FFT
        piece = np.zeros(hi - lo, dtype=np.float64)  # zeros beyond the signal, as librosa's constant padding
        a, b = max(lo, 0), min(hi, x.size)
        piece[a - lo:b - lo] = x[a:b] * gain
        power = np.abs(np.fft.rfft(piece[np.arange(count)[:, None] * MEL_HOP + offsets] * window, axis=1)) ** 2
        out[first:first + count] = power @ filters.T
    return out


def volume_gain(x: np.ndarray, speech: np.ndarray) -> float:
    """The gain that raises (never lowers) the speech frames to :data:`TARGET_DBFS`, as Resemblyzer expects."""
    step = int(VAD_FRAME_S * TARGET_SR)
    if not speech.any():
        return 1.0
    total, count = 0.0, 0
    for i in np.flatnonzero(speech):
        frame = x[i * step:(i + 1) * step]
        total += float(np.dot(frame, frame))
        count += frame.size
    rms = (total / count) ** 0.5 if count else 0.0
    return max(1.0, 10 ** (TARGET_DBFS / 20) / rms) if rms > 0 else 1.0


# --- windows and embeddings ---------------------------------------------------------------------------------


def speech_windows(speech: np.ndarray, n_mel_frames: int) -> list[int]:
    """First mel frame of each window worth embedding: half of its 30 ms frames hold speech."""
    hop = round(HOP_S * 100)
    per_vad = VAD_FRAME_S * 100  # mel frames per VAD frame
    starts = []
    for first in range(0, max(1, n_mel_frames - WINDOW_FRAMES + 1), hop):
        a, b = int(first / per_vad), int((first + WINDOW_FRAMES) / per_vad)
        frames = speech[a:b]
        if frames.size and frames.mean() >= WINDOW_SPEECH_SHARE:
            starts.append(first)
    return starts


def embed_windows(mel: np.ndarray, starts: Sequence[int]) -> np.ndarray:
    """Unit-length voice embeddings (n, 256) of the 1.6 s windows starting at these mel frames."""
    _, torch, _ = _imports()
    encoder = load_encoder()
    chunks = []
    with _TORCH_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(DIARIZATION_THREADS)
        try:
            with torch.no_grad():
                for i in range(0, len(starts), EMBED_BATCH):
                    batch = np.stack([mel[s:s + WINDOW_FRAMES] for s in starts[i:i + EMBED_BATCH]])
                    chunks.append(encoder(torch.from_numpy(batch)).numpy())
        finally:
            torch.set_num_threads(before)
    return np.concatenate(chunks).astype(np.float64) if chunks else np.zeros((0, 256))


# --- clustering ---------------------------------------------------------------------------------------------


def two_voices(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit embeddings into two voices (deterministic cosine k-means); (labels 0/1, centroids (2, d)).

    Starts from the window least like the mean voice and the window least like that one."""
    mean = embeddings.mean(axis=0)
    first = int(np.argmin(embeddings @ mean))
    second = int(np.argmin(embeddings @ embeddings[first]))
    centroids = np.stack([embeddings[first], embeddings[second]])
    labels = np.zeros(len(embeddings), dtype=int)
    for iteration in range(KMEANS_ITERATIONS):
        new = np.argmax(embeddings @ centroids.T, axis=1)
        if iteration > 0 and (new == labels).all():
            break
        labels = new
        for k in (0, 1):
            members = embeddings[labels == k]
            if len(members):
                c = members.mean(axis=0)
                centroids[k] = c / (np.linalg.norm(c) or 1.0)
    return labels, centroids


def _runs(values: Sequence[Any], contiguous: Sequence[bool]) -> Iterator[tuple[int, int]]:
    """(first, last + 1) of each run of equal values that does not cross a gap (``contiguous[i]``: i follows i-1)."""
    first = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[first] or not contiguous[i]:
            yield first, i
            first = i


def smooth(diff: np.ndarray, contiguous: np.ndarray) -> np.ndarray:
    """The similarity difference (voice 0 minus voice 1) averaged over :data:`SMOOTH_WINDOWS` neighbouring
    windows that follow each other without a gap."""
    out = diff.copy()
    half = SMOOTH_WINDOWS // 2
    for a, b in _runs([0] * len(diff), contiguous):
        for i in range(a, b):
            lo, hi = max(a, i - half), min(b, i + half + 1)
            out[i] = diff[lo:hi].mean()
    return out


def merge_short_turns(labels: np.ndarray, contiguous: np.ndarray) -> np.ndarray:
    """Labels where a run shorter than :data:`MIN_TURN_S`, between two runs of the other voice, takes theirs."""
    labels = labels.copy()
    min_windows = int(np.ceil(MIN_TURN_S / HOP_S - 1e-9))
    changed = True
    while changed:
        changed = False
        runs = list(_runs(list(labels), contiguous))
        for j in range(1, len(runs) - 1):
            (pa, _pb), (a, b), (na, _nb) = runs[j - 1], runs[j], runs[j + 1]
            short = b - a < min_windows
            enclosed = contiguous[a] and contiguous[na] and labels[pa] == labels[na] != labels[a]
            if short and enclosed:
                labels[a:b] = labels[pa]
                changed = True
                break
    return labels


# --- the call -----------------------------------------------------------------------------------------------


def diarize(audio: np.ndarray) -> Diarization:
    """Separate the two voices of a mono 16 kHz call ((n,) or (channels, n), mixed down): windows, turns and
    the call's speaker confidence."""
    x = _as_mono(audio)
    speech = speech_frames(x)
    mel = mel_spectrogram(x, volume_gain(x, speech))
    starts = speech_windows(speech, len(mel))
    if len(starts) < MIN_WINDOWS:
        return Diarization(separated=False, reason="trop peu de parole pour distinguer deux voix")
    embeddings = embed_windows(mel, starts)
    labels, centroids = two_voices(embeddings)
    if (labels == labels[0]).all():
        return Diarization(separated=False, reason="une seule voix entendue")
    hop = round(HOP_S * 100)
    contiguous = np.array([i > 0 and starts[i] - starts[i - 1] == hop for i in range(len(starts))])
    sims = embeddings @ centroids.T
    diff = smooth(sims[:, 0] - sims[:, 1], contiguous)
    labels = merge_short_turns((diff < 0).astype(int), contiguous)
    # Voice A is the first one heard, so the names do not depend on the clustering's arbitrary order.
    names = (SPEAKER_A, SPEAKER_B) if labels[0] == 0 else (SPEAKER_B, SPEAKER_A)
    margins = np.clip(np.abs(diff) / MARGIN_SURE, 0.0, 1.0)
    # A window overruled by the smoothing or by the turn length counts as unsure.
    margins[(diff < 0).astype(int) != labels] = 0.0
    windows = [Window(round(s / 100, 2), round((s + WINDOW_FRAMES) / 100, 2), names[lab], round(float(m), 3))
               for s, lab, m in zip(starts, labels, margins, strict=True)]
    return Diarization(separated=True, speaker_confidence=round(float(margins.mean()), 3), windows=windows,
                       turns=_turns(starts, labels, contiguous, names))


def _turns(starts: Sequence[int], labels: np.ndarray, contiguous: np.ndarray, names: tuple[str, str]) -> list[Turn]:
    """Each window owns the 0.4 s around its centre; runs of one voice become turns, stretched to the windows' ends
    at the edges of a run of speech (half-way to the next turn when they would overlap)."""
    half_hop = HOP_S / 2
    turns = []
    for a, b in _runs(list(labels), contiguous):
        start = starts[a] / 100 + WINDOW_S / 2 - half_hop
        end = starts[b - 1] / 100 + WINDOW_S / 2 + half_hop
        if a == 0 or not contiguous[a]:
            start = starts[a] / 100
        if b == len(starts) or not contiguous[b]:
            end = (starts[b - 1] + WINDOW_FRAMES) / 100
        if turns and start < turns[-1].end:  # the windows of two runs of speech overlap: meet half-way
            start = (start + turns[-1].end) / 2
            turns[-1] = Turn(turns[-1].start, round(start, 2), turns[-1].speaker)
        turns.append(Turn(round(start, 2), round(end, 2), names[labels[a]]))
    return turns


# --- the transcript -----------------------------------------------------------------------------------------


def _overlaps(diar: Diarization, start: float, end: float) -> dict[str, float]:
    share = dict.fromkeys(SPEAKERS, 0.0)
    for turn in diar.turns:
        share[turn.speaker] += max(0.0, min(end, turn.end) - max(start, turn.start))
    return share


def segment_speaker(diar: Diarization, start: float, end: float) -> str:
    """The voice covering most of ``[start, end]``; the nearest turn's when none overlaps it."""
    share = _overlaps(diar, start, end)
    top = max(SPEAKERS, key=lambda s: share[s])
    if share[top] > 0:
        return top
    return diar.speaker_at((start + end) / 2) or SPEAKER_UNKNOWN


def assign_speakers(segments: Sequence[dict], diar: Diarization) -> list[dict]:
    """Copies of transcript segments with speaker « A » or « B »; a segment whose timed words change voice is
    cut there (when its text splits into as many words). Unchanged segments when voices were not separated."""
    if not diar.separated:
        return [dict(seg) for seg in segments]
    out: list[dict] = []
    for seg in segments:
        out.extend(_split_segment(seg, diar))
    out.sort(key=lambda s: (s["start"], s["end"]))
    return out


def _split_segment(seg: dict, diar: Diarization) -> list[dict]:
    words = seg.get("words") or []
    tokens = str(seg.get("text", "")).split()
    whole = dict(seg, speaker=segment_speaker(diar, float(seg["start"]), float(seg["end"])))
    if len(words) < 2 * MIN_SPLIT_WORDS or len(tokens) != len(words):
        return [whole]
    voices = [segment_speaker(diar, float(w["start"]), float(w["end"])) for w in words]
    pieces = [(a, b) for a, b in _runs(voices, [True] * len(voices))]
    # Pieces too short to stand alone join the piece before them (or after, at the start).
    merged: list[list[int]] = []
    for a, b in pieces:
        if merged and (b - a < MIN_SPLIT_WORDS or merged[-1][1] - merged[-1][0] < MIN_SPLIT_WORDS):
            merged[-1][1] = b
        else:
            merged.append([a, b])
    if len(merged) == 1:
        return [whole]
    out = []
    for a, b in merged:
        piece_words = words[a:b]
        voice_time = dict.fromkeys(SPEAKERS, 0.0)
        for w, v in zip(piece_words, voices[a:b], strict=True):
            if v in voice_time:
                voice_time[v] += max(0.01, float(w["end"]) - float(w["start"]))
        out.append(dict(seg, speaker=max(SPEAKERS, key=lambda s: voice_time[s]),
                        start=piece_words[0]["start"], end=piece_words[-1]["end"],
                        text=" ".join(tokens[a:b]), words=[dict(w) for w in piece_words]))
    # Two neighbouring pieces given the same voice are one piece again.
    joined: list[dict] = []
    for piece in out:
        if joined and joined[-1]["speaker"] == piece["speaker"]:
            last = joined[-1]
            last.update(end=piece["end"], text=f"{last['text']} {piece['text']}", words=last["words"] + piece["words"])
        else:
            joined.append(piece)
    return joined


def relabel(segments: Sequence[dict], names: dict[str, str]) -> list[dict]:
    """Copies of ``segments`` with each speaker renamed through ``names`` (e.g. {"A": "agent", "B": "customer"})."""
    return [dict(seg, speaker=names.get(seg.get("speaker"), seg.get("speaker"))) for seg in segments]
