"""Customer replies that show what the agent had just said: « non, ce sera tout, merci » answers a check for
another need, and « Dupuis, D, U, P, U, I, S » a request for the customer's name, whatever the agent's words.

Speech recognition garbles an agent's closing question far more often than the customer's short answer to it
(« Est-ce qu'il y a autre chose ? » heard as noise, « Non, je m'arrête là » heard right), and an agent asks
who is calling in more ways than any model reads (« Et vous êtes… ? », « Avec qui ai-je le plaisir ? »), so a
criterion may accept the answer as a sign of the question (grid parameter ``answered_by``). Replies are read
by their own line classifier, built as the act model is (hashed n-grams averaged with a small network on the
line's sentence embedding, which the act model has already computed for the same line), trained on
``ccr/scoring/data/replies/bank.jsonl``: answers, and lookalikes that are not (a « non »
to another question, « rien ne marche », a goodbye alone; a reference the agent dictated, noted back; an
amount or a date of the problem). The act bank's customer lines that carry an act (reasons, irritants,
confirmations) are counter-examples too; those with no act are not, as the act bank leaves such answers
unlabelled among them.

``python -m scripts.train_replies`` writes ``ccr/scoring/data/replies/model.npz``.
"""

from __future__ import annotations

from pathlib import Path

from ccr.core.textnorm import normalize
from ccr.scoring import acts
from ccr.scoring.acts import ActModel, Example

DATA_DIR = Path(__file__).resolve().parent / "data" / "replies"
BANK_PATH = DATA_DIR / "bank.jsonl"
MODEL_PATH = DATA_DIR / "model.npz"
REPLIES = ("no_other_need", "gives_identity")
REPLY_LABELS = {"no_other_need": "réponse du client qu'il n'a besoin de rien d'autre",
                "gives_identity": "élément d'identification donné par le client"}
# Replies that show the agent asked for them even where the agent's line was typed, not heard. A customer who
# recites their name or contract number right after the agent spoke was asked for it, however the request
# was put; « non, ça ira » follows many questions, so it only stands in for a line the recogniser garbled.
PROVE_THE_QUESTION = frozenset({"gives_identity"})
# The plain logistic decision, fixed before measuring: a reply stands in for a line nobody could read, so it
# must be more likely than not.
THRESHOLD = 0.5
# Calls are scored on their redacted transcript, where « [EMAIL] » or « [TELEPHONE] » stands for what the
# customer said (``ccr.speech.redaction``; payment numbers identify no one); the classifier never saw these, and
# read « [EMAIL]. » at 0.14, as it read a spelt-out address (« martin point paul arobase… ») at 0.12.
IDENTITY_PLACEHOLDERS = ("[EMAIL]", "[TELEPHONE]", "[NIR]")
STATED = 0.95


def read_bank(path: Path = BANK_PATH) -> list[Example]:
    """Labelled customer replies (JSON lines: text, reply = one of :data:`REPLIES` or null)."""
    out = []
    for n, row in acts.jsonl_rows(path):
        reply = row.get("reply")
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise acts.ActModelError(f"{path.name}, ligne {n} : texte manquant")
        if reply is not None and reply not in REPLIES:
            raise acts.ActModelError(f"{path.name}, ligne {n} : réponse inconnue « {reply} »")
        out.append(Example(text=row["text"], speaker="customer", acts=frozenset({reply} if reply else ())))
    return out


def counter_examples(path: Path = acts.BANK_PATH) -> list[Example]:
    """The act bank's customer lines that carry an act, as lines that answer nothing."""
    return [Example(text=e.text, speaker="customer", acts=frozenset()) for e in acts.read_bank(path)
            if e.speaker == "customer" and e.acts]


def training_lines() -> list[Example]:
    """What the shipped classifier is trained on: the replies bank and a speech-recognition-like copy of each
    of its lines, then the act bank's counter-examples."""
    bank = read_bank()
    return bank + acts.noisy_copies(bank) + counter_examples()


def training_hash() -> str:
    """A digest of both banks the classifier learns from, recorded in the model to detect a stale one."""
    return acts.banks_sha256(BANK_PATH, acts.BANK_PATH)


def train(examples: list[Example], bank_hash: str = "") -> ActModel:
    """Fit the reply classifier as the act model is built: n-grams and sentence embeddings, averaged."""
    return acts.train_line_classifier(examples, REPLIES, bank_hash)


def default_model() -> ActModel | None:
    """The shipped classifier, loaded once; None when it was never trained."""
    return acts.shipped_classifier(MODEL_PATH)


def probability(text: str, reply: str, model: ActModel | None = None) -> float:
    """Probability that a customer's ``text`` is ``reply`` (0 without a trained classifier); a line stating an
    e-mail address, or what redaction left of an identifier, gives an identity whatever the classifier reads."""
    model = model or default_model()
    if model is None or reply not in model.acts:
        return 0.0
    p = float(model.probabilities(text)[model.acts.index(reply)])
    if reply == "gives_identity" and states_identifier(text):
        return max(p, STATED)
    return p


def states_identifier(text: str) -> bool:
    """Whether ``text`` holds an e-mail address (written, or said with « arobase ») or a placeholder that the
    call's redaction put where an identifying number or address was said."""
    upper = text.upper()
    return any(mark in upper for mark in IDENTITY_PLACEHOLDERS) or "@" in text or "arobase" in normalize(text).split()
