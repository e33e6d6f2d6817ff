"""The login frame around streamlit-authenticator 0.4.2, with users from the database.

What the library does: the login form, bcrypt checks and the signed re-login
cookie. What CCR adds: failed logins counted (and accounts locked) in the
database, a lock that refuses the re-login cookie as well as the form (see
``ccr.core.users``), audit entries for login, failure and logout, re-validation of
the user on every run, and server-side revocation of cookies issued before a
logout or a deactivation. Its e-mail and two-factor features are never used:
they call the author's cloud service and data would leave the premises.

Cookies are read on the server, from the page request (``st.context.cookies``),
and the re-login cookie is written by a small script in the page itself (a
components-v2 component, as the consent cookie is), never by the library's
cookie component: that one drew an iframe on every run whose reports reran the
page right after it loaded and after each write, and a login submitted during
such a rerun was dropped.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.models import cookie_model as library_cookie_model
from streamlit_authenticator.models.cookie_model import CookieModel
from streamlit_authenticator.utilities.exceptions import LoginError

from ccr.core import timings
from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied
from ccr.core.users import (
    FORM_LOGIN,
    Actor,
    get_user_by_username,
    is_locked,
    load_actor,
    locked_message,
    login_candidates,
    record_failed_login,
    record_login,
    record_logout,
    session_is_valid,
)
from ccr.ui.guard import ISSUED_KEY, USER_KEY, current_actor
from ccr.ui.text import md_escape

COOKIE_NAME = "ccr_auth"
LOGIN_FIELDS = {
    "Form name": "Connexion",
    "Username": "Identifiant",
    "Password": "Mot de passe",
    "Login": "Se connecter",
    "Captcha": "Captcha",
}
WRITE_KEY = "ccr_relogin_write"  # what the page must do with the re-login cookie: set (with its token) or delete
SESSION_ENDED = "Votre session a expiré ou a été fermée : veuillez vous reconnecter."


def cookie_key() -> str:
    """The cookie signing key, derived from the secret key (never a default value)."""
    secret = get_settings().secret().encode()
    return hmac.new(secret, b"ccr-relogin-cookie-v1", hashlib.sha256).hexdigest()


def _cookie_token() -> dict | None:
    """The decoded re-login cookie of this page load, if it is present and valid."""
    try:
        raw = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # AppTest replaces st.context.cookies with a mock
        return None
    if not isinstance(raw, str):
        return None
    try:
        return jwt.decode(raw, cookie_key(), algorithms=["HS256"])
    except jwt.PyJWTError:
        return None


# Runs in the app page (no iframe, no report back, so no rerun). Streamlit calls it again with the same data
# on every later run: the same token with the same absolute expiry, or the same deletion, is harmless. Written
# by a script, the cookie cannot be HttpOnly (README, « Sécurité »); Secure whenever the page came over HTTPS.
_WRITER_JS = """
export default function (component) {
  const data = component.data;
  if (!data || !data.op) { return; }
  const tail = "; Path=/; SameSite=Strict" + (window.location.protocol === "https:" ? "; Secure" : "");
  if (data.op === "set") {
    const maxAge = Math.max(0, Math.floor(data.expires_at - Date.now() / 1000));
    document.cookie = data.name + "=" + data.value + "; Max-Age=" + maxAge + tail;
  } else if (data.op === "delete") {
    document.cookie = data.name + "=; Max-Age=0" + tail;
  }
}
"""
_cookie_writer = st.components.v2.component("ccr_relogin_cookie", js=_WRITER_JS)


class _NoCookieComponent:
    """Stands in for extra_streamlit_components' CookieManager, which the library builds on every run.

    Building it drew its iframe, whose first report reran the page; CCR needs none of it (see the module
    docstring), so the library gets this inert stand-in and CCR's own writer (``_write_cookie``).
    """

    def __init__(self, key: str = "init") -> None:
        self.cookies: dict = {}


library_cookie_model.stx = SimpleNamespace(CookieManager=_NoCookieComponent)


def _write_cookie(model: CookieModel) -> None:
    """Replaces the library's cookie write: a new token, written by the page from this run on."""
    expires = datetime.now(UTC) + timedelta(days=model.cookie_expiry_days)
    model.exp_date = expires.timestamp()
    token = jwt.encode({"username": st.session_state["username"], "exp_date": model.exp_date}, model.cookie_key,
                       algorithm="HS256")
    st.session_state[WRITE_KEY] = {"op": "set", "name": model.cookie_name, "value": token,
                                   "expires_at": model.exp_date}


