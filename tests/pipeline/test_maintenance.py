"""Maintenance windows: announced from the notice period on; uploads held during them, processed after."""

from __future__ import annotations

import io
import wave
from datetime import timedelta

import numpy as np
import pytest

from ccr.core import audit
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import Call
from ccr.pipeline import lease, worker
from ccr.pipeline.ingest import ingest_upload
from ccr.pipeline.maintenance import (
    banner_text,
    cancel_window,
    is_maintenance_active,
    release_held_calls,
    schedule_window,
    upcoming_or_active,
)


def tiny_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A valid stereo WAV (a 440 Hz tone), generated in memory."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone[:, None], 2, axis=1).tobytes())
    return out.getvalue()


def _status(call_id: int) -> str:
    with session() as s:
        return s.get(Call, call_id).status


def test_an_upload_during_maintenance_is_held_then_queued_after_it(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    now = utcnow()
    with session() as s:
        window = schedule_window(session=s, actor=admin, starts_at=now - timedelta(minutes=5),
                                 ends_at=now + timedelta(minutes=30), message="Mise à jour du serveur",
                                 now=now - timedelta(days=3))
    with session() as s:
        result = ingest_upload(session=s, actor=admin, filename="pendant.wav", data=tiny_wav())
    assert result.status == "accepted" and result.call_status == "held"
    assert "maintenance" in result.reason

    # Held calls are not claimable, and the job leaves them alone while the window lasts.
    with session() as s:
        assert lease.claim_next(session=s, owner="test:1:w0") is None
        assert release_held_calls(session=s, now=now) == 0
    assert _status(result.call_id) == "held"

    with session() as s:
        assert release_held_calls(session=s, now=window.ends_at + timedelta(minutes=1)) == 1
    assert _status(result.call_id) == "queued"
    with session() as s:
        assert lease.claim_next(session=s, owner="test:1:w0") == result.call_id
        assert audit.count_events(session=s, org_id=a.org_id, action="held_calls_released") == 1


def test_a_window_of_another_organisation_does_not_hold_uploads(tenants):
    a, b = tenants
    now = utcnow()
    with session() as s:
        schedule_window(session=s, actor=b.actor("admin"), starts_at=now - timedelta(minutes=1),
                        ends_at=now + timedelta(hours=1), message="Maintenance B")
    with session() as s:
        assert not is_maintenance_active(session=s, org_id=a.org_id)
        assert is_maintenance_active(session=s, org_id=b.org_id)
        result = ingest_upload(session=s, actor=a.actor("supervisor"), filename="a.wav", data=tiny_wav())
    assert result.call_status == "queued"


def test_an_operator_window_holds_every_organisation(tenants):
    a, b = tenants
    now = utcnow()
    with session() as s:
        schedule_window(session=s, actor=None, starts_at=now - timedelta(minutes=1),
                        ends_at=now + timedelta(hours=1), message="Migration de la base")
    with session() as s:
        assert is_maintenance_active(session=s, org_id=a.org_id)
        assert is_maintenance_active(session=s, org_id=b.org_id)


def test_a_cancelled_window_holds_nothing(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    now = utcnow()
    with session() as s:
        w = schedule_window(session=s, actor=admin, starts_at=now - timedelta(minutes=1),
                            ends_at=now + timedelta(hours=1), message="Maintenance")
        cancel_window(session=s, actor=admin, window_id=w.id)
    with session() as s:
        assert not is_maintenance_active(session=s, org_id=a.org_id)


@pytest.mark.parametrize(("starts_in_h", "announced"), [(80, False), (71, True), (-1, True)])
def test_a_window_is_announced_from_the_notice_period_on(tenants, starts_in_h, announced):
    a, _ = tenants
    now = utcnow()
    start = now + timedelta(hours=starts_in_h)
    with session() as s:
        schedule_window(session=s, actor=a.actor("admin"), starts_at=start, ends_at=start + timedelta(hours=2),
                        message="Mise à jour", now=now - timedelta(days=5))
    with session() as s:
        items = upcoming_or_active(session=s, org_id=a.org_id, now=now, lead_time=timedelta(hours=72))
        anonymous = upcoming_or_active(session=s, org_id=None, now=now, lead_time=timedelta(hours=72))
    assert bool(items) is announced
    assert anonymous == []  # an organisation's window is not shown outside it
    if announced:
        text = banner_text(items[0])
        assert "Mise à jour" in text
        assert ("en cours" in text) is (starts_in_h < 0)


@pytest.mark.parametrize(
    ("start_h", "end_h", "message", "error"),
    [
        (2, 1, "x", "suivre"),
        (-3, -1, "x", "passée"),
        (1, 100, "x", "au plus"),
        (1, 2, "  ", "message"),
    ],
)
def test_invalid_windows_are_refused(tenants, start_h, end_h, message, error):
    a, _ = tenants
    now = utcnow()
    with session() as s, pytest.raises(InvalidInput, match=error):
        schedule_window(session=s, actor=a.actor("admin"), starts_at=now + timedelta(hours=start_h),
                        ends_at=now + timedelta(hours=end_h), message=message)


def test_only_an_admin_schedules_a_window(tenants):
    a, _ = tenants
    now = utcnow()
    with session() as s, pytest.raises(AccessDenied):
        schedule_window(session=s, actor=a.actor("supervisor"), starts_at=now + timedelta(hours=1),
                        ends_at=now + timedelta(hours=2), message="x")


def test_a_headless_worker_releases_held_calls_after_the_window(tenants, monkeypatch):
    """Without the UI's scheduler, the worker loop itself queues held calls once the window is over."""
    a, _ = tenants
    admin = a.actor("admin")
    now = utcnow()
    with session() as s:
        window = schedule_window(session=s, actor=admin, starts_at=now - timedelta(minutes=5),
                                 ends_at=now + timedelta(minutes=30), message="Mise à jour",
                                 now=now - timedelta(days=3))
    with session() as s:
        call_id = ingest_upload(session=s, actor=admin, filename="tenu.wav", data=tiny_wav()).call_id
    # Processing itself is covered elsewhere: here only the release matters, so the claim is observed.
    claimed: list[int] = []
    monkeypatch.setattr(worker, "process_call", lambda cid, **kw: claimed.append(cid))
    worker.run_worker("test:1:w9", once=True)
    assert _status(call_id) == "held" and claimed == []
    with session() as s:
        cancel_window(session=s, actor=admin, window_id=window.id)
    worker.run_worker("test:1:w9", once=True)
    assert claimed == [call_id]
