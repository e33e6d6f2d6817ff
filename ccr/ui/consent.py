"""The cookie banner, the "Personnaliser" / "Gérer mes cookies" dialog and the browser side of consent.

Reading: ``st.context.cookies`` holds the cookies of the page load only, so a
choice made during this session lives in ``st.session_state`` and wins over
the page-load cookie. Writing: a components-v2 component with inline JS (no
iframe) sets ``document.cookie`` in the page itself; it stays mounted on every
later run of the session and is idempotent (same value, same absolute expiry),
so a rerun that follows at once cannot lose the write. Analytics: the Matomo
tag is injected only while audience measurement is accepted; turning it off
or withdrawing deletes the ``_pk_*`` cookies and reloads the page so the
running tracker stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from ccr.core.config import Settings, get_settings
from ccr.core.db import session, utcnow
from ccr.privacy.consent import (
    AUDIENCE,
    CATEGORIES,
    CONSENT_COOKIE,
    FUNCTIONAL,
    NECESSARY,
    Consent,
    accept_all,
    analytics_tag_html,
    is_in_force,
    make_consent,
    parse_consent_cookie,
    record_consent,
    refuse_all,
    withdraw,
)
from ccr.ui.guard import current_actor

CHOICE_KEY = "ccr_consent_choice"  # the Consent chosen in this session; WITHDRAWN after a withdrawal
BROWSER_KEY = "ccr_consent_browser"  # what the page must do with its cookies (see _BROWSER_JS)
WITHDRAWN = "withdrawn"
# The dialog stays open across full reruns until saved or dismissed (a click on a toggle reruns the app
# when the dialog was opened from a button's return value, which would close it).
DIALOG_KEY = "ccr_consent_dialog_open"
# Set by the frame (app.py) on each run and taken by the public pages: a page that does not find it was
# run without app.py (Streamlit's legacy pages/ mode on a deep link) and draws the banner itself.
FRAME_KEY = "ccr_consent_frame_ran"
COOKIE_POLICY_URL = "cookies"  # url_path of pages/cookies.py in ccr.core.access

# Runs in the app page (no iframe). Streamlit calls it again with the same data on later runs: setting the
# same value with the same absolute expiry is harmless, and the reload happens once (flag in sessionStorage).
_BROWSER_JS = """
export default function (component) {
  const data = component.data;
  if (!data || !data.op) { return; }
  const tail = "; Path=/; SameSite=Lax" + (window.location.protocol === "https:" ? "; Secure" : "");
  if (data.clear_analytics) {
    const dir = window.location.pathname.replace(/\\/[^\\/]*$/, "") || "/";
    for (const part of document.cookie.split(";")) {
      const name = part.split("=")[0].trim();
      if (name.startsWith("_pk_") || name.startsWith("mtm_")) {
        document.cookie = name + "=; Max-Age=0" + tail;
        document.cookie = name + "=; Max-Age=0; Path=" + dir;
      }
    }
  }
  if (data.op === "set") {
    const maxAge = Math.max(0, Math.floor(data.expires_at - Date.now() / 1000));
    document.cookie = data.name + "=" + data.value + "; Max-Age=" + maxAge + tail;
  } else if (data.op === "delete") {
    document.cookie = data.name + "=; Max-Age=0" + tail;
  }
  if (data.reload && window.sessionStorage.getItem("ccr-consent-reloaded") !== data.nonce) {
    window.sessionStorage.setItem("ccr-consent-reloaded", data.nonce);
    window.location.reload();
  }
}
"""
_browser_component = st.components.v2.component("ccr_consent_cookie", js=_BROWSER_JS)


def page_cookies() -> Mapping[str, str]:
    """The cookies the browser sent with this page load (empty where Streamlit has none)."""
    try:
        cookies = st.context.cookies
        return {k: v for k, v in dict(cookies).items() if isinstance(k, str) and isinstance(v, str)}
    except Exception:  # outside a browser session (AppTest mocks the runtime): no cookies
        return {}


def current_consent(settings: Settings | None = None) -> Consent | None:
    """The choice in force: made in this session, else the valid cookie of the page load, else None."""
    settings = settings or get_settings()
    chosen = st.session_state.get(CHOICE_KEY)
    if chosen == WITHDRAWN:
        return None
    if isinstance(chosen, Consent):
        # A long-lived session outlives neither the policy version nor the expiry of its choice.
        return chosen if is_in_force(chosen, settings, utcnow()) else None
    return parse_consent_cookie(page_cookies().get(CONSENT_COOKIE), settings, utcnow())


def _org_id() -> int | None:
    actor = current_actor()
    return actor.org_id if actor else None


def apply_choice(choices: Mapping[str, bool], settings: Settings | None = None) -> Consent:
    """Record a new choice (proof in the database) and have the browser store it."""
    settings = settings or get_settings()
    previous = current_consent(settings)
    consent, value, _max_age = make_consent(choices, settings, utcnow())
    with session() as s:
        if previous is not None:
            withdraw(session=s, consent_id=previous.consent_id)
        record_consent(session=s, consent=consent, org_id=_org_id())
    stop_tracker = bool(previous and previous.audience and not consent.audience)
    st.session_state[CHOICE_KEY] = consent
    st.session_state[BROWSER_KEY] = {
        "op": "set", "name": CONSENT_COOKIE, "value": value, "expires_at": consent.expires_at,
        "clear_analytics": not consent.audience, "reload": stop_tracker, "nonce": consent.consent_id,
    }
    return consent


def withdraw_choice(settings: Settings | None = None) -> None:
    """Withdraw the choice in force: mark it withdrawn, delete the cookies, reload (the banner comes back)."""
    settings = settings or get_settings()
    previous = current_consent(settings)
    if previous is not None:
        with session() as s:
            withdraw(session=s, consent_id=previous.consent_id)
    st.session_state[CHOICE_KEY] = WITHDRAWN
    st.session_state[BROWSER_KEY] = {
        "op": "delete", "name": CONSENT_COOKIE, "clear_analytics": True, "reload": True,
        "nonce": previous.consent_id if previous else "none",
    }


def _mount_browser_side(consent: Consent | None, settings: Settings) -> None:
    action = st.session_state.get(BROWSER_KEY)
    if action:
        _browser_component(key="ccr_consent_cookie", data=action, height=0)
    if consent is not None and consent.audience:
        tag = analytics_tag_html(settings)
        if tag:
            st.html(tag, unsafe_allow_javascript=True)


def _on_choice(choices: dict[str, bool]) -> None:
    apply_choice(choices)


def _open_dialog() -> None:
    st.session_state[DIALOG_KEY] = True


def _close_dialog() -> None:
    st.session_state.pop(DIALOG_KEY, None)


@st.dialog("Personnaliser mes cookies", width="medium", on_dismiss=_close_dialog)
def _preferences_dialog() -> None:
    current = current_consent()
    st.caption("Votre choix est conservé 6 mois au plus ; vous pouvez le modifier à tout moment "
               "depuis « Gérer mes cookies ».")
    st.toggle(CATEGORIES[NECESSARY]["label"], value=True, disabled=True, key="ccr_consent_t_necessary")
    st.caption(CATEGORIES[NECESSARY]["help"])
    audience = st.toggle(CATEGORIES[AUDIENCE]["label"], value=bool(current and current.audience),
                         key="ccr_consent_t_audience")
    st.caption(CATEGORIES[AUDIENCE]["help"])
    functional = st.toggle(CATEGORIES[FUNCTIONAL]["label"], value=bool(current and current.functional),
                           key="ccr_consent_t_functional")
    st.caption(CATEGORIES[FUNCTIONAL]["help"])
    st.markdown(f"[Politique cookies]({COOKIE_POLICY_URL})")
    save, refuse, accept = st.columns(3)
    choice: dict[str, bool] | None = None
    if save.button("Enregistrer mes choix", key="ccr_consent_save", width="stretch"):
        choice = {AUDIENCE: audience, FUNCTIONAL: functional}
    if refuse.button("Tout refuser", key="ccr_consent_d_refuse", width="stretch"):
        choice = refuse_all()
    if accept.button("Tout accepter", key="ccr_consent_d_accept", width="stretch"):
        choice = accept_all()
    if current is not None and st.button("Retirer mon consentement", key="ccr_consent_withdraw",
                                         help="Supprime votre choix et les cookies de mesure d'audience ; "
                                         "le bandeau réapparaît."):
        _close_dialog()
        withdraw_choice()
        st.rerun()
    if choice is not None:
        _close_dialog()
        apply_choice(choice)
        st.rerun()


def _banner() -> None:
    with st.container(border=True, key="ccr_consent_banner"):
        st.markdown("**🍪 Vos choix sur les cookies**")
        st.markdown(
            "CallCenterRate dépose les cookies strictement nécessaires à la connexion et à la sécurité. "
            "Avec votre accord, il peut aussi mesurer l'audience des pages (Matomo, hébergé par votre "
            "organisation) et retenir vos préférences d'affichage. Refuser n'a aucune conséquence sur "
            "l'accès au service. Votre choix est conservé 6 mois au plus et modifiable à tout moment "
            f"(« Gérer mes cookies »). [Politique cookies]({COOKIE_POLICY_URL})"
        )
        # Same type and width for the three buttons: refusing is as easy as accepting (CNIL).
        accept, refuse, customise = st.columns(3)
        accept.button("Tout accepter", key="ccr_consent_accept", width="stretch",
                      on_click=_on_choice, args=(accept_all(),))
        refuse.button("Tout refuser", key="ccr_consent_refuse", width="stretch",
                      on_click=_on_choice, args=(refuse_all(),))
        customise.button("Personnaliser", key="ccr_consent_customise", width="stretch", on_click=_open_dialog)


def render_consent_banner(settings: Settings | None = None) -> Consent | None:
    """Show the banner until a choice is made, keep the browser's cookies in step, inject analytics if accepted."""
    settings = settings or get_settings()
    st.session_state[FRAME_KEY] = True
    consent = current_consent(settings)
    _mount_browser_side(consent, settings)
    if consent is None:
        _banner()
    if st.session_state.get(DIALOG_KEY):  # opened by "Personnaliser" or by "Gérer mes cookies"
        _preferences_dialog()
    return consent


def ensure_consent_banner() -> None:
    """For public pages: draw the banner and the sidebar button when app.py did not (deep link, legacy mode)."""
    if not st.session_state.pop(FRAME_KEY, False):
        render_consent_banner()
        st.session_state.pop(FRAME_KEY, None)
        render_cookie_manager_button()


def render_cookie_manager_button() -> None:
    """The sidebar's "Gérer mes cookies" button, opening the choice dialog (drawn by the banner's function)."""
    st.sidebar.button("🍪 Gérer mes cookies", key="ccr_cookie_manager", width="stretch", on_click=_open_dialog)


def consent_state() -> dict[str, Any]:
    """The choice in force as plain data, for pages that explain it (e.g. the cookie policy)."""
    consent = current_consent()
    if consent is None:
        return {"chosen": False}
    return {"chosen": True, AUDIENCE: consent.audience, FUNCTIONAL: consent.functional,
            "expires_at": consent.expires_datetime()}
