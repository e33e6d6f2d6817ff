"""Background services: started once per process, and not at all when turned off."""

from ccr import scheduler, services
from ccr.config import Settings


def test_services_stay_off_when_disabled(migrated, monkeypatch):
    monkeypatch.setattr(services, "_running", {})
    out = services.start_services(Settings(data_dir=migrated.data_dir, background_services=False))
    assert out == {"started": False}
    assert scheduler._scheduler is None


def test_services_start_once_per_process(migrated, monkeypatch):
    monkeypatch.setattr(services, "_running", {})
    settings = Settings(data_dir=migrated.data_dir, background_services=True, worker_threads=1)
    try:
        first = services.start_services(settings)
        second = services.start_services(settings)
        assert first is second and first["started"]
        assert first["scheduler"].running
        assert len(first["workers"].ids) == 1
    finally:
        if first.get("workers"):
            first["workers"].stop()
        scheduler.shutdown_scheduler()
