"""Transcription engines: the real offline faster-whisper model, openai-whisper on a tiny random
checkpoint, and the OpenAI API engine against a real local HTTP server."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import shutil
import subprocess
import threading
import time
import wave
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from ccr.core.config import Settings
from ccr.core.errors import ConfigError, TranscriptionError
from ccr.speech.audio import TARGET_SR, load_audio
from ccr.speech.transcription import (
    OFFLINE_MODEL_DIR,
    OFFLINE_MODEL_FILES,
    OFFLINE_MODEL_SHA256,
    ChannelResult,
    OpenAIWhisperEngine,
    drop_phantoms,
    ensure_offline_model,
    get_engine,
    split_at_pauses,
    transcribe,
    wav_bytes,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng absent (make test l'installe via apt-get)")


def load_fixture(name: str) -> np.ndarray:
    return load_audio((FIXTURES / name).read_bytes(), max_seconds=7200)[1]


def speak(text: str, voice: str = "en") -> np.ndarray:
    """Synthesise speech with espeak-ng to stdout: the audio stays in memory, never in the data dir."""
    wav = subprocess.run([ESPEAK, "--stdout", "-v", voice, "-s", "150", text], check=True, capture_output=True).stdout
    return load_audio(wav, max_seconds=60)[1][0]


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


@pytest.fixture(scope="module")
def fw_settings(tmp_path_factory) -> Settings:
    """Default engine settings with a data dir shared by this module, so the model is assembled once."""
    return Settings(data_dir=tmp_path_factory.mktemp("data"), asr_language="fr")


# --- offline model assembly ----------------------------------------------------------------------


@pytest.mark.slow
def test_offline_model_is_assembled_once_with_the_pinned_sha256(fw_settings):
    target = ensure_offline_model(fw_settings.models_dir)
    assert target == fw_settings.models_dir / OFFLINE_MODEL_DIR
    assert sorted(p.name for p in target.iterdir()) == sorted(["model.bin", *OFFLINE_MODEL_FILES])
    digest = hashlib.sha256()
    with open(target / "model.bin", "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    assert digest.hexdigest() == OFFLINE_MODEL_SHA256
    mtime = (target / "model.bin").stat().st_mtime_ns
    assert ensure_offline_model(fw_settings.models_dir) == target
    assert (target / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in fw_settings.models_dir.iterdir()] == [OFFLINE_MODEL_DIR]  # no temp dir left


@pytest.mark.slow
def test_corrupted_offline_model_is_refused(fw_settings, tmp_path):
    good = ensure_offline_model(fw_settings.models_dir)
    bad = tmp_path / "models" / OFFLINE_MODEL_DIR
    shutil.copytree(good, bad)
    with open(bad / "model.bin", "r+b") as fh:  # one flipped byte, same size
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ConfigError, match="corrompu"):
        ensure_offline_model(tmp_path / "models")


# --- real faster-whisper -------------------------------------------------------------------------


@pytest.mark.slow
def test_french_call_is_transcribed_per_speaker(fw_settings):
    audio = load_fixture("a01-000.wav")
    settings = fw_settings.model_copy(update={"asr_language": "auto"})  # French must be detected
    t = transcribe(audio, settings=settings)
    assert t.language == "fr"
    assert (t.engine, t.model, t.truncated) == ("faster-whisper", "base-offline", False)
    assert {s["speaker"] for s in t.segments} == {"agent", "customer"}
    starts = [s["start"] for s in t.segments]
    assert starts == sorted(starts)
    assert all(0 <= s["start"] < s["end"] <= 41.94 + 0.1 and s["text"].strip() for s in t.segments)
    agent = words(" ".join(s["text"] for s in t.segments if s["speaker"] == "agent"))
    customer = words(" ".join(s["text"] for s in t.segments if s["speaker"] == "customer"))
    # Robust words: Whisper base hears espeak French with a 0.3-0.6 word error rate.
    assert {"bonjour", "comprends", "situation"} <= set(agent)
    assert {"merci", "exactement"} <= set(customer)
    # The agent opens the call; the customer's first turn is after 5 s (reference: 6.11 s).
    assert t.segments[0]["speaker"] == "agent"
    assert min(s["start"] for s in t.segments if s["speaker"] == "customer") > 5.0


@pytest.mark.slow
def test_agent_on_the_right_channel_swaps_the_labels(fw_settings):
    audio = load_fixture("a01-000.wav")[:, : 11 * TARGET_SR]  # the greeting, then the customer
    t = transcribe(audio, settings=fw_settings, agent_channel="right")
    greeting = " ".join(s["text"] for s in t.segments if s["speaker"] == "customer").lower()
    assert "bienvenue" in greeting
    assert t.segments[0]["speaker"] == "customer"


@pytest.mark.slow
@needs_espeak
def test_english_control_sentences_are_exact_and_on_the_right_side(fw_settings):
    agent_line, customer_line = "Good morning, how can I help you today?", "I would like to cancel my order, please."
    a, c = speak(agent_line), speak(customer_line)
    audio = np.zeros((2, 9 * TARGET_SR), dtype=np.float32)
    audio[0, TARGET_SR // 2 : TARGET_SR // 2 + a.size] = a
    audio[1, 4 * TARGET_SR : 4 * TARGET_SR + c.size] = c
    t = transcribe(audio, settings=fw_settings, language="en")
    assert t.language == "en"
    assert [s["speaker"] for s in t.segments] == ["agent", "customer"]
    assert words(t.segments[0]["text"]) == words(agent_line)
    assert words(t.segments[1]["text"]) == words(customer_line)
    assert t.segments[0]["start"] < 1.0 and t.segments[1]["start"] > 3.5
    # Each segment keeps its recognised words: timings and probabilities, one entry per spoken word.
    for seg, line in zip(t.segments, (agent_line, customer_line), strict=True):
        ws = seg["words"]
        assert len(ws) == len(line.split())
        assert all(set(w) == {"start", "end", "probability"} for w in ws)
        assert ws[0]["start"] == seg["start"] and ws[-1]["end"] == seg["end"]
        assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(ws))  # in order, never overlapping
        assert all(w["start"] <= w["end"] and 0 < w["probability"] <= 1 for w in ws)
        assert all(w[k] == round(w[k], 2) for w in ws for k in ("start", "end"))
        assert all(w["probability"] == round(w["probability"], 3) for w in ws)
        assert sum(w["probability"] for w in ws) / len(ws) > 0.8  # a clear synthetic voice: Whisper is sure


@pytest.mark.slow
@needs_espeak
def test_a_dictated_number_does_not_survive_redaction_in_the_words(fw_settings):
    from ccr.speech.redaction import redact_segments

    t = transcribe(speak("My phone number is 06 12 34 56 78."), settings=fw_settings, language="en")
    assert any(w["probability"] for s in t.segments for w in s["words"])
    redacted, counts = redact_segments(t.segments)
    assert counts["TELEPHONE"] == 1  # Whisper heard the number and redaction caught it in the text
    stored = json.loads(json.dumps(redacted))  # what the database gets
    texts = [v for seg in stored for v in seg.values() if isinstance(v, str)]
    texts += [v for seg in stored for w in seg["words"] for v in w.values() if isinstance(v, str)]
    assert "[TELEPHONE]" in " ".join(texts)
    assert not any(re.search(r"\d", v) for v in texts)  # no digit of the number anywhere, words included


@pytest.mark.slow
@needs_espeak
def test_mono_speech_is_labelled_inconnu(fw_settings):
    # Not "Thank you for calling": Whisper hears "Thank you for watching", a phantom phrase we drop.
    line = "I would like to cancel my order, please."
    t = transcribe(speak(line), settings=fw_settings, language="en")
    assert [s["speaker"] for s in t.segments] == ["inconnu"]
    assert words(t.segments[0]["text"]) == words(line)


@pytest.mark.slow
def test_line_noise_channel_stays_empty_after_the_fallback(fw_settings):
    # VAD finds no speech, so the no-VAD retry runs too; neither may hallucinate on -40 dBFS noise.
    noise = (np.random.default_rng(0).standard_normal((1, 10 * TARGET_SR)) * 0.01).astype(np.float32)
    t = transcribe(noise, settings=fw_settings)
    assert t.segments == []
    assert t.truncated is False


@pytest.mark.slow
def test_time_budget_truncates_a_long_call(fw_settings):
    audio = load_fixture("a01-001.wav")  # 88 s
    t = transcribe(audio, settings=fw_settings, time_budget_s=0.5)
    assert t.truncated is True
    # Work stopped after the agent's first decoded segment: the customer channel was never started.
    assert t.segments and {s["speaker"] for s in t.segments} == {"agent"}


@pytest.mark.slow
def test_digital_silence_is_not_transcribed(fw_settings):
    t = transcribe(np.zeros((2, 5 * TARGET_SR), dtype=np.float32), settings=fw_settings)
    assert t.segments == [] and t.truncated is False


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Sous-titres réalisés par la communauté d'Amara.org", None),
        ("sous-titres réalisés para la communauté d’Amara.org.", None),
        ("Sous-titrage ST' 501", None),
        ("Merci d'avoir regardé cette vidéo !", None),
        ("Au revoir. Sous-titres réalisés par la communauté d'Amara.org", "Au revoir."),
        ("...", None),
        ("Merci, au revoir.", "Merci, au revoir."),
        ("Je regarde cette vidéo de démonstration.", "Je regarde cette vidéo de démonstration."),
    ],
)
def test_phantom_phrases_are_dropped(text, kept):
    out = drop_phantoms([(1.0, 2.0, text)])
    assert out == ([] if kept is None else [(1.0, 2.0, kept)])


def fw_segment(*words: tuple[float, float, str, float]):
    """A faster-whisper segment made of ``(start, end, word, probability)`` words."""
    from faster_whisper.transcribe import Segment, Word

    ws = [Word(*w) for w in words]
    text = "".join(w.word for w in ws)
    return Segment(0, 0, ws[0].start, ws[-1].end, text, [], -0.2, 1.1, 0.01, ws, 0.0)


def test_segments_are_cut_at_pauses_and_each_piece_keeps_its_words():
    seg = fw_segment((0.0, 0.4, " Bonjour", 0.91234), (0.5, 0.9, " madame.", 0.4), (2.0, 2.5, " Oui.", 0.9))
    assert split_at_pauses(seg) == [
        (0.0, 0.9, "Bonjour madame.", [{"word": " Bonjour", "start": 0.0, "end": 0.4, "probability": 0.912},
                                       {"word": " madame.", "start": 0.5, "end": 0.9, "probability": 0.4}]),
        (2.0, 2.5, "Oui.", [{"word": " Oui.", "start": 2.0, "end": 2.5, "probability": 0.9}]),
    ]


@pytest.mark.parametrize(
    ("words", "kept_text", "kept_words"),
    [
        # A phantom tail: its words go, and the segment ends with the last real word.
        ([" Au", " revoir.", " Sous-titres", " réalisés", " par", " la", " communauté", " d'Amara.org"],
         "Au revoir.", [" Au", " revoir."]),
        # A phantom inside real speech.
        ([" Merci", " Amara.org", " au", " revoir."], "Merci au revoir.", [" Merci", " au", " revoir."]),
        # Nothing but a phantom: the segment goes.
        ([" Merci", " d'avoir", " regardé", " cette", " vidéo", " !"], None, []),
        # Real words that look like a phantom's are kept.
        ([" Je", " regarde", " cette", " vidéo."], "Je regarde cette vidéo.", [" Je", " regarde", " cette", " vidéo."]),
    ],
)
def test_phantom_phrases_are_dropped_with_their_words(words, kept_text, kept_words):
    seg = fw_segment(*((i, i + 0.5, w, 0.8) for i, w in enumerate(words)))
    (piece,) = split_at_pauses(seg)
    out = drop_phantoms([piece])
    if kept_text is None:
        assert out == []
        return
    ((start, end, text, ws),) = out
    assert text == kept_text
    assert [w["word"] for w in ws] == kept_words
    assert (start, end) == (ws[0]["start"], ws[-1]["end"])
    assert drop_phantoms([(0.0, 9.0, "".join(words))]) == [(0.0, 9.0, kept_text)]  # same text as without words


def test_stored_words_keep_timings_and_probabilities_but_not_their_text(tmp_path):
    class OneSegmentEngine:
        name, model = "stub", "stub"

        def transcribe_channel(self, audio, *, language, deadline):
            seg = fw_segment((0.5, 0.9, " Appelez", 0.97), (1.0, 1.4, " le", 0.99), (1.5, 3.0, " 0612345678", 0.42),
                             (3.1, 3.5, " Amara.org", 0.3))
            return ChannelResult(segments=split_at_pauses(seg), language="fr")

    t = transcribe(two_tones(0.5, 0.0)[:1], settings=Settings(data_dir=tmp_path), engine=OneSegmentEngine())
    assert t.segments == [{"speaker": "inconnu", "start": 0.5, "end": 3.0, "text": "Appelez le 0612345678",
                           "words": [{"start": 0.5, "end": 0.9, "probability": 0.97},
                                     {"start": 1.0, "end": 1.4, "probability": 0.99},
                                     {"start": 1.5, "end": 3.0, "probability": 0.42}]}]


# --- openai-whisper (optional extra) -------------------------------------------------------------


def tiny_random_checkpoint(folder: Path) -> Path:
    """An openai-whisper checkpoint with random weights and the real vocabulary, written in ``folder``."""
    torch = pytest.importorskip("torch")
    whisper = pytest.importorskip("whisper")
    dims = whisper.model.ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
        n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )  # fmt: skip
    torch.manual_seed(0)
    path = folder / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": whisper.model.Whisper(dims).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return tiny_random_checkpoint(tmp_path_factory.mktemp("pt"))


@pytest.mark.slow
def test_openai_whisper_engine_runs_a_checkpoint_offline(tiny_checkpoint, tmp_path):
    settings = Settings(data_dir=tmp_path, asr_engine="openai-whisper", openai_whisper_checkpoint=tiny_checkpoint)
    engine = get_engine(settings)
    assert isinstance(engine, OpenAIWhisperEngine) and engine.model == "tiny-random"
    audio = load_fixture("a01-000.wav")[:, : 20 * TARGET_SR]
    # A random model decodes noise tokens; what is tested is loading, per-channel inference and shape.
    result = engine.transcribe_channel(audio[0], language="fr", deadline=time.monotonic() + 600)
    assert result.language == "fr"
    # Noise tokens may carry any timestamp of the 30 s window; the engine keeps them inside the 20 s heard.
    assert all(0 <= s <= e <= 20.0 for s, e, _ in result.segments)
    t = transcribe(audio, settings=settings)
    assert (t.engine, t.model) == ("openai-whisper", "tiny-random")
    assert {s["speaker"] for s in t.segments} <= {"agent", "customer"}


def test_openai_whisper_without_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="CCR_OPENAI_WHISPER_CHECKPOINT"):
        get_engine(Settings(data_dir=tmp_path, asr_engine="openai-whisper", openai_whisper_checkpoint=None))


# --- OpenAI transcription API against a real local server ----------------------------------------


class FakeTranscriptionServer:
    """A local HTTP server speaking ``POST /v1/audio/transcriptions``; replies follow ``script``."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                msg = BytesParser(policy=email_policy).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                fields = {}
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    fields.setdefault(name, []).append(part.get_payload(decode=True))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "fields": fields})
                action = server.script.pop(0) if server.script else "ok"
                if action == "sleep":
                    time.sleep(1.5)
                    return self._reply(200, {"text": "trop tard"})
                if action in ("429", "500", "401"):
                    return self._reply(int(action), {"error": {"message": action, "type": "x", "code": action}})
                audio = fields["file"][0]
                with wave.open(io.BytesIO(audio)) as w:
                    frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                    rate, channels = w.getframerate(), w.getnchannels()
                peak = float(np.abs(frames).max()) / 32767 if frames.size else 0.0
                duration = frames.size / rate
                text = f"niveau {peak:.1f} canaux {channels} durée {duration:.1f}"
                if fields["response_format"][0] == b"json":
                    return self._reply(200, {"text": text})
                seg = {
                    "id": 0,
                    "seek": 0,
                    "start": 0.5,
                    "end": duration - 0.5,
                    "text": " " + text,
                    "tokens": [1],
                    "temperature": 0.0,
                    "avg_logprob": -0.1,
                    "compression_ratio": 1.1,
                    "no_speech_prob": 0.0,
                }
                return self._reply(200, {"task": "transcribe", "language": "french", "duration": duration,
                                         "text": text, "segments": [seg]})  # fmt: skip

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after-ms", "10")  # keep the SDK's back-off short in tests
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api_server():
    server = FakeTranscriptionServer()
    yield server
    server.close()


