"""Health probe (checks up and down), ``python -m ccr health`` exit codes, and the availability arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from ccr.core import config, db
from ccr.core.config import Settings
from ccr.core.db import session, utcnow
from ccr.core.models import HealthCheck, Incident, JobLock, MaintenanceWindow
from ccr.ops import health
from tests.conftest import REPO

MONTH = "2026-05"
START = datetime(2026, 4, 30, 22, 0, tzinfo=UTC)  # 1 May 2026, 00:00 in Paris
NOW = START + timedelta(minutes=120)  # two hours of May elapsed


def _statuses(report: health.HealthReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


# --- checks ----------------------------------------------------------------------------------------


def _scheduler_probe(minutes_ago: float = 0.5, now: datetime | None = None, **fields) -> HealthCheck:
    """A probe row as the scheduler records it, ``minutes_ago`` before ``now``."""
    return HealthCheck(checked_at=(now or utcnow()) - timedelta(minutes=minutes_ago), ok=True, source="scheduler",
                       **fields)


def test_a_healthy_server_is_up_and_a_missing_worker_only_degrades_it(migrated):
    with session() as s:
        s.add(_scheduler_probe())
    report = health.run_health_checks(migrated)
    assert _statuses(report) == {"database": "ok", "storage": "ok", "permissions": "ok", "worker": "degraded",
                                 "transcription": "ok", "scheduler": "ok"}
    assert report.ok and report.status == "degraded"
    assert "aucun worker actif" in next(c.detail for c in report.checks if c.name == "worker")


def test_a_worker_heartbeat_makes_the_worker_check_ok(migrated):
    from ccr.pipeline.lease import WORKER_LOCK_PREFIX

    with session() as s:
        s.add(JobLock(name=WORKER_LOCK_PREFIX + "hote:1:w0", owner="hote:1:w0",
                      expires_at=utcnow() + timedelta(seconds=30)))
        s.add(_scheduler_probe())
    report = health.run_health_checks(migrated)
    assert _statuses(report)["worker"] == "ok" and report.status == "ok"


@pytest.fixture
def broken_db(settings_env, tmp_path, monkeypatch):
    """Settings whose database URL points into a directory that does not exist."""
    monkeypatch.setenv("CCR_DATABASE_URL", f"sqlite:///{tmp_path / 'absent' / 'ccr.db'}")
    config.get_settings.cache_clear()
    db.dispose_engines()
    return config.get_settings()


def test_an_unreachable_database_makes_the_service_down(broken_db):
    report = health.run_health_checks(broken_db)
    statuses = _statuses(report)
    assert statuses["database"] == "down" and statuses["worker"] == "down" and statuses["scheduler"] == "down"
    assert not report.ok and report.status == "down"


def test_a_data_directory_that_takes_no_file_is_down(tmp_path):
    # A regular file where the data directory should be: nothing can be written under it (even as root,
    # which a read-only permission would not stop).
    blocker = tmp_path / "data"
    blocker.write_text("pas un dossier")
    assert health.check_storage(Settings(data_dir=blocker)).status == "down"


def test_a_data_file_open_to_other_accounts_degrades_the_service(migrated):
    db.get_engine(migrated)  # a running server: its start already made the directory owner-only
    assert health.check_permissions(migrated).status == "ok"
    (migrated.data_dir / "ccr.db").chmod(0o644)
    (migrated.data_dir / "exports").mkdir(mode=0o755, exist_ok=True)
    (migrated.data_dir / "exports").chmod(0o755)
    report = health.run_health_checks(migrated)
    check = next(c for c in report.checks if c.name == "permissions")
    assert check.status == "degraded" and report.ok
    assert "ccr.db" in check.detail and "exports" in check.detail and "chmod -R go-rwx" in check.detail


def test_low_free_disk_space_degrades_storage(tmp_path, monkeypatch):
    monkeypatch.setattr(health, "MIN_FREE_DISK_BYTES", 1 << 60)  # more than any disk
    result = health.check_storage(Settings(data_dir=tmp_path))
    assert result.status == "degraded" and "espace disque faible" in result.detail


def test_a_corrupt_or_missing_model_makes_transcription_down(tmp_path):
    from ccr.speech.transcription import OFFLINE_MODEL_DIR, OFFLINE_MODEL_FILES

    model = tmp_path / "models" / OFFLINE_MODEL_DIR
    model.mkdir(parents=True)
    (model / "model.bin").write_bytes(b"tronque")
    for name in OFFLINE_MODEL_FILES:
        (model / name).write_text("{}")
    corrupt = health.check_transcription(Settings(data_dir=tmp_path))
    assert corrupt.status == "down" and "corrompu" in corrupt.detail
    empty_dir = tmp_path / "mon-modele"
    empty_dir.mkdir()
    assert health.check_transcription(Settings(data_dir=tmp_path, asr_model=str(empty_dir))).status == "down"


def test_record_health_stores_the_probe_and_drops_old_ones(migrated):
    with session() as s:
        s.add(HealthCheck(checked_at=utcnow() - timedelta(days=health.HEALTH_KEEP_DAYS + 1), ok=True))
    report = health.run_health_checks(migrated, probing=True)  # as the probe job runs it
    with session() as s:
        health.record_health(session=s, report=report)
    with session() as s:
        rows = s.exec(select(HealthCheck)).all()
    assert len(rows) == 1
    assert rows[0].ok and set(json.loads(rows[0].results_json)) == {"database", "storage", "permissions", "worker",
                                                                    "transcription", "scheduler"}


def test_the_probe_job_records_one_probe(migrated):
    health.probe_job(migrated)
    with session() as s:
        assert health.latest_probe(session=s)["ok"] is True


# --- the scheduler, judged from the database (any process) -------------------------------------------

PROBED_AT = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)  # 14:00 in Paris: the 03:00 purge was due at 01:00 UTC
PURGE_DUE = datetime(2026, 5, 10, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("probes", "purges", "expected", "words"),
    [
        # probes: minutes before PROBED_AT; purges: (minutes after the due time, status, dry run)
        ([], [], "degraded", "jamais démarrés"),
        ([3 * 1440, 1], [(0.1, "ok", False)], "ok", "purge à jour"),
        ([3 * 1440, 1], [(0.1, "skipped", False)], "ok", "purge à jour"),  # another process purged
        ([3 * 1440, 10], [(0.1, "ok", False)], "down", "il y a 10 min"),
        ([3 * 1440, 1], [], "degraded", "du 10/05/2026 à 03:00 non exécutée"),
        ([3 * 1440, 1], [(-1440, "ok", False)], "degraded", "non exécutée"),  # yesterday's run is not today's
        ([3 * 1440, 1], [(0.1, "ok", True)], "degraded", "non exécutée"),  # a dry run deletes nothing
        ([3 * 1440, 1], [(0.1, "error", False)], "degraded", "a échoué"),
        ([60, 1], [], "ok", "purge à jour"),  # installed after 03:00: nothing was due yet
    ],
    ids=["jamais", "a-jour", "autre-processus", "sonde-en-retard", "purge-manquee", "purge-d-hier",
         "simulation", "purge-en-echec", "installe-ce-matin"],
)
def test_the_scheduler_check_reads_the_last_probe_and_purge_against_their_schedule(migrated, probes, purges,
                                                                                    expected, words):
    from ccr.core.models import PurgeRun

    with session() as s:
        s.add_all([_scheduler_probe(m, now=PROBED_AT) for m in probes])
        s.add(HealthCheck(checked_at=PROBED_AT - timedelta(minutes=0.2), ok=True, source="cli"))  # not a proof
        s.add_all([PurgeRun(started_at=PURGE_DUE + timedelta(minutes=m), status=status, dry_run=dry, trigger="schedule")
                   for m, status, dry in purges])
    check = health.check_scheduler(migrated, now=PROBED_AT)
    assert (check.status, words in check.detail) == (expected, True), check.detail


# --- CLI ---------------------------------------------------------------------------------------------


def _cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_") and k != "DATABASE_URL"}
    env |= {"HF_HUB_OFFLINE": "1", **env_extra}
    return subprocess.run([sys.executable, "-m", "ccr", "health", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_health_exits_0_when_up_and_1_when_down(migrated, tmp_path):
    up = _cli({"CCR_DATA_DIR": str(migrated.data_dir)})
    assert up.returncode == 0, up.stderr
    assert "Base de données" in up.stdout and "aucun worker actif" in up.stdout
    assert "Service opérationnel" in up.stdout

    # Another process cannot see the server's scheduler thread: a probe that stopped says it is dead.
    with session() as s:
        s.add(_scheduler_probe(minutes_ago=health.PROBE_LATE_MIN + 3))
    stale = _cli({"CCR_DATA_DIR": str(migrated.data_dir)})
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "Service opérationnel" not in stale.stdout
    assert any(line.startswith("Planificateur") and "EN PANNE" in line for line in stale.stdout.splitlines())

    down = _cli({"CCR_DATA_DIR": str(migrated.data_dir),
                 "CCR_DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'ccr.db'}"}, "--json")
    assert down.returncode == 1, down.stderr
    payload = json.loads(down.stdout)
    assert payload["status"] == "down" and payload["ok"] is False


# --- availability ------------------------------------------------------------------------------------


def _at(minute: int) -> datetime:
    return START + timedelta(minutes=minute)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        # expected: up, down, maintenance, unmonitored, gaps
        ({}, (120, 0, 0, 0, 0)),
        ({"down": range(30, 40)}, (110, 10, 0, 0, 0)),
        # 20 announced minutes of maintenance leave the measure: 90 / 100.
        ({"down": range(30, 40), "windows": [("own", 60, 80, -3000)]}, (90, 10, 20, 0, 0)),
        # A window recorded at minute 70 only excludes minutes 70-79: no hiding an outage afterwards.
        ({"windows": [("own", 60, 80, 70)]}, (110, 0, 10, 0, 0)),
        # A window of another organisation does not count; one of every organisation does.
        ({"windows": [("other", 60, 80, -3000)]}, (120, 0, 0, 0, 0)),
        ({"windows": [("all", 60, 80, -3000)]}, (100, 0, 20, 0, 0)),
        # No probe for 10 minutes: the last probe covers 2 more minutes, the 8 others count as down.
        ({"missing": range(100, 110)}, (112, 8, 0, 0, 8)),
        # Before the very first probe the service was not monitored: not measured.
        ({"missing": range(0, 20)}, (100, 0, 0, 20, 0)),
        # An incident declaring an interruption makes its minutes down even if the probe saw nothing.
        ({"incidents": [(5, 10)]}, (115, 5, 0, 0, 0)),
        # Maintenance wins over a declared interruption inside it.
        ({"incidents": [(60, 70)], "windows": [("own", 60, 80, -3000)]}, (100, 0, 20, 0, 0)),
    ],
    ids=["tout-ok", "pannes", "maintenance", "fenetre-retroactive", "autre-org", "toutes-orgs", "trou",
         "avant-premiere-sonde", "incident", "incident-en-maintenance"],
)
def test_monthly_availability_arithmetic(tenants, scenario, expected):
    a, b = tenants
    missing = set(scenario.get("missing", ()))
    down = set(scenario.get("down", ()))
    owners = {"own": a.org_id, "other": b.org_id, "all": None}
    with session() as s:
        s.add_all([HealthCheck(checked_at=_at(m) + timedelta(seconds=30), ok=m not in down)
                   for m in range(120) if m not in missing])
        for owner, lo, hi, created in scenario.get("windows", ()):
            s.add(MaintenanceWindow(org_id=owners[owner], starts_at=_at(lo), ends_at=_at(hi), message="m",
                                    created_at=_at(created)))
        for lo, hi in scenario.get("incidents", ()):
            s.add(Incident(org_id=a.org_id, title="Panne", priority="P1", opened_at=_at(lo), caused_downtime=True,
                           downtime_start=_at(lo), downtime_end=_at(hi)))
    with session() as s:
        result = health.monthly_availability(session=s, month=MONTH, org_id=a.org_id, now=NOW)
    up, down_n, maintenance, unmonitored, _gaps = expected
    got = (result["up_minutes"], result["down_minutes"], result["maintenance_minutes"],
           result["unmonitored_minutes"], result["gap_minutes"])
    assert got == expected
    assert result["elapsed_minutes"] == 120
    assert result["measured_minutes"] == up + down_n == 120 - maintenance - unmonitored
    assert result["availability"] == pytest.approx(up / (up + down_n))
    assert result["meets_target"] is (up / (up + down_n) >= 0.99)
    assert len(result["incidents"]) == len(scenario.get("incidents", ()))


def test_availability_lists_the_incidents_that_caused_downtime(tenants):
    a, _ = tenants
    with session() as s:
        s.add_all([HealthCheck(checked_at=_at(m) + timedelta(seconds=30), ok=True) for m in range(120)])
        s.add(Incident(org_id=a.org_id, title="Base saturée", priority="P1", opened_at=_at(40), caused_downtime=True,
                       downtime_start=_at(40), downtime_end=_at(52)))
        s.add(Incident(org_id=a.org_id, title="Lenteur", priority="P3", opened_at=_at(40)))
    with session() as s:
        result = health.monthly_availability(session=s, month=MONTH, org_id=a.org_id, now=NOW)
    assert [(i["titre"], i["minutes"]) for i in result["incidents"]] == [("Base saturée", 12)]
    assert result["availability"] == pytest.approx(108 / 120) and result["meets_target"] is False


def test_no_probe_yet_means_no_figure(migrated):
    with session() as s:
        result = health.monthly_availability(session=s, month=MONTH, now=NOW)
    assert result["availability"] is None and result["unmonitored_minutes"] == 120


@pytest.mark.parametrize(("month", "minutes"), [("2026-05", 31 * 1440), ("2026-03", 31 * 1440 - 60),
                                                ("2026-10", 31 * 1440 + 60), ("2026-02", 28 * 1440)])
def test_months_are_local_months_with_their_summer_time_change(month, minutes):
    start, end = health.month_bounds(month, Settings(timezone="Europe/Paris"))
    assert int((end - start).total_seconds() // 60) == minutes
