"""Write ``ccr/scoring/data/grids/ccr-standard-fr-history.json``: every version of the standard act grid ever
shipped (its revision and criteria rules), read from the git history of its YAML file, then the current file.

    python -m scripts.standard_grid_history

An organisation's stored grid is a copy of the standard grid as it stood the day the copy was made. To carry
later changes of the standard grid over to it without undoing its own edits, ``ccr.scoring.grid_upgrade`` needs
to know what the standard grid held before (the base of a three-way merge). Run this script after every change
of the standard grid's parameters; ``tests/scoring/test_grid_upgrade.py`` fails while the current version is
missing from the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ccr.core.errors import InvalidInput
from ccr.scoring.grid import DEFAULT_GRID_FILE, load_grid_yaml, standard_revision
from ccr.scoring.grid_upgrade import HISTORY_FILE

ROOT = Path(__file__).resolve().parent.parent
# Where the standard grid's YAML lived before the scoring wing had its own data directory.
FORMER_PATHS = ("ccr/data/grids/ccr-standard-fr.yaml",)
ACT_METHOD_PREFIX = "acts"  # the standard v1 (phrase lists) is upgraded by its own file, not this history


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def shipped_versions() -> list[str]:
    """The YAML texts of the standard grid, oldest first, ending with the working tree's."""
    current = str(DEFAULT_GRID_FILE.relative_to(ROOT))
    texts = []
    for commit in reversed(_git("log", "--format=%H", "--follow", "--", current).split()):
        for path in (current, *FORMER_PATHS):
            shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True)
            if shown.returncode == 0:
                texts.append(shown.stdout)
                break
    texts.append(DEFAULT_GRID_FILE.read_text(encoding="utf-8"))
    return texts


def history(texts: list[str]) -> list[dict]:
    """The distinct act versions of the standard grid, oldest first: each its revision and criteria rules."""
    out: list[dict] = []
    for text in texts:
        try:
            grid = load_grid_yaml(text)
        except InvalidInput:
            continue  # a version the current reader refuses cannot be an organisation's stored grid either
        if not all(c.method.startswith(ACT_METHOD_PREFIX) for c in grid.criteria):
            continue
        revision = standard_revision(grid)
        if all(v["revision"] != revision for v in out):
            out.append({"revision": revision,
                        "criteria": {c.id: {"method": c.method, "params": c.params} for c in grid.criteria}})
    return out


def main() -> int:
    data = {"grid": "ccr-standard-fr", "versions": history(shipped_versions())}
    HISTORY_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{HISTORY_FILE.name} : {len(data['versions'])} versions, "
          + ", ".join(v["revision"] for v in data["versions"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