def api_settings(tmp_path, server: FakeTranscriptionServer, **overrides) -> Settings:
    values = {
        "data_dir": tmp_path, "asr_engine": "openai", "openai_base_url": server.url,
        "openai_api_key": "cle-de-test", "asr_api_timeout_s": 5.0, "asr_api_max_retries": 2,
    } | overrides  # fmt: skip
    return Settings(**values)


def two_tones(left: float, right: float, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * TARGET_SR)) / TARGET_SR
    audio = np.zeros((2, t.size), dtype=np.float32)
    audio[0] = left * np.sin(2 * np.pi * 300 * t)
    audio[1] = right * np.sin(2 * np.pi * 500 * t)
    return audio


@pytest.mark.parametrize(("agent_channel", "agent_level"), [("left", "0.5"), ("right", "0.2")])
def test_api_engine_sends_each_channel_as_wav(tmp_path, api_server, agent_channel, agent_level):
    t = transcribe(two_tones(0.5, 0.2), settings=api_settings(tmp_path, api_server), agent_channel=agent_channel)
    assert len(api_server.requests) == 2
    req = api_server.requests[0]
    assert req["path"] == "/v1/audio/transcriptions"
    assert req["auth"] == "Bearer cle-de-test"
    assert req["fields"]["model"] == [b"whisper-1"]
    assert req["fields"]["language"] == [b"fr"]
    assert req["fields"]["response_format"] == [b"verbose_json"]
    assert req["fields"]["file"][0][:4] == b"RIFF"
    by_speaker = {s["speaker"]: s for s in t.segments}
    assert by_speaker["agent"]["text"] == f"niveau {agent_level} canaux 1 durée 3.0"  # mono, full length
    assert (by_speaker["agent"]["start"], by_speaker["agent"]["end"]) == (0.5, 2.5)
    assert (t.engine, t.model, t.language, t.truncated) == ("openai", "whisper-1", "fr", False)


