"""Tables and texts of the « Intégrations » page: API tokens, the webhook and its delivery log, in French.

Every cell is plain text (names, URLs and receivers' errors are data, shown through ``st.dataframe``);
dates are in the display timezone, « 31/12/2026 14:05 ».
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ccr.core.api_tokens import TokenView
from ccr.core.formats import MISSING, fr_number, label_of
from ccr.core.vocab import API_SCOPE_LABELS, WEBHOOK_EVENT_LABELS, WEBHOOK_STATUS_LABELS
from ccr.ops.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, DeliveryView
from ccr.ui.service_level import local
from ccr.ui.text import plain_frame

DATE_FMT = "%d/%m/%Y %H:%M"



def signature_help(retry_hours: float) -> str:
    """How a receiver checks a delivery (Markdown of our own, no user text), with the retry window."""
    return (
        f"Chaque envoi est un POST JSON signé. L'en-tête **{SIGNATURE_HEADER}** vaut « sha256= » suivi du "
        f"HMAC-SHA256, avec le secret du webhook, de la valeur de **{TIMESTAMP_HEADER}** (secondes Unix), d'un "
        "point, puis du corps exact de la requête. Le récepteur recalcule ce HMAC, le compare en temps constant et "
        f"refuse un horodatage de plus de cinq minutes (rejeu). **{EVENT_HEADER}** donne le type d'événement et "
        f"**{DELIVERY_HEADER}** son identifiant : un événement peut arriver deux fois (nouvel essai, renvoi), "
        "ignorez un identifiant déjà traité. Répondez par un code 2xx sans redirection ; sinon l'envoi est retenté "
        f"pendant {fr_number(retry_hours, 1, trim=True)} heures, à intervalles croissants (30 s, 1 min, 2 min… "
        "jusqu'à 1 h)."
    )


VERIFY_EXAMPLE = f'''import hashlib, hmac, time

def signature_valide(secret: str, horodatage: str, corps: bytes, signature: str) -> bool:
    """Vérifie {SIGNATURE_HEADER} (corps : les octets bruts reçus, avant tout décodage JSON)."""
    if abs(time.time() - int(horodatage)) > 300:  # plus de cinq minutes : rejeu refusé
        return False
    attendu = "sha256=" + hmac.new(secret.encode(), horodatage.encode() + b"." + corps,
                                   hashlib.sha256).hexdigest()
    return hmac.compare_digest(attendu, signature)
'''


def fr_datetime(value: datetime | None) -> str:
    """A stored datetime as « 31/12/2026 14:05 » in the display timezone; « — » when absent."""
    return local(value).strftime(DATE_FMT) if value else MISSING


def scopes_text(scopes) -> str:
    """A token's scopes by their French labels."""
    return ", ".join(label_of(API_SCOPE_LABELS, s) for s in scopes)


def events_text(events) -> str:
    """Webhook event kinds by their French labels."""
    return ", ".join(label_of(WEBHOOK_EVENT_LABELS, e) for e in events)


def tokens_frame(tokens: list[TokenView]) -> pd.DataFrame:
    """The organisation's API tokens, one row each (never their value)."""
    return plain_frame(pd.DataFrame([{
        "Nom": t.name, "Préfixe": f"{t.prefix}…", "Portées": scopes_text(t.scopes),
        "Créé le": fr_datetime(t.created_at), "Expire le": fr_datetime(t.expires_at) if t.expires_at else "jamais",
        "Dernière utilisation": fr_datetime(t.last_used_at), "État": t.state()} for t in tokens],
        columns=["Nom", "Préfixe", "Portées", "Créé le", "Expire le", "Dernière utilisation", "État"]))


def deliveries_frame(events: list[DeliveryView]) -> pd.DataFrame:
    """The delivery log: one row per event, newest first."""
    return plain_frame(pd.DataFrame([{
        "N°": e.id, "Événement": label_of(WEBHOOK_EVENT_LABELS, e.kind),
        "Appel": str(e.call_id) if e.call_id is not None else MISSING,
        "Statut": label_of(WEBHOOK_STATUS_LABELS, e.status), "Tentatives": e.attempts,
        "Dernier code": str(e.last_status_code) if e.last_status_code is not None else MISSING,
        "Dernière erreur": e.last_error or "", "Créé le": fr_datetime(e.created_at),
        "Prochain essai": fr_datetime(e.next_attempt_at) if e.status == "pending" else MISSING,
        "Livré le": fr_datetime(e.delivered_at)} for e in events],
        columns=["N°", "Événement", "Appel", "Statut", "Tentatives", "Dernier code", "Dernière erreur", "Créé le",
                 "Prochain essai", "Livré le"]))


def attempts_frame(event: DeliveryView) -> pd.DataFrame:
    """The attempts of one event, oldest first."""
    return plain_frame(pd.DataFrame([{
        "Tentée le": fr_datetime(t.attempted_at),
        "Code HTTP": str(t.status_code) if t.status_code is not None else MISSING,
        "Erreur": t.error or "", "Durée": fr_number(t.duration_ms, 0, unit="ms"),
        "Renvoi manuel": "oui" if t.manual else "non"} for t in event.tries],
        columns=["Tentée le", "Code HTTP", "Erreur", "Durée", "Renvoi manuel"]))


def event_label(event: DeliveryView) -> str:
    """How the event picker names an event: number, kind, call and status."""
    call = f" — appel n° {event.call_id}" if event.call_id is not None else ""
    return (f"N° {event.id} — {label_of(WEBHOOK_EVENT_LABELS, event.kind)}{call} — "
            f"{label_of(WEBHOOK_STATUS_LABELS, event.status)} — {fr_datetime(event.created_at)}")
