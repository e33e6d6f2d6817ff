"""Untrusted text in Streamlit: escaped so that it always renders as the characters it holds.

Transcripts, agent, team and user names, campaign labels are data. ``st.markdown`` (and every widget
label, metric, tab, expander and tooltip) does not render raw HTML without ``unsafe_allow_html``, but
it still interprets Markdown (links, images, emphasis), Streamlit directives (``:red[...]``,
``:emoji:``) and LaTeX (``$...$``): every one of those characters is backslash-escaped, which
CommonMark allows for any ASCII punctuation. GitHub-flavoured Markdown also turns bare URLs
(``http://…``, ``www.…``) and e-mail addresses into links *after* the escapes are resolved, so a word
joiner (invisible, never a line break) is slipped into them. Bidirectional controls are dropped.

Where Streamlit shows text as plain text (dataframe cells, select box options, plotly labels),
:func:`plain` and :func:`plain_frame` still drop the bidirectional controls.
"""

from __future__ import annotations

import re

import pandas as pd

from ccr.core.textnorm import strip_bidi

# Every ASCII punctuation character Markdown, GFM, Streamlit directives or LaTeX give a meaning to.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")
_WHITESPACE_RUN = re.compile(r"\s+")
# What GFM's autolink literals start with (https?://, www., an e-mail's @); matched before escaping.
_AUTOLINK_START = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=www)(?=\.)|(?<=@)")
WORD_JOINER = "\u2060"  # zero width, no line break: breaks the autolink pattern without a visible change
# Dataframe number format. Streamlit formats table numbers in the browser: a printf format always writes
# « 77.8 », "localized" follows the browser's language (« 77,8 » in French). Cells stay numbers, so
# sorting is numeric; the text elements use ccr.core.formats, which never depends on the browser.
NUMBER_FORMAT = "localized"


def plain(value: object) -> str:
    """``value`` as text for elements that show plain text: bidirectional controls removed."""
    return strip_bidi("" if value is None else str(value))


def md_escape(value: object) -> str:
    """``value`` as Markdown that displays exactly its text, on one line, with no link, markup or bidi control."""
    text = _WHITESPACE_RUN.sub(" ", plain(value)).strip()
    text = _AUTOLINK_START.sub(WORD_JOINER, text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names have their bidirectional controls removed."""
    out = frame.rename(columns=lambda c: plain(c) if isinstance(c, str) else c)
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda v: plain(v) if isinstance(v, str) else v)
    return out


def fmt_ts(seconds: float | None) -> str:
    """A position in a recording: ``01:05`` or ``1:02:03``."""
    total = max(0, int(seconds or 0))  # floor: a jump never starts after the quoted words
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
