"""End to end on the four public stereo recordings: our own transcription, timings and scoring vs the labels.

Usage: python benchmarks/bench_audio_scoring.py [--agent-channel left]

Runs ``python -m ccr analyze FILE --json`` (a subprocess each, exactly as a user would) on
tests/fixtures/audio/*.wav and compares each evaluation with tests/fixtures/eval/public/labels.jsonl:
criterion agreement, category, irritants, score and pass/fail, plus the real-time factor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "tests" / "fixtures" / "audio"
LABELS = REPO / "tests" / "fixtures" / "eval" / "public" / "labels.jsonl"


def main() -> int:
    """Analyze each recording and print the agreement with its labels."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent-channel", default="left", choices=["left", "right"])
    args = parser.parse_args()
    labels = {json.loads(x)["call_id"]: json.loads(x) for x in LABELS.read_text().splitlines() if x.strip()}
    crit_ok = crit_n = cat_ok = pass_ok = irr_tp = irr_fp = irr_fn = 0
    abs_err = audio_s = wall_s = 0.0
    for wav in sorted(AUDIO.glob("*.wav")):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "ccr", "analyze", str(wav), "--agent-channel",
                              args.agent_channel, "--json"], cwd=REPO, capture_output=True, text=True, check=True)
        wall_s += time.perf_counter() - t0
        result = json.loads(out.stdout)
        ev, label = result["evaluation"], labels[wav.stem]
        audio_s += result["duration_s"]
        got = {c["id"]: c["verdict"] for c in ev["criteria"]}
        diffs = [f"{k}: {v}→{got.get(k)}" for k, v in label["criteria"].items() if got.get(k) != v]
        crit_n += len(label["criteria"])
        crit_ok += len(label["criteria"]) - len(diffs)
        cat_ok += ev["category"] == label["category"]
        pass_ok += ev["passed"] == label["passed"]
        abs_err += abs(ev["score"] - label["score"])
        want, have = set(label["irritants"]), {i["label"] for i in ev["irritants"]}
        irr_tp, irr_fp, irr_fn = irr_tp + len(want & have), irr_fp + len(have - want), irr_fn + len(want - have)
        print(f"{wav.stem}: score {ev['score']} (label {label['score']}), catégorie {ev['category']} "
              f"(label {label['category']}), écarts : {', '.join(diffs) or 'aucun'}")
    n = len(list(AUDIO.glob("*.wav")))
    precision = irr_tp / (irr_tp + irr_fp) if irr_tp + irr_fp else 1.0
    recall = irr_tp / (irr_tp + irr_fn) if irr_tp + irr_fn else 1.0
    print(f"\nAccord critères : {100 * crit_ok / crit_n:.1f} % ({crit_ok}/{crit_n})")
    print(f"Catégorie : {cat_ok}/{n} ; réussite/échec : {pass_ok}/{n} ; erreur absolue moyenne du score : "
          f"{abs_err / n:.1f}")
    print(f"Irritants : précision {precision:.2f}, rappel {recall:.2f}")
    print(f"Facteur temps réel (analyze complet, chargement du modèle compris) : {wall_s / audio_s:.3f} "
          f"({wall_s:.1f} s pour {audio_s:.1f} s d'audio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