def test_api_engine_retries_after_429(tmp_path, api_server):
    api_server.script = ["429", "ok"]
    t = transcribe(two_tones(0.5, 0.0)[:1], settings=api_settings(tmp_path, api_server))
    assert len(api_server.requests) == 2
    assert [s["speaker"] for s in t.segments] == ["inconnu"]


def test_api_engine_gives_up_on_repeated_429(tmp_path, api_server):
    api_server.script = ["429"] * 3
    with pytest.raises(TranscriptionError, match=r"trop de requêtes \(HTTP 429\) après 3 tentative"):
        transcribe(two_tones(0.5, 0.0)[:1], settings=api_settings(tmp_path, api_server))
    assert len(api_server.requests) == 3


def test_api_engine_reports_server_errors(tmp_path, api_server):
    api_server.script = ["500", "500"]
    with pytest.raises(TranscriptionError, match=r"en erreur \(HTTP 500\) après 2 tentative"):
        transcribe(two_tones(0.5, 0.0)[:1], settings=api_settings(tmp_path, api_server, asr_api_max_retries=1))
    assert len(api_server.requests) == 2


def test_api_engine_times_out(tmp_path, api_server):
    api_server.script = ["sleep", "sleep"]
    settings = api_settings(tmp_path, api_server, asr_api_timeout_s=0.3, asr_api_max_retries=1)
    with pytest.raises(TranscriptionError, match="n'a pas répondu à temps"):
        transcribe(two_tones(0.5, 0.0)[:1], settings=settings)
    assert len(api_server.requests) == 2


