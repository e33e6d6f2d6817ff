"""Accueil: who is logged in and what their role can do."""

import streamlit as st

from ccr.core.access import may, pages_for
from ccr.core.db import session
from ccr.core.vocab import ROLE_LABELS
from ccr.quality.disputes import count_open_disputes
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import md_escape

actor = require_page("home")
st.title("📞 CallCenterRate")
st.markdown(f"Bonjour **{md_escape(actor.display_name)}** — rôle : {ROLE_LABELS[actor.role]}.")
if may(actor.role, "resolve_disputes"):
    with session() as s:
        waiting = count_open_disputes(session=s, actor=actor)
    if waiting:
        st.warning(f"{waiting} contestation{'s' if waiting > 1 else ''} de téléconseillers en attente de réponse.",
                   icon="⚖️")
        page_link("disputes", "Traiter les contestations", icon="⚖️")
st.subheader("Vos pages")
st.caption("Elles sont listées dans le menu de gauche ; seules celles de votre rôle y figurent.")
for spec in pages_for(actor.role):
    if spec.key != "home":
        st.markdown(f"- {spec.icon} {spec.title}")