def _delete_cookie(model: CookieModel) -> None:
    """Replaces the library's cookie deletion (logout): the page deletes it from this run on."""
    st.session_state[WRITE_KEY] = {"op": "delete", "name": model.cookie_name}


def _mount_cookie_writer() -> None:
    """Keep the page's cookie writer mounted with this session's last decision (none before any)."""
    if action := st.session_state.get(WRITE_KEY):
        _cookie_writer(key="ccr_relogin_cookie", data=action, height=0)


def _build_authenticator(now: datetime) -> tuple[stauth.Authenticate, dict[str, int]]:
    settings = get_settings()
    # A session already logged in never shows the form: its own credentials are all the library needs
    # (logout included), instead of every account of every organisation read on each run.
    logged_in = st.session_state.get("authentication_status") and st.session_state.get("username")
    with session() as s:
        users = login_candidates(session=s, now=now, username=logged_in or None)
        # Lock state comes from the database; the library only sees "at the limit" or "zero".
        start_counts = {u.username: settings.lockout_attempts if is_locked(u, now) else 0 for u in users}
        credentials = {
            "usernames": {
                u.username: {
                    "name": u.display_name,
                    "email": u.email or "",
                    "password": u.password_hash,
                    "roles": [u.role],
                    "failed_login_attempts": start_counts[u.username],
                }
                for u in users
            }
        }
    authenticator = stauth.Authenticate(
        credentials,
        cookie_name=COOKIE_NAME,
        cookie_key=cookie_key(),
        cookie_expiry_days=settings.cookie_expiry_hours / 24,
        auto_hash=False,
        login_sleep_time=0,  # otherwise deep links opened through cookie re-login land on the default page
    )
    # Every write of the re-login cookie, the library's own after a form login and at logout included.
    model = authenticator.cookie_controller.cookie_model
    model.set_cookie = functools.partial(_write_cookie, model)
    model.delete_cookie = functools.partial(_delete_cookie, model)
    return authenticator, start_counts


def _failed_username(authenticator: stauth.Authenticate, start_counts: dict[str, int]) -> str | None:
    creds = authenticator.authentication_controller.authentication_model.credentials["usernames"]
    for username, before in start_counts.items():
        if creds.get(username, {}).get("failed_login_attempts", 0) > before:
            return username
    return None


def _clear_session() -> None:
    for key in (USER_KEY, ISSUED_KEY):
        st.session_state.pop(key, None)


def _on_logout(details: dict) -> None:
    user_id = st.session_state.get(USER_KEY)
    if user_id:
        with session() as s:
            record_logout(session=s, user_id=int(user_id))
    _clear_session()


def _validated_actor() -> Actor | None:
    """The session's actor if the account and this session are still valid, else None (and why, shown)."""
    if (actor := current_actor()) is not None:  # validated once per run, shared with the page's guard
        return actor
    with session() as s:
        try:
            actor = load_actor(session=s, user_id=int(st.session_state[USER_KEY]))
        except AccessDenied as err:
            st.error(str(err))
            return None
        if not session_is_valid(session=s, user_id=actor.user_id, issued_at=st.session_state[ISSUED_KEY]):
            st.info(SESSION_ENDED)
            return None
        return actor


def _login_form(authenticator: stauth.Authenticate, location: str = "main") -> bool:
    """Run the library's login: the form (``main``) or only the cookie re-login (``unrendered``).

    False when it raised (account locked, or a cookie of a user who no longer may log in).
    """
    try:
        authenticator.login(location=location, fields=LOGIN_FIELDS, key="ccr_login",
                            max_login_attempts=get_settings().lockout_attempts)
    except LoginError as err:
        if "attempts" in str(err):
            st.error(locked_message())
        else:  # a cookie of a user who no longer may log in
            st.session_state["logout"] = True
            st.session_state["authentication_status"] = None
        return False
    return True


def _record_failure(authenticator: stauth.Authenticate, start_counts: dict[str, int], now: datetime) -> None:
    username = _failed_username(authenticator, start_counts)
    with session() as s:
        user = record_failed_login(session=s, username=username or "", now=now)
        locked = bool(username and user and is_locked(user, now))
    st.error(locked_message() if locked else "Identifiant ou mot de passe incorrect.")


