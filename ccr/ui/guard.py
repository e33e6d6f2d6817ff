"""The one page guard: every page calls :func:`require_page` first.

It re-reads the user from the database on every run, so a deactivated or
revoked account loses access at its next interaction (a locked one keeps the
sessions opened before its lock: see ``ccr.core.users``), and it refuses (in
French, logged, ``st.stop()``) a role the page does not allow. It also closes
the hole of Streamlit's legacy ``pages/`` mode, where a deep link runs a page
without ``app.py``: with no logged-in user in the session, the page stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

import streamlit as st

from ccr.core import audit
from ccr.core.access import PAGE_BY_KEY, PUBLIC, allowed
from ccr.core.db import session
from ccr.core.errors import AccessDenied
from ccr.core.users import Actor, load_actor, session_is_valid

USER_KEY = "ccr_user_id"
ISSUED_KEY = "ccr_issued_at"


# The actors validated during the current page run, by (user id, session start): the frame, the banners
# and the page each asked the database again, a dozen queries per run that twenty users paid for in turn.
_run_actors: ContextVar[dict[tuple[int, datetime], Actor | None] | None] = ContextVar("ccr_run_actors",
                                                                                      default=None)


@contextmanager
def run_scope() -> Iterator[None]:
    """One page run (``app.py`` wraps each): the session's user is validated once in it, at its first check."""
    token = _run_actors.set({})
    try:
        yield
    finally:
        _run_actors.reset(token)


def current_actor() -> Actor | None:
    """The logged-in actor re-validated against the database (once per page run), or None."""
    user_id = st.session_state.get(USER_KEY)
    issued_at = st.session_state.get(ISSUED_KEY)
    if not user_id or not isinstance(issued_at, datetime):
        return None
    memo, key = _run_actors.get(), (int(user_id), issued_at)
    if memo is not None and key in memo:
        return memo[key]
    actor = _validate(int(user_id), issued_at)
    if memo is not None:
        memo[key] = actor
    return actor


def _validate(user_id: int, issued_at: datetime) -> Actor | None:
    with session() as s:
        try:
            actor = load_actor(session=s, user_id=user_id)
        except AccessDenied:
            return None
        if not session_is_valid(session=s, user_id=actor.user_id, issued_at=issued_at):
            return None
        return actor


def _refuse(message: str, *, page_key: str, actor: Actor | None) -> None:
    with session() as s:
        who = actor.who if actor else audit.SYSTEM
        audit.log_event(session=s, who=who, action="access_refused", target_type="page", target_id=page_key,
                        outcome="refused", detail={"role": actor.role if actor else None})
    st.error(message)
    st.stop()


def require_page(page_key: str) -> Actor | None:
    """Return the actor allowed on this page, or refuse and stop the script.

    Public pages return the actor when logged in, else None.
    """
    spec = PAGE_BY_KEY[page_key]
    actor = current_actor()
    if PUBLIC in spec.roles:
        return actor
    if actor is None:
        for key in (USER_KEY, ISSUED_KEY):
            st.session_state.pop(key, None)
        _refuse("Accès refusé : veuillez vous connecter depuis la page d'accueil.", page_key=page_key, actor=None)
    if not allowed(page_key, actor.role):
        _refuse(f"Accès refusé : la page « {spec.title} » n'est pas ouverte à votre rôle.",
                page_key=page_key, actor=actor)
    return actor
