"""Dialogue acts: what each line of a call *does*, for the speaker who said it.

A line (one transcript segment) carries zero, one or several acts: a greeting, an identification
request, a refusal, an irritant of the customer... (the inventory and its labelling rules are in
``ccr/scoring/data/acts/README.md``). The grid's criteria are then rules over acts and timing, instead of
phrase lists fitted to one set of calls.

How acts are recognised, and why:

- **Features** are character n-grams (2 to 5 letters, within words) and word uni- and bigrams of the
  normalised text (``ccr.core.textnorm.normalize``). Character n-grams survive the spelling slips of speech
  recognition ("rembourssement", "mail" heard as "maille") where whole words do not.
- **Negation scope**: the words after a French negator (« ne », « n' », « pas », « jamais », « aucun »,
  « plus »…) up to the end of the clause also produce ``¬word`` features, so « je ne vais pas vous mettre
  en attente » is not a hold announcement and « ce n'est pas la première fois » is a repeated contact.
- **Model**: one logistic regression per act (one-vs-rest, L2), trained by full-batch Adam on the utterance
  bank (``ccr/scoring/data/acts/bank.jsonl``) and on pairs of bank lines joined into one turn, as long turns and
  punctuation-free speech recognition output carry several acts at once. Training is deterministic
  (fixed order, no sampling); ``python -m scripts.train_acts`` writes ``ccr/scoring/data/acts/model.npz``, which
  records the bank's hash so a test fails when the bank changes and the model was not retrained.
- Features are hashed (CRC-32, stable across processes, unlike ``hash()``) and only those seen in training
  are kept, so the shipped model is a sorted id array plus a small weight matrix.
- **A second reader** (``ccr.scoring.dense_head``): a small network on each line's sentence embedding
  (``ccr.scoring.encoder``, multilingual-e5-small), or several averaged so that a retrain moves fewer readings.
  N-grams see letters, the embedding sees meaning; their average recognises wordings neither knew alone
  (figures in ``ccr/scoring/data/acts/README.md``).

Acts only count for their speaker: an agent act found on a customer line is dropped, and on mono
recordings (speaker ``inconnu``) both sides' acts are kept with the speaker marked unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache, lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from ccr.core.errors import CcrError
from ccr.core.textnorm import normalize
from ccr.scoring import boundaries, dense_head
from ccr.scoring.dense_head import Adam, DenseHead
from ccr.scoring.encoder import default_encoder

DATA_DIR = Path(__file__).resolve().parent / "data" / "acts"
BANK_PATH = DATA_DIR / "bank.jsonl"
MODEL_PATH = DATA_DIR / "model.npz"
CALIBRATION_PATH = DATA_DIR / "calibration.json"

AGENT_ACTS = (
    "greeting", "self_intro", "ident_request", "open_question", "reformulation", "empathy", "solution",
    "refusal", "alternative", "hold_announce", "hold_thanks", "other_need", "closing", "readback",
    "rude_insult", "rude_dismissal", "rude_condescension", "rude_sarcasm", "rude_familiar",
)
CUSTOMER_ACTS = (
    "reason", "irritant_wait", "irritant_repeat", "irritant_billing_error", "irritant_churn",
    "irritant_discontent", "confirm", "tone_reaction",
)
ACTS = AGENT_ACTS + CUSTOMER_ACTS
RUDE_ACTS = tuple(a for a in AGENT_ACTS if a.startswith("rude_"))
IRRITANT_ACTS = tuple(a for a in CUSTOMER_ACTS if a.startswith("irritant_"))
SPEAKER_OF = {**dict.fromkeys(AGENT_ACTS, "agent"), **dict.fromkeys(CUSTOMER_ACTS, "customer")}

CHAR_NGRAMS = (2, 5)  # shortest and longest character n-gram: 2 catches « pa(s) », 5 most word stems
N_BUCKETS = 1 << 22  # hash space before pruning: collisions stay rare at a few hundred thousand features
MIN_FEATURE_COUNT = 2  # a feature seen once in the bank is noise more often than signal
DEFAULT_THRESHOLD = 0.5  # an act is present when its probability reaches this (per-act values in the model)
# Bars for recognised lines (see ActModel.heard_thresholds) apply in full to a line whose words the recogniser
# gave under HEARD_BADLY on average, not at all from HEARD_CLEARLY, and in proportion between. Both are fixed
# by what the figures mean, not tuned: 0.6 is where CCR already sends a deciding line to a human, and a line
# heard at 0.9 on average has almost every word right. With the full lower bars on every recognised line,
# public-d's typed calls given words heard at 0.93 fell from 93.9 % to 88.6 % of criteria (tuned part).
HEARD_BADLY = 0.6
HEARD_CLEARLY = 0.9

# French negators open a scope that ends at the clause boundary; « pas » alone is the spoken negation.
NEGATORS = frozenset({"ne", "pas", "jamais", "aucun", "aucune", "rien", "personne", "guere", "nullement", "sans"})
# Words that close a negation scope: clause starts, coordinators, and the conjunctions that begin a new idea.
SCOPE_BREAKS = frozenset({"mais", "par", "et", "ou", "donc", "alors", "car", "parce", "puis", "sinon", "si",
                          "quand", "lorsque", "comme", "que", "qui", "en", "cependant", "pourtant", "toutefois"})
MAX_SCOPE_WORDS = 6  # a negation rarely reaches further in speech; beyond this the next idea has started
_CLAUSE_SPLIT = re.compile(r"[.!?;:,]")
# A long turn often does several things; an act said in one sentence must not be diluted by the others.
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;…])\s+")
MIN_SENTENCE_WORDS = 3  # shorter pieces (« Ah. », « Bon. ») carry too little to be read on their own
_SENTENCE_MARK = boundaries.SENTENCE_MARK
# A long turn with no sentence marks (written by a transcriber or a recogniser that does not punctuate) is cut
# into windows of about one sentence: the median length of a one-act line of the bank, half-overlapping so that
# any stretch of half a window lies whole inside one.
WINDOW_WORDS = 10
WINDOW_STEP = WINDOW_WORDS // 2
# Weight of the embedding head in a line's probabilities: a plain average, fixed before measuring, as the two
# readers err on different lines (letters against meaning) and neither is the better one everywhere.
HEAD_BLEND = 0.5
# Dense features need far more decay than sparse n-grams. One hidden layer lets the head combine meanings
# (a polite word in a put-down); it beat a plain regression on the bank's last fifth and on the held-out set
# in another style (macro F1 +0.02 and +0.01, impoliteness +0.03 and +0.05). Chosen by scripts/train_acts.py.
HEAD_L2 = 1e-2
HEAD_EPOCHS = 200
HEAD_HIDDEN = 256
HEAD_LR = 0.01
# The head's members, by their fixed random starts (training stays deterministic). The shipped model has one.
# Five averaged networks move a reading about half as much between two trainings (ccr.scoring.dense_head), but
# did no better on held-out calls and, with their bars recalibrated or kept, failed floors kept as tests (acts
# README), so they are not shipped. ``python -m scripts.train_acts --members 5`` trains them.
HEAD_SEEDS = (0,)


class ActModelError(CcrError):
    """The dialogue-act model is missing or does not match its bank (retrain it)."""


# --- features ----------------------------------------------------------------------------------


def mark_negation(words: Sequence[str]) -> list[str]:
    """The words with those inside a negation scope marked ``¬word`` (the negators themselves stay plain)."""
    marked: list[str] = []
    left = 0
    for w in words:
        if w in NEGATORS:
            left = MAX_SCOPE_WORDS
            marked.append(w)
            continue
        if w in SCOPE_BREAKS:
            left = 0
        if left > 0:
            marked.append("¬" + w)
            left -= 1
        else:
            marked.append(w)
    return marked


def feature_strings(text: str) -> list[str]:
    """The feature strings of one line: words, word bigrams and character n-grams, negated words marked.

    A negated word yields only negated features, so « c'est la première fois » and « ce n'est pas la
    première fois » share no feature on « première fois » and the model can tell them apart."""
    words: list[str] = []
    for clause in _CLAUSE_SPLIT.split(text):
        words.extend(mark_negation(normalize(clause).split()))
    if not words:
        return ["empty"]
    feats = ["w:" + w for w in words]
    padded = ["<s>", *words, "</s>"]
    feats.extend(f"b:{a}_{b}" for a, b in pairwise(padded))
    lo, hi = CHAR_NGRAMS
    for w in words:
        token = f" {w} "
        for n in range(lo, hi + 1):
            feats.extend("c:" + token[i:i + n] for i in range(len(token) - n + 1))
    return feats


def _hash(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) % N_BUCKETS


@lru_cache(maxsize=50000)
def hashed_features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature ids of one line and their weights (sub-linear counts, L2-normalised)."""
    ids: dict[int, int] = {}
    for f in feature_strings(text):
        h = _hash(f)
        ids[h] = ids.get(h, 0) + 1
    keys = np.fromiter(ids.keys(), dtype=np.int64, count=len(ids))
    vals = 1.0 + np.log(np.fromiter(ids.values(), dtype=np.float32, count=len(ids)))
    vals /= np.linalg.norm(vals)
    return keys, vals.astype(np.float32)


