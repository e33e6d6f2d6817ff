"""The benchmarks read the repository's own files: a file moved elsewhere must not leave one broken.

Benchmarks are run by hand, not by the suite, so a moved fixture or data file would only be found by the
next person quoting a figure. Each benchmark's module-level path constants (``X = ROOT / "a" / "b"``) are
evaluated here, without running the benchmark, and must name something that exists.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
BENCHES = sorted(BENCH_DIR.glob("*.py"))


def _path_constants(source: Path) -> dict[str, Path]:
    """The module's upper-case constants built from ``Path(__file__)`` or from another such constant."""
    namespace: dict = {"Path": Path, "__file__": str(source)}
    found: dict[str, Path] = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        text = ast.unparse(node.value)
        built_on = [n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)]
        if not name.isupper() or not built_on or not all(n in namespace for n in built_on):
            continue
        if "Path" not in built_on and not any(isinstance(namespace.get(n), Path) for n in built_on):
            continue
        value = eval(text, {"__builtins__": {}}, namespace)  # noqa: S307 - the repository's own constant
        if isinstance(value, Path):
            namespace[name] = found[name] = value
    return found


def test_the_benchmarks_are_found():
    assert any(b.name == "bench_scoring.py" for b in BENCHES)


@pytest.mark.parametrize("bench", BENCHES, ids=[b.stem for b in BENCHES])
def test_every_path_a_benchmark_reads_exists(bench):
    missing = {name: str(p) for name, p in _path_constants(bench).items() if not p.exists()}
    assert not missing, f"{bench.name} lit des chemins absents : {missing}"


def test_a_moved_file_is_caught(tmp_path):
    bench = tmp_path / "bench_x.py"
    bench.write_text('from pathlib import Path\nROOT = Path(__file__).resolve().parent\n'
                     'DATA = ROOT / "data" / "gone.json"\nHERE = ROOT\n', encoding="utf-8")
    found = _path_constants(bench)
    assert found["DATA"] == tmp_path / "data" / "gone.json" and not found["DATA"].exists()
    assert found["HERE"] == tmp_path


def test_the_hand_marked_rude_lines_are_agent_lines_of_exactly_the_rude_calls():
    eval_dir = Path(__file__).resolve().parent / "fixtures" / "eval" / "public-d"
    labels = [json.loads(x) for x in (eval_dir / "labels.jsonl").read_text(encoding="utf-8").splitlines() if x]
    marked = [json.loads(x) for x in (eval_dir / "rude_lines.jsonl").read_text(encoding="utf-8").splitlines() if x]
    assert {r["call_id"] for r in marked} == {r["call_id"] for r in labels if r["criteria"]["politesse"] == "fail"}
    for row in marked:
        segments = json.loads((eval_dir / "transcripts" / f"{row['call_id']}.json").read_text(encoding="utf-8"))[
            "segments"]
        assert row["lines"] and all(segments[i]["speaker"] == "agent" for i in row["lines"])
        assert [segments[i]["text"] for i in row["lines"]] == row["texts"]
