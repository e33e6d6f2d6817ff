"""Revue d'appel: listen to one call, read it, see why each criterion got its verdict, validate or correct it."""

from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number, fr_percent, fr_score, label_of
from ccr.core.vocab import CALL_STATUS_LABELS, DIRECTION_LABELS, SPEAKER_LABELS, VERDICT_LABELS
from ccr.quality import reviews
from ccr.scoring.evaluation import VERDICTS
from ccr.ui import dashboard_cache as cache
from ccr.ui.audio_player import RecordingSlot
from ccr.ui.channel_panel import channel_notes, transcription_quality
from ccr.ui.guard import require_page
from ccr.ui.links import page_link
from ccr.ui.text import fmt_ts, md_escape, plain

actor = require_page("review")

OPENED_KEY = "ccr_review_opened"  # calls whose opening is already logged in this browser session
FLASH_KEY = "ccr_review_flash"  # message shown once after a validation

st.title("🎧 Revue d'appel")


def _call_id_from_query() -> int | None:
    raw = st.query_params.get("call_id", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


call_id = _call_id_from_query()
if call_id is None:
    st.info("Ouvrez un appel depuis la liste des appels ou la file « À revoir », ou saisissez son numéro.")
    with st.form("open_call"):
        typed = st.number_input("Numéro de l'appel", min_value=1, step=1, value=None)
        if st.form_submit_button("Ouvrir") and typed:
            st.query_params["call_id"] = str(int(typed))
            st.rerun()
    st.stop()

opened: set = st.session_state.setdefault(OPENED_KEY, set())
try:
    with session() as s:
        view = reviews.open_call(session=s, actor=actor, call_id=call_id, log=call_id not in opened)
except CcrError as err:
    st.error(str(err))
    st.stop()
opened.add(call_id)
can_validate = may(actor.role, "validate_reviews")
tz = ZoneInfo(get_settings().timezone)
lab = cache.labels(actor)  # French names of the organisation's categories and irritants

if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)


def _load() -> bytes:
    with session() as s:
        return reviews.load_audio(session=s, actor=actor, call_id=call_id)


recording = RecordingSlot("ccr_review", call_id, view.has_audio, _load)


def _field(column, label: str, value) -> None:
    column.caption(label)
    column.markdown(md_escape(value) if value not in (None, "") else "—")


# --- header ---------------------------------------------------------------------------------
st.caption(f"Appel n° {view.call_id}")
cols = st.columns(4)
_field(cols[0], "Agent", view.agent_name or "Sans agent")
_field(cols[1], "Équipe", view.team_name)
_field(cols[2], "Date", view.started_at.astimezone(tz).strftime("%d/%m/%Y %H:%M"))
_field(cols[3], "Durée", fmt_ts(view.duration_s) if view.duration_s else None)
cols = st.columns(4)
_field(cols[0], "Sens", label_of(DIRECTION_LABELS, view.direction, missing=""))
_field(cols[1], "Campagne", view.campaign)
category_name = label_of(lab.categories, view.category, missing="")
if view.category != view.ai_category and view.ai_category:
    category_name += f" (corrigée ; IA : {label_of(lab.categories, view.ai_category, missing='')})"
_field(cols[2], "Catégorie", category_name)
_field(cols[3], "Statut", label_of(CALL_STATUS_LABELS, view.status, missing=""))

if not view.scored:
    st.warning("Cet appel n'a pas encore été évalué : rien à valider pour le moment.")
elif view.blind:
    st.info("**Revue à l'aveugle** : écoutez et lisez l'appel, puis donnez votre verdict sur chaque critère. Les "
            "verdicts de l'IA s'affichent ensuite, à côté des vôtres.", icon="🙈")
