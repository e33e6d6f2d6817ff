"""Sentence ends put back into a turn written without punctuation, for reading it sentence by sentence.

The act recogniser reads a punctuated line whole and sentence by sentence, so an act said in one sentence of a
long turn keeps its weight. Some transcribers and recognisers write a whole turn without a single full stop;
such a turn was read only whole, and a complaint said in passing was drowned by the words around it. A small
model learns, from where the writers of CCR's line banks ended their sentences, which gaps between two words
end one (« …ne s'allume plus | c'est d'un amateurisme incroyable »), from the words on each side and how far
the gap is from either end of the turn. The full stops it puts back only shape how the line is read: the
stored text, the quotes and everything shown stay as the transcriber wrote them.

``python -m scripts.train_boundaries`` writes ``ccr/scoring/data/boundaries/model.npz``.
"""

from __future__ import annotations

import hashlib
import random
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from ccr.core.errors import ScoringError
from ccr.core.textnorm import unpunctuated

MODEL_PATH = Path(__file__).resolve().parent / "data" / "boundaries" / "model.npz"
SENTENCE_MARK = re.compile(r"[.!?;…]")  # what ends a sentence for the act recogniser
_ENDS_SENTENCE = re.compile(r"[.!?;…][»\"')\]]*$")
N_BUCKETS = 1 << 20
# A gap this likely to end a sentence gets a full stop: the plain middle, fixed before measuring. On the
# unpunctuated tuning calls of public-d it read as well as any other bar tried (0.35 and 0.7).
BOUNDARY_AT = 0.5
# Shorter turns are read whole: a sentence needs three words to be read on its own, so only a turn of six can
# hold two of them.
MIN_WORDS = 6
POSITION_CAP = 10  # distances to either end of the turn beyond this look alike
EPOCHS = 6
BATCH = 256
LEARNING_RATE = 0.5
DECAY = 0.6  # the learning rate is multiplied by this after each pass over the gaps
SEED = 0
# Turns made for training join one to four lines of the same speaker, as a turn often says several things.
TURN_LINES = (1, 2, 2, 3, 3, 4)
TURN_COPIES = 3  # each line is joined into this many different turns


class BoundaryModelError(ScoringError):
    """The sentence-boundary model cannot be read."""


def words_of(text: str) -> list[tuple[str, str]]:
    """The whitespace tokens of ``text`` that hold a word, each with its normalised form (lowercase, without
    punctuation; a token's inner marks join its parts with « _ »). A lone mark joins the token before it (the
    next one at the start), so that joining the tokens gives the text back."""
    out: list[tuple[str, str]] = []
    leading = ""
    for token in text.split():
        word = "_".join(unpunctuated(token).split())
        if word:
            out.append((leading + token, word))
            leading = ""
        elif out:
            out[-1] = (out[-1][0] + " " + token, out[-1][1])
        else:
            leading += token + " "
    return out


