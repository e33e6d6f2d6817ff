"""Cookies: the cookie policy, listing every cookie the app can set (from ccr.privacy.consent.cookie_inventory)."""

import streamlit as st

from ccr.core.config import get_settings
from ccr.privacy.consent import CATEGORIES, analytics_enabled, cookie_inventory, storage_inventory
from ccr.ui.consent import consent_state, ensure_consent_banner
from ccr.ui.guard import require_page

actor = require_page("cookies")
ensure_consent_banner()  # also on a deep link that runs this page without app.py
settings = get_settings()

st.title("🍪 Cookies")
st.caption(f"Version de la politique : {settings.consent_policy_version}. Une nouvelle version vous "
           "redemande votre choix.")

st.markdown(
    "Un cookie est un petit fichier que le navigateur garde pour un site et lui renvoie à chaque visite. "
    "CallCenterRate n'utilise que des cookies **propres** à son adresse : aucun cookie publicitaire, aucun "
    "réseau social, et aucune page ne charge de police, d'icône ou de script depuis un autre site."
)

st.header("Les cookies déposés")
rows = [{"Nom": c["name"], "Finalité": c["purpose"], "Durée": c["lifetime"],
         "Catégorie": CATEGORIES[c["category"]]["label"]} for c in cookie_inventory(settings)]
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("« * » remplace la fin du nom, que Matomo ou Streamlit complète (numéro du site, code, adresse).")
st.markdown("Quelques réglages d'affichage sont aussi gardés dans le stockage du navigateur ; ils ne sont "
            "jamais envoyés au serveur et ne servent à aucun suivi :")
st.dataframe([{"Nom": c["name"], "Finalité": c["purpose"], "Durée": c["lifetime"]} for c in storage_inventory()],
             hide_index=True, width="stretch")

st.header("Les catégories")
for category in CATEGORIES.values():
    st.markdown(f"**{category['label']}** — {category['help']}")
if not analytics_enabled(settings):
    st.markdown("La mesure d'audience n'est pas activée sur cette installation : aucun cookie Matomo "
                "n'est déposé, même si vous l'acceptez.")
st.markdown("Aucun cookie de préférences fonctionnelles n'est déposé à ce jour : votre accord sera "
            "simplement respecté si une telle préférence est ajoutée.")

st.header("Votre choix")
st.markdown(
    "Au premier passage, un bandeau vous propose **Tout accepter**, **Tout refuser** ou **Personnaliser**. "
    "Refuser est aussi simple qu'accepter et ne limite pas l'accès au service. Votre choix est gardé "
    f"{settings.consent_max_days} jours au plus, puis le bandeau revient. Une preuve de votre choix est "
    "conservée sous un identifiant aléatoire, sans lien avec votre compte avant la connexion."
)
state = consent_state()
if state["chosen"]:
    accepted = [CATEGORIES[k]["label"] for k in ("audience", "functional") if state[k]]
    summary = ", ".join(accepted) if accepted else "aucun cookie facultatif"
    st.info(f"Votre choix actuel : {summary} (valable jusqu'au {state['expires_at']:%d/%m/%Y}).")
else:
    st.info("Vous n'avez pas encore fait de choix : seuls les cookies strictement nécessaires sont déposés.")
st.markdown(
    "Vous pouvez changer d'avis ou retirer votre consentement à tout moment avec le bouton "
    "« 🍪 Gérer mes cookies » du menu latéral : les cookies de mesure d'audience sont alors supprimés et la "
    "page est rechargée pour arrêter la mesure. Vous pouvez aussi supprimer les cookies depuis les "
    "réglages de votre navigateur."
)
