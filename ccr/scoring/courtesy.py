"""Whether an agent's line is discourteous: « c'est pourtant écrit en gros sur la facture » is, « c'est écrit en
petit au dos de la facture, je vous montre où » is not.

The act model reads the impolite families (insult, dismissal, condescension, sarcasm, familiarity) one by one,
and implicit rudeness, polite in its words, rarely reaches its bar for a zero. This classifier answers the one
question, pooled over the families: it is trained on lines written for it (``ccr/scoring/data/courtesy/
bank.jsonl``: discourteous lines of every family, and courteous lines sharing their words or situations: firm
refusals, bad news, relaxed but respectful wording) and on the act bank's agent lines, each impolite when it
carries any impolite act. It is built as the other line classifiers are (hashed n-grams averaged with a small
network on the line's sentence embedding, which the act model has already computed), so it adds nothing to
the time per call. The politeness criterion uses it as a second reading (``actrules._forbidden``), at the same
bar for a zero as the act model's.

``python -m scripts.train_courtesy`` writes ``ccr/scoring/data/courtesy/model.npz``.
"""

from __future__ import annotations

from pathlib import Path

from ccr.scoring import acts
from ccr.scoring.acts import ActModel, Example

DATA_DIR = Path(__file__).resolve().parent / "data" / "courtesy"
BANK_PATH = DATA_DIR / "bank.jsonl"
MODEL_PATH = DATA_DIR / "model.npz"
DISCOURTEOUS = "agent_discourteous"


def read_bank(path: Path = BANK_PATH) -> list[Example]:
    """Agent lines labelled courteous or not (JSON lines: text, impolite = true or false, kind)."""
    return acts.read_yes_no_bank(path, "impolite", DISCOURTEOUS, "agent")


def act_bank_lines(path: Path = acts.BANK_PATH) -> list[Example]:
    """The act bank's agent lines, discourteous when they carry any impolite act."""
    rude = set(acts.RUDE_ACTS)
    return [Example(text=e.text, speaker="agent", acts=frozenset({DISCOURTEOUS} if e.acts & rude else ()))
            for e in acts.read_bank(path) if e.speaker == "agent"]


def training_lines() -> list[Example]:
    """What the shipped classifier is trained on: both banks' lines and a speech-recognition-like copy of each."""
    lines = read_bank() + act_bank_lines()
    return lines + acts.noisy_copies(lines)


def training_hash() -> str:
    """A digest of both banks the classifier learns from, recorded in the model to detect a stale one."""
    return acts.banks_sha256(BANK_PATH, acts.BANK_PATH)


def train(examples: list[Example], bank_hash: str = "") -> ActModel:
    """Fit the classifier as the act model is built: n-grams and sentence embeddings, averaged."""
    return acts.train_line_classifier(examples, (DISCOURTEOUS,), bank_hash, speaker="agent")


def default_model() -> ActModel | None:
    """The shipped classifier, loaded once; None when it was never trained."""
    return acts.shipped_classifier(MODEL_PATH)


def probability(text: str, model: ActModel | None = None) -> float:
    """Probability that an agent's ``text`` is discourteous to the customer (0 when never trained)."""
    return acts.label_probability(MODEL_PATH, DISCOURTEOUS, text, model)
