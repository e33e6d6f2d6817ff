"""Vocabulaire métier (supervisor, admin): the names given to the recogniser, its versions and what changed."""

import pandas as pd
import streamlit as st

from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.speech import vocabulary
from ccr.ui.guard import require_page
from ccr.ui.service_level import local
from ccr.ui.text import md_escape, plain_frame

actor = require_page("vocabulary")
FLASH_KEY = "ccr_vocabulary_flash"
DATE_FMT = "%d/%m/%Y à %H:%M"
st.title("🔤 Vocabulaire métier")
st.caption(
    "La transcription automatique écorche les mots qu'elle n'a jamais entendus : le nom de l'entreprise, ses "
    "marques, ses produits, ses offres, les prénoms des agents. Écrivez-les ici tels qu'ils doivent apparaître, "
    "un par ligne : le moteur penche vers ces orthographes quand il hésite. Cela aide pour les noms propres et "
    "les noms d'offres, pas pour les mots courants. La liste s'applique aux appels transcrits après "
    "l'enregistrement ; un appel déjà transcrit ne change pas, sauf s'il est transcrit à nouveau."
)
st.caption(
    f"Placez en tête les termes les plus fréquents : seuls les premiers, dans la limite de "
    f"{vocabulary.MAX_HOTWORDS_CHARS} caractères, sont transmis au moteur. Une liste trop longue ou remplie de "
    "mots rares peut faire apparaître ces mots là où ils n'ont pas été prononcés."
)

if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

try:
    with session() as s:
        history = vocabulary.vocabulary_history(session=s, actor=actor)
except CcrError as err:
    st.error(str(err))
    st.stop()

current = history[0] if history else None
terms = list(current.terms) if current else []
if current is None:
    st.info("Aucun vocabulaire enregistré : les appels sont transcrits sans aide.")
else:
    st.info(f"Version {current.version} en vigueur depuis le {local(current.created_at).strftime(DATE_FMT)} "
            f"({md_escape(current.author)}) : {current.count} terme(s).")
    sent = len(vocabulary.kept_terms(terms))
    if sent < len(terms):
        st.warning(f"Seuls les {sent} premiers termes sont transmis au moteur ; les {len(terms) - sent} suivants "
                   "sont ignorés. Raccourcissez la liste ou placez en tête les plus utiles.")

with st.form("vocabulary_form"):
    text = st.text_area(
        "Termes (un par ligne, ou séparés par des virgules)", value="\n".join(terms), height=260,
        max_chars=vocabulary.MAX_TERMS * (vocabulary.MAX_TERM_CHARS + 1),
        placeholder="Domivia\nSérénité Plus\nNadia",
        help=f"{vocabulary.MAX_TERMS} termes au plus, {vocabulary.MAX_TERM_CHARS} caractères chacun. Les doublons "
             "sont retirés (la première orthographe est gardée).")
    if st.form_submit_button("Enregistrer le vocabulaire", type="primary"):
        try:
            with session() as s:
                version = vocabulary.save_vocabulary(session=s, actor=actor, terms=text)
        except CcrError as err:
            st.error(str(err))
        else:
            if version is None:
                st.session_state[FLASH_KEY] = "Aucun changement : la liste en vigueur est conservée."
            else:
                st.session_state[FLASH_KEY] = (f"Version {version} enregistrée : elle s'applique aux appels "
                                               "transcrits à partir de maintenant.")
            st.rerun()

st.subheader("Historique des versions")
if not history:
    st.caption("Aucune version pour l'instant.")
else:
    st.dataframe(plain_frame(pd.DataFrame([{
        "Version": v.version, "Enregistrée le": local(v.created_at).strftime(DATE_FMT), "Par": v.author,
        "Termes": v.count, "Ajoutés": ", ".join(v.added), "Retirés": ", ".join(v.removed)} for v in history])),
        hide_index=True)
