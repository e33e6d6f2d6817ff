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

import streamlit as st

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
