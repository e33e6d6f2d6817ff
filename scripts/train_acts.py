"""Train the dialogue-act recogniser from the utterance bank and write ``ccr/scoring/data/acts/model.npz``.

    python -m scripts.train_acts            # train on the whole bank, write the model
    python -m scripts.train_acts --report   # also: train on 4/5 of the bank, print F1 on the last fifth
                                            # and on the held-out set written in another style, and the
                                            # embedding head's settings tried on that fifth
    python -m scripts.train_acts --members 5   # an embedding head of five networks averaged (steadier
                                               # readings between retrains; one is shipped)

Two readers are trained on the same lines: the n-gram regression and a regression on the lines' sentence
embeddings (``ccr.scoring.encoder``); the model averages them. Embedding the 45,000 training lines takes a few
minutes; the vectors of bank lines (never call transcripts) are kept in ``--cache`` for the next run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ccr.scoring import acts
from ccr.scoring.encoder import default_encoder

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "acts" / "heldout.jsonl"


ASR_BANK = acts.DATA_DIR / "bank-asr.jsonl"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "ccr-e5-cache"
# Embedding-head settings tried on the bank's last fifth by --report (the chosen ones are acts.HEAD_L2/HIDDEN).
L2_GRID = (1e-3, 1e-2)
HIDDEN_GRID = (256, 512)


def training_lines(examples: list[acts.Example], asr: list[acts.Example] | None = None) -> list[acts.Example]:
    """The lines, their pairs joined into long turns, a speech-recognition-like copy of each, the halves of the
    neutral lines, and the lines as a real recogniser heard them when spoken (``bank-asr.jsonl``)."""
    return (examples + acts.pairs(examples) + acts.noisy_copies(examples) + acts.fragments(examples)
            + (asr or []))


def embed(texts: Sequence[str], cache: Path | None) -> np.ndarray:
    """Embeddings of bank texts, read from and added to ``cache`` (an ``.npz`` of texts and vectors)."""
    # Named after the encoder's reading of its input: vectors cached before numbers were read in words are stale.
    path = cache / "query-spoken-numbers.npz" if cache else None
    known: dict[str, np.ndarray] = {}
    if path and path.exists():
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip((str(t) for t in z["texts"]), z["vectors"], strict=True))
    missing = sorted({t for t in texts if t not in known})
    t0 = time.perf_counter()
    for i in range(0, len(missing), 512):
        chunk = missing[i:i + 512]
        known.update(zip(chunk, default_encoder().embed(chunk), strict=True))
        print(f"  plongements : {i + len(chunk)}/{len(missing)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if path and missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        names = list(known)
        np.savez(path, texts=np.array(names), vectors=np.stack([known[t] for t in names]))
    return np.stack([known[t] for t in texts]).astype(np.float32)


def fit(examples: list[acts.Example], bank_hash: str = "", asr: list[acts.Example] | None = None, *,
        cache: Path | None = None, seeds: tuple[int, ...] = acts.HEAD_SEEDS) -> acts.ActModel:
    """Train both readers on :func:`training_lines` and join them; the head has one network per seed."""
    lines = training_lines(examples, asr)
    ngram = acts.train(lines, bank_hash=bank_hash)
    return ngram.with_head(acts.train_head(embed([e.text for e in lines], cache), lines, seeds=seeds))


def print_scores(title: str, scores: dict[str, dict[str, float]]) -> None:
    """One line per act: precision, recall, F1 and support; then the macro F1."""
    print(f"\n{title}")
    print(f"{'acte':24} {'préc.':>6} {'rappel':>6} {'F1':>6} {'n':>5}")
    for act, s in scores.items():
        print(f"{act:24} {s['precision']:6.2f} {s['recall']:6.2f} {s['f1']:6.2f} {s['support']:5d}")
    print(f"{'F1 macro':24} {'':6} {'':6} {macro_f1(scores):6.3f}")


def macro_f1(scores: dict[str, dict[str, float]]) -> float:
    """Mean F1 of the acts that have examples."""
    with_support = [s["f1"] for s in scores.values() if s["support"]]
    return sum(with_support) / max(1, len(with_support))


def report(bank: list[acts.Example], cache: Path | None) -> None:
    """Train on 4/5 of the bank; print the head settings tried on the last fifth, then per-act figures of the
    n-grams alone and of both readers, on that fifth and on the held-out set in another style."""
    tuned = [e for i, e in enumerate(bank) if i % 5 != 4]
    held = [e for i, e in enumerate(bank) if i % 5 == 4]
    t0 = time.perf_counter()
    lines = training_lines(tuned)
    ngram = acts.train(lines)
    x = embed([e.text for e in lines], cache)
    print(f"entraînement sur {len(tuned)} lignes : {time.perf_counter() - t0:.1f} s")
    print("\nRéglages de la tête sur plongements (cinquième tenu à l'écart, F1 macro des deux lecteurs)")
    tried = {(l2, hidden): ngram.with_head(acts.train_head(x, lines, l2=l2, hidden=hidden))
             for l2 in L2_GRID for hidden in HIDDEN_GRID}
    chosen = (acts.HEAD_L2, acts.HEAD_HIDDEN)
    for (l2, hidden), candidate in tried.items():
        mark = " (retenu)" if (l2, hidden) == chosen else ""
        print(f"  l2 {l2:g}, {hidden} neurones cachés : {macro_f1(acts.evaluate(candidate, held)):.3f}{mark}")
    model = tried.get(chosen) or ngram.with_head(acts.train_head(x, lines))
    print_scores("Banque, cinquième tenu à l'écart, n-grammes seuls", acts.evaluate(ngram, held))
    print_scores("Banque, cinquième tenu à l'écart, deux lecteurs", acts.evaluate(model, held))
    if HELDOUT.exists():
        other = acts.read_bank(HELDOUT)
        print_scores("Jeu tenu à l'écart, autre style, n-grammes seuls", acts.evaluate(ngram, other))
        print_scores("Jeu tenu à l'écart, autre style, deux lecteurs", acts.evaluate(model, other))


def main(argv: list[str] | None = None) -> int:
    """Train, optionally report held-out figures, and write the model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print held-out figures before writing")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="folder keeping the embeddings of bank lines between runs")
    parser.add_argument("--members", type=int, default=len(acts.HEAD_SEEDS),
                        help="networks averaged in the embedding head (seeds 0, 1, …)")
    args = parser.parse_args(argv)
    if args.members < 1:
        parser.error("--members : au moins 1")
    bank = acts.read_bank()
    if args.report:
        report(bank, args.cache)
    t0 = time.perf_counter()
    asr = acts.read_bank(ASR_BANK) if ASR_BANK.exists() else []
    model = fit(bank, bank_hash=acts.bank_sha256(), asr=asr, cache=args.cache, seeds=tuple(range(args.members)))
    model.save(acts.MODEL_PATH)
    print("recalibrez ensuite les seuils sur des appels entiers, puis la confiance : "
          "python -m scripts.calibrate_acts && python -m scripts.calibrate_confidence")
    print(f"\nmodèle écrit : {acts.MODEL_PATH} ({acts.MODEL_PATH.stat().st_size / 1e6:.1f} Mo, "
          f"{len(model.feature_ids)} traits, {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
