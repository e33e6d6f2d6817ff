"""``python -m ccr`` commands of the integrations: the REST API, its tokens and the watched drop folder.

Registered by ``ccr.cli`` like its own commands; kept apart so each file stays one readable concept.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path


def _org(name: str):
    from ccr.core import orgs
    from ccr.core.db import migrate, session

    migrate()
    with session() as s:
        return orgs.find_organisation(session=s, slug=orgs.slugify(name))


def _api(args: argparse.Namespace) -> int:
    from ccr.api.server import serve_api

    return serve_api(host=args.host, port=args.port, services=not args.no_services)


def _api_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="Adresse d'écoute (défaut : CCR_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="Port (défaut : CCR_API_PORT, 8600)")
    parser.add_argument("--no-services", action="store_true",
                        help="Sans workers, planificateur ni webhooks : le serveur de l'application s'en charge")


def _create_token(args: argparse.Namespace) -> int:
    from ccr.core import audit
    from ccr.core.api_tokens import issue_token
    from ccr.core.db import session

    org = _org(args.org)
    with session() as s:
        issued = issue_token(session=s, org_id=org.id, name=args.name, scopes=args.scopes,
                             expires_days=args.expires_days, who=audit.Who(org_id=org.id, username="cli"))
    until = issued.expires_at.strftime("%d/%m/%Y") if issued.expires_at else "sans expiration"
    print(f"Jeton « {issued.name} » créé pour {org.name} ; portées : {', '.join(issued.scopes)} ; {until}.")
    print("Conservez-le maintenant : il ne sera plus jamais affiché (seule son empreinte est enregistrée).")
    print(issued.token)  # alone on the last line, for a script to read
    return 0


def _create_token_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="Organisation (nom ou identifiant court)")
    parser.add_argument("--name", required=True, help="Nom du jeton (ex. « Téléphonie Aircall »)")
    parser.add_argument("--scopes", help="Portées séparées par des virgules (défaut : calls:write,calls:read ; "
                                         "aussi evaluations:read)")
    parser.add_argument("--expires-days", type=int, help="Durée de validité en jours (défaut : sans expiration)")


def _watch(args: argparse.Namespace) -> int:
    from ccr.core.config import get_settings
    from ccr.pipeline import dropfolder

    org = _org(args.org)
    settings = get_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def show(outcome) -> None:
        print(outcome.line(), flush=True)

    folder = Path(args.folder)
    print(f"Surveillance de {folder} pour {org.name} (Ctrl-C pour arrêter).", flush=True)
    dropfolder.watch(folder, org_id=org.id, stop=stop,
                     settle_s=settings.watch_settle_s if args.settle is None else args.settle,
                     interval_s=settings.watch_interval_s if args.interval is None else args.interval,
                     on_result=show)
    print("Surveillance arrêtée.", file=sys.stderr)
    return 0


def _watch_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="Dossier de dépôt (partage SFTP ou SMB alimenté par l'IPBX)")
    parser.add_argument("--org", required=True, help="Organisation (nom ou identifiant court)")
    parser.add_argument("--settle", type=float, help="Secondes sans changement avant l'import (CCR_WATCH_SETTLE_S)")
    parser.add_argument("--interval", type=float, help="Secondes entre deux parcours (CCR_WATCH_INTERVAL_S)")


COMMANDS = (
    ("api", "Démarre l'API REST (jetons, dépôt et lecture des appels) et, sauf --no-services, les services "
            "d'arrière-plan.", _api, _api_args),
    ("create-token", "Crée un jeton d'API pour une organisation et l'affiche une seule fois (dernière ligne).",
     _create_token, _create_token_args),
    ("watch", "Surveille un dossier de dépôt : chaque fichier stable est importé puis rangé dans traites/ ou "
              "refuses/ (avec son motif).", _watch, _watch_args),
)
