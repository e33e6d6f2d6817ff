"""The recording player: a decrypted recording reaches the browser through the session's websocket, not at a URL.

``st.audio(bytes)`` stores the bytes in Streamlit's media store and points the player at
``/media/<hash>.<ext>``, a URL that answers any client holding it, without a session or a cookie, for
as long as the page shows the player. Here the recording is sent as a ``data:`` URL inside the page's
own message instead, so no HTTP address of it exists at all.

A recording too large for one websocket message (``server.maxMessageSize``) falls back to the media
store: its URL answers without a session while the player is on screen, and Streamlit deletes it at
the end of the first run that no longer draws it (another page, another call). The README's
« Sécurité » section states this remaining risk.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ccr.core.errors import CcrError
from ccr.ui.text import fmt_ts

# Base64 turns 3 bytes into 4, and the rest of the page (transcript, verdicts) shares the message.
MESSAGE_SHARE = 0.8


def inline_limit_bytes() -> int:
    """The largest recording sent inside the page: its base64 form must fit in one websocket message."""
    max_message = int(st.get_option("server.maxMessageSize")) * 1_000_000
    return int(max_message * MESSAGE_SHARE * 3 / 4)


def play_recording(data: bytes, mime: str, *, start_s: int = 0, autoplay: bool = False) -> None:
    """Draw the player for a decrypted recording, starting at ``start_s`` seconds."""
    if len(data) <= inline_limit_bytes():
        source: bytes | str = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    else:
        source = data
    st.audio(source, format=mime, start_time=start_s, autoplay=autoplay)


@dataclass(frozen=True)
class RecordingSlot:
    """The recording of the one item on screen (a call, an evaluation), decrypted on demand and held in the
    browser session with the position the player starts from; opening another item drops the previous one."""

    key: str  # session-state prefix of the page
    item_id: int
    has_audio: bool
    loader: Callable[[], bytes]  # decrypts the recording and logs the access; raises CcrError when refused

    def load(self) -> None:
        """Decrypt the recording into the session, once per item (a button's or a jump's callback)."""
        held = st.session_state.get(f"{self.key}_audio")
        if held and held[0] == self.item_id:
            return
        try:
            data = self.loader()
        except CcrError as err:
            st.session_state[f"{self.key}_audio_error"] = str(err)
            return
        st.session_state[f"{self.key}_audio"] = (self.item_id, data)

    def jump(self, seconds: float) -> None:
        """Start the player at ``seconds`` (a timestamp button's callback), loading the recording if needed."""
        st.session_state[f"{self.key}_start"] = (self.item_id, int(seconds))
        if self.has_audio:
            self.load()

    @property
    def start_s(self) -> int:
        """Where the player starts for this item (0 when no timestamp was chosen)."""
        start = st.session_state.get(f"{self.key}_start")
        return start[1] if start and start[0] == self.item_id else 0

    def draw(self, mime: str, *, missing: str, help_text: str) -> None:
        """The player once loaded, else the button that loads it; ``missing`` when there is no recording."""
        if error := st.session_state.pop(f"{self.key}_audio_error", None):
            st.error(error)
        if not self.has_audio:
            st.info(missing)
            return
        held = st.session_state.get(f"{self.key}_audio")
        if held and held[0] == self.item_id:
            play_recording(held[1], mime, start_s=self.start_s, autoplay=bool(self.start_s))
            if self.start_s:
                st.caption(f"Lecture à partir de {fmt_ts(self.start_s)}")
        else:
            st.button("▶️ Écouter l'enregistrement", on_click=self.load, help=help_text)
