"""Process-wide resources, and the server launcher ``python -m ccr serve``.

:func:`serve` prepares the process before Streamlit accepts its first visitor: owner-only file modes,
the database migrated, background services (workers, scheduler) started — so a queued call is worked
on and probes are recorded after a restart even if nobody opens a page. It also turns off Streamlit's
legacy ``pages/`` mode for the process: without that, the first run of a fresh server listed the raw
file names of ``pages/`` in the sidebar, and a deep link ran its page without ``app.py`` (no cookie
login, no navigation), which refused it.

:func:`boot` (``st.cache_resource``, once per process) does the same preparation when the app is
started with plain ``streamlit run``; under ``serve`` it finds everything already done.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from ccr.core import audit
from ccr.core.config import get_settings
from ccr.core.db import migrate
from ccr.core.filemodes import restrict_umask, secure_data_dir
from ccr.ops.services import start_services, stop_services
from ccr.ui import charts

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@st.cache_resource(show_spinner=False)
def boot() -> dict:
    """Migrate the database and start the background services of this process (once)."""
    settings = get_settings()
    settings.secret()  # refuse to start with a default secret, create it on first start
    migrate(settings)
    audit.checkpoint_job(settings)  # a server down for days is not a stale audit chain (never raises)
    charts.warm_up()
    return start_services(settings)


def serve(streamlit_args: list[str]) -> int:
    """Prepare the process (modes, database, services), then run the Streamlit server in it until it stops."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    restrict_umask()
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("ccr").setLevel(logging.INFO)
    settings = get_settings()
    settings.secret()
    secure_data_dir(settings)  # the full walk, once per server start: what an older release left open
    migrate(settings)
    audit.checkpoint_job(settings)  # a server down for days is not a stale audit chain (never raises)
    services = start_services(settings)
    charts.warm_up()  # the first visitors do not each wait on plotly's first imports
    logging.getLogger(__name__).info("Services d'arrière-plan %s.", "démarrés" if services.get("started")
                                     else "désactivés (CCR_BACKGROUND_SERVICES=0)")
    # app.py declares every page with st.navigation: the pages/ folder is never a navigation of its own.
    PagesManager.uses_pages_directory = False
    try:
        streamlit_cli.main(args=["run", str(APP_SCRIPT), *streamlit_args], prog_name="streamlit",
                           standalone_mode=False)
    finally:
        stop_services(settings)
    return 0
