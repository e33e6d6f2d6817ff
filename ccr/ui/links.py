"""Links between pages that carry query parameters (e.g. ``?call_id=12``), in the same browser tab."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ccr.core.access import PAGE_BY_KEY
from ccr.ui.text import md_escape


def page_link(key: str, label: str, *, query_params: dict | None = None, icon: str | None = None) -> None:
    """A link to the registered page ``key`` with optional query parameters."""
    spec = PAGE_BY_KEY[key]
    try:
        st.page_link(spec.path, label=md_escape(label), icon=icon, query_params=query_params)
    except StreamlitPageNotFoundError:
        # A page run on its own (AppTest, legacy pages/ mode) has no st.navigation to resolve paths:
        # a plain relative link to the page's url_path (its key, see app.py) still leads there.
        query = f"?{urlencode(query_params)}" if query_params else ""
        st.markdown(f"[{md_escape(label)}](/{key}{query})")
