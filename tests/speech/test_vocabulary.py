"""The business vocabulary: cleaning, versions, roles, tenants, audit, the prompt budget, and what hot words do
to a real transcription of a synthesised call naming the organisation's brand."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
from sqlmodel import select

from ccr.core.config import Settings
from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import AuditLog, Vocabulary
from ccr.speech import vocabulary
from ccr.speech.audio import TARGET_SR, load_audio
from ccr.speech.transcription import get_engine, transcribe
from tests.audiodata import offline_model_dir
from tests.speech.test_transcription import (
    FIXTURES,
    FakeTranscriptionServer,
    api_settings,
    tiny_random_checkpoint,
    two_tones,
)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng absent (make test l'installe via apt-get)")


def save(tenant, terms, role: str = "supervisor") -> int | None:
    with session() as s:
        return vocabulary.save_vocabulary(session=s, actor=tenant.actor(role), terms=terms)


def terms_of(tenant) -> list[str]:
    with session() as s:
        return vocabulary.current_terms(session=s, org_id=tenant.org_id)


def history(tenant, role: str = "supervisor") -> list[vocabulary.VocabularyVersion]:
    with session() as s:
        return vocabulary.vocabulary_history(session=s, actor=tenant.actor(role))


# --- cleaning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("Domivia\nSérénité Plus\nNadia", ["Domivia", "Sérénité Plus", "Nadia"]),
    ("Domivia, Sérénité Plus,Nadia", ["Domivia", "Sérénité Plus", "Nadia"]),  # commas as well as lines
    ("  Domivia  \r\n\n\t Sérénité \t Plus \n", ["Domivia", "Sérénité Plus"]),  # trimmed, inner runs made one space
    ("Domivia\nDOMIVIA\ndomivia\nNadia", ["Domivia", "Nadia"]),  # case-insensitive, the first spelling wins
    ("Se\u0301re\u0301nite\u0301 Plus\nSérénité plus", ["Sérénité Plus"]),  # combining accents are the same word
    ("Pack\u00a0Azur", ["Pack Azur"]),  # a non-breaking space pasted from a document
    (["Domivia", " Nadia ", "", "Hugo, Inès"], ["Domivia", "Nadia", "Hugo", "Inès"]),  # a list is cleaned too
    ("", []),
    (",\n , ", []),
])
def test_terms_are_cleaned(raw, expected):
    assert vocabulary.clean_terms(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("Domivia\n" + "x" * 61, "Ligne 2 : 61 caractères, 60 au plus"),
    ("Domi\u200bvia", "Ligne 1 : le terme contient un caractère invisible"),  # zero-width space
    ("Nadia\nDomivia\u202e", "Ligne 2 : le terme contient un caractère invisible"),  # right-to-left override
    ("Do\x07mivia", "Ligne 1 : le terme contient un caractère invisible"),
    ("\n".join(f"terme {i}" for i in range(201)), "201 termes : 200 au plus"),
])
def test_unusable_terms_are_refused_in_french(raw, message):
    with pytest.raises(InvalidInput, match=message):
        vocabulary.clean_terms(raw)


def test_the_limits_themselves_are_accepted():
    assert vocabulary.clean_terms(["x" * 60]) == ["x" * 60]
    assert len(vocabulary.clean_terms([f"terme {i}" for i in range(200)] + ["TERME 0"])) == 200


# --- versions ----------------------------------------------------------------------------------------


def test_each_save_is_a_new_version_and_the_latest_is_in_force(tenants):
    a, _ = tenants
    assert terms_of(a) == [] and history(a) == []
    assert save(a, "Domivia\nSérénité Plus") == 1
    assert save(a, "Domivia\nSérénité Plus\nNadia", role="admin") == 2
    assert terms_of(a) == ["Domivia", "Sérénité Plus", "Nadia"]
    newest, oldest = history(a)
    assert (newest.version, newest.count, newest.author, newest.added, newest.removed) == (
        2, 3, "alpha admin", ("Nadia",), ())
    assert (oldest.version, oldest.terms, oldest.author, oldest.added) == (
        1, ("Domivia", "Sérénité Plus"), "alpha supervisor", ("Domivia", "Sérénité Plus"))
    assert newest.created_at >= oldest.created_at


def test_an_unchanged_list_stores_no_version(tenants):
    a, _ = tenants
    assert save(a, []) is None  # nothing to clear yet
    assert save(a, "Domivia\nNadia") == 1
    assert save(a, " Domivia , Nadia, domivia ") is None  # the same list once cleaned
    assert save(a, "Nadia\nDomivia") == 2  # the order decides which terms fit the prompt: a change
    assert save(a, "nadia\nDomivia") == 3  # so is a new spelling
    assert save(a, "") == 4  # clearing the list is a version too
    assert terms_of(a) == []
    with session() as s:
        assert len(s.exec(select(Vocabulary).where(Vocabulary.org_id == a.org_id)).all()) == 4
    assert history(a)[1].added == ("nadia",) and history(a)[1].removed == ("Nadia",)


def test_a_refused_list_keeps_the_one_in_force(tenants):
    a, _ = tenants
    save(a, "Domivia")
    with pytest.raises(InvalidInput):
        save(a, "Domivia\n" + "y" * 80)
    assert terms_of(a) == ["Domivia"] and len(history(a)) == 1


def test_two_saves_at_once_get_consecutive_versions(tenants):
    a, _ = tenants
    actor = a.actor("supervisor")
    start, results, errors = threading.Barrier(2), [], []

    def worker(terms):
        start.wait(timeout=60)
        try:
            with session() as s:
                results.append(vocabulary.save_vocabulary(session=s, actor=actor, terms=terms))
        except Exception as e:  # reported by the assertion below, whatever it is
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in ("Domivia", "Nadia")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and sorted(results) == [1, 2]


def test_history_compares_its_oldest_row_with_the_version_before_it(tenants):
    a, _ = tenants
    for terms in ("Domivia", "Domivia\nNadia", "Domivia\nNadia\nHugo"):
        save(a, terms)
    with session() as s:
        [oldest_shown] = vocabulary.vocabulary_history(session=s, actor=a.actor("supervisor"), limit=3)[2:]
        [only] = vocabulary.vocabulary_history(session=s, actor=a.actor("supervisor"), limit=1)
    assert oldest_shown.added == ("Domivia",)
    assert (only.version, only.added) == (3, ("Hugo",))  # not "everything", though version 2 is not shown


# --- roles, tenants, audit ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["team_lead", "agent", "dpo"])
def test_only_supervisors_and_admins_read_or_change_the_list(tenants, role):
    a, _ = tenants
    save(a, "Domivia")
    with pytest.raises(AccessDenied, match="superviseurs"):
        save(a, "Nadia", role=role)
    with pytest.raises(AccessDenied):
        history(a, role=role)
    assert terms_of(a) == ["Domivia"]


def test_another_organisation_keeps_its_own_list(tenants):
    a, b = tenants
    save(a, "Domivia\nNadia")
    assert terms_of(b) == [] and history(b) == []
    assert save(b, "Kalinéo") == 1  # versions are numbered per organisation
    assert terms_of(a) == ["Domivia", "Nadia"] and terms_of(b) == ["Kalinéo"]
    assert [v.terms for v in history(a)] == [("Domivia", "Nadia")]


def test_a_save_is_audited_with_counts_but_never_the_terms(tenants):
    a, _ = tenants
    save(a, "Domivia\nNadia")
    save(a, "Domivia\nHugo\nInès")
    save(a, "Domivia\nHugo\nInès")  # unchanged: not audited either
    with session() as s:
        events = s.exec(select(AuditLog).where(AuditLog.action == "vocabulary_saved")
                        .order_by(AuditLog.id)).all()
    assert [json.loads(e.detail_json) for e in events] == [
        {"version": 1, "termes": 2, "ajoutés": 2, "retirés": 0},
        {"version": 2, "termes": 3, "ajoutés": 2, "retirés": 1},
    ]
    assert {(e.org_id, e.user_id, e.target_type) for e in events} == {(a.org_id, a.users["supervisor"], "vocabulary")}
    logged = " ".join(e.detail_json + (e.target_id or "") for e in events)
    assert not any(name in logged for name in ("Domivia", "Nadia", "Hugo", "Inès"))


# --- the prompt budget ----------------------------------------------------------------------------------


def test_hotwords_text_joins_whole_terms_within_the_budget():
    assert vocabulary.hotwords_text([]) is None
    assert vocabulary.hotwords_text(["Domivia", "Sérénité Plus"]) == "Domivia, Sérénité Plus"
    many = [f"Marque{i:04d}" for i in range(vocabulary.MAX_TERMS)]  # 10 characters each, 12 with ", "
    text = vocabulary.hotwords_text(many)
    assert len(text) <= vocabulary.MAX_HOTWORDS_CHARS
    kept = text.split(", ")
    assert kept == many[: len(kept)] and len(kept) == vocabulary.MAX_HOTWORDS_CHARS // 12
    assert vocabulary.kept_terms(many) == kept


def test_a_term_that_would_cross_the_budget_is_left_out_whole():
    first = "a" * (vocabulary.MAX_HOTWORDS_CHARS - 10)
    assert vocabulary.hotwords_text([first, "Domivia-Sérénité", "Nadia"]) == first  # never half a term
    assert vocabulary.kept_terms([first, "Nadia"]) == [first, "Nadia"]


# --- the other engines take the vocabulary too -------------------------------------------------------


def test_the_api_engine_sends_the_vocabulary_as_its_prompt(tmp_path):
    server = FakeTranscriptionServer()
    try:
        settings = api_settings(tmp_path, server)
        transcribe(two_tones(0.5, 0.2), settings=settings, hotwords="Domivia, Sérénité Plus")
        transcribe(two_tones(0.5, 0.2), settings=settings)
    finally:
        server.close()
    helped, plain = server.requests[:2], server.requests[2:]
    assert [r["fields"]["prompt"] for r in helped] == [["Domivia, Sérénité Plus".encode()]] * 2  # both channels
    assert len(plain) == 2 and not any("prompt" in r["fields"] for r in plain)


@pytest.mark.slow
def test_openai_whisper_gives_the_vocabulary_to_every_window(tmp_path, monkeypatch):
    """The real library decodes (random weights: noise); what is read is the prompt each 30 s window received."""
    import whisper

    checkpoint = tiny_random_checkpoint(tmp_path)
    engine = get_engine(Settings(data_dir=tmp_path, asr_engine="openai-whisper", openai_whisper_checkpoint=checkpoint))
    prompts: list[list[int]] = []
    decode = engine.whisper.decode

    def decode_and_note_the_prompt(mel, options):
        prompts.append(list(options.prompt or []))
        # Random weights emit random timestamps, and the library then moves on by as little as the last one:
        # the number of windows, and so the test's time, would be left to chance. Without timestamps each
        # window is one step of 30 s, and a few tokens are enough to have used the prompt.
        return decode(mel, dataclasses.replace(options, without_timestamps=True, sample_len=8))

    monkeypatch.setattr(engine.whisper, "decode", decode_and_note_the_prompt)
    audio = load_audio((FIXTURES / "a01-000.wav").read_bytes(), max_seconds=7200)[1][0, : 45 * TARGET_SR]
    deadline = time.monotonic() + 600
    engine.transcribe_channel(audio, language="fr", deadline=deadline, hotwords="Domivia, Sérénité Plus")
    expected = whisper.tokenizer.get_tokenizer(True, language="fr", task="transcribe").encode(" Domivia, Sérénité Plus")
    assert len(prompts) >= 2 and all(p == expected for p in prompts)  # not only the first window
    prompts.clear()
    engine.transcribe_channel(audio, language="fr", deadline=deadline)
    assert prompts and not any(prompts)


# --- what hot words do to a real transcription ---------------------------------------------------------

# A call-centre agent naming the brand and an offer, spoken by espeak-ng's clearest French male voice for
# Whisper base. Without hot words, base writes the brand « Dominia » and the offer as ordinary words.
AGENT_LINES = (
    "Bonjour et bienvenue chez Domivia, je m'appelle Nadia, que puis-je faire pour vous ?",
    "Je vous propose l'offre Sérénité Plus, elle comprend le dépannage sous vingt-quatre heures.",
)
BRAND, OFFER = "Domivia", "Sérénité Plus"
VOICE = "fr+m7"


def speak(text: str) -> np.ndarray:
    """espeak-ng's French speech for ``text``, decoded and resampled to 16 kHz in memory."""
    wav = subprocess.run([ESPEAK, "--stdout", "-v", VOICE, "-s", "145", text], check=True, capture_output=True).stdout
    return load_audio(wav, max_seconds=60)[1][0]


