"""Page-run timings: nothing at all unless asked; when asked, one line per run with SQL and sections."""

from __future__ import annotations

import json
import time

from sqlalchemy import text

from ccr.core import timings
from ccr.core.db import session


def test_without_a_file_nothing_is_measured_or_written(migrated, tmp_path):
    with timings.page_run(None):
        timings.name_page("Tableau de bord")
        with timings.section("figures"), session() as s:
            s.exec(text("SELECT 1"))
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_measured_run_writes_its_page_sql_and_sections(migrated, tmp_path):
    out = tmp_path / "runs.jsonl"

    @timings.timed("figures")
    def build() -> None:
        time.sleep(0.05)

    for page in ("Tableau de bord", "Appels"):
        with timings.page_run(out):
            timings.name_page(page)
            with session() as s:
                s.exec(text("SELECT 1")).all()
                s.exec(text("SELECT 2")).all()
            build()
    with session() as s:  # outside any measured run: counted nowhere
        s.exec(text("SELECT 3")).all()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["page"] for line in lines] == ["Tableau de bord", "Appels"]
    for line in lines:
        assert line["sql_n"] == 2 and 0 < line["sql_s"] < line["wall_s"]
        assert 0.05 <= line["figures_s"] <= line["wall_s"]
        assert line["cpu_s"] < line["wall_s"]  # the sleep waited without the CPU
