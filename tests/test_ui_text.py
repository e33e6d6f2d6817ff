"""Escaping untrusted text for Streamlit markdown, and recording positions."""

import pytest

from ccr.ui.text import fmt_ts, md_escape


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
    ],
)
def test_md_escape_leaves_no_markup(raw, escaped):
    assert md_escape(raw) == escaped


@pytest.mark.parametrize(("seconds", "shown"), [(0, "00:00"), (12.9, "00:12"), (65, "01:05"), (3723, "1:02:03"),
                                                (None, "00:00"), (-3, "00:00")])
def test_fmt_ts(seconds, shown):
    assert fmt_ts(seconds) == shown