# --- the model -----------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """The sentences of a line that are long enough to be read on their own (three words or more), in order; a
    line written without any sentence mark is cut where its sentences most likely end (``boundaries``)."""
    text = boundaries.with_sentence_marks(text.strip())
    return [x for x in _SENTENCE_SPLIT.split(text) if len(x.split()) >= MIN_SENTENCE_WORDS]


def reading_pieces(text: str) -> list[str]:
    """What a line is read as: the whole line, and each of its sentences of three words or more."""
    pieces = sentences(text)
    return [text, *pieces] if len(pieces) > 1 else [text]


def stretches(text: str) -> list[str]:
    """A line cut into what its speaker said one after the other: its sentences, or, when a long line has no
    sentence marks at all, overlapping windows of about a sentence; the line itself when it is one sentence."""
    if _SENTENCE_MARK.search(text):
        pieces = sentences(text)
        return pieces if len(pieces) > 1 else [text]
    words = text.split()
    if len(words) <= WINDOW_WORDS + WINDOW_STEP:
        return [text]
    starts = [*range(0, len(words) - WINDOW_WORDS, WINDOW_STEP), len(words) - WINDOW_WORDS]
    return [" ".join(words[i:i + WINDOW_WORDS]) for i in starts]


@dataclass(frozen=True)
class ActModel:
    """A trained recogniser: sorted feature ids, their weights per act, biases and per-act thresholds, and
    optionally a head on sentence embeddings whose probabilities are averaged with the n-grams'."""

    feature_ids: np.ndarray  # int64, sorted
    weights: np.ndarray  # float32, (n_features, n_acts)
    bias: np.ndarray  # float32, (n_acts,)
    thresholds: np.ndarray  # float32, (n_acts,)
    acts: tuple[str, ...]
    bank_sha256: str
    head: DenseHead | None = None
    blend: float = HEAD_BLEND
    # Bars for lines that came from speech recognition: a garbled line reads less clearly than a typed one,
    # so an act may need a lower bar there, and a bar low enough for garbled lines lets lookalikes through on
    # clean ones. None: the same bars as clean text.
    heard_thresholds: np.ndarray | None = None

    def probabilities(self, text: str) -> np.ndarray:
        """The probability of each act (in ``self.acts`` order) for one line: the highest of the whole line's
        and of each of its sentences of three words or more."""
        texts = reading_pieces(text)
        p = np.stack([self.piece_probabilities(x) for x in texts])
        if self.head is not None:
            p = (1.0 - self.blend) * p + self.blend * self.head.probabilities(default_encoder().embed(texts))
        return p.max(0)

    def prepare(self, lines: Sequence[str]) -> None:
        """Embed every piece of ``lines`` ahead of reading them one by one, a few at a time (faster than one by
        one), and keep them in the encoder's cache."""
        if self.head is not None:
            texts = list(dict.fromkeys(x for line in lines for x in reading_pieces(line)))
            if texts:
                default_encoder().embed(texts)

    def piece_probabilities(self, text: str) -> np.ndarray:
        """The n-gram probability of each act for one piece of text read as a whole."""
        keys, vals = hashed_features(text)
        pos = np.searchsorted(self.feature_ids, keys)
        pos = np.minimum(pos, len(self.feature_ids) - 1)
        known = self.feature_ids[pos] == keys
        logits = vals[known] @ self.weights[pos[known]] + self.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def fingerprint(self) -> str:
        """A hash of the weights, so per-act thresholds calibrated on one model are never applied to another."""
        h = hashlib.sha256()
        for a in (self.feature_ids, self.weights.astype(np.float16), self.bias):
            h.update(np.ascontiguousarray(a).tobytes())
        if self.head is not None:
            for a in self.head.arrays().values():
                h.update(np.ascontiguousarray(a.astype(np.float16)).tobytes())
            h.update(repr(self.blend).encode())
        return h.hexdigest()

    def bars(self, heard: float = 0.0) -> np.ndarray:
        """Every act's threshold (in ``self.acts`` order) for a typed line (``heard`` 0), one heard by speech
        recognition (1), or in between for a line heard fairly well (see :func:`heard_weight`)."""
        if not heard or self.heard_thresholds is None:
            return self.thresholds
        return self.thresholds + float(heard) * (self.heard_thresholds - self.thresholds)

    def threshold(self, act: str, heard: float = 0.0) -> float:
        """The probability from which ``act`` counts on a line, ``heard`` as in :meth:`bars`."""
        return float(self.bars(heard)[self.acts.index(act)])

    def with_thresholds(self, thresholds: dict[str, float], heard: dict[str, float] | None = None) -> ActModel:
        """The same model with some acts' thresholds replaced; ``heard``: those for recognised speech, each
        act not named keeping its clean-text bar (``None``: recognised speech is held to the clean bars)."""
        t = self.thresholds.copy()
        for act, v in thresholds.items():
            t[self.acts.index(act)] = float(v)
        h = None
        if heard is not None:
            h = t.copy()
            for act, v in heard.items():
                h[self.acts.index(act)] = float(v)
        return replace(self, thresholds=t, heard_thresholds=h)

    def with_head(self, head: DenseHead | None, blend: float = HEAD_BLEND) -> ActModel:
        """The same n-gram model with another embedding head (``None``: n-grams alone)."""
        return replace(self, head=head, blend=blend)

    def save(self, path: Path) -> None:
        """Write the model as a compressed ``.npz`` (weights in float16: a few MB)."""
        head = {}
        if self.head is not None:
            head = {f"head_{k}": v.astype(np.float16) if k.endswith("weights") else v
                    for k, v in self.head.arrays().items()}
            head["head_blend"] = np.array(self.blend)
        np.savez_compressed(path, feature_ids=self.feature_ids, weights=self.weights.astype(np.float16),
                            bias=self.bias, thresholds=self.thresholds, acts=np.array(self.acts),
                            bank_sha256=np.array(self.bank_sha256), **head)

    @classmethod
    def load(cls, path: Path) -> ActModel:
        """Read a model written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                head = None
                if "head_weights" in z:
                    head = DenseHead.from_arrays({f.name: z[f"head_{f.name}"] for f in fields(DenseHead)})
                return cls(feature_ids=z["feature_ids"], weights=z["weights"].astype(np.float32),
                           bias=z["bias"], thresholds=z["thresholds"], acts=tuple(str(a) for a in z["acts"]),
                           bank_sha256=str(z["bank_sha256"]), head=head,
                           blend=float(z["head_blend"]) if head is not None else HEAD_BLEND)
        except (OSError, KeyError, ValueError) as e:
            raise ActModelError(f"Modèle d'actes de dialogue illisible ({path.name}) : relancez "
                                "« python -m scripts.train_acts ».") from e


_installed: list[ActModel] = []


def default_model() -> ActModel:
    """The shipped model with its calibrated thresholds, loaded once per process."""
    if not _installed:
        _installed.append(_load_shipped())
    return _installed[0]


@cache
def shipped_classifier(path: Path) -> ActModel | None:
    """A line classifier shipped at ``path`` (categories, customer replies, words of feeling), loaded once per
    process; None when it was never trained."""
    return ActModel.load(path) if path.exists() else None


def label_probability(path: Path, label: str, text: str, model: ActModel | None = None) -> float:
    """Probability of ``label`` for ``text`` by ``model``, or by the classifier shipped at ``path`` (0 when it
    was never trained)."""
    model = model or shipped_classifier(path)
    if model is None:
        return 0.0
    return float(model.probabilities(text)[model.acts.index(label)])


_fingerprint: list[tuple[ActModel, str]] = []


def model_fingerprint() -> str:
    """The fingerprint of the model in use, computed once per installed model."""
    model = default_model()
    if not _fingerprint or _fingerprint[0][0] is not model:
        _fingerprint[:] = [(model, model.fingerprint())]
    return _fingerprint[0][1]


def install_model(model: ActModel | None) -> None:
    """Make ``model`` the one every scorer uses (calibration, tests); ``None`` reloads the shipped one."""
    _installed[:] = [model] if model is not None else []


def _load_shipped() -> ActModel:
    if not MODEL_PATH.exists():
        raise ActModelError("Modèle d'actes de dialogue absent : lancez « python -m scripts.train_acts ».")
    model = ActModel.load(MODEL_PATH)
    calibration = read_calibration()
    if calibration.get("model") == model.fingerprint():
        model = model.with_thresholds(calibration["thresholds"], calibration.get("heard_thresholds"))
    return model


def read_calibration(path: Path = CALIBRATION_PATH) -> dict:
    """The per-act thresholds calibrated on whole calls (``scripts/calibrate_acts.py``); {} when absent."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ActModelError(f"Calibration des actes illisible ({path.name}) : {e}") from e
    unknown = (set(data.get("thresholds", {})) | set(data.get("heard_thresholds") or {})) - set(ACTS)
    if unknown:
        raise ActModelError(f"Calibration des actes : actes inconnus {sorted(unknown)}")
    return data


