"""Information des agents: what happens to agents' calls, the human validation, no emotion recognition, rights."""

import streamlit as st

from ccr.core.config import get_settings
from ccr.ui.consent import ensure_consent_banner
from ccr.ui.guard import require_page
from ccr.ui.privacy import retention_table, scope_lines
from ccr.ui.text import md_escape

actor = require_page("agent_notice")
ensure_consent_banner()  # also on a deep link that runs this page without app.py
settings = get_settings()

st.title("🧑‍💼 Information des agents")
st.caption("À l'attention des conseillers et conseillères dont les appels sont évalués avec CallCenterRate.")

st.header("Vos appels sont évalués")
st.markdown(
    "Votre employeur utilise CallCenterRate pour **évaluer la qualité des appels** et vous accompagner "
    "(formation, retours, partage des bonnes pratiques). Pour cela, certains appels que vous traitez sont :\n"
    "1. **enregistrés** et stockés chiffrés ;\n"
    "2. **transcrits** automatiquement ; les numéros de carte, IBAN, numéros de sécurité sociale, e-mails "
    "et téléphones prononcés sont masqués avant tout enregistrement ;\n"
    "3. **notés** au regard d'une grille connue à l'avance (accueil, découverte du besoin, solution, "
    "politesse, conclusion…), chaque critère étant justifié par une citation de l'appel."
)
st.markdown(
    "Votre employeur doit vous avoir informé **avant** la mise en place de l'évaluation et avoir consulté "
    "les représentants du personnel. L'évaluation porte sur la qualité du service rendu, pas sur une "
    "surveillance permanente de votre activité."
)

if lines := scope_lines(actor):
    st.subheader("Dans votre organisation")
    st.markdown("\n".join(f"- {md_escape(line)}" for line in lines))
    st.caption("Les appels laissés de côté sont conservés sans être transcrits ni notés ; un superviseur ne peut "
               "en faire analyser un qu'en motivant sa demande, qui est tracée.")

st.header("Un humain valide")
st.markdown(
    "Les notes calculées par CCR sont des **propositions**. Un superviseur ou votre chef d'équipe écoute, "
    "valide ou corrige chaque évaluation avant qu'elle ne compte ; la note proposée et la note validée "
    "sont toutes deux conservées, et toute correction est journalisée. **Aucune décision vous concernant "
    "(entretien, prime, sanction) ne peut reposer sur la seule note automatique** (RGPD art. 22)."
)

st.header("Aucune reconnaissance d'émotions")
st.markdown(
    "Le règlement européen sur l'intelligence artificielle (art. 5, § 1, f) interdit les systèmes qui "
    "déduisent les émotions des personnes sur leur lieu de travail. **CCR n'analyse ni votre voix, ni votre "
    "ton, ni votre état émotionnel**, et ne produit aucune mesure d'humeur, de stress ou de sentiment à votre "
    "sujet. Il ne travaille que sur les **mots** de la transcription. Les « irritants » repérés "
    "(réclamation, attente, promesse non tenue…) concernent uniquement ce qu'exprime le **client**."
)

st.header("Combien de temps ?")
st.caption("Durées en vigueur dans votre organisation." if actor else
           "Durées par défaut ; votre organisation peut les réduire ou, avec une justification écrite, "
           "les ajuster dans les limites légales.")
st.dataframe(retention_table(actor), hide_index=True, width="stretch")

st.header("Vos droits")
st.markdown(
    "Vous pouvez demander **la copie de vos enregistrements et de vos évaluations**, **contester** une "
    "évaluation et en demander la **rectification**, demander la **limitation** d'un traitement contesté, "
    "et vous **opposer** au traitement pour des raisons tenant à votre situation particulière. Vous pouvez "
    "aussi demander l'**effacement** de données qui ne seraient plus nécessaires."
)
st.markdown(
    f"Adressez votre demande au délégué à la protection des données : {md_escape(settings.dpo_contact)}. "
    "La réponse vous parvient dans un délai d'un mois. Vous pouvez aussi saisir la CNIL (www.cnil.fr). "
    "Exercer ces droits ne peut entraîner aucune conséquence défavorable pour vous."
)
st.markdown("Pour le détail des traitements et des destinataires, voir la page « 🔒 Confidentialité ».")
