"""Code and docs kept in step: settings documented, pages registered and guarded, no third-party icons."""

import re
from pathlib import Path

import pytest

from ccr.core.access import PAGES
from scripts.settings_table import README, readme_table, settings_table

REPO = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_the_readme():
    assert readme_table(README.read_text(encoding="utf-8")) == settings_table(), (
        "README out of date: run `python -m scripts.settings_table --write`")


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_every_page_file_is_registered():
    registered = {p.path for p in PAGES}
    on_disk = {f"pages/{f.name}" for f in (REPO / "pages").glob("*.py")}
    assert on_disk == registered


@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.key)
def test_every_page_starts_with_the_guard(spec):
    source = (REPO / spec.path).read_text(encoding="utf-8")
    calls = re.findall(r"require_page\(\"([a-z_]+)\"\)", source)
    assert calls == [spec.key], f"{spec.path} must call require_page({spec.key!r}) once"
    body = source.split(f'require_page("{spec.key}")')[0]
    assert "st." not in re.sub(r"^(import|from) .*$", "", body, flags=re.M).replace("st.set_page_config", ""), (
        f"{spec.path} draws something before its guard")


def test_no_material_icons_or_third_party_urls_in_the_ui():
    for path in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ccr" / "ui").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert ":material/" not in text, path
        assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.(com|net|org|io)", text), path
