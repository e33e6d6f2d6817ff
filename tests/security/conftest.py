"""The attack suite's shared parts: the authorisation matrix collector, printed at the end of the run."""

from __future__ import annotations

from collections import defaultdict

import pytest

# table name -> list of (row, column, expected, observed): filled by the matrix tests, printed by the hook.
MATRIX: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)


def record(table: str, row: str, column: str, expected: str, observed: str) -> None:
    """Keep one asserted cell of an authorisation matrix for the summary table."""
    MATRIX[table].append((row, column, expected, observed))


@pytest.fixture
def matrix_cell():
    """The recorder of matrix cells (a fixture so tests declare that they feed the table)."""
    return record


def _render(rows: list[tuple[str, str, str, str]]) -> list[str]:
    columns: list[str] = []
    for _, col, _, _ in rows:
        if col not in columns:
            columns.append(col)
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for row, col, expected, observed in rows:
        mark = expected if expected == observed else f"{observed}≠{expected}!"
        cells[row][col] = mark
    width = max(len(r) for r in cells) if cells else 10
    col_w = {c: max(len(c), *(len(cells[r].get(c, "")) for r in cells)) for c in columns}
    lines = ["  ".join([" " * width] + [c.ljust(col_w[c]) for c in columns])]
    for row in cells:
        lines.append("  ".join([row.ljust(width)] + [cells[row].get(c, "·").ljust(col_w[c]) for c in columns]))
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print every matrix collected during the run, with the number of cells asserted."""
    if not MATRIX:
        return
    total = sum(len(v) for v in MATRIX.values())
    terminalreporter.section(f"matrice d'autorisation : {total} cellules vérifiées")
    for table, rows in MATRIX.items():
        terminalreporter.write_line(f"\n{table} ({len(rows)} cellules ; ok = autorisé, refus = refusé/rien)")
        for line in _render(rows):
            terminalreporter.write_line(line)
