"""The architecture as a test: imports between the wings of ``ccr`` go one way, with no circle.

pages -> ui -> ops -> {pipeline, governance} -> {quality, privacy} -> dashboards -> {scoring, speech} -> core.
``api`` (the REST adapter) is a sibling of ``ui``. A module may import its own wing and any wing below it, never one above or beside it; function-local
imports count too (hiding a tie inside a function does not remove it). Only ``ccr/ui``, ``pages/`` and
``app.py`` import streamlit, so the rest of ``ccr`` runs in a worker, a CLI or a test without a browser.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Rank of each wing: an import must go to a lower rank or stay in its wing. Wings of equal rank are
# siblings and do not import each other.
RANKS = {"core": 0, "speech": 1, "scoring": 1, "dashboards": 2, "quality": 3, "privacy": 3, "pipeline": 4,
         "governance": 4, "ops": 5, "ui": 6, "api": 6, "entry": 7}
WINGS = tuple(w for w in RANKS if w != "entry")
ENTRY_POINTS = ("ccr.__main__", "ccr.cli", "ccr.cli_integrations", "ccr.demo")  # the command line and its demo data: may call any wing


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((REPO / "ccr").rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> list[tuple[str, int]]:
    """The ``ccr`` modules a file imports (at any depth of its code), with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("ccr")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("ccr"):
            for a in node.names:  # ``from ccr.scoring import grid`` imports the module ccr.scoring.grid
                sub = f"{node.module}.{a.name}"
                found.append((sub if sub in known else node.module, node.lineno))
    return found


def _wing(module: str) -> str | None:
    if module in ENTRY_POINTS:
        return "entry"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in WINGS else None


def _rank(module: str) -> int:
    wing = _wing(module)
    return RANKS[wing] if wing is not None else -1  # the packages themselves only hold a docstring


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: {t for t, _ in _imports(p, known) if t in known and t != m} for m, p in mods.items()}


def test_every_module_of_ccr_belongs_to_a_wing_or_is_an_entry_point():
    loose = [m for m in _modules() if _wing(m) is None and m not in ("ccr", *(f"ccr.{w}" for w in WINGS))]
    assert not loose, f"modules hors des ailes : {loose}"


def test_imports_go_down_the_wings_never_up_or_sideways():
    mods = _modules()
    known = set(mods)
    wrong = []
    for module, path in mods.items():
        src_wing = _wing(module)
        for target, line in _imports(path, known):
            if target not in known or (_wing(target) == src_wing and src_wing is not None):
                continue
            if _rank(target) >= _rank(module):
                wrong.append(f"{path.relative_to(REPO)}:{line} {module} -> {target}")
    assert not wrong, "imports à contre-sens :\n" + "\n".join(wrong)


def test_no_import_circle_between_modules():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not cycles, "cercles d'imports :\n" + "\n".join(cycles)


def _imports_streamlit(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "streamlit" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "streamlit":
            return True
    return False


def test_only_the_ui_the_pages_and_the_app_import_streamlit():
    files = [p for p in sorted((REPO / "ccr").rglob("*.py")) if p.relative_to(REPO / "ccr").parts[0] != "ui"]
    outside = [str(p.relative_to(REPO)) for p in [*files, *sorted((REPO / "scripts").glob("*.py"))]
               if _imports_streamlit(p)]
    assert not outside, f"streamlit importé hors de ccr/ui, pages/ et app.py : {outside}"


@pytest.mark.parametrize(("module", "target", "allowed"), [
    ("ccr.pipeline.steps", "ccr.scoring.score", True),
    ("ccr.scoring.score", "ccr.pipeline.steps", False),
    ("ccr.quality.reviews", "ccr.privacy.exports", False),  # siblings stay apart
    ("ccr.ui.guard", "ccr.core.access", True),
    ("ccr.cli", "ccr.ui.runtime", True),
])
def test_the_rule_itself_reads_as_the_architecture_says(module, target, allowed):
    same_wing = _wing(module) is not None and _wing(module) == _wing(target)
    assert _wing(module) is not None and _wing(target) is not None
    assert (same_wing or _rank(target) < _rank(module)) is allowed


def test_no_module_grows_past_the_size_a_reader_can_hold():
    # Past about 700 lines a module mixes concerns: split it by concept instead of raising this bound.
    big = {str(p.relative_to(REPO)): n for p in (REPO / "ccr").rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700}
    assert not big, f"modules trop longs : {big}"


def test_the_package_root_holds_only_the_entry_points_and_the_wings():
    flat = sorted(p.name for p in (REPO / "ccr").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "cli.py", "cli_integrations.py", "demo.py"], flat
    assert sorted(p.name for p in (REPO / "ccr").iterdir() if p.is_dir() and (p / "__init__.py").exists()) == \
        sorted(WINGS)
