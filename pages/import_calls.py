"""Import (supervisor, admin): upload recordings and an optional metadata CSV, then follow their processing."""

from datetime import datetime

import pandas as pd
import streamlit as st

from ccr.core import orgs
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number
from ccr.pipeline import ingest
from ccr.ui.guard import require_page
from ccr.ui.queue_panel import batch_progress, queue_panel, stored_calls_panel
from ccr.ui.text import md_escape, plain, plain_frame

actor = require_page("import")
st.title("📥 Import d'appels")
st.caption("Déposez des enregistrements : chacun est vérifié (décodé en entier), chiffré, puis transcrit et "
           "évalué en arrière-plan. Vous pouvez quitter la page pendant le traitement.")

BATCH_KEY = "ccr_import_batch"
FLASH_KEY = "ccr_import_flash"
NONE = "—"

with st.sidebar:
    queue_panel(actor)

results_area = st.container()  # filled at the end, shown above the form: what was just imported comes first

with session() as s:
    agents = orgs.list_agents(session=s, actor=actor)
    teams = orgs.list_teams(session=s, actor=actor)
agent_names = {a.id: plain(a.name) for a in agents}
team_names = {t.id: plain(t.name) for t in teams}

with st.form("ccr_import_form", clear_on_submit=True):
    # No type= filter: with one, Streamlit refuses the whole batch (in English) when a single name holds a
    # NUL byte; ccr.pipeline.ingest sanitises every name and decodes every file, and refuses only a bad one, in French.
    uploads = st.file_uploader(f"Enregistrements ({', '.join(ingest.ACCEPTED_EXTENSIONS)} ; mono ou stéréo)",
                               accept_multiple_files=True)
    metadata_file = st.file_uploader("Métadonnées (CSV, facultatif)")
    st.markdown("**Valeurs par défaut** (utilisées quand le CSV ne précise rien)")
    c1, c2, c3 = st.columns(3)
    agent_id = c1.selectbox("Agent", [None, *agent_names], format_func=lambda i: agent_names.get(i, NONE))
    team_id = c2.selectbox("Équipe", [None, *team_names], format_func=lambda i: team_names.get(i, NONE),
                           help="Par défaut, l'équipe de l'agent.")
    direction = c3.selectbox("Sens", [None, "entrant", "sortant"],
                             format_func=lambda d: {"entrant": "Entrant", "sortant": "Sortant"}.get(d, NONE))
    c4, c5, c6 = st.columns(3)
    day = c4.date_input("Date de l'appel", value=None, format="DD/MM/YYYY")
    hour = c5.time_input("Heure", value=None)
    campaign = c6.text_input("Campagne", max_chars=ingest.MAX_TEXT_LEN)
    submitted = st.form_submit_button("Importer", type="primary")

MAX_ROWS = fr_number(ingest.MAX_CSV_ROWS, 0)
with st.expander("Format du fichier de métadonnées et des noms de fichiers"):
    st.markdown(
        "**CSV** : séparateur `;` ou `,` ; UTF-8, UTF-16 ou Windows-1252. Colonnes : `fichier` (obligatoire), "
        "`agent`, `equipe`, `date` (`JJ/MM/AAAA HH:MM` ou `AAAA-MM-JJ HH:MM`), `heure`, `direction` "
        "(entrant/sortant), `campagne`, `id_externe`, `telephone_client`. Une ligne en erreur est signalée "
        "avec son numéro ; les autres lignes sont appliquées. Seules les lignes des fichiers envoyés sont "
        f"lues ; au-delà de {MAX_ROWS} lignes, le fichier est refusé. Une date d'appel dans le futur, ou "
        "plus ancienne que toute durée de conservation autorisée, est refusée.\n\n"
        "**Nom de fichier** (à défaut) : `AAAAMMJJ-HHMMSS_<agent>_<direction>_<campagne>.wav`, par exemple "
        "`20260315-143005_Julie-Martin_entrant_Fibre.wav` (heure locale ; tirets ou points à la place des "
        "espaces du nom de l'agent ; les parties après l'heure sont facultatives)."
    )

if submitted:
    if not uploads:
        st.warning("Aucun enregistrement sélectionné.")
    else:
        started_at = datetime.combine(day, hour) if day and hour else day
        defaults = {"agent_id": agent_id, "team_id": team_id, "direction": direction,
                    "campaign": campaign.strip() or None, "started_at": started_at}
        try:
            with st.spinner(f"Vérification et chiffrement de {len(uploads)} fichier(s)…"):
                batch = ingest.ingest_files(
                    actor=actor,
                    files=[(f.name, f.getvalue()) for f in uploads],
                    metadata_csv=metadata_file.getvalue() if metadata_file else None,
                    defaults=defaults,
                )
        except CcrError as err:
            st.error(str(err))
        else:
            st.session_state[BATCH_KEY] = {
                "results": [r.as_row() for r in batch.results],
                "line_errors": [e.as_row() for e in batch.line_errors],
                "call_ids": batch.call_ids,
                "ignored_lines": batch.ignored_lines,
            }

with results_area:
    if flash := st.session_state.pop(FLASH_KEY, None):
        st.info(flash)

    last = st.session_state.get(BATCH_KEY)
    if last:
        st.subheader("Fichiers reçus")
        accepted = sum(r["statut"] == "accepté" for r in last["results"])
        st.caption(f"{accepted} accepté(s), {len(last['results']) - accepted} non importé(s).")
        if ignored := last.get("ignored_lines"):
            st.caption(f"{ignored} ligne(s) du fichier de métadonnées décrivent des fichiers absents de cet "
                       f"envoi : ignorée(s).")
        st.dataframe(plain_frame(pd.DataFrame(last["results"])), hide_index=True, width="stretch",
                     column_config={"fichier": "Fichier", "statut": "Statut", "raison": "Raison",
                                    "appel": st.column_config.NumberColumn("Appel", format="%d")})
        for r in last["results"]:
            if r["statut"] == "refusé":
                st.warning(f"**{md_escape(r['fichier'])}** refusé : {md_escape(r['raison'])}")
        if last["line_errors"]:
            st.subheader("Lignes du fichier de métadonnées non appliquées")
            st.dataframe(plain_frame(pd.DataFrame(last["line_errors"])), hide_index=True, width="stretch",
                         column_config={"ligne": "Ligne", "fichier": "Fichier", "erreur": "Erreur"})
        if last["call_ids"]:
            st.subheader("Traitement")
            batch_progress(actor, last["call_ids"])

stored_calls_panel(actor)