else:
    if view.final_critical_failed:
        badge = "⛔ Échec critique"
    elif view.final_passed:
        badge = "✅ Conforme"
    else:
        badge = "❌ Non conforme"
    score_col, origin_col = st.columns(2)
    score_col.metric("Score retenu", fr_score(view.final_score))
    score_col.markdown(f"**{badge}**")
    if view.validated:
        origin_col.markdown(f"**Validé par un humain** — score IA initial : {fr_score(view.ai_score)}")
        if view.latest_review:
            rv = view.latest_review
            origin_col.caption(f"Dernière validation par {md_escape(rv.reviewer)} le "
                               f"{rv.created_at.astimezone(tz).strftime('%d/%m/%Y %H:%M')}.")
    else:
        origin_col.markdown("**Score IA uniquement** (non validé par un humain)")
    origin_col.caption(f"Grille : {md_escape(view.grid_label)}")
    if view.published_at:
        kind = "évaluation automatique" if view.published_ai_only and not view.validated else "validée"
        origin_col.caption(f"Publiée à l'agent le {view.published_at.astimezone(tz).strftime('%d/%m/%Y %H:%M')} "
                           f"({kind}).")
    else:
        origin_col.caption("Non publiée à l'agent (brouillon).")
    if view.result_risk is not None and not view.validated:
        origin_col.caption(reviews.result_risk_label(view.result_risk))
    if view.unverified:
        st.warning("Certains verdicts du modèle de langue n'ont pas pu être vérifiés : relisez-les avec attention.")
    if view.needs_review:
        doubts = "".join(f"  \n- {md_escape(r)}" for r in view.review_reasons)
        st.warning(f"**Verdict incertain à vérifier** : vérifiez ce qui est nommé ci-dessous (verdicts, résultat, "
                   f"catégorie) et écoutez les passages indiqués dans la grille (critères marqués « À vérifier »)."
                   f"{doubts}", icon="⚠️")

# A stereo call whose agent seems to be on the customer's channel: the warning, and the supervisor's swap.
channel_notes(actor, call_id, view.segments, flash_key=FLASH_KEY, jump=recording.jump)

# --- audio ------------------------------------------------------------------------------------
st.subheader("Enregistrement")
recording.draw(reviews.audio_mime(view.codec),
               missing="L'enregistrement audio n'est pas disponible (supprimé à l'échéance de conservation ou absent).",
               help_text="L'enregistrement est déchiffré en mémoire ; chaque écoute est journalisée.")
if recording.start_s and not view.has_audio:
    st.caption(f"Position demandée : {fmt_ts(recording.start_s)}")

# --- transcript ---------------------------------------------------------------------------------
st.subheader("Transcription")
st.caption("Les données personnelles sont masquées ([CARTE], [IBAN], [TÉLÉPHONE]…). Les irritants 🔥 "
           "concernent uniquement le client : CCR n'infère aucune émotion des agents "
           "(règlement européen sur l'IA, art. 5(1)(f)).")
transcription_quality(view.segments)
irritants = (view.result or {}).get("irritants") or []
irritant_at = {round(float(i.get("start") or 0.0), 2): label_of(lab.irritants, i.get("label"), missing="")
               for i in irritants}
if not view.segments:
    st.info("Pas de transcription pour cet appel.")
for i, seg in enumerate(view.segments):
    t_col, text_col = st.columns([1, 9], vertical_alignment="top")
    t_col.button(f"⏱ {fmt_ts(seg.get('start'))}", key=f"seg_{i}", on_click=recording.jump,
                 args=(seg.get("start") or 0,),
                 help="Écouter à partir de ce moment")
    speaker = SPEAKER_LABELS.get(seg.get("speaker"), "Inconnu")
    label = irritant_at.get(round(float(seg.get("start") or 0.0), 2))
    if label is not None and seg.get("speaker") != "agent":
        text_col.markdown(f"🔥 **{speaker}** — **{md_escape(seg.get('text'))}**")
        text_col.caption(f"Irritant client : {md_escape(label)}")
    else:
        text_col.markdown(f"**{speaker}** — {md_escape(seg.get('text'))}")