def heard_weight(asr: float | None) -> float:
    """How far a line's bars move from the typed ones (0) toward the heard ones (1), from its mean word
    probability: a line the recogniser heard clearly reads like typed text, so lookalikes that the lower bars
    let through on garbled lines must not pass on it; ``None``: typed text."""
    if asr is None:
        return 0.0
    return min(1.0, max(0.0, (HEARD_CLEARLY - asr) / (HEARD_CLEARLY - HEARD_BADLY)))


def words_heard_weight(words: Sequence[dict] | None) -> float:
    """:func:`heard_weight` of a raw segment's recognised words (0 for a segment without any)."""
    if not words:
        return 0.0
    return heard_weight(sum(float(w.get("probability", 1.0)) for w in words) / len(words))


@dataclass(frozen=True)
class LineActs:
    """The acts recognised on one line, with the probability of each act found."""

    acts: frozenset[str]
    probs: dict[str, float]

    def has(self, act: str) -> bool:
        """True when ``act`` was recognised on this line."""
        return act in self.acts


def line_acts(text: str, speaker: str, model: ActModel | None = None, heard: float = 0.0) -> LineActs:
    """The acts of one line said by ``speaker`` (``agent``, ``customer`` or ``inconnu``: both sides kept);
    ``heard``: how far it reads as recognised speech (:func:`heard_weight`)."""
    model = model or default_model()
    p = model.probabilities(text)
    if speaker != "agent":
        p = _with_windows(p, text, model)
    bars = model.bars(heard)
    found: dict[str, float] = {}
    for i, act in enumerate(model.acts):
        if p[i] >= bars[i] and speaker in (SPEAKER_OF[act], "inconnu"):
            found[act] = float(p[i])
    return LineActs(acts=frozenset(found), probs={a: float(p[i]) for i, a in enumerate(model.acts)})


