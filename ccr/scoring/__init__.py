"""From a transcript to an evaluation: grids, dialogue acts, the offline and LLM scorers, categories."""
