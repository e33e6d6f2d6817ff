"""The category of a call, read from the customer's own reasons for calling.

A line classifier, built as the dialogue acts' (``ccr.scoring.acts``: hashed n-grams averaged with a small network
on the line's sentence embedding, so a wording the bank never held lands near the reasons that mean the same), is
trained on a bank of reasons for calling written for it (``ccr/scoring/data/categories/bank.jsonl``, one category
per line). In a call, the customer's lines that state a reason (act ``reason``) vote for a category, the
first one (the main reason) above later ones: a cancellation that mentions a bill is still a cancellation.
A line is read stretch by stretch (``acts.stretches``: its sentences, or windows of an unpunctuated turn), in
the order they were said, so a request followed in the same turn by a side remark still comes first, and a
request lost in a long unpunctuated turn is not diluted by the words around it.
Negation is in the features, so « je ne veux surtout pas résilier » does not vote for a cancellation.
The customer lines of the act bank that state no reason (confirmations, back-channels, complaints about the
wait) are trained as naming no category: without them any line, a garbled one included, was sure of some topic.
So are openers that announce a call without saying what about (``openers.jsonl``: « j'ai un petit souci »):
the main reason is then the first line that really names a topic.

``python -m scripts.train_categories`` writes ``ccr/scoring/data/categories/model.npz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ccr.scoring import acts
from ccr.scoring.acts import ActModel, Example

DATA_DIR = Path(__file__).resolve().parent / "data" / "categories"
BANK_PATH = DATA_DIR / "bank.jsonl"
# Customers' openers that announce a call without its topic (« j'ai une petite question »), taught as no category.
OPENERS_PATH = DATA_DIR / "openers.jsonl"
# The same reasons and openers spoken by a synthetic voice and transcribed by CCR's own speech recognition
# (``scripts.asrize_bank``): what a garbled reason really looks like, which made-up slips only approximate.
BANK_ASR_PATH = DATA_DIR / "bank-asr.jsonl"
OPENERS_ASR_PATH = DATA_DIR / "openers-asr.jsonl"
MODEL_PATH = DATA_DIR / "model.npz"
CATEGORIES = ("facturation", "livraison", "resiliation", "support_technique", "information")
MAIN_REASON_WEIGHT = 3.0  # the first reason stated is why the customer called; later ones are side topics
REASON_FLOOR = 0.3  # a customer line this likely to state a reason still votes, in proportion
TOPIC_FLOOR = 0.6  # a reason line this sure of one category names the topic of the call
# Customer acts that name no topic: a line carrying only these (or nothing) teaches every category "absent".
# A billing error or a threat to leave names its category, so such lines are not used as counter-examples.
TOPICLESS_ACTS = frozenset({"confirm", "tone_reaction", "irritant_wait", "irritant_repeat", "irritant_discontent"})
# Under this share of the votes a human checks the category. Chosen as the grid's review bar is for verdicts: the
# lowest share that sends half of the category errors of each tuning set to a human (first 80 calls of public-d:
# 0.52, of public-d-asr: 0.41).
REVIEW_BELOW = 0.52


@dataclass(frozen=True)
class Verdict:
    """A call's category, how sure the classifier is (its share of the votes), the customer line that decided
    it, and the category that came second."""

    category: str
    confidence: float
    line: int | None  # index of the deciding segment
    second: str | None = None


def read_bank(path: Path = BANK_PATH) -> list[Example]:
    """Labelled reasons for calling (JSON lines: text, category) as training examples."""
    out = []
    for n, row in acts.jsonl_rows(path):
        if row.get("category") not in CATEGORIES:
            raise acts.ActModelError(f"{path.name}, ligne {n} : catégorie inconnue « {row.get('category')} »")
        out.append(Example(text=row["text"], speaker="customer", acts=frozenset({row["category"]})))
    return out


def topicless_lines(path: Path = acts.BANK_PATH) -> list[Example]:
    """The act bank's customer lines that state no reason for calling, as examples of no category."""
    return [Example(text=e.text, speaker="customer", acts=frozenset()) for e in acts.read_bank(path)
            if e.speaker == "customer" and e.acts <= TOPICLESS_ACTS]


