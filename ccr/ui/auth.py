"""The login frame around streamlit-authenticator 0.4.2, with users from the database.

What the library does: the login form, bcrypt checks and the signed re-login
cookie. What CCR adds: failed logins counted (and accounts locked) in the
database, a lock that refuses the re-login cookie as well as the form (see
``ccr.users``), audit entries for login, failure and logout, re-validation of
the user on every run, and server-side revocation of cookies issued before a
logout or a deactivation. Its e-mail and two-factor features are never used:
they call the author's cloud service and data would leave the premises.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.models.cookie_model import CookieModel
from streamlit_authenticator.utilities.exceptions import LoginError

from ccr.config import get_settings
from ccr.db import session, utcnow
from ccr.errors import AccessDenied
from ccr.ui.guard import ISSUED_KEY, USER_KEY
from ccr.ui.text import md_escape
from ccr.users import (
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

COOKIE_NAME = "ccr_auth"
LOGIN_FIELDS = {
    "Form name": "Connexion",
    "Username": "Identifiant",
    "Password": "Mot de passe",
    "Login": "Se connecter",
    "Captcha": "Captcha",
}
_COOKIE_RESET_KEY = "ccr_cookie_reset"
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


def _served_over_https() -> bool:
    """True when the browser reached the app over HTTPS, directly or through a TLS reverse proxy."""
    try:
        url = st.context.url
    except Exception:  # AppTest has no browser URL
        return False
    return isinstance(url, str) and url.startswith("https://")


def _write_cookie(model: CookieModel) -> None:
    """The library's cookie write, with ``Secure`` whenever the page came over HTTPS.

    The cookie is written from JavaScript by the library's cookie component, so it cannot be
    ``HttpOnly``: the server-side checks in ``ccr.users`` (revocation, lock, lifetime) are what bound a
    copied cookie. ``SameSite=Strict`` keeps other sites' requests from carrying it.
    """
    expires = datetime.now(UTC) + timedelta(days=model.cookie_expiry_days)
    model.exp_date = expires.timestamp()
    token = jwt.encode({"username": st.session_state["username"], "exp_date": model.exp_date}, model.cookie_key,
                       algorithm="HS256")
    model.cookie_manager.set(model.cookie_name, token, expires_at=expires, secure=_served_over_https(),
                             same_site="strict")


def _build_authenticator(now: datetime) -> tuple[stauth.Authenticate, dict[str, int]]:
    settings = get_settings()
    with session() as s:
        users = login_candidates(session=s, now=now)
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
    # Every write of the re-login cookie, the library's own after a form login included, goes through ours.
    model = authenticator.cookie_controller.cookie_model
    model.set_cookie = functools.partial(_write_cookie, model)
    return authenticator, start_counts


def _failed_username(authenticator: stauth.Authenticate, start_counts: dict[str, int]) -> str | None:
    creds = authenticator.authentication_controller.authentication_model.credentials["usernames"]
    for username, before in start_counts.items():
        if creds.get(username, {}).get("failed_login_attempts", 0) > before:
            return username
    return None


def _clear_session() -> None:
    for key in (USER_KEY, ISSUED_KEY, _COOKIE_RESET_KEY):
        st.session_state.pop(key, None)


def _on_logout(details: dict) -> None:
    user_id = st.session_state.get(USER_KEY)
    if user_id:
        with session() as s:
            record_logout(session=s, user_id=int(user_id))
    _clear_session()


def _validated_actor() -> Actor | None:
    """The session's actor if the account and this session are still valid, else None."""
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
        if token is None:
            # A form login: the library wrote the re-login cookie in the "Connexion" page's run, which its
            # rerun cut short before the browser could mount the writer. Write it in this run.
            authenticator.cookie_controller.set_cookie()
        st.session_state[_COOKIE_RESET_KEY] = "armed"
    actor = _validated_actor()
    if actor is None:
        _force_logout(authenticator)
        return login

    # The re-login cookie is written by an iframe component and is sometimes lost when a rerun
    # follows at once: write it again once, on a later run than the login (a second write in the
    # login's own run would reuse the component's key).
    if not fresh_login and st.session_state.get(_COOKIE_RESET_KEY) == "armed":
        st.session_state[_COOKIE_RESET_KEY] = "done"
        if token is None:
            authenticator.cookie_controller.set_cookie()

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