def synthesised_call() -> np.ndarray:
    """The agent's lines one after the other with a second of silence between them (mono)."""
    pause = np.zeros(TARGET_SR, dtype=np.float32)
    parts = [p for line in AGENT_LINES for p in (speak(line), pause)]
    return np.concatenate(parts)[None, :]


@pytest.mark.slow
@needs_espeak
def test_hot_words_from_the_vocabulary_spell_the_brand_and_the_offer(tenants, tmp_path, tmp_path_factory):
    a, _ = tenants
    save(a, "Domivia\nSérénité Plus\nNadia")
    hotwords = vocabulary.hotwords_text(terms_of(a))
    settings = Settings(data_dir=tmp_path, asr_language="fr", asr_model=str(offline_model_dir(tmp_path_factory)))
    audio = synthesised_call()
    plain = " ".join(s["text"] for s in transcribe(audio, settings=settings).segments)
    helped = " ".join(s["text"] for s in transcribe(audio, settings=settings, hotwords=hotwords).segments)
    # The premise: Whisper base alone gets neither name right on this audio (beam search: deterministic).
    assert BRAND not in plain and OFFER not in plain, f"sans vocabulaire : {plain}"
    assert BRAND in helped and OFFER in helped, f"avec vocabulaire : {helped}"
    assert helped != plain
    # The hint helps the names without eating the sentence around them.
    assert "bienvenue" in helped and "offre" in helped, helped
