"""AppTest helpers: run a page file as a logged-in role, or anonymously."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ccr.core.db import utcnow

REPO = Path(__file__).resolve().parents[2]

REFUSAL = "Accès refusé"


def run_page(path: str, user_id: int | None = None, query: dict | None = None, timeout: float = 60) -> AppTest:
    """Run ``path`` once with the session of ``user_id`` (None = anonymous) and return the AppTest."""
    at = AppTest.from_file(str(REPO / path), default_timeout=timeout)
    if user_id is not None:
        at.session_state["ccr_user_id"] = user_id
        at.session_state["ccr_issued_at"] = utcnow()
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    return at


def refused(at: AppTest) -> bool:
    """True when the page stopped on the guard's refusal."""
    return any(REFUSAL in e.value for e in at.error)


def walk_strings(value):
    """Every string inside nested dicts and lists (a plotly figure's JSON, a table's records)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)
    elif isinstance(value, str):
        yield value