def _with_windows(p: np.ndarray, text: str, model: ActModel) -> np.ndarray:
    """``p`` with the irritants of a long line without sentence marks, where no sentence end was found either,
    also read in windows, at half weight: a complaint said in passing is not drowned by the rest of the turn,
    nor a window's lookalike taken alone."""
    if _SENTENCE_MARK.search(text) or len(sentences(text)) > 1:
        return p  # read sentence by sentence already, as a punctuated line is
    pieces = stretches(text)
    if len(pieces) < 2:
        return p
    best = np.max([model.probabilities(x) for x in pieces], axis=0)
    out = p.copy()
    for i, act in enumerate(model.acts):
        if act in IRRITANT_ACTS:
            out[i] = max(p[i], (p[i] + best[i]) / 2)
    return out


# --- training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One labelled line of the bank."""

    text: str
    speaker: str
    acts: frozenset[str]


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-empty line of a JSON-lines file."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            yield n, json.loads(line)


def read_bank(path: Path = BANK_PATH) -> list[Example]:
    """The labelled lines of a bank file (JSON lines: text, speaker, acts)."""
    out = []
    for n, row in jsonl_rows(path):
        unknown = set(row["acts"]) - set(ACTS)
        if unknown:
            raise ActModelError(f"{path.name}, ligne {n} : actes inconnus {sorted(unknown)}")
        out.append(Example(text=row["text"], speaker=row["speaker"], acts=frozenset(row["acts"])))
    return out


