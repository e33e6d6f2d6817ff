"""CCR frame: page config, login, consent banner and the navigation built from the user's role."""

import streamlit as st

from ccr.core import timings
from ccr.core.access import pages_for
from ccr.core.config import get_settings
from ccr.ui.auth import authenticate
from ccr.ui.consent import render_consent_banner, render_cookie_manager_button
from ccr.ui.guard import run_scope
from ccr.ui.maintenance_banner import render_maintenance_banner
from ccr.ui.runtime import boot

st.set_page_config(page_title="CallCenterRate", page_icon="📞", layout="wide")
# One page run: measured only when asked (benchmarks/bench_load.py); the user validated once in it.
with timings.page_run(get_settings().run_timings_file), run_scope():
    boot()
    render_consent_banner()  # before login: the choice is asked on every page until it is made
    render_cookie_manager_button()
    render_maintenance_banner()  # every page, from the notice period on

    with timings.section("auth"):
        login = authenticate()
    actor = login.actor
    role = actor.role if actor else None
    specs = pages_for(role)
    if actor is None:
        pages = [st.Page(login.render_page, title="Connexion", icon="🔐", url_path="connexion", default=True)]
        pages += [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.key) for p in specs]
        page = st.navigation(pages, position="hidden" if len(pages) == 1 else "sidebar")
    else:
        sections: dict[str, list] = {}
        for i, p in enumerate(specs):
            sections.setdefault(p.section, []).append(
                st.Page(p.path, title=p.title, icon=p.icon, url_path=p.key, default=(i == 0)))
        page = st.navigation(sections)
    timings.name_page(page.title)
    page.run()
