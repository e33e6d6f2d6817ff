"""Background services: started once per process, not at all when turned off, and stopped at shutdown."""

from ccr.core.config import Settings
from ccr.ops import scheduler, services


def test_services_stay_off_when_disabled(migrated, monkeypatch):
    monkeypatch.setattr(services, "_running", {})
    out = services.start_services(Settings(data_dir=migrated.data_dir, background_services=False))
    assert out == {"started": False}
    assert scheduler._scheduler is None


def test_services_start_once_per_process(migrated, monkeypatch):
    monkeypatch.setattr(services, "_running", {})
    settings = Settings(data_dir=migrated.data_dir, background_services=True, worker_threads=1, worker_mode="thread")
    try:
        first = services.start_services(settings)
        second = services.start_services(settings)
        assert first is second and first["started"]
        assert first["scheduler"].running
        assert len(first["workers"].ids) == 1
        assert first["refresher"].alive and first["webhooks"].alive
    finally:
        if first.get("workers"):
            first["workers"].stop()
        first["refresher"].stop()
        first["webhooks"].stop()
        scheduler.shutdown_scheduler()


def test_stopping_services_stops_the_scheduler_and_the_workers(migrated, monkeypatch):
    from ccr.pipeline import worker

    monkeypatch.setattr(services, "_running", {})
    monkeypatch.setattr(worker, "_pool", None)
    settings = Settings(data_dir=migrated.data_dir, background_services=True, worker_threads=1, worker_mode="thread")
    running = services.start_services(settings)
    pool, refresher, hooks = running["workers"], running["refresher"], running["webhooks"]
    try:
        assert scheduler.scheduler_state() == "alive" and pool.alive == 1 and refresher.alive and hooks.alive
        services.stop_services(settings)
        assert scheduler.scheduler_state() == "absent" and pool.alive == 0 and not refresher.alive
        assert not hooks.alive
    finally:
        pool.stop()
        refresher.stop()
        hooks.stop()
        scheduler.shutdown_scheduler()
