"""Guards against hot-word loops: runs of one vocabulary term cut with their words, hallucinated utterances
dropped, the speech they hid decoded again without the hot words, on constructed segments and on real audio
with the real offline faster-whisper model."""

from __future__ import annotations

import collections
import itertools
import re
import subprocess
import time

import numpy as np
import pytest

from ccr.core.config import Settings
from ccr.speech.audio import TARGET_SR, load_audio
from ccr.speech.hotword_guard import drop_term_loops, fill_holes, guard_segments, holes, vocabulary_terms
from ccr.speech.transcription import (
    FASTER_WHISPER_OPTIONS,
    ChannelResult,
    get_engine,
    split_at_pauses,
    transcribe,
)
from tests.audiodata import offline_model_dir
from tests.speech.test_transcription import ESPEAK, fw_segment, needs_espeak, two_tones

HOTWORDS = "Kalinéo, Quiétude Plus, Pack Azur, Ophélie, Anaïs"
TERMS = vocabulary_terms(HOTWORDS)
# bench_vocabulary's insurer (benchmarks/data/vocabulary_calls.json), as the page would store it.
BENCH_HOTWORDS = ("Kalinéo, Quiétude Plus, Pack Azur, Vigilo, Kalipass, Réparéo, Zénitude, Maëlle, Soraya, Gaëtan, "
                  "Ophélie, Yannick, Anaïs")


def utterance(text: str, start: float = 0.0, step: float = 0.4, pause_after: int | None = None) -> list[tuple]:
    """One decoded faster-whisper segment saying ``text`` word by word, cut into pieces as the engine does;
    ``pause_after``: a 1 s pause after that word (a second piece)."""
    words, t = [], start
    for i, word in enumerate(text.split()):
        words.append((t, t + step - 0.1, " " + word, 0.5 + 0.01 * i))
        t += step + (1.0 if i == pause_after else 0.0)
    return split_at_pauses(fw_segment(*words))


def texts(segments: list[tuple]) -> list[str]:
    return [s[2] for s in segments]


def assert_consistent(seg: tuple) -> None:
    """A segment spans exactly its words, in order, and its text is theirs."""
    start, end, text, words = seg
    assert (start, end) == (words[0]["start"], words[-1]["end"])
    assert text == "".join(w["word"] for w in words).strip()
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))


# --- the vocabulary's terms --------------------------------------------------------------------------------


def test_terms_are_word_tokens_longest_first():
    assert vocabulary_terms("Kalinéo, Pack Azur,  ,Anaïs") == [("pack", "azur"), ("anaïs",), ("kalinéo",)]
    assert vocabulary_terms(None) == [] and vocabulary_terms("") == []
    # « é » typed as e + combining accent is the « é » Whisper writes.
    assert vocabulary_terms("Kaline\u0301o") == [("kalinéo",)]


# --- loops of one term ---------------------------------------------------------------------------------


def test_a_looped_term_is_cut_with_its_words_and_the_rest_kept():
    pieces = utterance("Bonjour, je suis Maëlle, Anaïs, Anaïs, Anaïs, Anaïs, du service client.")
    ((start, end, text, words),) = drop_term_loops(pieces, TERMS)
    assert text == "Bonjour, je suis Maëlle, du service client."
    assert [w["word"] for w in words] == [" Bonjour,", " je", " suis", " Maëlle,", " du", " service", " client."]
    assert [w["probability"] for w in words] == [0.5, 0.51, 0.52, 0.53, 0.58, 0.59, 0.6]  # the same words' own
    assert_consistent((start, end, text, words))


def test_a_loop_across_a_pause_is_cut_in_both_pieces():
    pieces = utterance("Je voudrais le Pack Azur, Pack Azur. Pack Azur, Pack Azur pour ma maison.", pause_after=5)
    assert len(pieces) == 2  # the premise: the pause cut the utterance in two
    out = drop_term_loops(pieces, TERMS)
    assert texts(out) == ["Je voudrais le", "pour ma maison."]
    for seg in out:
        assert_consistent(seg)
    assert out[1][0] == pieces[1][3][-3]["start"]  # the second piece now starts at its first kept word


def test_an_utterance_of_nothing_but_vocabulary_is_dropped():
    # What Whisper wrote in place of « Bonjour, Ophélie à votre écoute. » with the hot words.
    assert drop_term_loops(utterance("Ophélie, Anaïs, Anaïs, Anaïs, Anaïs, Anaïs,"), TERMS) == []
    assert drop_term_loops(utterance("Quiétude Plus, Quiétude Plus, Quiétude Plus."), TERMS) == []