def _hash(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % N_BUCKETS


def gap_features(words: Sequence[str], i: int) -> list[int]:
    """Hashed features of the gap after ``words[i]``: the two words on each side, alone and joined, the end of
    the word before and the start of the word after, and how far the gap is from either end of the turn."""
    n = len(words)

    def at(k: int) -> str:
        return words[k] if 0 <= k < n else ("<s>" if k < 0 else "</s>")

    l2, l1, r1, r2 = at(i - 1), at(i), at(i + 1), at(i + 2)
    before, after = min(i + 1, POSITION_CAP), min(n - i - 1, POSITION_CAP)
    return [_hash(f) for f in (
        "bias", f"l1:{l1}", f"l2:{l2}", f"r1:{r1}", f"r2:{r2}", f"l2l1:{l2}_{l1}", f"l1r1:{l1}_{r1}",
        f"r1r2:{r1}_{r2}", f"l1r1r2:{l1}_{r1}_{r2}", f"l2l1r1:{l2}_{l1}_{r1}", f"ls:{l1[-3:]}", f"rp:{r1[:3]}",
        f"before:{before}", f"after:{after}", f"before_r1:{min(before, 6)}_{r1}", f"after_l1:{min(after, 6)}_{l1}")]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


@dataclass(frozen=True, eq=False)  # hashed by identity: a model is a cache key of the reading
class BoundaryModel:
    """A logistic regression over hashed gap features: the sorted ids of the features it learned a weight for,
    their weights, and a digest of the banks it learned from."""

    feature_ids: np.ndarray  # int64, sorted
    weights: np.ndarray  # float32
    bank_sha256: str

    def gap_probabilities(self, words: Sequence[str]) -> np.ndarray:
        """For each gap between two of ``words`` (normalised), the probability that a sentence ends there."""
        if len(words) < 2:
            return np.zeros(0, dtype=np.float32)
        ids = np.array([gap_features(words, i) for i in range(len(words) - 1)], dtype=np.int64)
        pos = np.clip(np.searchsorted(self.feature_ids, ids), 0, len(self.feature_ids) - 1)
        known = self.feature_ids[pos] == ids
        return _sigmoid(np.where(known, self.weights[pos], 0.0).sum(axis=1))

    def fingerprint(self) -> str:
        """A hash of the weights as stored, recorded beside the act bars tuned under this model's reading."""
        h = hashlib.sha256()
        for a in (self.feature_ids.astype(np.int64), self.weights.astype(np.float16)):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        """Write the model as a compressed ``.npz`` (weights in float16: under two megabytes)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, feature_ids=self.feature_ids, weights=self.weights.astype(np.float16),
                            bank_sha256=np.array(self.bank_sha256))

    @classmethod
    def load(cls, path: Path) -> BoundaryModel:
        """Read a model written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(feature_ids=z["feature_ids"], weights=z["weights"].astype(np.float32),
                           bank_sha256=str(z["bank_sha256"]))
        except (OSError, KeyError, ValueError) as e:
            raise BoundaryModelError(f"Modèle de fins de phrase illisible ({path.name}) : relancez "
                                     "« python -m scripts.train_boundaries ».") from e


@cache
def default_model() -> BoundaryModel | None:
    """The shipped model, loaded once per process; None when it was never trained (turns are then read whole)."""
    return BoundaryModel.load(MODEL_PATH) if MODEL_PATH.exists() else None


def with_sentence_marks(text: str, model: BoundaryModel | None = None) -> str:
    """``text`` with a full stop after each word that most likely ends a sentence, when it has no sentence mark
    at all and at least ``MIN_WORDS`` words; otherwise ``text`` as it is (also when no model is shipped)."""
    model = model or default_model()
    if model is None or SENTENCE_MARK.search(text):
        return text
    return _with_marks(text, model)


@lru_cache(maxsize=20_000)
def _with_marks(text: str, model: BoundaryModel) -> str:
    # Keyed by the model too, so that another model (a test's, a retrained one) never gets a cached reading.
    tokens = words_of(text)
    if len(tokens) < MIN_WORDS:
        return text
    ends = model.gap_probabilities([w for _, w in tokens]) >= BOUNDARY_AT
    return " ".join(token + ("." if i < len(ends) and ends[i] else "") for i, (token, _) in enumerate(tokens))


# --- training ------------------------------------------------------------------------------------


def training_turns(lines: dict[str, Sequence[str]], seed: int = SEED, copies: int = TURN_COPIES) -> list[str]:
    """Turns made of punctuated lines, joined speaker by speaker (``lines``: speaker -> texts). A line written
    without any sentence mark is left out (where its sentences end is unknown); one that does not end on a
    mark ends with a full stop, as a turn ends a sentence."""
    rng = random.Random(seed)
    turns = []
    for speaker in sorted(lines):
        texts = [t.strip() for t in lines[speaker] if SENTENCE_MARK.search(t)]
        texts = [t if _ENDS_SENTENCE.search(t) else t + "." for t in texts]
        for _ in range(copies):
            pool = texts[:]
            rng.shuffle(pool)
            i = 0
            while i < len(pool):
                k = rng.choice(TURN_LINES)
                turns.append(" ".join(pool[i:i + k]))
                i += k
    return turns


def gap_examples(turns: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every gap of ``turns`` as hashed features, with 1 where the writer ended a sentence, else 0."""
    rows: list[list[int]] = []
    labels: list[float] = []
    for turn in turns:
        tokens = words_of(turn)
        words = [w for _, w in tokens]
        for i in range(len(tokens) - 1):
            rows.append(gap_features(words, i))
            labels.append(1.0 if _ENDS_SENTENCE.search(tokens[i][0]) else 0.0)
    width = len(gap_features(["", ""], 0))
    return np.array(rows, dtype=np.int64).reshape(-1, width), np.array(labels, dtype=np.float32)


def train(turns: Sequence[str], bank_hash: str = "", epochs: int = EPOCHS, seed: int = SEED) -> BoundaryModel:
    """Fit the model on ``turns`` by stochastic gradient descent on the log loss (deterministic for a seed)."""
    x, y = gap_examples(turns)
    # Each batch's gradients are summed, not averaged: a feature's step grows with how often it occurs in the
    # batch, so rare words still learn in six passes; the learning rate's decay settles the frequent ones.
    w = np.zeros(N_BUCKETS, dtype=np.float32)
    rng = np.random.default_rng(seed)
    lr = LEARNING_RATE
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), BATCH):
            batch = order[start:start + BATCH]
            ids = x[batch]
            grad = _sigmoid(w[ids].sum(axis=1)) - y[batch]
            np.add.at(w, ids.ravel(), np.repeat(-lr * grad, ids.shape[1]).astype(np.float32))
        lr *= DECAY
    learned = np.flatnonzero(w)
    return BoundaryModel(feature_ids=learned.astype(np.int64), weights=w[learned], bank_sha256=bank_hash)


def boundary_scores(model: BoundaryModel, turns: Iterable[str]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the sentence ends put back into ``turns`` once their marks are removed."""
    tp = fp = fn = 0
    for turn in turns:
        tokens = words_of(turn)
        truth = np.array([bool(_ENDS_SENTENCE.search(t)) for t, _ in tokens[:-1]], dtype=bool)
        found = model.gap_probabilities([w for _, w in tokens]) >= BOUNDARY_AT
        tp += int((truth & found).sum())
        fp += int((~truth & found).sum())
        fn += int((truth & ~found).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0
