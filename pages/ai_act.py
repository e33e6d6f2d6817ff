"""Conformité IA (DPO, admin): the deployer's documents generated from the settings in force, their
publication history, and the audit-log check."""

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.vocab import GOVERNANCE_DOCUMENTS
from ccr.governance import deployer_pack as pack
from ccr.governance import log_check as lc
from ccr.governance.documents import fr_count, fr_days
from ccr.ui.consent import ensure_consent_banner
from ccr.ui.guard import require_page
from ccr.ui.text import md_escape, plain_frame

actor = require_page("ai_act")
ensure_consent_banner()  # also on a deep link that runs this page without app.py
settings = get_settings()
TZ = ZoneInfo(settings.timezone)
FLASH_KEY = "ccr_ai_act_flash"
CHECK_KEY = "ccr_ai_act_check"


def _when(moment) -> str:
    return moment.astimezone(TZ).strftime("%d/%m/%Y à %H:%M")


st.title("📜 Conformité IA")
st.caption("Documents exigés du déployeur d'une IA qui évalue des salariés (règlement européen sur l'IA, "
           "annexe III, 4, b) : ils sont générés à partir des paramètres en vigueur et des chiffres mesurés sur "
           "vos appels. Modifiez un paramètre, le texte change ; publiez-le pour en garder la version remise.")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

try:
    with session() as s:
        docs = {kind: pack.build(session=s, actor=actor, kind=kind) for kind in GOVERNANCE_DOCUMENTS}
        history = {kind: pack.publications(session=s, actor=actor, kind=kind) for kind in GOVERNANCE_DOCUMENTS}
        points = pack.attention_points(session=s, actor=actor)
except CcrError as err:
    st.error(str(err))
    st.stop()

if points:
    with st.expander(f"Points d'attention ({len(points)})", expanded=True):
        for point in points:
            st.markdown(f"- {md_escape(point)}")

tabs = st.tabs([*GOVERNANCE_DOCUMENTS.values(), "Contrôle du journal d'audit"])

for tab, (kind, label) in zip(tabs[:-1], GOVERNANCE_DOCUMENTS.items(), strict=True):
    doc, published = docs[kind], history[kind]
    with tab:
        if not published:
            st.warning("Ce document n'a jamais été publié : publiez-le avant la mise en service de l'évaluation.")
        elif published[0].digest != doc.digest:
            st.warning(f"Le texte en vigueur diffère de la version publiée le {_when(published[0].published_at)} : "
                       "les paramètres ou les chiffres ont changé depuis. Publiez cette version pour la remettre.")
        else:
            st.success(f"Identique à la version publiée le {_when(published[0].published_at)}.")
        left, middle, right = st.columns(3)
        left.download_button("Télécharger (.md)", doc.markdown.encode("utf-8"), file_name=doc.file_name("md"),
                             mime="text/markdown", key=f"md_{kind}")
        middle.download_button("Télécharger (.html)", doc.html.encode("utf-8"), file_name=doc.file_name("html"),
                               mime="text/html", key=f"html_{kind}")
        if may(actor.role, "publish_notices") and right.button("Publier cette version", key=f"publish_{kind}",
                                                               type="primary"):
            try:
                with session() as s:
                    out = pack.publish(session=s, actor=actor, kind=kind)
                st.session_state[FLASH_KEY] = (f"« {label} » publiée (empreinte {out.short_digest}). Remettez-la "
                                               "aux personnes concernées.")
                st.rerun()
            except CcrError as err:
                st.error(str(err))
        with st.container(border=True):
            # The document's Markdown escapes every untrusted value itself (ccr.governance.deployer_pack).
            st.markdown(doc.markdown)
        st.subheader("Versions publiées")
        if not published:
            st.info("Aucune version publiée.")
        else:
            st.dataframe(plain_frame(pd.DataFrame([
                {"Date": _when(p.published_at), "Par": p.published_by, "Empreinte": p.short_digest}
                for p in published])), hide_index=True, width="stretch")

with tabs[-1]:
    st.caption(f"Vérifie que le journal d'audit est conservé au moins {fr_days(lc.AUDIT_LOG_MIN_DAYS)} et "
               f"qu'aucune de ses {fr_count(lc.AUDIT_ROWS_SCANNED)} entrées les plus récentes ne reprend "
               f"{lc.SHARED_RUN_WORDS} mots consécutifs d'une des {fr_count(lc.TRANSCRIPTS_SCANNED)} dernières "
               "transcriptions. Le résultat désigne les entrées, jamais le texte.")
    if st.button("Lancer le contrôle", key="audit_check"):
        try:
            with session() as s:
                # Kept with its organisation: a later login to another one in this browser never sees it.
                st.session_state[CHECK_KEY] = (actor.org_id, pack.audit_log_check(session=s, actor=actor))
        except CcrError as err:
            st.error(str(err))
    org_id, check = st.session_state.get(CHECK_KEY) or (None, None)
    if check is not None and org_id == actor.org_id:
        for line, ok in zip(check.lines(), (check.retention_ok, check.text_ok), strict=True):
            (st.success if ok else st.error)(line)
        if check.leaks:
            st.dataframe(pd.DataFrame([{"Entrée n°": leak.audit_id, "Action": leak.action,
                                        "Date": _when(leak.created_at), "Appel n°": leak.call_id}
                                       for leak in check.leaks]), hide_index=True, width="stretch")