if not view.scored:
    st.stop()

if view.blind:
    st.subheader("Vos verdicts")
    with st.form("blind_review"):
        blind_verdicts, blind_comments = {}, {}
        for crit in view.criteria:
            head = f"{crit['label']} · poids {fr_number(crit['weight'], 1, trim=True)}"
            blind_verdicts[crit["id"]] = st.selectbox(head + (" · éliminatoire" if crit["critical"] else ""),
                                                      VERDICTS, index=None, format_func=VERDICT_LABELS.get,
                                                      placeholder="Votre verdict", key=f"bv_{crit['id']}")
            blind_comments[crit["id"]] = st.text_input("Commentaire (facultatif)", key=f"bc_{crit['id']}",
                                                       max_chars=reviews.MAX_COMMENT_CHARS)
        if st.form_submit_button("Enregistrer mes verdicts et voir ceux de l'IA", type="primary"):
            try:
                with session() as s:
                    reviews.submit_blind(session=s, actor=actor, call_id=call_id, verdicts=blind_verdicts,
                                         comments=blind_comments)
                st.session_state[FLASH_KEY] = ("Verdicts enregistrés. Comparez-les à ceux de l'IA et validez le "
                                               "résultat retenu.")
                st.rerun()
            except CcrError as err:
                st.error(str(err))
    st.stop()

# --- category and irritants -----------------------------------------------------------------------
st.subheader("Catégorie et irritants")
with st.container(border=True):
    st.caption(f"Catégorie IA : {md_escape(label_of(lab.categories, view.ai_category, missing='Aucune'))}")
    if view.category_doubt:
        st.warning(f"**À vérifier** — {md_escape(view.category_doubt)}", icon="⚠️")
    category_key = f"cat_{view.evaluation_id}"
    if can_validate:
        # The organisation's categories, plus the scorer's and the kept one should the taxonomy have dropped them.
        # A call the scorer left unclassified stays so unless the supervisor picks a category (None keeps it).
        options = list(dict.fromkeys([*([None] if view.category is None else []), *lab.categories,
                                      *(c for c in (view.ai_category, view.category) if c)]))
        st.selectbox("Catégorie retenue", options, key=category_key, index=options.index(view.category),
                     format_func=lambda c: plain(label_of(lab.categories, c, missing="Non classé")),
                     help="Corrige le motif d'appel compté dans les tableaux de bord ; la catégorie de l'IA "
                          "reste consultable.")
    else:
        st.markdown(f"Catégorie retenue : **{md_escape(label_of(lab.categories, view.category, missing='—'))}**")
    ai_irritants = reviews.ai_irritants(view.result or {})
    st.caption("Irritants IA : " + (", ".join(md_escape(label_of(lab.irritants, i)) for i in ai_irritants)
                                    or "aucun"))
    irritants_key = f"irr_{view.evaluation_id}"
    if can_validate:
        irritant_options = list(dict.fromkeys([*lab.irritants, *ai_irritants, *view.irritants]))
        st.multiselect("Irritants retenus (client)", irritant_options, default=view.irritants, key=irritants_key,
                       format_func=lambda i: plain(label_of(lab.irritants, i, missing="")),
                       help="Corrige les irritants du client comptés dans les tableaux de bord ; ceux de l'IA "
                            "restent consultables.")
    else:
        kept = ", ".join(md_escape(label_of(lab.irritants, i)) for i in view.irritants) or "aucun"
        st.markdown(f"Irritants retenus : **{kept}**")

