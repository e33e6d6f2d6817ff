"""The maintenance banner shown on every page from ``maintenance_notice_hours`` before a window."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.pipeline import maintenance
from ccr.ui.guard import current_actor
from ccr.ui.text import md_escape

CACHE_TTL_S = 60  # the banner appears or goes at most a minute late; one query a minute per organisation


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def announcements(org_id: int | None) -> list[str]:
    """Banner lines for ``org_id`` (None: anonymous, windows of every organisation only)."""
    settings = get_settings()
    lead = timedelta(hours=settings.maintenance_notice_hours)
    with session() as s:
        items = maintenance.upcoming_or_active(session=s, org_id=org_id, now=utcnow(), lead_time=lead)
    return [maintenance.banner_text(a, settings) for a in items]


def render_maintenance_banner() -> None:
    """Show a warning per window announced to the viewer's organisation (active or within the notice)."""
    actor = current_actor()
    for line in announcements(actor.org_id if actor else None):
        st.warning(md_escape(line))
