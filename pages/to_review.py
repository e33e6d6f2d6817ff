"""À revoir: the calls most worth a human look, and the calibration of the AI against human reviews."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number, fr_percent, fr_score
from ccr.core.vocab import VERDICT_LABELS
from ccr.quality import reviews
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import NUMBER_FORMAT, md_escape, plain_frame

actor = require_page("to_review")

QUEUE_SHOWN = 100  # one working session of reviews; the rest waits for the next visit
CALIBRATION_DAYS = 90  # a quarter of reviews gives enough verdicts per criterion to compare
SHORT = {"pass": "C", "fail": "NC", "na": "NA"}

settings = get_settings()
tz = ZoneInfo(settings.timezone)
st.title("📝 À revoir")
tab_queue, tab_cal = st.tabs(["File de revue", "Calibration"])

with tab_queue:
    st.caption(
        "Appels non encore validés : échecs et échecs critiques, verdicts incertains (transcription peu fiable, "
        "formule douteuse), verdicts du modèle de langue non vérifiés, "
        f"scores à moins de {fr_number(settings.review_margin, 1, trim=True)} points du seuil de réussite, et un "
        f"échantillon aléatoire de {fr_percent(settings.review_sample_rate, 1, ratio=True, trim=True)} des appels "
        "pour la calibration."
    )
    try:
        with session() as s:
            items = reviews.review_queue(session=s, actor=actor, limit=QUEUE_SHOWN)
    except CcrError as err:
        st.error(str(err))
        items = []
    if not items:
        st.success("Rien à revoir pour le moment.")
    for item in items:
        c_date, c_agent, c_score, c_reason, c_link = st.columns([2, 3, 1, 4, 2], vertical_alignment="center")
        c_date.write(item.started_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"))
        agent = md_escape(item.agent_name or "Sans agent")
        c_agent.markdown(f"{agent}  \n{md_escape(item.team_name or '')}")
        c_score.markdown(f"**{fr_score(item.score)}**")
        c_reason.markdown(" · ".join(item.reasons))
        if item.review_reasons:
            c_reason.caption("  \n".join(md_escape(r) for r in item.review_reasons))
        with c_link:
            page_link("review", f"Revoir l'appel n° {item.call_id}", query_params={"call_id": item.call_id},
                      icon="🎧")

with tab_cal:
    st.caption("Accord entre l'IA et les superviseurs sur les appels validés : un critère souvent corrigé est "
               "un critère de la grille à revoir. C = conforme, NC = non conforme, NA = non applicable.")
    today = utcnow().astimezone(tz).date()
    period = st.date_input("Période (date des appels)", value=(today - timedelta(days=CALIBRATION_DAYS), today),
                           max_value=today, format="DD/MM/YYYY")
    if isinstance(period, tuple) and len(period) == 2:
        try:
            with session() as s:
                cal = reviews.calibration(session=s, actor=actor, period=period)
        except CcrError as err:
            st.error(str(err))
            st.stop()
        st.metric("Appels validés sur la période", cal["calls"])
        if not cal["criteria"]:
            st.info("Aucun appel validé sur la période : validez des appels pour mesurer l'accord.")
        else:
            rows = []
            for c in cal["criteria"]:
                row = {"Critère": c["label"], "Verdicts": c["n"],
                       "Accord (%)": None if c["rate"] is None else round(100 * c["rate"], 1)}
                for ai in ("pass", "fail", "na"):
                    for human in ("pass", "fail", "na"):
                        row[f"IA {SHORT[ai]} → humain {SHORT[human]}"] = c["confusion"][ai][human]
                rows.append(row)
            st.dataframe(plain_frame(pd.DataFrame(rows)), hide_index=True, width="stretch",
                         column_config={"Accord (%)": st.column_config.NumberColumn(format=NUMBER_FORMAT)})
            st.subheader("Désaccords les plus fréquents")
            if not cal["disagreements"]:
                st.success("Aucun désaccord : l'IA et les superviseurs concordent sur tous les critères.")
            for d in cal["disagreements"]:
                ai_l, hu_l = VERDICT_LABELS[d["ai"]], VERDICT_LABELS[d["human"]]
                st.markdown(f"**{md_escape(d['label'])}** — IA : {ai_l} → superviseur : {hu_l} "
                            f"({d['count']} appel{'s' if d['count'] > 1 else ''})")
                link_cols = st.columns(min(len(d["call_ids"]), 6) or 1)
                for k, cid in enumerate(d["call_ids"][:12]):
                    with link_cols[k % len(link_cols)]:
                        page_link("review", f"Appel n° {cid}", query_params={"call_id": cid})
    else:
        st.info("Choisissez une date de début et une date de fin.")
