"""Escaping untrusted text for Streamlit markdown, and recording positions."""

import re

import pandas as pd
import pytest

from ccr.ui.text import WORD_JOINER, fmt_ts, md_escape, plain, plain_frame

# GitHub-flavoured Markdown's autolink literals (remark-gfm), found in text once the escapes are resolved.
GFM_AUTOLINK = re.compile(r"(?i)(https?://|www(?=\.))[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+")


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<script>alert(1)</script>", "\\<script\\>alert\\(1\\)\\</script\\>"),
        ("[lien](javascript:alert(1))", "\\[lien\\]\\(javascript\\:alert\\(1\\)\\)"),
        ("**gras** _it_ `code` $x$", "\\*\\*gras\\*\\* \\_it\\_ \\`code\\` \\$x\\$"),
        (":red[rouge] :smile:", "\\:red\\[rouge\\] \\:smile\\:"),
        ("&lt;b&gt;", "\\&lt;b\\&gt;"),
        ("# titre\n- liste", "\\# titre \\- liste"),  # one line: no heading, no list
        ("ma carte [CARTE]", "ma carte \\[CARTE\\]"),
        (None, ""),
        ("Très bien, merci", "Très bien, merci"),
        ("Julie\u202e Martin", "Julie Martin"),  # a right-to-left override would reverse the rest
        ("http://evil.example", f"http{WORD_JOINER}\\://evil\\.example"),
        ("HTTPS://x.fr WWW.x.fr", f"HTTPS{WORD_JOINER}\\://x\\.fr WWW{WORD_JOINER}\\.x\\.fr"),
        ("a@evil.example", f"a@{WORD_JOINER}evil\\.example"),
    ],
)
def test_md_escape_leaves_no_markup(raw, escaped):
    assert md_escape(raw) == escaped


@pytest.mark.parametrize(("seconds", "shown"), [(0, "00:00"), (12.9, "00:12"), (65, "01:05"), (3723, "1:02:03"),
                                                (None, "00:00"), (-3, "00:00")])
def test_fmt_ts(seconds, shown):
    assert fmt_ts(seconds) == shown


@pytest.mark.parametrize("raw", ["http://evil.example", "voir https://evil.example/x?y=1", "www.evil.example",
                                 "(www.evil.example)", "agent@evil.example", "mailto:agent@evil.example"])
def test_md_escape_leaves_no_autolink_once_escapes_are_resolved(raw):
    resolved = re.sub(r"\\(.)", r"\1", md_escape(raw))  # what the Markdown parser hands to the autolinker
    assert not GFM_AUTOLINK.search(resolved)
    assert resolved.replace(WORD_JOINER, "") == raw  # and the text reads the same


def test_plain_removes_bidi_controls_only():
    assert plain("**Julie**\u202e [x](y)") == "**Julie** [x](y)"
    assert plain(None) == ""


def test_plain_frame_cleans_text_cells_and_keeps_numbers():
    frame = pd.DataFrame({"Agent\u202e": ["Julie\u202e", None], "Score": [77.8, 64.0]})
    out = plain_frame(frame)
    assert list(out.columns) == ["Agent", "Score"]
    assert out["Agent"].tolist()[0] == "Julie" and out["Agent"].isna().tolist()[1]
    assert out["Score"].tolist() == [77.8, 64.0]
    assert frame["Agent\u202e"].tolist()[0] == "Julie\u202e"  # the original is left alone
