"""« Intégrations », run as an administrator would: tokens shown once then revoked, the webhook set, an event
resent; every other role is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from ccr.core import api_tokens, audit, outbox
from ccr.core.db import session
from ccr.core.errors import Unauthenticated
from ccr.core.integration_models import WebhookEndpoint, WebhookEvent
from ccr.ops import webhooks
from tests.pages.helpers import refused, run_page

PAGE = "pages/integrations.py"
ONCE_WARNING = "il ne sera plus jamais affiché"


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _checkbox(at, start: str):
    return next(c for c in at.checkbox if c.label.startswith(start))


def _shown_once(at) -> list[str]:
    """The values the page shows once (a token, a secret): the code blocks under the warning."""
    if not any(ONCE_WARNING in w.value for w in at.warning):
        return []
    return [c.value for c in at.code if c.language != "python"]


def _table(at, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_the_admin_creates_a_token_sees_it_once_then_revokes_it(tenants):
    a, _ = tenants
    at = run_page(PAGE, a.users["admin"])
    assert not at.exception and "Aucun jeton d'API pour l'instant." in [i.value for i in at.info]
    next(t for t in at.text_input if t.label == "Nom du jeton").input("Téléphonie")
    _checkbox(at, "lire les évaluations").check()
    _button(at, "Créer le jeton").click().run()
    assert not at.exception and not at.error
    [token] = _shown_once(at)
    with session() as s:
        client = api_tokens.authenticate(session=s, token=token)
    assert (client.name, client.scopes) == ("Téléphonie", frozenset(api_tokens.parse_scopes(
        "calls:write,calls:read,evaluations:read")))
    row = _table(at, "Portées").iloc[0]
    assert (row["Nom"], row["État"], row["Expire le"] != "jamais") == ("Téléphonie", "actif", True)
    assert row["Portées"] == "déposer des appels, lire l'état des appels, lire les évaluations"
    assert token not in _table(at, "Portées").to_string()

    at.run()  # the next run: the token is gone from the page for good
    assert not _shown_once(at)
    _button(at, "Révoquer le jeton").click().run()  # not confirmed: nothing happens
    assert any("Cochez la confirmation" in e.value for e in at.error)
    _checkbox(at, "Je confirme : les requêtes").check()
    _button(at, "Révoquer le jeton").click().run()
    assert not at.exception and not at.error
    assert _table(at, "Portées").iloc[0]["État"] == "révoqué"
    with session() as s, pytest.raises(Unauthenticated):
        api_tokens.authenticate(session=s, token=token)


def test_the_admin_configures_the_webhook_and_sees_its_secret_once(tenants):
    a, _ = tenants
    at = run_page(PAGE, a.users["admin"])
    url_box = next(t for t in at.text_input if t.label == "URL de réception")
    url_box.input("http://recepteur.exemple.fr/ccr")
    _button(at, "Enregistrer le webhook").click().run()
    assert any("https://" in e.value for e in at.error)  # clear http across a network: refused in French
    url_box = next(t for t in at.text_input if t.label == "URL de réception")
    url_box.input("https://recepteur.exemple.fr/ccr")
    next(m for m in at.multiselect if m.label == "Événements envoyés").set_value(["call.scored", "call.failed"])
    _button(at, "Enregistrer le webhook").click().run()
    assert not at.exception and not at.error
    [secret] = _shown_once(at)
    with session() as s:
        row = s.get(WebhookEndpoint, a.org_id)
    assert (row.url, row.events, row.active) == ("https://recepteur.exemple.fr/ccr", "call.scored,call.failed", True)
    assert outbox.open_secret(row.secret_sealed) == secret
    assert any("X-CCR-Signature" in m.value for m in at.markdown)

    at.run()
    assert not _shown_once(at)
    _checkbox(at, "Je confirme : l'ancien secret").check()
    _button(at, "Générer un nouveau secret").click().run()
    [rotated] = _shown_once(at)
    with session() as s:
        assert rotated != secret and outbox.open_secret(s.get(WebhookEndpoint, a.org_id).secret_sealed) == rotated


def test_the_admin_reads_the_delivery_log_and_resends_an_event(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    with session() as s:
        webhooks.configure_webhook(session=s, actor=admin, url="https://recepteur.exemple.fr/ccr",
                                   events=["call.scored"], active=True)
    with session() as s:
        event = outbox.emit(s, org_id=a.org_id, kind="call.scored", call_id=None, data={"call_id": None})
        s.flush()
        event_id = event.id
    with session() as s:  # as the dispatcher leaves it after a day of failures
        s.exec(update(WebhookEvent).where(WebhookEvent.id == event_id)
               .values(status="abandoned", attempts=3, last_status_code=503, last_error="Réponse HTTP 503."))
    at = run_page(PAGE, a.users["admin"])
    at.selectbox(key="delivery_status").set_value("abandoned").run()
    row = _table(at, "Dernière erreur").iloc[0]
    assert (row["N°"], row["Événement"], row["Statut"], row["Dernier code"], row["Dernière erreur"]) == (
        event_id, "appel évalué", "abandonné", "503", "Réponse HTTP 503.")
    _button(at, "Renvoyer").click().run()
    assert not at.exception and not at.error
    assert any(f"Événement n° {event_id} remis en file" in m.value for m in at.success)
    with session() as s:
        ev = s.get(WebhookEvent, event_id)
        [entry] = audit.list_events(session=s, org_id=a.org_id, action="webhook_event_resent")
    assert (ev.status, ev.last_error) == ("pending", webhooks.MANUAL_MARK)
    assert entry.target_id == str(event_id)


@pytest.mark.parametrize("role", ["dpo", "supervisor", "team_lead", "agent"])
def test_other_roles_are_refused(tenants, role):
    a, _ = tenants
    assert refused(run_page(PAGE, a.users[role]))