def test_api_engine_rejected_key_is_not_retried(tmp_path, api_server):
    api_server.script = ["401"]
    with pytest.raises(TranscriptionError, match="Clé API refusée"):
        transcribe(two_tones(0.5, 0.0)[:1], settings=api_settings(tmp_path, api_server))
    assert len(api_server.requests) == 1


def test_api_engine_unreachable_server(tmp_path, api_server):
    url = api_server.url
    api_server.close()
    settings = Settings(data_dir=tmp_path, asr_engine="openai", openai_base_url=url, asr_api_max_retries=0)
    with pytest.raises(TranscriptionError, match="Impossible de joindre"):
        transcribe(two_tones(0.5, 0.0)[:1], settings=settings)


def test_api_model_without_timestamps_spans_the_voiced_part(tmp_path, api_server):
    audio = np.zeros((1, 4 * TARGET_SR), dtype=np.float32)
    audio[0, TARGET_SR : 2 * TARGET_SR] = two_tones(0.5, 0.0, seconds=1.0)[0]
    t = transcribe(audio, settings=api_settings(tmp_path, api_server, asr_openai_model="gpt-4o-transcribe"))
    assert api_server.requests[0]["fields"]["response_format"] == [b"json"]
    assert [(s["start"], s["end"]) for s in t.segments] == [(1.0, 2.0)]


