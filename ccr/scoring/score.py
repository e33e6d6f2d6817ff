"""Scoring one call: the entry point that validates a transcript and dispatches to a scoring engine.

``score_transcript`` returns the evaluation contract: per criterion a verdict, its weight, the quoted
evidence, a French explanation, a ``confidence`` (0..1) and ``needs_review`` with its reason; the score,
category, customer irritants, summary and recommendations, and at the top ``needs_review`` with its reasons
(an unsure verdict, or a result that hangs on verdicts unsure together). The offline ``rules`` engine
(``ccr.scoring.rules``) always runs; the ``llm`` engine (``ccr.scoring.llm``) starts from its evaluation,
checks the model's verdicts against it and falls back to it when the model cannot answer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ccr.core.errors import InvalidInput
from ccr.scoring import acts, llm, rules
from ccr.scoring.grid import Grid, Taxonomy, default_grid, default_taxonomy
from ccr.scoring.transcript import rejoined, validate_transcript

ENGINES = ("rules", "llm")  # rules: offline, always computed; llm: optional, checked against the rules


def score_transcript(
    transcript: dict,
    *,
    grid: Grid | None = None,
    taxonomy: Taxonomy | None = None,
    engine: str = "rules",
    llm_settings: Any = None,
) -> dict:
    """Score one transcript against a grid and return the evaluation contract."""
    if engine not in ENGINES:
        raise InvalidInput(f"Moteur de notation inconnu « {engine} » (rules ou llm).")
    grid = grid or _builtin_grid()
    taxonomy = taxonomy or default_taxonomy()
    tr = validate_transcript(transcript)
    said = rejoined(tr["segments"])  # the lines as the scorers read them
    lines = [seg["text"] for seg in said]
    # The category reader reads customers' turns stretch by stretch: their windows join the same batch.
    lines += [x for seg in said if seg["speaker"] != "agent" for x in acts.stretches(seg["text"])]
    acts.default_model().prepare(lines)
    rules_eval = rules.rules_evaluation(tr, grid, taxonomy)
    if engine == "rules":
        return rules_eval
    return llm.score_or_fallback(tr, grid, taxonomy, rules_eval, llm_settings)


@lru_cache(maxsize=1)
def _builtin_grid() -> Grid:
    # Parsed once per process: YAML parsing costs more than scoring a call. Never mutated here.
    return default_grid()
