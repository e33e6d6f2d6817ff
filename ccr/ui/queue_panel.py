"""Progress of the processing queue: the small queue panel and a batch's progress, refreshed by fragments.

``st.fragment(run_every=...)`` reruns only these blocks, never the page: no busy loop, and the
rest of the page stays usable while calls are processed. Nothing is cached: states change every second.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core import orgs
from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.users import Actor
from ccr.core.vocab import CALL_SCOPE_LABELS
from ccr.pipeline import queue
from ccr.ui.links import page_link
from ccr.ui.text import md_escape, plain, plain_frame

PANEL_REFRESH_S = 5  # the overall panel: counts move slowly, and every open page polls it
PROGRESS_REFRESH_S = 2  # a batch being watched: a call's state changes within seconds


def format_eta(seconds: float | None) -> str:
    """A French estimate of the time left: « environ 3 min », « moins d'une minute »."""
    if seconds is None:
        return "inconnu (aucun worker actif)"
    if seconds <= 0:
        return "aucun"
    if seconds < 60:
        return "moins d'une minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"environ {minutes} min"
    return f"environ {minutes // 60} h {minutes % 60:02d} min"


def _panel_body(actor: Actor) -> None:
    with session() as s:
        stats = queue.queue_stats(session=s, actor=actor)
    counts = stats["counts"]
    st.markdown("**File de traitement**")
    c1, c2 = st.columns(2)
    c1.metric("En file", counts["queued"] + counts["held"])
    c2.metric("En cours", stats["in_progress"])
    c1.metric("Terminés", counts["done"])
    c2.metric("Échecs", counts["failed"])
    st.caption(f"Workers actifs : {stats['live_workers']} — temps restant estimé : {format_eta(stats['eta_s'])}")
    broker = stats.get("broker")
    if broker:  # Celery mode: the broker's own view, all organisations together
        st.caption(broker_line(broker))


def broker_line(broker: dict) -> str:
    """One French line on the Celery queues: messages waiting and workers per queue, or why it is unknown."""
    if broker.get("error"):
        return f"Courtier : {broker['error']}"
    parts = []
    for name, label in (("asr", "transcription"), ("score", "évaluation")):
        waiting = broker["queued"].get(name)
        parts.append(f"{label} : {'?' if waiting is None else waiting} en attente, "
                     f"{broker['by_queue'].get(name, 0)} worker(s)")
    return "File Celery — " + " ; ".join(parts)


@st.fragment(run_every=PANEL_REFRESH_S)
def queue_panel(actor: Actor) -> None:
    """The organisation's queue: counts per state, live workers and time left (refreshed every few seconds)."""
    _panel_body(actor)


def _retry(actor: Actor, call_id: int) -> None:
    try:
        with session() as s:
            queue.retry_call(session=s, actor=actor, call_id=call_id)
        st.session_state["ccr_import_flash"] = f"Appel n° {call_id} relancé."
    except CcrError as err:
        st.session_state["ccr_import_flash"] = f"Relance impossible : {md_escape(err)}"


def _finished(progress: dict) -> int:
    return progress["done"] + progress["failed"] + progress["stored"]