def test_a_cycle_of_terms_is_a_loop_too():
    # bench_vocabulary's k14, over « Kalinéo bonjour, Yannick à votre service. », cut by two pauses.
    cycle = "Kalinéo, Maëlle, Yannick, Anaïs, Réparéo, Yannick, Anaïs, Réparéo, Yannick, Anaïs, Réparéo, je m'envoie."
    pieces = utterance(cycle, pause_after=6)
    assert len(pieces) == 2
    out = drop_term_loops(pieces, vocabulary_terms(BENCH_HOTWORDS))
    assert texts(out) == ["je m'envoie."]
    assert_consistent(out[0])


def test_a_segment_that_says_one_term_three_times_is_dropped():
    # Not in a row, yet three times in one segment: its speech is decoded again without the hot words
    # (fill_holes), so it is not lost. Only that piece goes, not the rest of the utterance.
    pieces = utterance("Kalinéo bonjour, bien chez Kalinéo, Kalinéo vous remercie. Au revoir.", pause_after=7)
    assert drop_term_loops(pieces, TERMS) == pieces[1:]


@pytest.mark.parametrize("text", [
    "Kalinéo.",  # a term said once, alone: only a loop makes a vocabulary-only utterance suspect
    "Anaïs ? Oui, Anaïs, c'est bien moi.",  # twice in a row is speech
    "Quiétude Plus, Pack Azur, Kalinéo.",  # several terms, each once
])
def test_terms_said_as_people_say_them_are_kept(text):
    pieces = utterance(text)
    assert drop_term_loops(pieces, TERMS) == pieces


def test_a_term_said_in_different_segments_is_kept():
    segments = [*utterance("Bonjour, Anaïs à votre écoute."), *utterance("Merci Anaïs.", start=5.0),
                *utterance("Au revoir Anaïs.", start=9.0)]
    assert guard_segments(segments, HOTWORDS) == segments
    # Also when Whisper decoded them as one utterance that the pauses cut into pieces.
    pieces = split_at_pauses(fw_segment((0.0, 0.4, " Bonjour", 0.9), (0.5, 0.9, " Anaïs.", 0.8),
                                        (2.0, 2.4, " Merci", 0.9), (2.5, 2.9, " Anaïs.", 0.7),
                                        (4.0, 4.4, " Au revoir", 0.9), (4.5, 4.9, " Anaïs.", 0.6)))
    assert len(pieces) == 3 and drop_term_loops(pieces, TERMS) == pieces


def test_case_and_accents_do_not_hide_a_loop():
    out = drop_term_loops(utterance("Oui KALINÉO, kalinéo, Kaline\u0301o, d'accord."), TERMS)
    assert texts(out) == ["Oui d'accord."]


def test_a_loop_on_a_near_spelling_of_a_term_is_cut_too():
    terms = vocabulary_terms(BENCH_HOTWORDS)
    assert drop_term_loops(utterance("Ophélie, Anaïs, Laëlle, Laëlle, Laëlle, Laëlle, Laëlle,"), terms) == []
    # A cycle through a near spelling, as faster-whisper decoded the bench call on another machine.
    assert drop_term_loops(utterance("Ophélie, Anaïs, Laëlle, Anaïs, Laëlle, Anaïs, Laëlle,"), terms) == []
    cycle = utterance("Bonjour, Gaëtan, Laëlle, Gaëtan, Laëlle, Gaëtan, Laëlle, à votre écoute.")
    assert texts(drop_term_loops(cycle, terms)) == ["Bonjour, à votre écoute."]
    assert texts(drop_term_loops(utterance("Oui, Kalineo, Kalineo, Kalineo, bonjour."), terms)) == ["Oui, bonjour."]


@pytest.mark.parametrize("text", ["Non, non, non, je ne veux pas.", "Allô, allô, allô ?", "Oui oui oui, Anaïs."])
def test_words_people_repeat_are_not_loops(text):
    pieces = utterance(text)
    assert drop_term_loops(pieces, vocabulary_terms(BENCH_HOTWORDS)) == pieces


