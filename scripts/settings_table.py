"""Print (or ``--write`` into README.md) the settings table built from ``ccr.core.config.Settings``.

``tests/test_docs.py`` checks that the README's table equals this output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ccr.core.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
ENV_OVERRIDES = {"database_url": "`DATABASE_URL` (ou `CCR_DATABASE_URL`)"}


def settings_table() -> str:
    """The markdown table of every setting: variable, default, meaning."""
    lines = ["| Variable | Défaut | Rôle |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        env = ENV_OVERRIDES.get(name, f"`CCR_{name.upper()}`")
        default = "—" if field.default is None else f"`{field.default}`"
        lines.append(f"| {env} | {default} | {field.description} |")
    return "\n".join(lines)


def readme_table(text: str) -> str:
    """The table currently between the README's settings markers."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n?" + re.escape(END), text, re.S)
    return match.group(1).strip() if match else ""


def write_readme() -> None:
    """Replace the README's settings table with the generated one."""
    text = README.read_text(encoding="utf-8")
    new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), f"{BEGIN}\n{settings_table()}\n{END}", text,
                 flags=re.S)
    README.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_readme()
    else:
        print(settings_table())