def read_yes_no_bank(path: Path, field: str, label: str, speaker: str) -> list[Example]:
    """Lines of one speaker, each with ``field`` true or false (JSON lines): ``label`` where it is true."""
    out = []
    for n, row in jsonl_rows(path):
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise ActModelError(f"{path.name}, ligne {n} : texte manquant")
        if not isinstance(row.get(field), bool):
            raise ActModelError(f"{path.name}, ligne {n} : « {field} » doit valoir true ou false")
        out.append(Example(text=row["text"], speaker=speaker, acts=frozenset({label} if row[field] else ())))
    return out


def bank_sha256(path: Path = BANK_PATH) -> str:
    """The hash of a bank file, recorded in the model trained from it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def banks_sha256(*paths: Path) -> str:
    """One digest of several bank files, recorded in a model trained from all of them to detect a stale one."""
    return hashlib.sha256("".join(bank_sha256(p) for p in paths).encode("ascii")).hexdigest()


def pairs(examples: Sequence[Example], step: int = 7) -> list[Example]:
    """Lines of one speaker joined two by two into one turn, without punctuation, as ASR writes long turns.

    Deterministic: line i is joined with line i + ``step`` of the same speaker (a fixed stride mixes acts)."""
    out = []
    for speaker in ("agent", "customer"):
        same = [e for e in examples if e.speaker == speaker]
        for i, a in enumerate(same):
            b = same[(i + step) % len(same)]
            text = normalize(a.text) + " " + normalize(b.text)
            out.append(Example(text=text, speaker=speaker, acts=a.acts | b.acts))
    return out


def fragments(examples: Sequence[Example], min_words: int = 4) -> list[Example]:
    """The two halves of every neutral line (no act), neutral too: a piece of a plain line is plain.

    Without them a short, plain line (« une vraie tempête ») has so few features that a rare act's weights
    decide alone; long turns are read sentence by sentence, so such pieces are common at scoring time."""
    out = []
    for e in examples:
        words = e.text.split()
        if e.acts or len(words) < min_words:
            continue
        cut = next((i + 1 for i, w in enumerate(words[1:-1], 1) if w.endswith(",")), len(words) // 2)
        out.extend(Example(text=" ".join(part), speaker=e.speaker, acts=frozenset())
                   for part in (words[:cut], words[cut:]))
    return out


# --- speech-recognition noise -------------------------------------------------------------------

# General confusions of French speech recognition on telephone audio: homophones, voicing pairs, nasal
# vowels, silent endings, elisions. They are phonetics of French, not slips collected from any call set.
HOMOPHONES = (
    ("c est", "s est"), ("c est", "ses"), ("ces", "ses"), ("a", "ah"), ("et", "est"), ("est", "ai"),
    ("mais", "mes"), ("mais", "met"), ("on", "ont"), ("son", "sont"), ("quand", "qu en"), ("vous", "vou"),
    ("votre", "vote"), ("notre", "note"), ("je", "che"), ("de", "des"), ("le", "les"), ("la", "l a"),
    ("un", "on"), ("bien", "vient"), ("merci", "mersi"),
    ("au revoir", "oh revoir"), ("tres", "trait"), ("peu", "peut"), ("fait", "fais"), ("ca", "sa"),
)
SOUND_SWAPS = (
    ("b", "p"), ("p", "b"), ("d", "t"), ("t", "d"), ("v", "f"), ("f", "v"), ("g", "k"), ("z", "s"), ("ch", "j"),
    ("on", "an"), ("an", "en"), ("in", "un"), ("ai", "e"), ("er", "e"), ("ez", "e"), ("eau", "o"), ("au", "o"),
    ("ss", "s"), ("qu", "k"), ("ph", "f"), ("gn", "n"), ("ou", "o"), ("oi", "oa"), ("m", "n"), ("n", "m"),
    ("r", ""), ("l", ""),
)
NOISE_WORD_RATE = 0.25  # share of words an augmented line changes: what a poor telephone transcript looks like


def asr_noise(text: str, seed: int) -> str:
    """A deterministic speech-recognition-like variant of a line: lowercase, no punctuation, some words
    swapped for homophones, misheard sounds, dropped or merged (same ``seed``, same output)."""
    rng = np.random.default_rng(seed)
    t = f" {normalize(text)} "
    for a, b in HOMOPHONES:
        if f" {a} " in t and rng.random() < NOISE_WORD_RATE:
            t = t.replace(f" {a} ", f" {b} ", 1)
    words = t.split()
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < NOISE_WORD_RATE * 0.15 and len(words) > 3:
            continue  # a short word lost in the line noise
        if r < NOISE_WORD_RATE and len(w) > 2:
            options = [(x, y) for x, y in SOUND_SWAPS if x in w]
            if options:
                x, y = options[int(rng.integers(len(options)))]
                w = w.replace(x, y, 1) or w
        if out and r > 1 - NOISE_WORD_RATE * 0.1 and len(out[-1]) <= 3:
            out[-1] += w  # two words run together
            continue
        out.append(w)
    return " ".join(out) or normalize(text)


def noisy_copies(examples: Sequence[Example]) -> list[Example]:
    """One speech-recognition-like copy of every line, with the same acts (deterministic)."""
    return [Example(text=asr_noise(e.text, zlib.crc32(e.text.encode("utf-8"))), speaker=e.speaker, acts=e.acts)
            for e in examples]


def _design(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of hashed features as (row index, feature id, value) arrays."""
    rows, cols, vals = [], [], []
    for i, t in enumerate(texts):
        k, v = hashed_features(t)
        rows.append(np.full(len(k), i, dtype=np.int64))
        cols.append(k)
        vals.append(v)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _targets(examples: Sequence[Example], labels: tuple[str, ...],
             speaker_of: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and sample weights: square-root class balancing, the other speaker's acts out of the loss."""
    y = np.array([[a in e.acts for a in labels] for e in examples], dtype=np.float32)
    # A line teaches only its own speaker's acts: a customer's « au revoir » says nothing about whether
    # the same words are an agent's closing, so the other side's acts are left out of its loss.
    own = np.array([[speaker_of[a] == e.speaker or e.speaker == "inconnu" for a in labels] for e in examples],
                   dtype=np.float32)
    pos = (y * own).sum(0)
    neg = own.sum(0) - pos
    # Square-root balancing: rare acts are not drowned by the negatives, yet not over-predicted either.
    w_pos = np.sqrt(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)).clip(1.0, 10.0).astype(np.float32)
    return y, np.where(y > 0, w_pos, 1.0).astype(np.float32) * own