def _progress_body(actor: Actor, call_ids: list[int]) -> dict:
    with session() as s:
        progress = queue.calls_progress(session=s, actor=actor, call_ids=call_ids)
    total, finished = progress["total"], _finished(progress)
    text = f"{progress['done']} terminé(s), {progress['failed']} en échec sur {total}"
    if progress["stored"]:
        text += f" ; {progress['stored']} conservé(s) sans analyse (périmètre d'évaluation)"
    if finished < total:
        text += f" — temps restant estimé : {format_eta(progress['eta_s'])}"
    st.progress(progress["fraction"], text=text)
    if progress["rows"]:
        table = pd.DataFrame(progress["rows"]).drop(columns=["status", "channel_check"])
        if not (table["canaux"] != "").any():  # the column only appears when a stereo call's channels need a look
            table = table.drop(columns=["canaux"])
        st.dataframe(plain_frame(table), hide_index=True, width="stretch",
                     column_config={"appel": st.column_config.NumberColumn("Appel", format="%d"),
                                    "fichier": "Fichier", "statut": "Statut", "tentatives": "Tentatives",
                                    "raison": "Raison", "canaux": "Canaux"})
    for row in progress["rows"]:
        if row["channel_check"] == "suspect":
            st.warning(f"Appel n° {row['appel']} ({md_escape(row['fichier'])}) : le client semble être sur le canal "
                       "de l'agent, l'évaluation le note comme s'il était l'agent. Écoutez l'appel dans la revue ; "
                       "un superviseur peut y inverser les canaux.", icon="🔀")
            page_link("review", f"Revue de l'appel n° {row['appel']}", query_params={"call_id": row["appel"]},
                      icon="🎧")
    for row in progress["rows"]:
        if row["status"] == "failed" and may(actor.role, "manage_queue"):
            col1, col2 = st.columns([4, 1])
            col1.error(f"Appel n° {row['appel']} ({md_escape(row['fichier'])}) : {md_escape(row['raison'])}")
            col2.button("Relancer", key=f"ccr_retry_{row['appel']}", on_click=_retry, args=(actor, row["appel"]))
    return progress


@st.fragment(run_every=PROGRESS_REFRESH_S)
def _live_progress(actor: Actor, call_ids: list[int]) -> None:
    progress = _progress_body(actor, call_ids)
    if progress["total"] and _finished(progress) == progress["total"]:
        st.rerun(scope="app")  # all finished: the page redraws without a timer


def batch_progress(actor: Actor, call_ids: list[int]) -> None:
    """The state of each call of a batch with an overall progress bar; live until every call is finished."""
    with session() as s:
        progress = queue.calls_progress(session=s, actor=actor, call_ids=call_ids)
    if progress["total"] and _finished(progress) == progress["total"]:
        _progress_body(actor, call_ids)
    else:
        _live_progress(actor, call_ids)


def stored_calls_panel(actor: Actor) -> None:
    """The calls the scope kept without analysis, and the supervisor's motivated request to analyse one."""
    try:
        with session() as s:
            rows = queue.stored_calls(session=s, actor=actor)
            agents = {a.id: a.name for a in orgs.list_agents(session=s, actor=actor, include_inactive=True)}
    except CcrError as err:
        st.error(str(err))
        return
    if not rows:
        return
    st.subheader(f"Appels conservés sans analyse ({len(rows)}{'+' if len(rows) >= queue.STORED_LIST_MAX else ''})")
    st.caption("Le périmètre d'évaluation de votre organisation (quota par agent, périodes annoncées) a laissé ces "
               "appels de côté : ils sont conservés, ni transcrits ni notés. Vous pouvez demander l'analyse de l'un "
               "d'eux en la motivant ; la demande est tracée et apparaît dans le bilan du DPO.")
    tz = ZoneInfo(get_settings().timezone)
    labels = {r["call_id"]: f"Appel n° {r['call_id']} — {r['started_at'].astimezone(tz):%d/%m/%Y %H:%M} — "
                            f"{plain(agents.get(r['agent_id'], 'sans agent'))} ({CALL_SCOPE_LABELS[r['scope']]})"
              for r in rows}
    with st.form("ccr_request_evaluation", clear_on_submit=True):
        call_id = st.selectbox("Appel", list(labels), format_func=labels.get, index=None,
                               placeholder="Choisir un appel")
        reason = st.text_input("Motif de la demande", max_chars=300,
                               placeholder="Par exemple : réclamation écrite du client sur cet appel")
        if st.form_submit_button("Demander l'analyse"):
            if call_id is None:
                st.error("Choisissez un appel.")
                return
            try:
                with session() as s:
                    queue.request_evaluation(session=s, actor=actor, call_id=call_id, reason=reason)
                st.success(f"Appel n° {call_id} mis en file d'analyse.")
            except CcrError as err:
                st.error(str(err))
