"""A small document model for the governance documents: templates written by CCR, values that are data.

A :class:`Text` is a template (which may hold ``**bold**`` and ``code``) plus the untrusted values it names.
The Markdown rendering escapes every value (no link, image, HTML, Streamlit directive or LaTeX can come from
a value), the HTML rendering escapes every value with :func:`html.escape` and converts only the template's own
markup: an agent's name, a grid label or a period label always shows as the characters it holds.
No Markdown library is used: Python-Markdown passes raw HTML through, and the subset emitted here is small.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ccr.core.formats import fr_number, fr_percent
from ccr.core.textnorm import strip_bidi

FILE_STEMS = {"worker_notice": "note-information-salaries", "instructions": "notice-utilisation-ia",
              "cse_file": "dossier-consultation-cse"}

# quotes are left alone: with ``<``, ``[`` and ``(`` escaped they can open no link or tag, and « l'appel » stays
# readable in the downloaded file.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=])")
_AUTOLINK_START = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=@)")
_WORD_JOINER = "\u2060"  # breaks GFM's autolinks (http://, www., e-mails) without a visible change
_LINE_BREAKS = re.compile(r"[ \t\r\n\f\v]+")  # ASCII runs only: the no-break spaces of « 77,8 % » stay
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def md_value(value: object) -> str:
    """An untrusted value as Markdown that shows exactly its text: one line, no markup, link or bidi control."""
    text = _LINE_BREAKS.sub(" ", strip_bidi("" if value is None else str(value))).strip()
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK_START.sub(_WORD_JOINER, text))


@dataclass(frozen=True)
class Text:
    """A line of a document: a template written here (may hold ``**bold**``) and the untrusted values it names."""

    template: str
    values: Mapping[str, object] = field(default_factory=dict)

    def markdown(self) -> str:
        """The line as Markdown: the template as written, each value escaped (a nested Text renders itself)."""
        return self.template.format_map({k: x.markdown() if isinstance(x, Text) else md_value(x)
                                          for k, x in self.values.items()})

    def html(self) -> str:
        """The line as HTML: the template's own markup converted, every value escaped."""
        template = _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", html.escape(self.template,
                                                                                                quote=False)))
        return template.format_map({k: x.html() if isinstance(x, Text) else html.escape(strip_bidi(str(x)))
                                    for k, x in self.values.items()})


def t(template: str, **values: object) -> Text:
    """A :class:`Text` from a template written here and its untrusted values (or nested Texts)."""
    return Text(template, values)


def lit(text: str) -> Text:
    """Text written by CCR or its operator (a label, a setting), shown as is: no value to escape in it."""
    return Text(text.replace("{", "{{").replace("}", "}}"))


def v(value: object) -> Text:
    """An untrusted value alone (a table cell, a list item)."""
    return Text("{v}", {"v": value})


@dataclass(frozen=True)
class Block:
    """A heading (level 1-3), a paragraph, a bulleted list or a table."""

    kind: str  # h1 | h2 | h3 | p | ul | table
    text: Text | None = None
    items: tuple[Text, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[Text, ...], ...] = ()


def heading(level: int, template: str, **values: object) -> Block:
    """A heading of level 1 to 3."""
    return Block(f"h{level}", t(template, **values))


def paragraph(template: str, **values: object) -> Block:
    """A paragraph."""
    return Block("p", t(template, **values))


def bullets(items: Iterable[Text | str]) -> Block:
    """A bulleted list."""
    # A bare string here is a template written in this module; untrusted values always come in a Text.
    return Block("ul", items=tuple(t(i) if isinstance(i, str) else i for i in items))


def table(header: Iterable[str], rows: Iterable[Iterable[Text | object]]) -> Block:
    """A table: a header written here, rows of cells."""
    # A bare cell is an untrusted value (a label, a name); prose written here comes as a Text.
    return Block("table", header=tuple(header),
                 rows=tuple(tuple(c if isinstance(c, Text) else v(c) for c in row) for row in rows))


@dataclass(frozen=True)
class Document:
    """A governance document as built from the live settings: its Markdown, HTML and digest."""

    kind: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def markdown(self) -> str:
        """The document as Markdown (what is previewed, downloaded and published)."""
        out: list[str] = []
        for b in self.blocks:
            if b.kind.startswith("h"):
                out.append("#" * int(b.kind[1]) + " " + b.text.markdown())
            elif b.kind == "p":
                out.append(b.text.markdown())
            elif b.kind == "ul":
                out.append("\n".join(f"- {i.markdown()}" for i in b.items))
            elif b.kind == "table":
                lines = ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
                lines += ["| " + " | ".join(c.markdown() for c in row) + " |" for row in b.rows]
                out.append("\n".join(lines))
        return "\n\n".join(out) + "\n"

    @property
    def html(self) -> str:
        """The document as a standalone HTML page: no script, no external resource, every value escaped."""
        body: list[str] = []
        for b in self.blocks:
            if b.kind.startswith("h"):
                body.append(f"<{b.kind}>{b.text.html()}</{b.kind}>")
            elif b.kind == "p":
                body.append(f"<p>{b.text.html()}</p>")
            elif b.kind == "ul":
                body.append("<ul>" + "".join(f"<li>{i.html()}</li>" for i in b.items) + "</ul>")
            elif b.kind == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
                rows = "".join("<tr>" + "".join(f"<td>{c.html()}</td>" for c in row) + "</tr>" for row in b.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        style = ("body{font-family:sans-serif;max-width:52rem;margin:2rem auto;line-height:1.5}"
                 "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3rem .5rem;text-align:left}")
        return ('<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{html.escape(strip_bidi(self.title))}</title>\n<style>{style}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the Markdown: what a publication records."""
        return hashlib.sha256(self.markdown.encode("utf-8")).hexdigest()

    def file_name(self, extension: str) -> str:
        """The download's file name, e.g. ``notice-utilisation-ia.md``."""
        return f"{FILE_STEMS[self.kind]}.{extension}"


def fr_count(n: int) -> str:
    """A whole number in French notation (« 12 345 »)."""
    return fr_number(n, 0)


def fr_ratio(ratio: float | None) -> str:
    """A share as a French percentage with one decimal (« 33,3 % »), « — » for None."""
    return fr_percent(ratio, 1, ratio=True)


def fr_days(n: int) -> str:
    """A duration in days (« 1 jour », « 183 jours »)."""
    return f"{fr_count(n)} jour" + ("s" if n > 1 else "")