def _start_session(username: str, token: dict | None, now: datetime) -> str | None:
    """Bind a fresh login (form or cookie) to the database user; the French refusal when it must be refused."""
    settings = get_settings()
    with session() as s:
        user = get_user_by_username(session=s, username=username)
        if user is None:
            return SESSION_ENDED
        if token and token.get("username") == username:
            issued_at = datetime.fromtimestamp(token["exp_date"], UTC) - timedelta(hours=settings.cookie_expiry_hours)
            method = "cookie"
        else:
            issued_at, method = now, FORM_LOGIN
        if not session_is_valid(session=s, user_id=user.id, issued_at=issued_at):
            return SESSION_ENDED
        try:
            record_login(session=s, user_id=user.id, method=method, now=now)
        except AccessDenied as err:  # locked: caught here so the refusal's audit entry is committed
            return str(err)
    st.session_state[USER_KEY] = user.id
    st.session_state[ISSUED_KEY] = issued_at
    return None


@dataclass
class Login:
    """This run's login state: the actor (None when anonymous) and what the "Connexion" page needs."""

    actor: Actor | None
    authenticator: stauth.Authenticate
    start_counts: dict[str, int]
    now: datetime

    def render_page(self) -> None:
        """The "Connexion" page: the login form; a successful login reruns the app into the user's pages.

        The form lives in a page, not in the frame around the pages: Streamlit derives widget ids from
        the running page, and the frame's first run on a fresh load runs under another page id than the
        next one, which redrew the form empty under the user's typing.
        """
        st.title("📞 CallCenterRate")
        st.caption("Évaluation de la qualité des appels, hébergée chez vous.")
        with timings.section("auth"):  # the password check (bcrypt) happens here
            if not _login_form(self.authenticator):
                return
        status = st.session_state.get("authentication_status")
        if status is False:
            _record_failure(self.authenticator, self.start_counts, self.now)
        elif status:
            st.rerun()  # the frame starts the session and builds the user's navigation


def authenticate() -> Login:
    """Re-validate the session, or log in from the re-login cookie; draws no form (see ``Login``).

    A session is re-validated on every run, and a valid re-login cookie logs its user in here, so
    a deep link opened with the cookie lands on its page.
    """
    login = _authenticate()
    _mount_cookie_writer()
    return login


def _authenticate() -> Login:
    now = utcnow()
    authenticator, start_counts = _build_authenticator(now)
    login = Login(actor=None, authenticator=authenticator, start_counts=start_counts, now=now)
    token = _cookie_token()
    # An existing session is re-validated first, so a revoked one is logged out in this same run.
    if st.session_state.get(USER_KEY) and _validated_actor() is None:
        _force_logout(authenticator)
    if not _login_form(authenticator, location="unrendered") or not st.session_state.get("authentication_status"):
        return login
    fresh_login = not st.session_state.get(USER_KEY)
    if fresh_login:
        refusal = _start_session(st.session_state.get("username") or "", token, now)
        if refusal == SESSION_ENDED:
            _force_logout(authenticator)
            st.info(SESSION_ENDED)
            return login
        if refusal:  # locked
            if token and token.get("username") == st.session_state.get("username"):
                _refuse_login()  # the re-login cookie stays, to serve again once the lock has ended
            else:
                _force_logout(authenticator)  # a form login refused: no cookie may outlive the refusal
            st.error(refusal)
            return login
    actor = _validated_actor()
    if actor is None:
        _force_logout(authenticator)
        return login

    with st.sidebar:
        st.caption(f"Connecté : **{md_escape(actor.display_name)}**")
        authenticator.logout(button_name="Se déconnecter", location="sidebar", key="ccr_logout_button",
                             callback=_on_logout)
    if not st.session_state.get("authentication_status"):
        st.rerun()
    login.actor = actor
    return login


def _refuse_login() -> None:
    """Leave this browser session logged out without deleting the re-login cookie.

    The library's ``logout`` flag stops it reading the cookie again in this session (each run would log in
    and be refused again); a new page load reads it afresh.
    """
    _clear_session()
    st.session_state["logout"] = True
    st.session_state["authentication_status"] = None


def _force_logout(authenticator: stauth.Authenticate) -> None:
    """End this browser session without a user click (account revoked or invalid cookie)."""
    _clear_session()
    try:
        authenticator.logout(location="unrendered")
    except Exception:  # not logged in from the library's point of view: nothing to undo
        st.session_state["logout"] = True
    st.session_state["authentication_status"] = None