def train(examples: Sequence[Example], *, epochs: int = 100, l2: float = 1e-4, lr: float = 0.1,
          bank_hash: str = "", labels: tuple[str, ...] = ACTS,
          speaker_of: dict[str, str] | None = None) -> ActModel:
    """Fit one logistic regression per label (the acts by default) by full-batch Adam; deterministic."""
    speaker_of = SPEAKER_OF if speaker_of is None else speaker_of
    texts = [e.text for e in examples]
    y, sample_w = _targets(examples, labels, speaker_of)
    rows, cols, vals = _design(texts)
    ids, inverse, counts = np.unique(cols, return_inverse=True, return_counts=True)
    keep = counts[inverse] >= MIN_FEATURE_COUNT
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    ids, inverse = np.unique(cols, return_inverse=True)
    n, d, k = len(texts), len(ids), len(labels)
    params = {"w": np.zeros((d, k), dtype=np.float32), "b": np.zeros(k, dtype=np.float32)}
    adam = Adam(params, lr)
    # Two orders of the same non-zeros: by line for the forward pass, by feature for the gradient; both
    # are segment sums (reduceat), far faster than scattered adds.
    by_row = np.argsort(rows, kind="stable")
    r_rows, r_feat, r_vals = rows[by_row], inverse[by_row], vals[by_row][:, None]
    row_starts = np.searchsorted(r_rows, np.arange(n))
    by_feat = np.argsort(inverse, kind="stable")
    f_rows, f_vals = rows[by_feat], vals[by_feat][:, None]
    feat_starts = np.searchsorted(inverse[by_feat], np.arange(d))
    for _ in range(epochs):
        logits = np.add.reduceat(params["w"][r_feat] * r_vals, row_starts, axis=0) + params["b"]
        p = 1.0 / (1.0 + np.exp(-logits))
        err = ((p - y) * sample_w / n).astype(np.float32)
        adam.step({"w": np.add.reduceat(err[f_rows] * f_vals, feat_starts, axis=0) + l2 * params["w"],
                   "b": err.sum(0)})
    thresholds = np.full(k, DEFAULT_THRESHOLD, dtype=np.float32)
    return ActModel(feature_ids=ids.astype(np.int64), weights=params["w"].astype(np.float32),
                    bias=params["b"].astype(np.float32), thresholds=thresholds, acts=labels, bank_sha256=bank_hash)


