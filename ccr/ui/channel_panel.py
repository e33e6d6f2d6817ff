"""How a call was heard, on the review page: the channel check of a stereo call, the supervisor's swap of its
channels, how the two voices of a mono call were told apart, and the share of words the speech recogniser
doubted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlmodel import select

from ccr.core.access import may
from ccr.core.calls import get_call
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_percent
from ccr.core.models import Transcript
from ccr.core.users import Actor
from ccr.core.vocab import SPEAKER_SEPARATION_LABELS
from ccr.pipeline import queue
from ccr.scoring.channel_check import check_channels
from ccr.scoring.transcript import SPEAKER_CONFIDENCE_FLOOR
from ccr.speech.quality import is_poor, low_confidence_share
from ccr.ui import dashboard_cache as cache
from ccr.ui.text import fmt_ts, md_escape

SWAP_FORM = "ccr_swap_channels"


def transcription_quality(segments: list[dict[str, Any]]) -> None:
    """One line on the share of doubtful words; a warning when it is high enough to mislead the scoring."""
    share = low_confidence_share(segments)
    if share is None:  # an imported transcript: no word probabilities, no figure
        return
    text = f"Qualité de transcription : {fr_percent(share, 0, ratio=True)} de mots peu sûrs"
    if is_poor(share):
        st.warning(f"{text}. Une partie de l'appel a pu être mal entendue : écoutez les passages décisifs avant de "
                   "valider.", icon="🔈")
    else:
        st.caption(f"{text}.")


def channel_notes(actor: Actor, call_id: int, segments: list[dict[str, Any]], *, flash_key: str,
                  jump: Callable[[float], None] | None = None) -> None:
    """The channel warning of a stereo call (with the times to listen to), the note on a swap already made, and
    for a supervisor the motivated, confirmed « Inverser les canaux »; on a mono call, how its speakers were
    told apart."""
    try:
        with session() as s:
            call = get_call(session=s, actor=actor, call_id=call_id)
            stereo, swapped, check = (call.channels or 0) >= 2, call.channels_swapped, call.channel_check
            swappable = call.status in queue.SWAPPABLE and bool(call.audio_key) and not call.restricted
            row = s.exec(select(Transcript).where(Transcript.call_id == call.id,
                                                  Transcript.org_id == call.org_id)).first()
            separation = (row.speaker_separation, row.speaker_confidence) if row is not None else (None, None)
    except CcrError as err:
        st.error(str(err))
        return
    speaker_note(*separation)  # a mono call, or a stereo file holding one mono signal twice
    if not stereo:
        return
    if swapped:
        st.info("Canaux inversés par un superviseur : l'agent est lu sur l'autre canal de l'enregistrement.",
                icon="🔀")
    suspect = check == "suspect"
    if suspect:
        _warning(segments, jump)
    if not may(actor.role, "manage_queue"):
        if suspect:
            st.caption("Un superviseur ou un administrateur peut inverser les canaux de cet appel.")
        return
    if not swappable:
        return
    if suspect:
        _swap_form(actor, call_id, flash_key)
    else:
        with st.expander("Inverser les canaux de l'enregistrement"):
            _swap_form(actor, call_id, flash_key)


def speaker_note(separation: str | None, confidence: float | None) -> None:
    """One line on a mono call's speakers: the confidence of their automatic separation, or why they are unknown."""
    if separation is None:  # transcribed before separation existed, or not transcribed yet
        return
    if separation == "separated" and confidence is not None:
        text = (f"Enregistrement mono : locuteurs séparés automatiquement (confiance "
                f"{fr_percent(confidence, 0, ratio=True)}).")
        if confidence < SPEAKER_CONFIDENCE_FLOOR:
            st.warning(f"{text} L'attribution des phrases à l'agent ou au client est incertaine : les critères "
                       "qui en dépendent sont à vérifier en écoutant l'appel.", icon="🗣️")
        else:
            st.caption(text)
        return
    reason = SPEAKER_SEPARATION_LABELS.get(separation, "")
    st.info(f"Enregistrement mono : locuteurs inconnus ({reason}). Le locuteur de chaque phrase est déduit de ce "
            "qu'elle dit, pas de la voix.", icon="🗣️")


def _warning(segments: list[dict[str, Any]], jump: Callable[[float], None] | None) -> None:
    found = check_channels(segments)  # the stored verdict has no evidence: the lines are found again here
    reason = found.reason if found.verdict == "suspect" else "actes de l'agent entendus sur le canal du client."
    # The reason is built from act names and call times only: no transcript text reaches the Markdown.
    st.warning(f"**Le client semble être sur le canal de l'agent** : {reason} L'évaluation note alors le client "
               "comme s'il était l'agent.", icon="🔀")
    for i, ev in enumerate(found.evidence):
        t_col, text_col = st.columns([1, 9], vertical_alignment="top")
        t_col.button(f"⏱ {fmt_ts(ev.start)}", key=f"ccr_channel_ev_{i}", on_click=jump, args=(ev.start,),
                     disabled=jump is None, help="Écouter ce passage")
        text_col.markdown(f"Canal du client : « {md_escape(ev.text)} »")


def _swap_form(actor: Actor, call_id: int, flash_key: str) -> None:
    with st.form(SWAP_FORM, clear_on_submit=True):
        st.markdown("**Inverser les canaux**")
        st.caption("L'appel sera transcrit à nouveau avec l'agent sur l'autre canal, puis évalué : la nouvelle "
                   "évaluation remplacera l'actuelle, les validations précédentes restent dans l'historique. "
                   "L'inversion est tracée avec son motif.")
        reason = st.text_input("Motif de l'inversion", max_chars=300,
                               placeholder="Par exemple : l'agent s'entend sur le canal du client")
        confirmed = st.checkbox("Je confirme l'inversion des canaux de cet appel")
        if not st.form_submit_button("Inverser les canaux"):
            return
    if not confirmed:
        st.error("Cochez la confirmation pour inverser les canaux.")
        return
    try:
        with session() as s:
            queue.swap_channels(session=s, actor=actor, call_id=call_id, reason=reason)
    except CcrError as err:
        st.error(str(err))
        return
    cache.clear_after_write()  # the calls list and the dashboards show the call back in the queue
    st.session_state[flash_key] = ("Canaux inversés : l'appel est remis en file pour être transcrit et évalué à "
                                   "nouveau. La nouvelle évaluation remplacera l'actuelle.")
    st.rerun()
