"""Accueil: who is logged in and what their role can do."""

import streamlit as st

from ccr.core.access import pages_for
from ccr.core.vocab import ROLE_LABELS
from ccr.ui.guard import require_page
from ccr.ui.text import md_escape

actor = require_page("home")
st.title("📞 CallCenterRate")
st.markdown(f"Bonjour **{md_escape(actor.display_name)}** — rôle : {ROLE_LABELS[actor.role]}.")
st.subheader("Vos pages")
st.caption("Elles sont listées dans le menu de gauche ; seules celles de votre rôle y figurent.")
for spec in pages_for(actor.role):
    if spec.key != "home":
        st.markdown(f"- {spec.icon} {spec.title}")
