"""What the training scripts of the line classifiers (categories, customer replies, feelings, courtesy) share:
train on the bank, say how long it took, optionally report held-out figures, write the model."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ccr.scoring import acts


def run(argv: list[str] | None, doc: str, lines: Callable[[], Sequence[acts.Example]],
        train: Callable[..., acts.ActModel], bank_hash: Callable[[], str], model_path: Path,
        report: Callable[[acts.ActModel], None]) -> int:
    """Parse ``--report``, train on ``lines()``, call ``report`` when asked, and save the model."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print held-out figures before writing")
    args = parser.parse_args(argv)
    examples = list(lines())
    t0 = time.perf_counter()
    model = train(examples, bank_hash=bank_hash())
    print(f"entraînement sur {len(examples)} lignes : {time.perf_counter() - t0:.1f} s")
    if args.report:
        report(model)
    model.save(model_path)
    print(f"modèle écrit : {model_path} ({model_path.stat().st_size / 1e6:.1f} Mo)")
    return 0
