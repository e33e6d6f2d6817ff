"""Where data goes: the sub-processors and transfers, built from the live settings (never a static list).

Shown read-only on the DPO page and the privacy pages, so what is displayed is what the
server actually does: local transcription sends nothing; an API endpoint receives audio or
redacted transcripts, and whether that leaves the EU depends on its host.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlparse

from ccr.core.config import Settings, get_settings

OPENAI_DEFAULT_HOST = "api.openai.com"  # the official API: a US company, transfers under the DPF / SCC
LOCAL_SUFFIXES = (".local", ".internal", ".lan", ".localdomain")  # names that never resolve on the internet
LOCATION_LOCAL = "local (ce serveur ou réseau privé)"
LOCATION_US = "hors UE possible (États-Unis)"
LOCATION_UNKNOWN = "à vérifier"


def host_of(url: str | None) -> str:
    """The host name of a URL ("" when unset)."""
    if not url:
        return ""
    parsed = urlparse(url if "://" in url else f"https://{url}")
    return (parsed.hostname or "").lower()


def classify_host(host: str) -> str:
    """Where a host is: local/private, the official OpenAI API (outside the EU possible), or to check."""
    if not host or host == "localhost" or host.endswith(LOCAL_SUFFIXES):
        return LOCATION_LOCAL
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and (ip.is_loopback or ip.is_private or ip.is_link_local):
        return LOCATION_LOCAL
    if host == OPENAI_DEFAULT_HOST or host.endswith("." + OPENAI_DEFAULT_HOST):
        return LOCATION_US
    return LOCATION_UNKNOWN


def list_subprocessors(settings: Settings | None = None) -> list[dict[str, Any]]:
    """One dict per place data goes: name, purpose, host, data (what is sent), location, enabled.

    Keys are English (``ccr.ui.privacy.SUBPROCESSOR_COLUMNS`` gives their French titles); values are French.
    """
    settings = settings or get_settings()
    api_host = host_of(settings.openai_base_url) or OPENAI_DEFAULT_HOST
    out: list[dict[str, Any]] = [{
        "name": "Hébergement CallCenterRate",
        "purpose": "Stockage de la base, des enregistrements chiffrés et des exports",
        "host": "ce serveur (auto-hébergé)",
        "data": "Toutes les données de la plateforme",
        "location": LOCATION_LOCAL,
        "enabled": True,
    }]
    if settings.asr_engine == "openai":
        out.append({
            "name": "API de transcription (compatible OpenAI)",
            "purpose": "Transcription automatique des appels",
            "host": api_host,
            "data": "Enregistrements audio (chaque canal), modèle " + settings.asr_openai_model,
            "location": classify_host(api_host),
            "enabled": True,
        })
    else:
        out.append({
            "name": f"Transcription locale ({settings.asr_engine})",
            "purpose": "Transcription automatique des appels",
            "host": "ce serveur",
            "data": "Aucune donnée ne quitte le serveur",
            "location": LOCATION_LOCAL,
            "enabled": True,
        })
    llm_configured = bool(settings.openai_base_url or settings.openai_api_key)
    if settings.scoring_engine == "llm" or llm_configured:
        out.append({
            "name": "Modèle de langage (évaluation IA)",
            "purpose": "Évaluation des appels selon la grille, synthèse et recommandations",
            "host": api_host,
            "data": f"Transcriptions caviardées et grille d'évaluation, modèle {settings.llm_model}",
            "location": classify_host(api_host),
            "enabled": settings.scoring_engine == "llm",
        })
    else:
        out.append({
            "name": "Évaluation par règles (locale)",
            "purpose": "Évaluation des appels selon la grille",
            "host": "ce serveur",
            "data": "Aucune donnée ne quitte le serveur",
            "location": LOCATION_LOCAL,
            "enabled": True,
        })
    if settings.matomo_url:
        host = host_of(settings.matomo_url)
        out.append({
            "name": "Mesure d'audience (Matomo)",
            "purpose": "Statistiques de fréquentation, uniquement après consentement",
            "host": host,
            "data": "Pages consultées, navigateur, adresse IP anonymisée",
            "location": classify_host(host),
            "enabled": True,
        })
    return out
