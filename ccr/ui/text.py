"""Untrusted text in Streamlit markdown: escaped so that it always renders as the characters it holds.

Transcripts, agent names and campaign labels are data. ``st.markdown`` does not render raw HTML
without ``unsafe_allow_html``, but it still interprets Markdown (links, images, emphasis), Streamlit
directives (``:red[...]``, ``:emoji:``) and LaTeX (``$...$``): every one of those characters is
backslash-escaped, which CommonMark allows for any ASCII punctuation.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character Markdown, GFM, Streamlit directives or LaTeX give a meaning to.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")
_WHITESPACE_RUN = re.compile(r"\s+")


def md_escape(value: object) -> str:
    """``value`` as Markdown that displays exactly its text, on one line."""
    text = _WHITESPACE_RUN.sub(" ", "" if value is None else str(value)).strip()
    return _MD_SPECIAL.sub(r"\\\1", text)


def fmt_ts(seconds: float | None) -> str:
    """A position in a recording: ``01:05`` or ``1:02:03``."""
    total = max(0, int(seconds or 0))  # floor: a jump never starts after the quoted words
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
