"""Calibration: how far the AI agrees with supervisors (validated and blind verdicts), and sessions where
several supervisors score the same call blind."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import CcrError
from ccr.core.formats import fr_percent, fr_score, label_of
from ccr.core.vocab import SPEAKER_LABELS, VERDICT_LABELS
from ccr.quality import calibration, reviews
from ccr.scoring.evaluation import VERDICTS
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import NUMBER_FORMAT, md_escape, plain, plain_frame

actor = require_page("calibration")

CALIBRATION_DAYS = 90  # a quarter of reviews gives enough verdicts per criterion to compare
SHORT = {"pass": "C", "fail": "NC", "na": "NA"}
FLASH_KEY = "ccr_calibration_flash"
tz = ZoneInfo(get_settings().timezone)
st.title("🎯 Calibration")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)
tab_ai, tab_sessions = st.tabs(["IA et superviseurs", "Sessions entre superviseurs"])


def _agreement_table(block: dict) -> None:
    rows = []
    for c in block["criteria"]:
        row = {"Critère": c["label"], "Verdicts": c["n"],
               "Accord (%)": None if c["rate"] is None else round(100 * c["rate"], 1)}
        for ai in VERDICTS:
            for human in VERDICTS:
                row[f"IA {SHORT[ai]} → humain {SHORT[human]}"] = c["confusion"][ai][human]
        rows.append(row)
    st.dataframe(plain_frame(pd.DataFrame(rows)), hide_index=True, width="stretch",
                 column_config={"Accord (%)": st.column_config.NumberColumn(format=NUMBER_FORMAT)})


with tab_ai:
    st.caption("Accord entre l'IA et les superviseurs, critère par critère. « À l'aveugle » compare l'IA aux "
               "verdicts donnés avant de voir les siens : c'est l'accord réel. « Validés » compare aux verdicts "
               "retenus après lecture de l'IA, que la suggestion peut influencer. C = conforme, NC = non "
               "conforme, NA = non applicable.")
    today = utcnow().astimezone(tz).date()
    period = st.date_input("Période (date des appels)", value=(today - timedelta(days=CALIBRATION_DAYS), today),
                           max_value=today, format="DD/MM/YYYY")
    if isinstance(period, tuple) and len(period) == 2:
        try:
            with session() as s:
                cal = calibration.ai_agreement(session=s, actor=actor, period=period)
        except CcrError as err:
            st.error(str(err))
            st.stop()
        c_blind, c_valid = st.columns(2)
        c_blind.metric("Appels revus à l'aveugle", cal["blind"]["calls"])
        c_valid.metric("Appels validés", cal["calls"])
        st.subheader("À l'aveugle")
        if cal["blind"]["criteria"]:
            _agreement_table(cal["blind"])
        else:
            st.info("Aucune revue à l'aveugle sur la période : un administrateur l'active dans « Contestations » "
                    "> « Règles ».")
        st.subheader("Validés")
        if not cal["criteria"]:
            st.info("Aucun appel validé sur la période : validez des appels pour mesurer l'accord.")
        else:
            _agreement_table(cal)
            st.subheader("Désaccords les plus fréquents")
            if not cal["disagreements"]:
                st.success("Aucun désaccord : l'IA et les superviseurs concordent sur tous les critères.")
            for d in cal["disagreements"]:
                st.markdown(f"**{md_escape(d['label'])}** — IA : {VERDICT_LABELS[d['ai']]} → superviseur : "
                            f"{VERDICT_LABELS[d['human']]} ({d['count']} appel{'s' if d['count'] > 1 else ''})")
                link_cols = st.columns(min(len(d["call_ids"]), 6) or 1)
                for k, cid in enumerate(d["call_ids"][:12]):
                    with link_cols[k % len(link_cols)]:
                        page_link("review", f"Appel n° {cid}", query_params={"call_id": cid})
        st.subheader("Catégorie de l'appel")
        cats = cal["categories"]
        if not cats["n"]:
            st.info("Aucune revue sur la période n'a encore donné de catégorie retenue.")
        else:
            names = cache.labels(actor).categories
            st.metric("Catégorie de l'IA gardée par le superviseur", fr_percent(cats["rate"], 1, ratio=True),
                      help=f"Sur {cats['n']} appels validés dont la revue a retenu une catégorie.")
            for d in cats["corrections"]:
                st.markdown(f"IA : **{md_escape(label_of(names, d['ai']))}** → superviseur : "
                            f"**{md_escape(label_of(names, d['human']))}** ({d['count']} appel"
                            f"{'s' if d['count'] > 1 else ''})")
                link_cols = st.columns(min(len(d["call_ids"]), 6) or 1)
                for k, cid in enumerate(d["call_ids"][:12]):
                    with link_cols[k % len(link_cols)]:
                        page_link("review", f"Appel n° {cid}", query_params={"call_id": cid})
    else:
        st.info("Choisissez une date de début et une date de fin.")

with tab_sessions:
    st.caption("Plusieurs superviseurs notent le même appel sans voir l'IA ni les autres. Une fois votre note "
               "donnée, vous voyez l'écart par critère et qui est plus sévère ou plus indulgent que le groupe ; "
               "l'animateur enregistre le résultat convenu.")
    with st.expander("Nouvelle session"), st.form("new_session", clear_on_submit=True):
        call_no = st.number_input("Numéro de l'appel", min_value=1, step=1, value=None)
        title = st.text_input("Titre (facultatif)", max_chars=calibration.MAX_TITLE_CHARS)
        if st.form_submit_button("Ouvrir la session") and call_no:
            try:
                with session() as s:
                    row = calibration.create_session(session=s, actor=actor, call_id=int(call_no), title=title)
                st.session_state["ccr_calibration_session"] = row.id
                st.session_state[FLASH_KEY] = "Session ouverte : notez l'appel, puis invitez vos collègues."
                st.rerun()
            except CcrError as err:
                st.error(str(err))
    with session() as s:
        sessions = calibration.list_sessions(session=s, actor=actor)
    if not sessions:
        st.info("Aucune session de calibration pour le moment.")
        st.stop()
    by_id = {v.id: v for v in sessions}
    state = {"open": "ouverte", "closed": "close"}
    chosen = st.selectbox("Session", list(by_id), key="ccr_calibration_session",
                          format_func=lambda i: plain(f"n° {i} · {by_id[i].title} ({state[by_id[i].status]}, "
                                                      f"{by_id[i].scored} note(s))"))
    with session() as s:
        view = calibration.get_session(session=s, actor=actor, session_id=chosen)
    st.caption(f"Animée par {md_escape(view.created_by)} · appel n° {view.call_id} · "
               f"{view.scored} superviseur(s) ont noté")
    if view.status == "open" and not view.scored_by_me:
        with session() as s:
            call = reviews.open_call(session=s, actor=actor, call_id=view.call_id, hide_ai=True)
        with st.expander("Transcription de l'appel", expanded=True):
            for seg in call.segments:
                st.markdown(f"**{SPEAKER_LABELS.get(seg.get('speaker'), 'Inconnu')}** — {md_escape(seg.get('text'))}")
        with st.form(f"score_{view.id}"):
            verdicts, comments = {}, {}
            for c in view.criteria:
                verdicts[c["id"]] = st.selectbox(c["label"], VERDICTS, index=None, format_func=VERDICT_LABELS.get,
                                                 placeholder="Votre verdict", key=f"sv_{view.id}_{c['id']}")
                comments[c["id"]] = st.text_input("Commentaire", key=f"sc_{view.id}_{c['id']}")
            if st.form_submit_button("Envoyer ma note"):
                try:
                    with session() as s:
                        calibration.score_session(session=s, actor=actor, session_id=view.id, verdicts=verdicts,
                                                  comments=comments)
                    st.session_state[FLASH_KEY] = "Note enregistrée : voici l'écart avec le groupe."
                    st.rerun()
                except CcrError as err:
                    st.error(str(err))
    if view.results_visible and view.spread:
        m1, m2, m3 = st.columns(3)
        m1.metric("Score moyen du groupe", fr_score(view.mean_score))
        m2.metric("Écart entre le plus bas et le plus haut", fr_score(view.score_range))
        m3.metric("Score de l'IA", fr_score(view.ai_score))
        st.dataframe(plain_frame(pd.DataFrame([{
            "Critère": c.label, **{VERDICT_LABELS[v]: c.counts[v] for v in VERDICTS},
            "Majorité": VERDICT_LABELS[c.majority], "Accord (%)": round(100 * c.agreement, 1),
            "IA": VERDICT_LABELS.get(c.ai_verdict, "—")} for c in view.spread])),
            hide_index=True, width="stretch",
            column_config={"Accord (%)": st.column_config.NumberColumn(format=NUMBER_FORMAT)})
        st.dataframe(plain_frame(pd.DataFrame([{
            "Superviseur": e.name, "Score": e.score, "Écart au groupe": e.deviation, "Tendance": e.tendency,
            "Critères hors majorité": e.off_majority} for e in view.evaluators])),
            hide_index=True, width="stretch",
            column_config={"Score": st.column_config.NumberColumn(format=NUMBER_FORMAT),
                           "Écart au groupe": st.column_config.NumberColumn(format=NUMBER_FORMAT)})
    if view.agreed:
        st.markdown("**Résultat convenu** : " + " · ".join(
            f"{md_escape(c['label'])} : {VERDICT_LABELS[view.agreed.get(c['id'], 'na')]}" for c in view.criteria))
    elif (view.status == "open" and view.scored_by_me and view.scored >= calibration.MIN_SCORES_TO_CLOSE
          and (view.is_facilitator or actor.role == "admin")):
        majority = {c.criterion_id: c.majority for c in view.spread}
        with st.form(f"close_{view.id}"):
            st.caption("Résultat convenu (par défaut, le verdict majoritaire)")
            agreed = {c["id"]: st.selectbox(c["label"], VERDICTS, index=VERDICTS.index(majority.get(c["id"], "na")),
                                            format_func=VERDICT_LABELS.get, key=f"ag_{view.id}_{c['id']}")
                      for c in view.criteria}
            apply = st.checkbox("Valider l'appel avec ce résultat (le score de l'IA reste visible)")
            note = st.text_input("Motif de la validation (facultatif)")
            if st.form_submit_button("Clore la session"):
                try:
                    with session() as s:
                        calibration.close_session(session=s, actor=actor, session_id=view.id, agreed=agreed,
                                                  apply=apply, note=note)
                    cache.clear_after_write()
                    st.session_state[FLASH_KEY] = "Session close."
                    st.rerun()
                except CcrError as err:
                    st.error(str(err))
