"""Whether a customer's word of feeling voices discontent: « c'est ridicule, trois semaines sans réponse » does,
« ce serait ridicule de payer deux fois, alors je vérifie » and « mon chien était furieux contre le facteur »
do not.

The taxonomy's discontent list holds words of feeling (« agacé », « scandaleux », « ça m'énerve »). The act model
reads many angry lines worded unlike its bank well under its bar, so a line saying one of those words needs
another reading; the act model itself tells a word used in passing from a word meant poorly (on 340 lines
written apart for this, each with such a word, half meant: ranking AUC 0.76; at half its bar, the rule used
before, 77 % of the meant lines and 44 % of the others counted). This classifier is trained for that one
question, on lines that all hold such a word (``ccr/scoring/data/feelings/bank.jsonl``: complaints, and the
same words about a pet, a film, a hypothesis, a fixed problem, or denied) and on the act bank's customer lines;
it is built as the other line classifiers are (hashed n-grams averaged with a small network on the line's
sentence embedding, which the act model has already computed for the same line). On the same 340 lines: AUC
0.97; 91 % of the meant lines and 11 % of the others count.

``python -m scripts.train_feelings`` writes ``ccr/scoring/data/feelings/model.npz``.
"""

from __future__ import annotations

from pathlib import Path

from ccr.scoring import acts
from ccr.scoring.acts import ActModel, Example

DATA_DIR = Path(__file__).resolve().parent / "data" / "feelings"
BANK_PATH = DATA_DIR / "bank.jsonl"
MODEL_PATH = DATA_DIR / "model.npz"
DISCONTENT = "irritant_discontent"
# The plain logistic decision, fixed before measuring: a word of feeling counts when it is more likely meant
# than not.
THRESHOLD = 0.5


def read_bank(path: Path = BANK_PATH) -> list[Example]:
    """Customer lines holding a word of feeling (JSON lines: text, discontent = true or false)."""
    return acts.read_yes_no_bank(path, "discontent", DISCONTENT, "customer")


def act_bank_lines(path: Path = acts.BANK_PATH) -> list[Example]:
    """The act bank's customer lines, discontent or not as labelled there."""
    return [Example(text=e.text, speaker="customer", acts=frozenset(e.acts & {DISCONTENT}))
            for e in acts.read_bank(path) if e.speaker == "customer"]


def training_lines() -> list[Example]:
    """What the shipped classifier is trained on: the bank, a speech-recognition-like copy of each of its lines,
    and the act bank's customer lines."""
    bank = read_bank()
    return bank + acts.noisy_copies(bank) + act_bank_lines()


def training_hash() -> str:
    """A digest of both banks the classifier learns from, recorded in the model to detect a stale one."""
    return acts.banks_sha256(BANK_PATH, acts.BANK_PATH)


def train(examples: list[Example], bank_hash: str = "") -> ActModel:
    """Fit the classifier as the act model is built: n-grams and sentence embeddings, averaged."""
    return acts.train_line_classifier(examples, (DISCONTENT,), bank_hash)


def default_model() -> ActModel | None:
    """The shipped classifier, loaded once; None when it was never trained."""
    return acts.shipped_classifier(MODEL_PATH)


def probability(text: str, model: ActModel | None = None) -> float:
    """Probability that a customer's ``text``, holding a word of feeling, voices discontent (0 untrained)."""
    return acts.label_probability(MODEL_PATH, DISCONTENT, text, model)


def voices_discontent(text: str) -> bool:
    """Whether a customer line holding one of the discontent words means them about the call's matter."""
    return probability(text) >= THRESHOLD