# --- scorecard ------------------------------------------------------------------------------------
st.subheader("Grille d'évaluation")
live = st.container()
review = view.latest_review
previous_comments = review.comments if review else {}
for crit in view.criteria:
    cid = crit["id"]
    with st.container(border=True):
        head = f"**{md_escape(crit['label'])}** · poids {fr_number(crit['weight'], 1, trim=True)}"
        if crit["critical"]:
            head += " · éliminatoire"
        st.markdown(head)
        ai_label = VERDICT_LABELS.get(crit["ai_verdict"], crit["ai_verdict"])
        st.caption(f"Verdict IA : {ai_label}")
        if view.blind_verdicts and cid in view.blind_verdicts:
            mine = view.blind_verdicts[cid]
            if mine != crit["ai_verdict"]:
                st.warning(f"Votre verdict à l'aveugle : **{VERDICT_LABELS[mine]}** — différent de l'IA : "
                           "tranchez ci-dessous.", icon="↔️")
            else:
                st.caption(f"Votre verdict à l'aveugle : {VERDICT_LABELS[mine]} (identique)")
        if crit["needs_review"]:
            marker = "**À vérifier**"
            if crit["confidence"] is not None:
                marker += f" — confiance du verdict : {fr_percent(crit['confidence'], 0, ratio=True)}"
            if crit["review_reason"]:
                marker += f"  \n{md_escape(crit['review_reason'])}"
            st.warning(marker, icon="⚠️")
            if crit["review_at"] is not None:
                st.button(f"⏱ Écouter le passage douteux ({fmt_ts(crit['review_at'])})", key=f"doubt_{cid}",
                          on_click=recording.jump, args=(crit["review_at"],))
        if crit["explanation"]:
            st.markdown(md_escape(crit["explanation"]))
        for j, ev in enumerate(crit["evidence"]):
            e_time, e_text = st.columns([1, 9])
            e_time.button(f"⏱ {fmt_ts(ev.get('start'))}", key=f"ev_{cid}_{j}", on_click=recording.jump,
                          args=(ev.get("start") or 0,), help="Écouter ce passage")
            who = SPEAKER_LABELS.get(ev.get("speaker"), "Inconnu")
            e_text.markdown(f"{who} : « {md_escape(ev.get('text'))} »")
        if can_validate:
            v_col, c_col = st.columns([1, 2])
            default = crit["final_verdict"]
            if view.blind_verdicts and not view.validated:  # a blind reviewer starts from their own verdicts
                default = view.blind_verdicts.get(cid, default)
            v_col.selectbox("Verdict retenu", VERDICTS, index=VERDICTS.index(default),
                            format_func=VERDICT_LABELS.get, key=f"ov_{view.evaluation_id}_{cid}")
            c_col.text_input("Commentaire (obligatoire si le verdict change)", value=previous_comments.get(cid, ""),
                             key=f"cm_{view.evaluation_id}_{cid}", max_chars=reviews.MAX_COMMENT_CHARS)
        else:
            final_label = VERDICT_LABELS.get(crit["final_verdict"], crit["final_verdict"])
            st.markdown(f"Verdict retenu : **{final_label}**")
            if previous_comments.get(cid):
                st.caption(f"Commentaire : {md_escape(previous_comments[cid])}")

overrides = {c["id"]: st.session_state.get(f"ov_{view.evaluation_id}_{c['id']}", c["final_verdict"])
             for c in view.criteria}
if view.blind_verdicts and not view.validated:
    overrides = {cid: st.session_state.get(f"ov_{view.evaluation_id}_{cid}", view.blind_verdicts.get(cid, v))
                 for cid, v in overrides.items()}
comments = {c["id"]: st.session_state.get(f"cm_{view.evaluation_id}_{c['id']}", "") for c in view.criteria}
changed = reviews.changed_verdicts(view.result, overrides)
with live:
    try:
        live_score, live_passed, live_critical = reviews.recompute(view.result, changed, view.grid)
        state = "échec critique" if live_critical else ("conforme" if live_passed else "non conforme")
        st.markdown(f"**Score recalculé : {fr_score(live_score)}** ({state}) — score IA initial : "
                    f"{fr_score(view.ai_score)}")
    except CcrError as err:
        st.error(str(err))