def test_silent_channel_is_not_sent(tmp_path, api_server):
    t = transcribe(two_tones(0.5, 0.0), settings=api_settings(tmp_path, api_server))
    assert len(api_server.requests) == 1
    assert [s["speaker"] for s in t.segments] == ["agent"]


def test_mono_saved_as_stereo_is_transcribed_once_as_inconnu(tmp_path, api_server):
    mono = two_tones(0.5, 0.0)[0]
    t = transcribe(np.stack([mono, mono]), settings=api_settings(tmp_path, api_server))
    assert len(api_server.requests) == 1
    assert [s["speaker"] for s in t.segments] == ["inconnu"]


def test_exhausted_time_budget_marks_the_transcript_truncated(tmp_path, api_server):
    t = transcribe(two_tones(0.5, 0.2), settings=api_settings(tmp_path, api_server), time_budget_s=0.0)
    assert t.truncated is True and t.segments == [] and api_server.requests == []


def test_wav_bytes_is_mono_16bit_16k():
    with wave.open(io.BytesIO(wav_bytes(np.zeros(1600, dtype=np.float32)))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 1600)


@pytest.mark.skipif(__import__("ctranslate2").get_cuda_device_count() > 0, reason="a GPU is visible here")
def test_cuda_without_a_gpu_is_a_french_config_error_not_a_hub_hint(tmp_path):
    from ccr.speech.transcription import load_faster_whisper

    settings = Settings(data_dir=tmp_path, asr_device="cuda", asr_compute_type="float16")
    with pytest.raises(ConfigError, match="aucun GPU NVIDIA") as err:
        load_faster_whisper(settings)
    assert "CCR_ASR_DEVICE=cpu" in err.value.message
