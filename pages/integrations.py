"""Intégrations (admin): the REST API's tokens, the signed webhook and its delivery log."""

import streamlit as st

from ccr.core import api_tokens
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.vocab import API_SCOPE_LABELS, API_SCOPES, WEBHOOK_EVENT_LABELS, WEBHOOK_EVENTS, WEBHOOK_STATUS_LABELS
from ccr.ops import webhooks
from ccr.ui import integrations_view as view
from ccr.ui.guard import require_page
from ccr.ui.text import md_escape, plain

actor = require_page("integrations")
FLASH_KEY = "ccr_integrations_flash"
ONCE_KEY = "ccr_integrations_once"  # a token or secret, shown at the next run only, then gone from the session
st.title("🔌 Intégrations")
st.caption("Les jetons permettent à vos outils (téléphonie, CRM) de déposer des appels et de lire leurs résultats "
           "par l'API REST ; le webhook prévient votre serveur dès qu'un appel est évalué, échoue ou qu'une revue "
           "est validée. Les envois ne contiennent ni transcription, ni nom, ni numéro de téléphone.")

if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)
if once := st.session_state.pop(ONCE_KEY, None):
    what, value = once
    st.warning(f"{what} : copiez-le maintenant et rangez-le en lieu sûr, il ne sera plus jamais affiché.")
    st.code(value, language=None)


def _run(action) -> None:
    """Run a change in one transaction; ``action`` returns (message, value to show once or None)."""
    try:
        with session() as s:
            message, shown_once = action(s)
    except CcrError as err:
        st.error(str(err))
        return
    st.session_state[FLASH_KEY] = message
    if shown_once:
        st.session_state[ONCE_KEY] = shown_once
    st.rerun()


try:
    with session() as s:
        tokens = api_tokens.list_tokens(session=s, actor=actor)
        hook = webhooks.webhook_view(session=s, actor=actor)
except CcrError as err:
    st.error(str(err))
    st.stop()

tab_tokens, tab_hook, tab_log = st.tabs(["Jetons d'API", "Webhook", "Journal des livraisons"])

with tab_tokens:
    if tokens:
        st.dataframe(view.tokens_frame(tokens), hide_index=True, width="stretch")
    else:
        st.info("Aucun jeton d'API pour l'instant.")
    with st.form("new_token", clear_on_submit=True):
        st.markdown("**Nouveau jeton**")
        name = st.text_input("Nom du jeton", max_chars=api_tokens.MAX_NAME_LEN,
                             help="Le nom de l'outil qui l'utilisera : il apparaît dans le journal d'audit.")
        scopes = [s for s in API_SCOPES if st.checkbox(API_SCOPE_LABELS[s], value=s in api_tokens.DEFAULT_SCOPES)]
        days = st.number_input("Validité en jours (0 : sans limite)", 0, api_tokens.MAX_EXPIRY_DAYS, 365)
        if st.form_submit_button("Créer le jeton"):
            if not scopes:
                st.error("Cochez au moins une portée.")
            else:
                def _create(s):
                    issued = api_tokens.create_token(session=s, actor=actor, name=name, scopes=tuple(scopes),
                                                     expires_days=int(days) or None)
                    return f"Jeton « {md_escape(issued.name)} » créé.", ("Jeton d'API", issued.token)
                _run(_create)
    live = {t.id: t for t in tokens if t.state() == "actif"}
    if live:
        with st.form("revoke_token"):
            st.markdown("**Révoquer un jeton**")
            token_id = st.selectbox("Jeton", list(live), format_func=lambda i: plain(f"{live[i].name} "
                                                                                     f"({live[i].prefix}…)"))
            sure = st.checkbox("Je confirme : les requêtes faites avec ce jeton seront refusées dès maintenant, "
                               "sans retour possible.")
            if st.form_submit_button("Révoquer le jeton"):
                if not sure:
                    st.error("Cochez la confirmation pour révoquer le jeton.")
                else:
                    def _revoke(s):
                        api_tokens.revoke_token(session=s, actor=actor, token_id=token_id)
                        return f"Jeton « {md_escape(live[token_id].name)} » révoqué.", None
                    _run(_revoke)

with tab_hook:
    st.markdown(view.signature_help(get_settings().webhook_retry_hours))
    st.code(view.VERIFY_EXAMPLE, language="python")
    with st.form("webhook"):
        url = st.text_input("URL de réception", value=hook.url if hook else "", placeholder="https://…",
                            max_chars=webhooks.MAX_URL_LEN)
        events = st.multiselect("Événements envoyés", list(WEBHOOK_EVENTS),
                                default=list(hook.events) if hook else list(WEBHOOK_EVENTS),
                                format_func=WEBHOOK_EVENT_LABELS.get)
        active = st.checkbox("Webhook actif", value=hook.active if hook else True)
        if st.form_submit_button("Enregistrer le webhook"):
            def _save(s):
                fresh = webhooks.configure_webhook(session=s, actor=actor, url=url, events=events, active=active)
                return "Webhook enregistré.", ("Secret du webhook", fresh) if fresh else None
            _run(_save)
    if hook:
        with st.form("rotate_secret"):
            st.markdown("**Nouveau secret**")
            sure_secret = st.checkbox("Je confirme : l'ancien secret cesse de valoir dès maintenant, le récepteur "
                                      "devra utiliser le nouveau.")
            if st.form_submit_button("Générer un nouveau secret"):
                if not sure_secret:
                    st.error("Cochez la confirmation pour remplacer le secret.")
                else:
                    _run(lambda s: ("Nouveau secret enregistré.",
                                    ("Secret du webhook", webhooks.rotate_webhook_secret(session=s, actor=actor))))

with tab_log:
    status = st.selectbox("Statut", [None, *WEBHOOK_STATUS_LABELS], key="delivery_status",
                          format_func=lambda k: "tous" if k is None else WEBHOOK_STATUS_LABELS[k])
    try:
        with session() as s:
            deliveries = webhooks.delivery_log(session=s, actor=actor, status=status)
    except CcrError as err:
        st.error(str(err))
        deliveries = []
    if not deliveries:
        st.info("Aucun événement à afficher.")
    else:
        st.dataframe(view.deliveries_frame(deliveries), hide_index=True, width="stretch")
        by_id = {e.id: e for e in deliveries}
        chosen = st.selectbox("Détail d'un événement", list(by_id), key="delivery_event",
                              format_func=lambda i: view.event_label(by_id[i]))
        if by_id[chosen].tries:
            st.dataframe(view.attempts_frame(by_id[chosen]), hide_index=True, width="stretch")
        else:
            st.caption("Pas encore de tentative d'envoi.")
        if st.button("Renvoyer", help="Remet l'événement en file : il repart dans quelques secondes."):
            def _resend(s):
                webhooks.resend_event(session=s, actor=actor, event_id=chosen)
                return f"Événement n° {chosen} remis en file : il repart dans quelques secondes.", None
            _run(_resend)
