"""Cached reads and time helpers of the "Incidents & support" page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.ops import health

CACHE_TTL_S = 60  # one probe a minute: a fresher figure would not change


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def availability(org_id: int, month: str) -> dict[str, Any]:
    """``health.monthly_availability`` of ``org_id`` for ``month`` (AAAA-MM), cached a minute."""
    with session() as s:
        return health.monthly_availability(session=s, month=month, org_id=org_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def latest_probe() -> dict[str, Any] | None:
    """The last recorded probe (system-wide), cached a minute."""
    with session() as s:
        return health.latest_probe(session=s)


def to_utc(value: datetime | None) -> datetime | None:
    """A wall-clock time typed in the display timezone, as aware UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return value.astimezone(ZoneInfo("UTC"))


def local(value: datetime | None) -> datetime | None:
    """An aware (or stored naive UTC) datetime in the display timezone, for widgets and tables."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo(get_settings().timezone))


def local_naive(value: datetime | None) -> datetime | None:
    """Like :func:`local`, without tzinfo (what ``st.datetime_input`` expects)."""
    converted = local(value)
    return converted.replace(tzinfo=None) if converted else None


def current_month() -> str:
    """This month (display timezone) as AAAA-MM."""
    return local(utcnow()).strftime("%Y-%m")
