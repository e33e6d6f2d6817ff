"""Mes évaluations (agents): their published evaluations, the evidence and audio, acknowledgement, disputes,
the trend of their scores, their coaching notes and the download of it all with its explanation."""

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_score
from ccr.core.vocab import DISPUTE_DECISION_LABELS, DISPUTE_STATUS_LABELS, SPEAKER_LABELS, VERDICT_LABELS
from ccr.privacy import explanations
from ccr.quality import agent_space, disputes, reviews
from ccr.quality.policy import get_policy
from ccr.scoring.evaluation import VERDICTS
from ccr.ui.audio_player import RecordingSlot
from ccr.ui.guard import require_page
from ccr.ui.text import fmt_ts, md_escape

actor = require_page("my_evaluations")

OPENED_KEY = "ccr_own_opened"  # evaluations whose opening is already logged in this browser session
EXPORT_KEY = "ccr_own_export"
FLASH_KEY = "ccr_own_flash"

tz = ZoneInfo(get_settings().timezone)
st.title("🗂️ Mes évaluations")


def _when(moment) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M") if moment else "—"


def _evaluation_from_query() -> int | None:
    raw = st.query_params.get("evaluation", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

chosen = _evaluation_from_query()
if chosen is None:
    try:
        with session() as s:
            policy = get_policy(session=s, org_id=actor.org_id)
            items = agent_space.list_own(session=s, actor=actor)
            trend = agent_space.own_trend(session=s, actor=actor)
            notes = agent_space.own_coaching_notes(session=s, actor=actor)
    except CcrError as err:
        st.error(str(err))
        st.stop()
    st.caption(f"Seules les évaluations publiées par un superviseur apparaissent ici. Vous pouvez contester une "
               f"évaluation dans les {policy.dispute_days} jours qui suivent sa publication.")
    if not items:
        st.info("Aucune évaluation publiée pour le moment.")
    if trend:
        st.subheader("Évolution de mes scores")
        frame = pd.DataFrame([{"Semaine du": monday, "Score moyen": score} for monday, score, _ in trend])
        st.line_chart(frame, x="Semaine du", y="Score moyen", y_label="Score moyen", height=220)
    if items:
        st.subheader("Mes évaluations publiées")
    for item in items:
        c_date, c_score, c_state, c_open = st.columns([2, 1, 4, 2], vertical_alignment="center")
        c_date.write(_when(item.started_at))
        c_score.markdown(f"**{fr_score(item.score)}**")
        state = ["validée" if item.validated else "automatique (non revue)"]
        state.append("lue" if item.acknowledged_at else "**à lire**")
        if item.dispute_status:
            state.append(f"contestation {DISPUTE_STATUS_LABELS[item.dispute_status]}")
        elif item.contestable:
            state.append(f"contestable jusqu'au {_when(item.contest_until)}")
        c_state.markdown(" · ".join(state))
        if c_open.button("Ouvrir", key=f"open_{item.evaluation_id}"):
            st.query_params["evaluation"] = str(item.evaluation_id)
            st.rerun()
    if notes:
        with st.expander("Mes notes de coaching"):
            for at, call_id, note in notes:
                st.caption(f"{_when(at)} — appel n° {call_id}")
                st.markdown(md_escape(note))
    st.subheader("Mes données")
    st.caption("Toutes vos évaluations publiées, avec l'explication de chaque verdict, de qui l'a validé et de la "
               "façon de le contester (RGPD, art. 15 ; règlement européen sur l'IA, art. 86).")
    if st.button("Préparer le téléchargement"):
        try:
            with session() as s:
                st.session_state[EXPORT_KEY] = explanations.own_export(session=s, actor=actor)
        except CcrError as err:
            st.error(str(err))
    if st.session_state.get(EXPORT_KEY):
        st.download_button("Télécharger mes évaluations (ZIP)", st.session_state[EXPORT_KEY],
                           file_name="mes-evaluations.zip", mime="application/zip")
    st.stop()

# --- one evaluation ---------------------------------------------------------------------------------
opened: set = st.session_state.setdefault(OPENED_KEY, set())
try:
    with session() as s:
        view = agent_space.open_own(session=s, actor=actor, evaluation_id=chosen, log=chosen not in opened)
except CcrError as err:
    st.error(str(err))
    if st.button("Retour à mes évaluations"):
        st.query_params.pop("evaluation", None)
        st.rerun()
    st.stop()
opened.add(chosen)
summary = view.summary

if st.button("← Mes évaluations"):
    st.query_params.pop("evaluation", None)
    st.rerun()


def _load() -> bytes:
    with session() as s:
        return agent_space.own_audio(session=s, actor=actor, evaluation_id=chosen)


recording = RecordingSlot("ccr_own", chosen, view.has_audio, _load)

st.caption(f"Appel n° {summary.call_id} du {_when(summary.started_at)} · {md_escape(view.grid_label)}")
c_score, c_origin = st.columns(2)
c_score.metric("Score retenu", fr_score(summary.score))
c_score.caption(f"Score initial du programme : {fr_score(summary.ai_score)}")
c_origin.markdown(f"**{view.publication}**")
if view.reviewer:
    c_origin.caption(f"Validée par {md_escape(view.reviewer)} le {_when(view.reviewed_at)}.")
c_origin.caption(f"Publiée le {_when(summary.published_at)}.")
if not view.is_current:
    st.info("Cet appel a été réévalué depuis : une nouvelle évaluation vous sera publiée après sa revue.")
if summary.acknowledged_at:
    st.caption(f"Vous avez accusé réception le {_when(summary.acknowledged_at)}.")
elif st.button("Accuser réception", type="primary"):
    try:
        with session() as s:
            agent_space.acknowledge(session=s, actor=actor, evaluation_id=chosen)
        st.session_state[FLASH_KEY] = "Accusé de réception enregistré."
        st.rerun()
    except CcrError as err:
        st.error(str(err))

st.subheader("Enregistrement")
recording.draw(reviews.audio_mime(view.codec),
               missing="L'enregistrement n'est plus disponible (supprimé à l'échéance de conservation).",
               help_text="Chaque écoute est journalisée, comme tout accès à un appel.")

st.subheader("Verdicts")
for crit in view.criteria:
    with st.container(border=True):
        final = VERDICT_LABELS.get(crit["final_verdict"], crit["final_verdict"])
        st.markdown(f"**{md_escape(crit['label'])}** — {final}")
        if crit["final_verdict"] != crit["ai_verdict"]:
            st.caption(f"Verdict initial du programme : {VERDICT_LABELS.get(crit['ai_verdict'], '')} "
                       "(corrigé par un superviseur)")
        if crit["explanation"]:
            st.markdown(md_escape(crit["explanation"]))
        for j, ev in enumerate(crit["evidence"]):
            e_time, e_text = st.columns([1, 9])
            e_time.button(f"⏱ {fmt_ts(ev.get('start'))}", key=f"ev_{crit['id']}_{j}", on_click=recording.jump,
                          args=(ev.get("start") or 0,), help="Écouter ce passage")
            who = SPEAKER_LABELS.get(ev.get("speaker"), "Inconnu")
            e_text.markdown(f"{who} : « {md_escape(ev.get('text'))} »")
        if crit["comment"]:
            st.caption(f"Commentaire du superviseur : {md_escape(crit['comment'])}")

if view.summary_text or view.recommendations or view.coaching_note:
    st.subheader("Synthèse")
    if view.summary_text:
        st.markdown(md_escape(view.summary_text))
    for reco in view.recommendations:
        st.markdown(f"- {md_escape(reco)}")
    if view.coaching_note:
        st.caption("Note de coaching")
        st.markdown(md_escape(view.coaching_note))

st.subheader("Contestation")
dispute = view.dispute
if dispute is not None:
    st.markdown(f"Contestation du {_when(dispute.opened_at)} : **{DISPUTE_STATUS_LABELS[dispute.status]}**")
    for item in dispute.items:
        st.markdown(f"- {md_escape(item.label)} : {VERDICT_LABELS[item.verdict]} → "
                    f"{VERDICT_LABELS[item.requested]} demandé — {DISPUTE_DECISION_LABELS[item.decision]}")
    if dispute.status == "open":
        st.caption(f"Réponse attendue au plus tard le {_when(dispute.answer_due_at)}.")
    elif dispute.resolution:
        st.markdown(f"Réponse de {md_escape(dispute.resolver or 'votre superviseur')} : "
                    f"{md_escape(dispute.resolution)}")
elif not summary.contestable:
    st.caption(f"Le délai de contestation a pris fin le {_when(summary.contest_until)}.")
else:
    st.caption(f"Vous pouvez contester jusqu'au {_when(summary.contest_until)}. Choisissez les critères, le "
               "verdict que vous demandez, et expliquez pourquoi.")
    labels = {c["id"]: c["label"] for c in view.criteria}
    finals = {c["id"]: c["final_verdict"] for c in view.criteria}
    picked = st.multiselect("Critères contestés", list(labels), format_func=labels.get, key=f"dc_{chosen}",
                            placeholder="Choisissez un ou plusieurs critères")
    wanted = {}
    for cid in picked:
        options = [v for v in VERDICTS if v != finals[cid]]
        wanted[cid] = st.selectbox(f"Verdict demandé pour « {labels[cid]} »", options,
                                   format_func=VERDICT_LABELS.get, key=f"dv_{chosen}_{cid}")
    comment = st.text_area("Votre explication (obligatoire)", key=f"dm_{chosen}",
                           max_chars=disputes.MAX_COMMENT_CHARS)
    if st.button("Envoyer la contestation"):
        try:
            with session() as s:
                disputes.open_dispute(session=s, actor=actor, evaluation_id=chosen, criteria=wanted,
                                      comment=comment)
            st.session_state[FLASH_KEY] = "Contestation envoyée : un superviseur va l'examiner."
            st.rerun()
        except CcrError as err:
            st.error(str(err))

with st.expander("Transcription de l'appel"):
    st.caption("Les données personnelles sont masquées ([CARTE], [IBAN], [TÉLÉPHONE]…).")
    for i, seg in enumerate(view.segments):
        t_col, text_col = st.columns([1, 9], vertical_alignment="top")
        t_col.button(f"⏱ {fmt_ts(seg.get('start'))}", key=f"seg_{i}", on_click=recording.jump,
                     args=(seg.get("start") or 0,))
        text_col.markdown(f"**{SPEAKER_LABELS.get(seg.get('speaker'), 'Inconnu')}** — {md_escape(seg.get('text'))}")
