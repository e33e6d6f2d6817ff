"""À revoir: the calls most worth a human look (the calibration has its own page)."""

from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number, fr_percent, fr_score
from ccr.quality import reviews
from ccr.scoring.triage import REASONS
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import md_escape, plain

actor = require_page("to_review")

QUEUE_SHOWN = 100  # one working session of reviews; the rest waits for the next visit

settings = get_settings()
tz = ZoneInfo(settings.timezone)
st.title("📝 À revoir")
st.caption(
    "Appels non encore validés : échecs et échecs critiques, verdicts incertains (transcription peu fiable, "
    "formule douteuse), verdicts du modèle de langue non vérifiés, "
    f"scores à moins de {fr_number(settings.review_margin, 1, trim=True)} points du seuil de réussite, et un "
    f"échantillon aléatoire de {fr_percent(settings.review_sample_rate, 1, ratio=True, trim=True)} des appels "
    "pour la calibration. Pour chaque motif, les appels dont la réussite ou l'échec a le plus de chances d'être "
    "faux viennent en premier."
)
lab = cache.labels(actor)
f_reason, f_team = st.columns(2)
reason = f_reason.selectbox("Motif", [None, *REASONS], format_func=lambda r: "Tous" if r is None else REASONS[r])
team_id = f_team.selectbox("Équipe", [None, *lab.teams],
                           format_func=lambda t: "Toutes" if t is None else plain(lab.teams[t]))
try:
    with session() as s:
        items = reviews.review_queue(session=s, actor=actor, limit=QUEUE_SHOWN + 1, reason=reason, team_id=team_id)
except CcrError as err:
    st.error(str(err))
    items = []
if not items:
    st.success("Rien à revoir pour le moment." if reason is None and team_id is None
               else "Aucun appel à revoir pour ce motif ou cette équipe.")
elif len(items) > QUEUE_SHOWN:
    items = items[:QUEUE_SHOWN]
    st.caption(f"Les {QUEUE_SHOWN} appels les plus urgents sont affichés : validez-les, ou choisissez un motif ou "
               "une équipe, pour voir les suivants.")
for item in items:
    c_date, c_agent, c_score, c_reason, c_link = st.columns([2, 3, 1, 4, 2], vertical_alignment="center")
    c_date.write(item.started_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"))
    agent = md_escape(item.agent_name or "Sans agent")
    c_agent.markdown(f"{agent}  \n{md_escape(item.team_name or '')}")
    c_score.markdown(f"**{fr_score(item.score)}**")
    c_reason.markdown(" · ".join(item.reasons))
    if item.result_risk is not None:
        c_reason.caption(reviews.result_risk_label(item.result_risk))
    if item.review_reasons:
        c_reason.caption("  \n".join(md_escape(r) for r in item.review_reasons))
    with c_link:
        page_link("review", f"Revoir l'appel n° {item.call_id}", query_params={"call_id": item.call_id},
                  icon="🎧")

page_link("calibration", "Calibration : accord entre l'IA et les superviseurs, et entre superviseurs", icon="🎯")