def test_segments_without_words_are_cut_in_their_text():
    # openai-whisper and the API give text only: the run goes with its punctuation, the times stay.
    assert guard_segments([(1.0, 4.0, "Bonjour, Anaïs, Anaïs, Anaïs, à votre écoute.")], HOTWORDS) == [
        (1.0, 4.0, "Bonjour, à votre écoute.")]
    assert guard_segments([(1.0, 4.0, "Pack Azur Pack Azur pack azur")], HOTWORDS) == []
    assert guard_segments([(1.0, 4.0, "Kalinéo, Kalinéo.")], HOTWORDS) == [(1.0, 4.0, "Kalinéo, Kalinéo.")]


def test_without_hot_words_nothing_changes():
    pieces = utterance("Anaïs, Anaïs, Anaïs, Anaïs.")
    assert guard_segments(pieces, None) == pieces
    assert drop_term_loops(pieces, []) == pieces


def test_any_engine_gets_the_guard_through_transcribe(tmp_path):
    class LoopingEngine:
        name, model = "stub", "stub"

        def transcribe_channel(self, audio, *, language, deadline, hotwords=None):
            return ChannelResult(segments=[(0.5, 2.0, "Bonjour, Kalinéo, Kalinéo, Kalinéo, Kalinéo"),
                                           (2.5, 3.0, "Anaïs, Anaïs, Anaïs.")], language="fr")

    audio = two_tones(0.5, 0.0)[:1]
    t = transcribe(audio, settings=Settings(data_dir=tmp_path), engine=LoopingEngine(), hotwords=HOTWORDS)
    assert [s["text"] for s in t.segments] == ["Bonjour,"]
    t = transcribe(audio, settings=Settings(data_dir=tmp_path), engine=LoopingEngine())
    assert len(t.segments) == 2  # without a vocabulary, a repeated word is not a hot-word loop


# --- speech left without text ------------------------------------------------------------------------------


def test_holes_are_the_expected_speech_no_segment_covers():
    expected = [(0.2, 5.0), (8.0, 12.0)]
    assert holes(expected, [(0.4, 2.0, "a"), (2.3, 4.8, "b"), (8.1, 11.9, "c")]) == []  # slack only
    assert holes(expected, [(0.4, 2.0, "a")]) == [(2.0, 5.0), (8.0, 12.0)]
    assert holes(expected, [(3.0, 4.0, "a"), (8.5, 10.5, "b")]) == [(0.2, 3.0), (4.0, 5.0), (10.5, 12.0)]
    assert holes(expected, [(4.5, 8.5, "spans the silence between")]) == [(0.2, 4.5), (8.5, 12.0)]
    assert holes([], [(0.0, 1.0, "a")]) == []


def test_holes_are_decoded_again_in_one_pass_with_the_rest_silenced():
    audio = np.linspace(0.1, 0.9, 10 * TARGET_SR, dtype=np.float32)
    kept = utterance("Bonjour madame.", start=0.5)
    seen = []

    def decode(masked):
        seen.append(masked)
        return ChannelResult(segments=[*utterance("Avec plaisir.", start=6.3), (7.0, 7.4, "texte seul"),
                                       (0.6, 0.9, "Merci.")])  # the last one over silence: made up

    segments, truncated = fill_holes(audio, kept, [(0.4, 1.5), (4.0, 4.5), (6.0, 9.0)], decode,
                                     time.monotonic() + 60)
    assert truncated is False and len(seen) == 1  # the first region is covered, the second too short
    (masked,) = seen
    a, b = 6 * TARGET_SR, 9 * TARGET_SR
    assert np.array_equal(masked[a:b], audio[a:b]) and not masked[:a].any() and not masked[b:].any()
    assert texts(segments) == ["Bonjour madame.", "Avec plaisir.", "texte seul"]
    assert segments[1] == utterance("Avec plaisir.", start=6.3)[0]  # words, timings and probabilities as decoded


def test_nothing_is_decoded_again_without_a_hole():
    def decode(masked):
        raise AssertionError("no hole, no second pass")

    kept = utterance("Bonjour madame, je vous écoute.", start=0.5)
    assert fill_holes(np.zeros(TARGET_SR * 5, dtype=np.float32), kept, [(0.3, 2.9)], decode, 0.0) == (kept, False)


def test_a_spent_deadline_stops_the_decoding_of_holes():
    def decode(clip):
        raise AssertionError("no decoding after the deadline")

    segments, truncated = fill_holes(np.zeros(TARGET_SR * 5, dtype=np.float32), [], [(0.0, 4.0)], decode,
                                     time.monotonic() - 1)
    assert segments == [] and truncated is True


# --- the real model on real audio ------------------------------------------------------------------------

