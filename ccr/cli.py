"""``python -m ccr``: the command line. Each subcommand parses its arguments and calls ``ccr`` functions.

Errors that are ``CcrError`` print their French message on stderr and exit 2;
the data directory honours ``CCR_DATA_DIR`` like the app.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ccr.core.errors import CcrError
from ccr.core.vocab import ROLES

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
    from ccr.core import audit
    from ccr.core.db import migrate
    from ccr.core.filemodes import secure_data_dir

    # The maintenance command walks the whole data directory (recordings, exports, backups): every other
    # command only restricts the database files, as a monitor may run one each minute.
    secure_data_dir()
    migrate()
    # An upgrade re-hashes the audit chains: sign their state now, not at the next server start or 03:30.
    audit.checkpoint_job()
    print("Base de données à jour.")
    return 0


register("migrate", "Applique les migrations de la base de données.", _migrate)


# --- create-user ----------------------------------------------------------------------


def _create_user(args: argparse.Namespace) -> int:
    from ccr.core import orgs, users
    from ccr.core.db import migrate, session
    from ccr.core.models import Agent

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
        agent_id = None
        if args.role == "agent":
            # An agent login reads its own evaluations: the --team names where a new agent record goes.
            if not args.agent:
                raise CcrError("Un compte téléconseiller doit nommer sa fiche agent : --agent \"Nom Prénom\".")
            if len(team_ids) > 1:
                raise CcrError("Un téléconseiller appartient à une seule équipe.")
            agent = orgs.find_agent_by_name(session=s, org_id=org.id, name=args.agent)
            if agent is None:
                if not team_ids:
                    raise CcrError(f"Agent « {args.agent} » introuvable dans {org.name} : précisez --team pour "
                                   "créer sa fiche.")
                agent = Agent(org_id=org.id, team_id=team_ids[0], name=orgs.clean_name(args.agent))
                s.add(agent)
                s.flush()
            elif team_ids and agent.team_id != team_ids[0]:
                raise CcrError(f"L'agent « {agent.name} » appartient à une autre équipe.")
            agent_id, team_ids = agent.id, []
        elif args.agent:
            raise CcrError("--agent ne s'emploie qu'avec --role agent.")
        user = users.create_user(session=s, org_id=org.id, username=args.username,
                                 display_name=args.name or args.username, password=password, role=args.role,
                                 team_ids=team_ids, email=args.email, agent_id=agent_id)
        print(f"Utilisateur « {user.username} » ({user.role}) créé dans « {org.name} ».")
    return 0


def _org_teams(s, org_id: int):
    from sqlmodel import select

    from ccr.core.models import Team

    return s.exec(select(Team).where(Team.org_id == org_id)).all()


def _create_user_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="Nom de l'organisation")
    parser.add_argument("--create-org", action="store_true", help="Crée l'organisation si elle n'existe pas")
    parser.add_argument("--username", required=True)
    parser.add_argument("--name", help="Nom affiché")
    parser.add_argument("--email")
    parser.add_argument("--role", required=True, choices=list(ROLES))
    parser.add_argument("--team", action="append",
                        help="Équipe (chef d'équipe, répétable ; téléconseiller : l'équipe de sa fiche agent)")
    parser.add_argument("--agent", help="Téléconseiller : le nom de sa fiche agent (créée dans --team si absente)")
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
    from ccr.scoring import score
    from ccr.scoring.grid import default_grid, load_grid_yaml

    try:
        transcript = json.loads(Path(args.transcript).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CcrError(f"Transcription illisible ({args.transcript}) : {err}") from err
    if args.grid in ("default", default_grid().id):
        grid = default_grid()
    else:
        try:
            grid = load_grid_yaml(Path(args.grid).read_text(encoding="utf-8"))
        except OSError as err:
            raise CcrError(f"Grille illisible ({args.grid}) : {err.strerror}.") from err
    result = score.score_transcript(transcript, grid=grid, engine=args.engine)
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


# --- audit-fairness ---------------------------------------------------------------------


def _audit_fairness(args: argparse.Namespace) -> int:
    from ccr.core import orgs
    from ccr.core.config import get_settings
    from ccr.core.csvsafe import rows_to_csv
    from ccr.core.db import migrate, session
    from ccr.governance import counterfactual

    # Checked here rather than by argparse, whose own messages are in English.
    if bool(args.org) == bool(args.input):
        raise CcrError("Précisez une et une seule source : --org IDENTIFIANT ou --input CHEMIN.")
    if args.limit is not None and args.limit < 1:
        raise CcrError("--limit doit être un nombre d'appels positif.")
    settings = get_settings()
    if args.engine == "llm" and not counterfactual.llm_configured(settings):
        raise CcrError(counterfactual.LLM_MISSING)  # before reading any transcript
    org_id = None
    if args.org:
        migrate()
        with session() as s:
            org_id = orgs.find_organisation(session=s, slug=orgs.slugify(args.org)).id
            transcripts = counterfactual.load_org_transcripts(session=s, org_id=org_id, limit=args.limit)
    else:
        transcripts = counterfactual.load_transcript_files(Path(args.input), limit=args.limit)
    if not transcripts:
        raise CcrError("Aucune transcription à auditer (appels analysés, non restreints, avec transcription).")
    report = counterfactual.run_audit(transcripts, engine=args.engine, settings=settings)
    if org_id is not None:
        with session() as s:
            counterfactual.record_audit_run(session=s, org_id=org_id, report=report)
    print("\n".join(report.lines()))
    try:
        if args.csv:
            Path(args.csv).write_bytes(rows_to_csv(report.rows(), counterfactual.CSV_FIELDS))
        if args.json:
            Path(args.json).write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError as err:
        raise CcrError(f"Export impossible : {err.filename} ({err.strerror}).") from err
    if report.changes:
        return 1
    if report.failures:  # nothing moved among what was scored, but not everything was: no proof either way
        raise CcrError("Audit incomplet : des évaluations LLM ont échoué (voir ci-dessus).")
    return 0


def _audit_fairness_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", help="Organisation dont les transcriptions enregistrées sont auditées")
    parser.add_argument("--input", help="Fichier JSON de transcription(s) ou dossier de fichiers JSON")
    parser.add_argument("--engine", choices=["rules", "llm"], default="rules",
                        help="Moteur de notation audité (défaut : rules)")
    parser.add_argument("--limit", type=int, help="Nombre maximal d'appels (les plus récents d'abord)")
    parser.add_argument("--csv", help="Écrit les changements de verdict dans ce fichier CSV")
    parser.add_argument("--json", help="Écrit le rapport complet dans ce fichier JSON")


register("audit-fairness", "Test contrefactuel d'équité : réévalue les appels en changeant genre, noms et formes "
         "régionales de l'agent (code 0 : aucun verdict changé, 1 : au moins un).", _audit_fairness,
         _audit_fairness_args)


# --- analyze --------------------------------------------------------------------------


def _analyze(args: argparse.Namespace) -> int:
    from ccr.scoring import score
    from ccr.speech import analysis

    try:
        data = Path(args.file).read_bytes()
    except OSError as err:
        raise CcrError(f"Fichier illisible : {args.file} ({err.strerror}).") from err
    result = analysis.analyze_bytes(data, filename=Path(args.file).name, agent_channel=args.agent_channel,
                                    score=score.score_transcript)
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


# --- worker, ingest, status (the durable job queue) -----------------------------------


def _worker(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    if args.nice:  # first, before any import starts a thread: every thread of the worker inherits it
        os.nice(args.nice)

    from ccr.core.config import get_settings
    from ccr.core.db import migrate, session
    from ccr.pipeline import lease, steps, worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    migrate(settings)
    with session(settings) as s:
        lease.release_dead_leases(session=s)
    count = 1 if args.once else max(1, args.threads or settings.worker_threads)
    stop = threading.Event()
    # A process started in the background by a non-interactive shell inherits SIGINT ignored, and Python then
    # never raises KeyboardInterrupt: Ctrl-C or ``kill -INT`` must still stop the worker and give its call back.
    signal.signal(signal.SIGINT, worker.interrupt_handler(stop))
    if args.parent_pid:  # started by the server: stop, giving the call back, when the server is gone
        threading.Thread(target=worker.stop_with_parent, args=(args.parent_pid,), daemon=True).start()
    # Worker 0 runs in the main thread, so Ctrl-C interrupts it where it stands and gives its call back.
    extra = [threading.Thread(target=worker.run_worker, args=(lease.worker_owner_id(i),),
                              kwargs={"settings": settings, "stop": stop}, daemon=True) for i in range(1, count)]
    for t in extra:
        t.start()
    print(f"Worker démarré ({count} fil(s)) : Ctrl-C pour arrêter.", file=sys.stderr)
    try:
        done = worker.run_worker(lease.worker_owner_id(0), settings=settings, stop=stop, once=args.once)
    except KeyboardInterrupt:
        done = -1
    stop.set()
    # From here on the worker is only leaving: a further Ctrl-C, or one the system delivers late, must not kill
    # it halfway through giving its call back. Ignored (not default) also outlives the interpreter's shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if done < 0 or steps.interrupt_requested():  # also when a library swallowed the KeyboardInterrupt
        lease.give_back_leases(settings)
        print("Arrêt du worker : l'appel en cours est remis en file.", file=sys.stderr)
        return 0
    print(f"{done} appel(s) traité(s) ; file vide." if args.once else "Worker arrêté.", file=sys.stderr)
    return 0


def _worker_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true",
                        help="Traite la file jusqu'à ce qu'elle soit vide, puis s'arrête")
    parser.add_argument("--threads", type=int, help="Nombre de fils de traitement (défaut : CCR_WORKER_THREADS)")
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # the server that started this worker
    parser.add_argument("--nice", type=int, default=0,
                        help="Priorité abaissée de N (0 à 19) : les pages passent avant le worker")


register("worker", "Traite la file des appels (transcription, évaluation) sans interface.", _worker, _worker_args)


def _ingest(args: argparse.Namespace) -> int:
    from ccr.core import orgs
    from ccr.core.db import migrate, session
    from ccr.pipeline import ingest

    migrate()
    with session() as s:
        org = orgs.find_organisation(session=s, slug=orgs.slugify(args.org))
    files = []
    for name in args.files:
        try:
            files.append((Path(name).name, Path(name).read_bytes()))
        except OSError as err:
            raise CcrError(f"Fichier illisible : {name} ({err.strerror}).") from err
    metadata = None
    if args.metadata:
        try:
            metadata = Path(args.metadata).read_bytes()
        except OSError as err:
            raise CcrError(f"Fichier de métadonnées illisible : {args.metadata} ({err.strerror}).") from err
    defaults = {"agent": args.agent, "team": args.team, "direction": args.direction, "campaign": args.campaign}
    batch = ingest.ingest_files(actor=ingest.cli_actor(org.id), files=files, metadata_csv=metadata,
                                defaults=defaults)
    if args.json:
        _print_json({"results": [r.as_row() | {"status": r.status} for r in batch.results],
                     "line_errors": [e.as_row() for e in batch.line_errors]})
    else:
        for e in batch.line_errors:
            print(f"Métadonnées, ligne {e.line} : {e.message}", file=sys.stderr)
        for r in batch.results:
            ref = f" (appel {r.call_id})" if r.call_id else ""
            print(f"{r.status_label:<13} {r.filename}{ref} — {r.reason}")
    return 1 if any(r.status == "rejected" for r in batch.results) else 0


def _ingest_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="Enregistrements audio")
    parser.add_argument("--org", required=True, help="Organisation (nom ou identifiant court)")
    parser.add_argument("--metadata", help="Fichier CSV de métadonnées")
    parser.add_argument("--agent", help="Agent par défaut (nom)")
    parser.add_argument("--team", help="Équipe par défaut (nom)")
    parser.add_argument("--direction", choices=["entrant", "sortant"], help="Sens par défaut")
    parser.add_argument("--campaign", help="Campagne par défaut")
    parser.add_argument("--json", action="store_true", help="Imprime un objet JSON")


register("ingest", "Importe des enregistrements et les met en file, comme la page Import.", _ingest, _ingest_args)


def _status(args: argparse.Namespace) -> int:
    from ccr.core.db import migrate, session
    from ccr.pipeline import queue

    migrate()
    with session() as s:
        stats = queue.queue_stats(session=s, actor=None)
    if args.json:
        _print_json(stats)
        return 0
    for status, n in stats["counts"].items():
        print(f"{stats['labels'][status]:<26} {n}")
    print(f"Workers actifs : {stats['live_workers']}")
    if stats.get("broker"):  # Celery mode
        broker = stats["broker"]
        if broker["error"]:
            print(f"Courtier : {broker['error']}")
        for queue in ("asr", "score"):
            waiting = broker["queued"].get(queue)
            print(f"File {queue:<5} : {'?' if waiting is None else waiting} message(s) en attente, "
                  f"{broker['by_queue'].get(queue, 0)} worker(s)")
    eta = stats["eta_s"]
    print("Temps restant estimé : " + ("inconnu (aucun worker actif)" if eta is None else f"{eta:.0f} s"))
    return 0


def _status_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Imprime un objet JSON")


register("status", "Affiche la file des appels par statut et les workers actifs.", _status, _status_args)


# --- data protection: purge, audit verify, backup, restore ----------------------------------


def _purge(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ccr.core.db import migrate
    from ccr.privacy.retention import DELETED_LABELS, run_purge

    migrate()
    try:
        now = datetime.fromisoformat(args.now) if args.now else None
    except ValueError as err:
        raise CcrError(f"Date invalide pour --now : {args.now} (format ISO attendu).") from err
    run = run_purge(now=now, dry_run=args.dry_run, trigger="cli")
    print(f"Purge {'(simulation) ' if args.dry_run else ''}: {run.status} en {run.duration_s or 0:.2f} s")
    for key, count in json.loads(run.deleted_json).items():
        print(f"  {DELETED_LABELS.get(key, key)} : {count}")
    if run.error:
        print(run.error, file=sys.stderr)
    from ccr.core.db import session
    from ccr.privacy.retention import pending_terminations

    with session() as s:
        for t in pending_terminations(session=s):
            print(f"Organisation résiliée « {t['name']} » : suppression le {t['deadline']:%d/%m/%Y} "
                  f"(dans {t['days_left']} jour(s)) ; export possible avec `python -m ccr export`.")
    return 0 if run.status in ("ok", "skipped") else 1


def _purge_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="Compte sans rien supprimer")
    parser.add_argument("--now", help="Date de référence ISO 8601 (tests, rattrapage)")


register("purge", "Applique les durées de conservation (suppression et statistiques anonymes).", _purge, _purge_args)


def _audit(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from ccr.core import audit
    from ccr.core.config import get_settings
    from ccr.core.db import migrate, session

    migrate()  # a log still hashed the old way is re-keyed first, as at the service's start
    if args.action == "checkpoint":
        path = audit.write_checkpoint()
        print(f"Point de contrôle écrit dans {path}" if path else "Journal vide : aucun point de contrôle à écrire.")
        return 0
    with session() as s:
        reports = audit.verify_all(session=s, extra=[Path(p) for p in args.checkpoints])
    tz, broken = ZoneInfo(get_settings().timezone), False
    for r in reports:
        chain = "système" if r.org_id is None else f"organisation {r.org_id}"
        anchored = (f"dernier point de contrôle le {r.last_checkpoint.astimezone(tz):%d/%m/%Y %H:%M}"
                    if r.last_checkpoint
                    else "aucun point de contrôle : une suppression des entrées récentes ne se verrait pas")
        if r.ok:
            print(f"{chain} : intègre ({r.checked} entrées ; {anchored})")
            continue
        broken = True
        where = f" aux entrées {', '.join(map(str, r.broken_at))}" if r.broken_at else ""
        print(f"{chain} : ALTÉRÉ{where} ({r.checked} entrées ; {anchored})")
        for problem in r.problems:
            print(f"  - {problem}")
    return 1 if broken else 0


def _audit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["verify", "checkpoint"],
                        help="verify : vérifie chaque chaîne ; checkpoint : écrit un point de contrôle signé")
    parser.add_argument("--points", dest="checkpoints", action="append", default=[], metavar="CHEMIN",
                        help="Copie de points de contrôle à confronter aussi (fichier .jsonl d'un export, ou dossier)")


def _export(args: argparse.Namespace) -> int:
    from ccr.core import orgs
    from ccr.core.db import session
    from ccr.privacy.exports import export_organisation_to_file

    with session() as s:
        org_id = orgs.find_organisation(session=s, slug=orgs.slugify(args.org)).id
    manifest = export_organisation_to_file(org_id=org_id, out=Path(args.out), include_audio=args.audio)
    print(f"Export écrit dans {args.out} : {manifest.get('counts')}")
    return 0


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="Nom de l'organisation")
    parser.add_argument("--out", required=True, help="Fichier ZIP à écrire")
    parser.add_argument("--audio", action="store_true", help="Inclut les enregistrements déchiffrés")


register("export", "Exporte toutes les données d'une organisation (même résiliée) en ZIP.", _export, _export_args)


register("audit", "Vérifie la chaîne du journal d'audit ou en écrit un point de contrôle signé.", _audit, _audit_args)


def _backup(args: argparse.Namespace) -> int:
    from ccr.privacy.backup import create_backup

    path = create_backup()
    print(f"Sauvegarde chiffrée créée : {path}")
    return 0


register("backup", "Sauvegarde chiffrée de la base SQLite et des enregistrements.", _backup)


def _restore(args: argparse.Namespace) -> int:
    from ccr.privacy.backup import restore_backup

    restored = restore_backup(Path(args.file), force=args.force)
    print(f"Restauration terminée : {restored['db_bytes']} octets de base, {restored['audio_files']} fichiers audio.")
    return 0


def _restore_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Fichier de sauvegarde (.tar.enc)")
    parser.add_argument("--force", action="store_true", help="Écrase une base existante non vide")


register("restore", "Restaure une sauvegarde dans le répertoire de données.", _restore, _restore_args)


# --- health and maintenance (service level) -----------------------------------------------


def _health(args: argparse.Namespace) -> int:
    from ccr.ops.health import record_health, run_health_checks

    report = run_health_checks()
    if args.record and report.checks[0].status != "down":
        from ccr.core.db import session

        with session() as s:
            record_health(session=s, report=report, source="cli")
    if args.json:
        _print_json(report.as_dict())
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _health_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Imprime un objet JSON")
    parser.add_argument("--record", action="store_true", help="Enregistre aussi la sonde (mesure de disponibilité)")


register("health", "Vérifie base, stockage, worker et moteur de transcription (code 0 : en service, 1 : en panne).",
         _health, _health_args)


def _maintenance(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ccr.core.db import migrate, session
    from ccr.pipeline import maintenance

    migrate()
    try:
        start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    except ValueError as err:
        raise CcrError("Dates invalides : format ISO 8601 avec fuseau attendu (2026-06-01T22:00+02:00).") from err
    if start.tzinfo is None or end.tzinfo is None:
        raise CcrError("Précisez le fuseau horaire des dates (ex. 2026-06-01T22:00+02:00).")
    with session() as s:
        window = maintenance.schedule_window(session=s, actor=None, starts_at=start, ends_at=end,
                                             message=args.message)
    print(f"Maintenance n° {window.id} programmée pour toutes les organisations.")
    return 0


def _maintenance_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", required=True, help="Début, ISO 8601 avec fuseau")
    parser.add_argument("--end", required=True, help="Fin, ISO 8601 avec fuseau")
    parser.add_argument("--message", required=True, help="Message affiché aux utilisateurs")


register("maintenance", "Programme une maintenance pour toutes les organisations (bandeau, appels en attente).",
         _maintenance, _maintenance_args)


# --- rotate-key ------------------------------------------------------------------------


def _rotate_key(args: argparse.Namespace) -> int:
    from ccr.core.db import migrate
    from ccr.privacy.keys import rotate_secret

    migrate()  # the audit chains are re-keyed from the current format only
    new_secret = Path(args.new_key_file).read_text().strip() if args.new_key_file else None
    report = rotate_secret(new_secret=new_secret, keep_old=args.keep_old)
    print(f"Clé secrète remplacée : {report.audio} enregistrement(s), {report.exports} export(s) et "
          f"{report.backups} sauvegarde(s) rechiffrés ({report.already_done} déjà sous la nouvelle clé), "
          f"{report.audit_chains} chaîne(s) du journal d'audit re-hachée(s). Les utilisateurs doivent se reconnecter.")
    return 0


def _rotate_key_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--new-key-file", help="Fichier contenant la nouvelle clé (sinon elle est générée)")
    parser.add_argument("--keep-old", action="store_true",
                        help="Garde l'ancienne clé dans data/secret.key.old-<horodatage> (0600)")


register("rotate-key", "Change la clé secrète et rechiffre enregistrements, exports et sauvegardes "
         "(serveur arrêté).", _rotate_key, _rotate_key_args)


# --- serve ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from ccr.ui.runtime import serve

    return serve(args.streamlit_args)


register("serve", "Démarre le serveur web et ses services (workers, planificateur) dès le lancement, sans "
         "attendre une première visite ; les autres options vont à Streamlit (--server.port 8501…).", _serve)
PASSTHROUGH = {"serve"}  # commands whose unknown options are handed on (to Streamlit) instead of refused


from ccr.cli_integrations import COMMANDS as _INTEGRATIONS  # noqa: E402 - api, create-token, watch

for _command in _INTEGRATIONS:
    register(*_command)


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
    from ccr.core.filemodes import restrict_umask

    restrict_umask()  # whatever a command writes under the data directory is the service account's only
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in PASSTHROUGH:
        args.streamlit_args = extra
    elif extra:
        parser.error(f"arguments non reconnus : {' '.join(extra)}")
    try:
        return args.handler(args)
    except CcrError as err:
        print(f"Erreur : {err}", file=sys.stderr)
        return 2