def read_openers(path: Path = OPENERS_PATH) -> list[Example]:
    """Openers that name no topic (JSON lines: text), as examples of no category: a vague first line must not
    become the main reason and hand the call to whichever topic its words lean to."""
    out = []
    for n, row in acts.jsonl_rows(path):
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise acts.ActModelError(f"{path.name}, ligne {n} : texte manquant")
        out.append(Example(text=row["text"], speaker="customer", acts=frozenset()))
    return out


def training_lines() -> list[Example]:
    """What the shipped classifier is trained on: the reasons bank and the openers, a speech-recognition-like
    copy of each, the same lines as CCR's speech recognition heard them, then the topicless lines."""
    written = read_bank() + read_openers()
    heard = read_bank(BANK_ASR_PATH) + read_openers(OPENERS_ASR_PATH)
    return written + acts.noisy_copies(written) + heard + topicless_lines()


def training_hash() -> str:
    """A digest of the banks the classifier learns from, recorded in the model to detect a stale one."""
    return acts.banks_sha256(BANK_PATH, OPENERS_PATH, BANK_ASR_PATH, OPENERS_ASR_PATH, acts.BANK_PATH)


def train(examples: Sequence[Example], bank_hash: str = "") -> ActModel:
    """Fit the category classifier as the act model is built: n-grams and sentence embeddings, averaged."""
    return acts.train_line_classifier(examples, CATEGORIES, bank_hash)


def default_model() -> ActModel | None:
    """The shipped classifier, loaded once; None when it was never trained."""
    return acts.shipped_classifier(MODEL_PATH)


def line_scores(text: str, model: ActModel) -> dict[str, float]:
    """The probability of each category for one line."""
    p = model.probabilities(text)
    return {c: float(p[i]) for i, c in enumerate(model.acts)}


def decide(lines: Sequence[tuple[int, str, float]], allowed: Sequence[str], default: str,
           model: ActModel | None = None) -> Verdict | None:
    """The category of a call from its customer lines (index, text, probability the line states a reason),
    each read stretch by stretch in order.

    Only ``allowed`` categories compete; None when the classifier is missing or knows none of them."""
    model = model or default_model()
    known = [c for c in allowed if model is not None and c in model.acts]
    if model is None or not known:
        return None
    votes = dict.fromkeys(known, 0.0)
    best_line: dict[str, tuple[float, int]] = {}
    main_given = False
    said = [(idx, piece, reason) for idx, text, reason in lines for piece in acts.stretches(text)]
    for idx, text, reason in said:
        if reason < REASON_FLOOR:
            continue  # the classifier knows reasons for calling; on other lines its output is noise
        scores = {c: p for c, p in line_scores(text, model).items() if c in votes}
        # A line votes for each topic as sure as it is of it: a vague or garbled line, sure of none, weighs
        # little instead of handing a whole vote to whichever topic it leans to.
        share = scores
        weight = reason
        # The main reason is the first one that names a topic; « j'ai une petite question » names none.
        if not main_given and max(scores.values()) >= TOPIC_FLOOR:
            weight *= MAIN_REASON_WEIGHT
            main_given = True
        for c, v in share.items():
            votes[c] += weight * v
            if weight * v > best_line.get(c, (0.0, -1))[0]:
                best_line[c] = (weight * v, idx)
    total = sum(votes.values())
    if total <= 0:
        return Verdict(default, 0.0, None)
    winner, *others = sorted(votes, key=lambda c: -votes[c])
    second = others[0] if others and votes[others[0]] > 0 else None
    return Verdict(winner, votes[winner] / total, best_line.get(winner, (0.0, None))[1], second)
