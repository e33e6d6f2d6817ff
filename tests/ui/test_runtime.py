"""``python -m ccr serve`` turns off Streamlit's legacy pages/ navigation through a class attribute of
Streamlit's: this fails when an upgrade renames it, before a fresh server lists raw file names again."""

from __future__ import annotations

import importlib.metadata
import inspect


def test_the_pages_manager_still_reads_the_attribute_serve_sets():
    from streamlit.runtime import pages_manager

    assert importlib.metadata.version("streamlit") == "1.67.0"
    # Streamlit looks for a pages/ folder only while the attribute is still None: set first, it never does.
    assert "if PagesManager.uses_pages_directory is None:" in inspect.getsource(pages_manager)


def test_serve_sets_it_before_streamlit_runs():
    from ccr.ui import runtime

    src = inspect.getsource(runtime.serve)
    assert src.index("PagesManager.uses_pages_directory = False") < src.index("streamlit_cli.main(")