# bench_vocabulary's call k13, the agent's channel: with the insurer's vocabulary as hot words, Whisper base
# writes « Ophélie, Anaïs, Anaïs, Anaïs, Anaïs, Anaïs, » over both of the agent's turns and nothing else.
AGENT_TURNS = ("Bonjour, Ophélie à votre écoute.", "Avec plaisir, votre contrat Quiétude Plus démarre dès lundi.")


def speak_as_agent(text: str) -> np.ndarray:
    """espeak-ng's speech for ``text`` in the benchmark's agent voice, rate and level, at 16 kHz in memory."""
    wav = subprocess.run([ESPEAK, "--stdout", "-v", "fr+f5", "-s", "145", text], check=True,
                         capture_output=True).stdout
    return load_audio(wav, max_seconds=60)[1][0] * 0.8


def agent_channel() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The agent's two turns, as the benchmark speaks them, with the customer's turn as silence between them;
    also where each turn is, in seconds."""
    gap = np.zeros(int(0.6 * TARGET_SR), dtype=np.float32)
    customer = np.zeros(4 * TARGET_SR, dtype=np.float32)
    first, second = (speak_as_agent(t) for t in AGENT_TURNS)
    parts = [gap, first, gap, customer, gap, second, gap]
    starts = np.cumsum([0] + [p.size for p in parts]) / TARGET_SR
    return np.concatenate(parts)[None, :], [(starts[1], starts[2]), (starts[5], starts[6])]


def most_repeated(text: str) -> int:
    """How often the commonest word of ``text`` is said, in a row or in a cycle (« Anaïs, Laëlle, Anaïs... »)."""
    return max(collections.Counter(re.findall(r"\w+", text.lower())).values(), default=0)


def max_run(text: str) -> int:
    """The longest run of one word said again and again in ``text``."""
    tokens = re.findall(r"\w+", text.lower())
    return max((len(list(g)) for _, g in itertools.groupby(tokens)), default=0)


@pytest.mark.slow
@needs_espeak
def test_a_hot_word_loop_is_decoded_again_without_the_hot_words(tmp_path, tmp_path_factory, monkeypatch):
    settings = Settings(data_dir=tmp_path, asr_language="fr", asr_model=str(offline_model_dir(tmp_path_factory)))
    engine = get_engine(settings)
    audio, turns = agent_channel()
    # The premise: faster-whisper itself, with the product's options and the hot words, loops on names in
    # place of the agent's words. The loop's shape varies with the machine's threads (one name again and again,
    # or two in turn), so the premise counts repeats in a row or not.
    gen, _ = engine.whisper.transcribe(audio[0], language="fr", **FASTER_WHISPER_OPTIONS, hotwords=BENCH_HOTWORDS)
    raw = " ".join(seg.text for seg in gen)
    assert most_repeated(raw) >= 3 and "bonjour" not in raw.lower(), f"sans garde-fou : {raw}"

    calls = []
    run = engine.whisper.transcribe

    def noting_transcribe(clip, **options):
        calls.append((clip.size / TARGET_SR, options.get("hotwords")))
        return run(clip, **options)

    monkeypatch.setattr(engine.whisper, "transcribe", noting_transcribe)
    # A generous budget: on a loaded machine the two passes must not be cut short by the deadline.
    t = transcribe(audio, settings=settings, engine=engine, hotwords=BENCH_HOTWORDS, time_budget_s=600)
    text = " ".join(s["text"] for s in t.segments)
    assert max_run(text) < 3, text  # no loop is left
    assert "bonjour" in text.lower(), text
    # Both turns of the agent came back. Their words are a small model's reading of espeak's voice, which
    # varies from one machine to another; where they were said does not.
    for start, end in turns:
        assert any(start - 0.5 <= (s["start"] + s["end"]) / 2 <= end + 0.5 for s in t.segments), (turns, t.segments)
    # The first pass had the hot words; the stretches it lost were decoded again without them.
    assert calls[0] == (audio.shape[1] / TARGET_SR, BENCH_HOTWORDS)
    assert calls[1:] == [(audio.shape[1] / TARGET_SR, None)], calls  # one pass, the rest of the channel silenced
    for seg in t.segments:  # word timings and probabilities are those of the text shown
        ws = seg["words"]
        assert (ws[0]["start"], ws[-1]["end"]) == (seg["start"], seg["end"])
        assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(ws))
        assert all(0 < w["probability"] <= 1 for w in ws)
