"""``python -m ccr``: the command line. Each subcommand parses its arguments and calls ``ccr`` functions.

Errors that are ``CcrError`` print their French message on stderr and exit 2;
the data directory honours ``CCR_DATA_DIR`` like the app.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ccr.errors import CcrError

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def register(name: str, help_text: str, handler: Handler,
             add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Register a subcommand: its French help, its handler and a function adding its arguments."""
    _COMMANDS[name] = (add_args or (lambda _parser: None), handler, help_text)


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


# --- migrate --------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    from ccr.db import migrate

    migrate()
    print("Base de données à jour.")
    return 0


register("migrate", "Applique les migrations de la base de données.", _migrate)


# --- create-user ----------------------------------------------------------------------


def _create_user(args: argparse.Namespace) -> int:
    from ccr import orgs, users
    from ccr.db import migrate, session

    migrate()
    password = args.password or getpass.getpass("Mot de passe : ")
    with session() as s:
        try:
            org = orgs.find_organisation(session=s, slug=orgs.slugify(args.org))
        except CcrError:
            if not args.create_org:
                raise
            org = orgs.create_organisation(session=s, name=args.org)
        team_ids = []
        for name in args.team or []:
            team = next((t for t in _org_teams(s, org.id) if t.name == name), None)
            if team is None:
                raise CcrError(f"Équipe « {name} » introuvable dans {org.name}.")
            team_ids.append(team.id)
        user = users.create_user(session=s, org_id=org.id, username=args.username,
                                 display_name=args.name or args.username, password=password, role=args.role,
                                 team_ids=team_ids, email=args.email)
        print(f"Utilisateur « {user.username} » ({user.role}) créé dans « {org.name} ».")
    return 0


def _org_teams(s, org_id: int):
    from sqlmodel import select

    from ccr.models import Team

    return s.exec(select(Team).where(Team.org_id == org_id)).all()


def _create_user_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="Nom de l'organisation")
    parser.add_argument("--create-org", action="store_true", help="Crée l'organisation si elle n'existe pas")
    parser.add_argument("--username", required=True)
    parser.add_argument("--name", help="Nom affiché")
    parser.add_argument("--email")
    parser.add_argument("--role", required=True, choices=["admin", "dpo", "supervisor", "team_lead"])
    parser.add_argument("--team", action="append", help="Équipe (chef d'équipe), répétable")
    parser.add_argument("--password", help="Mot de passe (sinon demandé de façon masquée)")


register("create-user", "Crée un utilisateur (et au besoin son organisation).", _create_user, _create_user_args)


# --- seed-demo ------------------------------------------------------------------------


def _seed_demo(args: argparse.Namespace) -> int:
    from ccr.demo import seed_demo

    result = seed_demo(calls=args.calls, days=args.days, seed=args.seed, if_empty=args.if_empty)
    if result is None:
        print("La base contient déjà des données : démo non créée.")
        return 0
    print(result.summary())
    return 0


def _seed_demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=2500, help="Nombre d'appels de démonstration")
    parser.add_argument("--days", type=int, default=90, help="Période couverte, en jours")
    parser.add_argument("--seed", type=int, default=42, help="Graine du générateur (reproductible)")
    parser.add_argument("--if-empty", action="store_true", help="Ne fait rien si la base a déjà une organisation")


register("seed-demo", "Crée l'organisation de démonstration (mode démo).", _seed_demo, _seed_demo_args)


# --- score ----------------------------------------------------------------------------


def _score(args: argparse.Namespace) -> int:
    from ccr import grids, scoring

    try:
        transcript = json.loads(Path(args.transcript).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CcrError(f"Transcription illisible ({args.transcript}) : {err}") from err
    grid = grids.default_grid() if args.grid in ("default", grids.DEFAULT_GRID_ID) else grids.load_grid_file(
        Path(args.grid))
    result = scoring.score_transcript(transcript, grid=grid, engine=args.engine)
    if args.json:
        _print_json(result)
    else:
        verdict = "réussi" if result["passed"] else "échoué"
        print(f"Score : {result['score']} ({verdict}) — catégorie : {result['category']}")
        for c in result["criteria"]:
            print(f"  {c['id']:<15} {c['verdict']:<5} {c['explanation']}")
    return 0


def _score_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("transcript", help="Fichier JSON de transcription")
    parser.add_argument("--grid", default="default", help="'default' ou un fichier YAML de grille")
    parser.add_argument("--engine", choices=["rules", "llm"], default="rules")
    parser.add_argument("--json", action="store_true", help="Imprime un objet JSON")


register("score", "Évalue une transcription avec une grille.", _score, _score_args)


# --- analyze --------------------------------------------------------------------------


def _analyze(args: argparse.Namespace) -> int:
    from ccr import analysis, scoring

    try:
        data = Path(args.file).read_bytes()
    except OSError as err:
        raise CcrError(f"Fichier illisible : {args.file} ({err.strerror}).") from err
    result = analysis.analyze_bytes(data, filename=Path(args.file).name, agent_channel=args.agent_channel,
                                    score=scoring.score_transcript)
    if args.json:
        _print_json(result)
    else:
        print(f"Durée : {result['duration_s']} s, canaux : {result['channels']}")
        for seg in result["segments"]:
            print(f"[{seg['start']:7.2f}] {seg['speaker']:<8} {seg['text']}")
        if result.get("evaluation"):
            print(f"Score : {result['evaluation']['score']}")
    return 0


def _analyze_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Enregistrement audio")
    parser.add_argument("--agent-channel", choices=["left", "right"], default=None)
    parser.add_argument("--json", action="store_true", help="Imprime un objet JSON")


register("analyze", "Transcrit, mesure, caviarde et évalue un fichier, sans base de données.", _analyze, _analyze_args)


# --- entry point ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="python -m ccr", description="CallCenterRate en ligne de commande.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (add_args, handler, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CcrError as err:
        print(f"Erreur : {err}", file=sys.stderr)
        return 2
