"""Process-wide resources, started once per server process through ``st.cache_resource``.

The database is migrated, then background services are started with fixed ids,
never from a page script: every rerun and every session shares them.
"""

from __future__ import annotations

import streamlit as st

from ccr.config import get_settings
from ccr.db import migrate
from ccr.services import start_services


@st.cache_resource(show_spinner=False)
def boot() -> dict:
    """Migrate the database and start the background services of this process (once)."""
    settings = get_settings()
    settings.secret()  # refuse to start with a default secret, create it on first start
    migrate(settings)
    return start_services(settings)
