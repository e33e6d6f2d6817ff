"""Confidentialité: the privacy notice of CCR, with live retention durations, sub-processors and DPO contact."""

import streamlit as st

from ccr.core.config import get_settings
from ccr.ui.consent import ensure_consent_banner
from ccr.ui.guard import require_page
from ccr.ui.privacy import retention_table, subprocessor_table
from ccr.ui.text import md_escape

actor = require_page("privacy")
ensure_consent_banner()  # also on a deep link that runs this page without app.py
settings = get_settings()
dpo = md_escape(settings.dpo_contact)

st.title("🔒 Confidentialité")
st.caption("Comment CallCenterRate (CCR) traite les données personnelles, pourquoi, combien de temps, "
           "qui y a accès et comment exercer vos droits.")

st.header("Qui est responsable ?")
st.markdown(
    "CCR est installé sur les serveurs de l'organisation qui l'utilise (votre employeur ou son prestataire "
    "de centre d'appels). Cette organisation est **responsable du traitement** : elle décide quels appels "
    "sont évalués, avec quelle grille et pour combien de temps. L'éditeur de CCR n'accède pas à vos données "
    "depuis ses propres systèmes ; quand il intervient (hébergement, support), il agit comme sous-traitant, "
    "sur instruction écrite."
)
st.markdown(f"**Délégué à la protection des données (DPO) :** {dpo}")

st.header("Quelles données, et pourquoi ?")
# (data, what CCR does with it, legal basis)
PROCESSING = (
    ("**Comptes utilisateurs** : identifiant, nom affiché, e-mail éventuel, rôle, équipes, empreinte du mot "
     "de passe (jamais le mot de passe), connexions et verrouillages",
     "Connexion, droits d'accès par rôle et par équipe", "Exécution du contrat de travail ou de service"),
    ("**Enregistrements d'appels** (chiffrés sur disque) et leurs métadonnées : date, durée, agent, équipe",
     "Évaluation de la qualité de service, formation des agents", "Intérêt légitime de l'organisation"),
    ("**Transcriptions** automatiques, où les numéros de carte, IBAN, numéros de sécurité sociale, e-mails "
     "et téléphones sont masqués avant tout enregistrement",
     "Recherche et preuve des critères évalués", "Intérêt légitime de l'organisation"),
    ("**Évaluations** : notes, critères, citations justificatives, irritants exprimés par le client, "
     "synthèses, recommandations, validations et corrections humaines",
     "Suivi de la qualité, accompagnement des agents, calibrage des évaluateurs",
     "Intérêt légitime de l'organisation"),
    ("**Journal d'audit** : qui a consulté, modifié, exporté ou supprimé quoi, et quand",
     "Sécurité et traçabilité des accès", "Obligation de sécurité (RGPD art. 32)"),
    ("**Preuves de consentement** aux cookies : identifiant aléatoire, choix, version de la politique, dates",
     "Prouver votre choix (RGPD art. 7.1)", "Obligation légale"),
    ("**Mesure d'audience** (seulement si votre organisation l'a activée et que vous l'acceptez)",
     "Statistiques de fréquentation des pages", "Votre consentement, révocable à tout moment"),
)
st.markdown("| Données | Ce que CCR en fait | Base légale |\n|---|---|---|\n"
            + "\n".join(f"| {data} | {use} | {basis} |" for data, use, basis in PROCESSING))
st.markdown(
    "Les statistiques conservées au-delà des durées ci-dessous sont **anonymisées** : agrégées par jour et "
    "par équipe, sans nom, sans transcription ni enregistrement, et regroupées au niveau de l'organisation "
    "pour les petites équipes afin que personne ne puisse être reconnu."
)

st.header("Décisions automatisées")
st.markdown(
    "Les notes proposées par CCR (règles ou modèle de langage) sont des **aides à l'évaluation**. Aucune "
    "décision vous concernant n'est prise sur le seul fondement d'un traitement automatisé (RGPD art. 22) : "
    "un évaluateur humain peut valider ou corriger chaque note, et c'est la note validée qui fait foi. "
    "CCR n'applique **aucune reconnaissance d'émotions** aux agents (règlement européen sur l'IA, "
    "art. 5, § 1, f) : il analyse les mots prononcés, pas la voix ni l'état émotionnel."
)

st.header("Combien de temps ?")
if actor is None:
    st.caption("Durées par défaut. Chaque organisation cliente peut les ajuster dans les limites légales : "
               "une fois connecté, cette page affiche celles de votre organisation.")
else:
    st.caption("Durées en vigueur dans votre organisation, lues à l'instant dans ses paramètres de "
               "conservation. Passé ce délai, les données sont supprimées automatiquement chaque nuit.")
st.dataframe(retention_table(actor), hide_index=True, width="stretch")

st.header("Qui y a accès ?")
st.markdown(
    "- **Au sein de l'organisation**, selon le rôle : un chef d'équipe ne voit que les appels de ses "
    "équipes ; les superviseurs, le DPO et les administrateurs voient l'organisation entière. Chaque "
    "accès à un appel est journalisé.\n"
    "- **Aucune autre organisation** : les données de chaque client sont strictement séparées.\n"
    "- **Aucune revente**, aucun usage publicitaire, aucun entraînement de modèle sur vos données."
)
st.subheader("Sous-traitants")
processors = subprocessor_table()
if processors:
    st.caption("Liste tenue à jour par l'application d'après sa configuration actuelle.")
    st.dataframe(processors, hide_index=True, width="stretch")
else:
    st.info("Aucun sous-traitant : transcription et évaluation s'exécutent sur les serveurs de votre "
            "organisation ; aucune donnée d'appel ne quitte ses locaux.")

st.header("Vos droits")
st.markdown(
    "Vous disposez d'un droit d'**accès**, de **rectification**, d'**effacement**, de **limitation** du "
    "traitement et d'**opposition** pour des raisons tenant à votre situation particulière, ainsi que du "
    "droit de **retirer votre consentement** aux cookies de mesure d'audience à tout moment "
    "(bouton « 🍪 Gérer mes cookies » dans le menu). Un agent peut demander la copie de ses enregistrements "
    "et de ses évaluations, et contester une évaluation."
)
st.markdown(
    f"**Pour exercer vos droits**, écrivez au DPO : {dpo}. Une réponse vous est apportée dans un délai "
    "d'un mois (prolongeable de deux mois pour une demande complexe, avec information). Une pièce "
    "permettant de vérifier votre identité peut vous être demandée. Si la réponse ne vous satisfait pas, "
    "vous pouvez saisir la CNIL (www.cnil.fr, 3 place de Fontenoy, 75007 Paris)."
)