def train_head(x: np.ndarray, examples: Sequence[Example], *, epochs: int = HEAD_EPOCHS, l2: float = HEAD_L2,
               hidden: int = HEAD_HIDDEN, lr: float = HEAD_LR, labels: tuple[str, ...] = ACTS,
               speaker_of: dict[str, str] | None = None, seeds: tuple[int, ...] = HEAD_SEEDS) -> DenseHead:
    """Fit the embedding head on the rows of ``x`` (one embedding per example) with the n-grams' targets and
    weights (the acts by default), one member per seed; deterministic."""
    y, sample_w = _targets(examples, labels, SPEAKER_OF if speaker_of is None else speaker_of)
    return dense_head.fit(x, y, sample_w, seeds=seeds, epochs=epochs, l2=l2, hidden=hidden, lr=lr)


def train_line_classifier(examples: Sequence[Example], labels: tuple[str, ...], bank_hash: str = "",
                          speaker: str = "customer") -> ActModel:
    """A classifier of one speaker's lines (customer replies, categories, an agent's courtesy) built as the act
    model is: a logistic regression per label on n-grams, and the embedding head, averaged."""
    speaker_of = dict.fromkeys(labels, speaker)
    ngram = train(examples, labels=labels, speaker_of=speaker_of, bank_hash=bank_hash)
    x = default_encoder().embed([e.text for e in examples])
    return ngram.with_head(train_head(x, examples, labels=labels, speaker_of=speaker_of))


def evaluate(model: ActModel, examples: Iterable[Example]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of each act on labelled lines (speaker rules applied)."""
    tp: dict[str, int] = dict.fromkeys(ACTS, 0)
    fp: dict[str, int] = dict.fromkeys(ACTS, 0)
    fn: dict[str, int] = dict.fromkeys(ACTS, 0)
    for e in examples:
        got = line_acts(e.text, e.speaker, model).acts
        for a in ACTS:
            if a in got and a in e.acts:
                tp[a] += 1
            elif a in got:
                fp[a] += 1
            elif a in e.acts:
                fn[a] += 1
    out = {}
    for a in ACTS:
        p = tp[a] / (tp[a] + fp[a]) if tp[a] + fp[a] else 1.0
        r = tp[a] / (tp[a] + fn[a]) if tp[a] + fn[a] else 1.0
        out[a] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
                  "support": tp[a] + fn[a]}
    return out
