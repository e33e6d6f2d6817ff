"""Contestations: agents' disputes waiting for an answer (by deadline), the decided ones, and the rules."""

from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.vocab import DISPUTE_DECISION_LABELS, DISPUTE_STATUS_LABELS, VERDICT_LABELS
from ccr.quality import disputes, policy
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import md_escape

actor = require_page("disputes")
FLASH_KEY = "ccr_disputes_flash"
DECIDED_SHOWN = 50
tz = ZoneInfo(get_settings().timezone)
st.title("⚖️ Contestations")


def _when(moment) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M") if moment else "—"


if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

try:
    with session() as s:
        waiting = disputes.dispute_queue(session=s, actor=actor)
        decided = [d for status in ("accepted", "partial", "rejected")
                   for d in disputes.dispute_queue(session=s, actor=actor, status=status, limit=DECIDED_SHOWN)]
        rules = policy.get_policy(session=s, org_id=actor.org_id)
except CcrError as err:
    st.error(str(err))
    st.stop()
decided.sort(key=lambda d: d.resolved_at, reverse=True)

names = [f"À traiter ({len(waiting)})", "Traitées"] + (["Règles"] if may(actor.role, "quality_policy") else [])
tabs = st.tabs(names)

with tabs[0]:
    st.caption("Par date limite de réponse. Accepter un critère change son verdict comme une validation : le "
               "score est recalculé, le score initial de l'IA reste visible. Un refus, même partiel, se motive.")
    if not waiting:
        st.success("Aucune contestation en attente.")
    for d in waiting:
        with st.container(border=True):
            late = " · ⚠️ **en retard**" if d.overdue() else ""
            st.markdown(f"**{md_escape(d.agent_name or 'Agent')}** ({md_escape(d.team_name or '—')}) — "
                        f"contestation n° {d.id} du {_when(d.opened_at)} · réponse avant le "
                        f"{_when(d.answer_due_at)}{late}")
            page_link("review", f"Ouvrir l'appel n° {d.call_id}", query_params={"call_id": d.call_id}, icon="🎧")
            st.markdown(f"> {md_escape(d.comment)}")
            accepted = []
            for item in d.items:
                label = (f"Accepter « {item.label} » : {VERDICT_LABELS[item.verdict]} → "
                         f"{VERDICT_LABELS[item.requested]}")
                if st.checkbox(label, key=f"acc_{d.id}_{item.criterion_id}"):
                    accepted.append(item.criterion_id)
            reason = st.text_area("Réponse à l'agent (obligatoire pour tout refus)", key=f"why_{d.id}",
                                  max_chars=disputes.MAX_COMMENT_CHARS)
            if st.button("Enregistrer la réponse", key=f"answer_{d.id}", type="primary"):
                try:
                    with session() as s:
                        out = disputes.resolve_dispute(session=s, actor=actor, dispute_id=d.id, accepted=accepted,
                                                       reason=reason)
                    cache.clear_after_write()  # dashboards read the final verdicts
                    st.session_state[FLASH_KEY] = (f"Contestation n° {out.id} : "
                                                   f"{DISPUTE_STATUS_LABELS[out.status]}.")
                    st.rerun()
                except CcrError as err:
                    st.error(str(err))

with tabs[1]:
    if not decided:
        st.info("Aucune contestation traitée pour le moment.")
    for d in decided:
        st.markdown(f"**{md_escape(d.agent_name or 'Agent')}** — appel n° {d.call_id} — "
                    f"{DISPUTE_STATUS_LABELS[d.status]} le {_when(d.resolved_at)} par "
                    f"{md_escape(d.resolver or '—')}")
        details = "; ".join(f"{md_escape(i.label)} : {DISPUTE_DECISION_LABELS[i.decision]}"
                            for i in d.items)
        st.caption(details + (f" — motif : {md_escape(d.resolution)}" if d.resolution else ""))

if len(tabs) > 2:
    with tabs[2], st.form("quality_policy"):
        st.caption("Règles de l'organisation pour les contestations des téléconseillers et la revue des appels.")
        days = st.number_input("Délai de contestation après publication (jours)", 1, policy.MAX_DAYS,
                               rules.dispute_days)
        answer = st.number_input("Délai de réponse des superviseurs (jours)", 1, policy.MAX_DAYS, rules.answer_days)
        limit = st.number_input("Contestations au plus par agent et par période (0 = sans limite)", 0,
                                policy.MAX_DAYS, rules.dispute_limit)
        window = st.number_input("Période de ce plafond (jours)", 1, policy.MAX_DAYS, rules.dispute_window_days)
        blind = st.checkbox("Revue à l'aveugle : le superviseur note l'appel avant de voir les verdicts de l'IA",
                            value=rules.blind_review)
        if st.form_submit_button("Enregistrer les règles"):
            try:
                with session() as s:
                    policy.update_policy(session=s, actor=actor, dispute_days=int(days), answer_days=int(answer),
                                         dispute_limit=int(limit), dispute_window_days=int(window),
                                         blind_review=blind)
                st.session_state[FLASH_KEY] = "Règles enregistrées."
                st.rerun()
            except CcrError as err:
                st.error(str(err))