# --- summary, recommendations, coaching ------------------------------------------------------------
st.subheader("Synthèse")
ai_summary = (view.result or {}).get("summary") or ""
ai_recos = (view.result or {}).get("recommendations") or []
summary_default = review.summary if review and review.summary is not None else ai_summary
recos_default = review.recommendations if review else ai_recos
note_default = (review.coaching_note if review else None) or ""
if can_validate:
    summary = st.text_area("Résumé", value=summary_default, key=f"sum_{view.evaluation_id}")
    recos_text = st.text_area("Recommandations (une par ligne)", value="\n".join(recos_default),
                              key=f"rec_{view.evaluation_id}")
    note = st.text_area("Note de coaching pour l'agent", value=note_default, key=f"note_{view.evaluation_id}",
                        help="Texte libre, conservé avec la validation et visible sur cette page.")
    publish = st.checkbox("Publier à l'agent", value=True, disabled=bool(view.published_at),
                          help="L'agent voit ses évaluations publiées dans « Mes évaluations » et peut les "
                               "contester. Une évaluation déjà publiée le reste, avec le score retenu à jour.")
    b_validate, b_publish = st.columns(2)
    if b_validate.button("Valider", type="primary"):
        try:
            with session() as s:
                saved = reviews.validate_review(
                    session=s, actor=actor, call_id=call_id, overrides=overrides, comments=comments,
                    summary=summary, recommendations=recos_text.splitlines(), coaching_note=note,
                    publish=publish and not view.published_at, category=st.session_state.get(category_key),
                    irritants=st.session_state.get(irritants_key))
            cache.clear_after_write()  # dashboards and the calls list show the validated score at once
            st.session_state[FLASH_KEY] = (f"Évaluation validée : score {fr_score(saved.final_score)} "
                                           f"(score IA initial : {fr_score(saved.ai_score)}).")
            st.rerun()
        except CcrError as err:
            st.error(str(err))
    if not view.published_at and not view.validated and b_publish.button(
            "Publier sans revue (évaluation automatique)",
            help="L'agent la verra avec la mention « évaluation automatique, non revue par un humain »."):
        try:
            with session() as s:
                reviews.publish_evaluation(session=s, actor=actor, call_id=call_id)
            st.session_state[FLASH_KEY] = "Évaluation publiée à l'agent, avec la mention « évaluation automatique »."
            st.rerun()
        except CcrError as err:
            st.error(str(err))
else:
    st.info("Lecture seule : les chefs d'équipe consultent les évaluations sans les valider.")
    st.markdown(md_escape(summary_default) or "—")
    for reco in recos_default:
        st.markdown(f"- {md_escape(reco)}")
    if note_default:
        st.caption("Note de coaching")
        st.markdown(md_escape(note_default))

# --- re-scoring ---------------------------------------------------------------------------------
if can_validate:
    with st.expander("Re-scorer avec une autre version de grille"):
        with session() as s:
            options = reviews.rescore_grids(session=s, actor=actor)
        if not options:
            st.caption("Aucune version de grille enregistrée pour votre organisation.")
        else:
            labels = {gid: plain(label) for gid, label in options}
            grid_id = st.selectbox("Version de grille", list(labels), format_func=labels.get)
            if st.button("Re-scorer"):
                try:
                    from ccr.pipeline import queue

                    with session() as s:
                        queued = queue.rescore_calls(session=s, actor=actor, grid_id=grid_id, call_ids=[call_id])
                    if queued:
                        st.success("Re-notation demandée : la nouvelle évaluation remplacera l'actuelle "
                                   "(l'ancienne et sa validation restent dans l'historique).")
                    else:
                        st.warning("Cet appel ne peut pas être re-scoré pour le moment (traitement en cours "
                                   "ou transcription absente).")
                except ImportError:
                    st.warning("La re-notation n'est pas encore disponible sur cette installation.")
                except CcrError as err:
                    st.error(str(err))

if may(actor.role, "review_queue"):
    page_link("to_review", "Retour à la file « À revoir »", icon="📝")
