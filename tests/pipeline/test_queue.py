"""What people see of the queue: counts per status, live workers, the CLI status."""

from __future__ import annotations

import pytest

from ccr import cli
from ccr.core.db import session, utcnow
from ccr.pipeline import lease, queue
from tests.pipeline.calldata import queued_call


def test_queue_stats_count_the_actors_organisation_and_live_workers(tenants):
    alpha, beta = tenants
    for _ in range(3):
        queued_call(alpha.org_id, duration_s=60.0)
    queued_call(beta.org_id, duration_s=60.0)
    queued_call(alpha.org_id, status="done", duration_s=100.0, processing_s=20.0, processed_at=utcnow())
    with session() as s:
        stats = queue.queue_stats(session=s, actor=alpha.actor("supervisor"))
    assert stats["counts"]["queued"] == 3 and stats["counts"]["done"] == 1
    assert stats["live_workers"] == 0 and stats["eta_s"] is None  # nobody works: no estimate
    with session() as s:
        lease.beat(s, "hote:1:w0")
    with session() as s:
        stats = queue.queue_stats(session=s, actor=alpha.actor("supervisor"))
        everyone = queue.queue_stats(session=s, actor=None)
    assert stats["live_workers"] == 1
    assert stats["eta_s"] == pytest.approx(4 * 60.0 * 0.2)  # 4 queued minutes at 0.2 s per audio second
    assert everyone["counts"]["queued"] == 4


def test_cli_status_prints_counts_and_workers(tenants, capsys):
    alpha, _ = tenants
    queued_call(alpha.org_id)
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "en file" in out and "Workers actifs : 0" in out


# --- swapping the channels of a stereo call ---------------------------------------------------------

REASON = "L'agent s'entend sur le canal du client"


def _stereo_call(tenant, **fields) -> int:
    """A scored stereo call of the tenant's first team whose recording is stored, flagged by the channel check."""
    from datetime import timedelta

    from ccr.core import storage
    from tests.audiodata import cut_wav

    key = storage.put_audio(cut_wav("a01-000.wav", 1), org_id=tenant.org_id)
    values = {"team_id": tenant.team_ids[0], "agent_id": tenant.agent_ids[0], "channels": 2, "audio_key": key,
              "status": "done", "channel_check": "suspect", "attempts": 1, "last_error": None,
              "updated_at": utcnow() - timedelta(days=1), **fields}
    return queued_call(tenant.org_id, **values)


def _row(call_id: int):
    from ccr.core.models import Call

    with session() as s:
        return s.get(Call, call_id)


@pytest.mark.parametrize(("role", "org", "refusal"), [
    ("supervisor", "own", None),
    ("admin", "own", None),
    ("team_lead", "own", "AccessDenied"),  # reads the call, may not send it back to the queue
    ("dpo", "own", "AccessDenied"),
    ("agent", "own", "AccessDenied"),
    ("supervisor", "other", "NotFound"),  # another organisation's call does not exist for this actor
    ("admin", "other", "NotFound"),
])
def test_only_a_supervisor_or_an_admin_of_the_organisation_swaps_channels(tenants, role, org, refusal):
    from ccr.core.errors import AccessDenied, NotFound

    alpha, beta = tenants
    call_id = _stereo_call(alpha if org == "own" else beta)
    errors = {"AccessDenied": AccessDenied, "NotFound": NotFound}
    if refusal:
        with session() as s, pytest.raises(errors[refusal]):
            queue.swap_channels(session=s, actor=alpha.actor(role), call_id=call_id, reason=REASON)
        assert (_row(call_id).channels_swapped, _row(call_id).status) == (False, "done")
        return
    with session() as s:
        queue.swap_channels(session=s, actor=alpha.actor(role), call_id=call_id, reason=REASON)
    assert _row(call_id).channels_swapped is True


def test_a_swap_puts_the_call_back_in_the_queue_touches_it_and_is_audited(tenants):
    import json

    from sqlmodel import select

    from ccr.core.models import AuditLog

    alpha, _ = tenants
    call_id = _stereo_call(alpha, status="failed", attempts=3, last_error="Erreur du modèle", lease_until=utcnow())
    before = _row(call_id).updated_at
    with session() as s:
        queue.swap_channels(session=s, actor=alpha.actor("supervisor"), call_id=call_id, reason=f"  {REASON}  ")
    call = _row(call_id)
    assert (call.status, call.channels_swapped, call.channel_check) == ("queued", True, None)
    assert (call.attempts, call.last_error, call.lease_owner, call.lease_until) == (0, None, None, None)
    assert call.updated_at > before  # API clients that poll see the call change
    with session() as s:
        (event,) = s.exec(select(AuditLog).where(AuditLog.action == "call_channels_swapped")).all()
    assert event.target_id == str(call_id)
    assert json.loads(event.detail_json) == {"canaux_inverses": True, "motif": REASON,
                                             "controle_precedent": "canaux probablement inversés"}

    with session() as s:  # once processed again, a second swap reads the recording as it was first
        s.get(type(call), call_id).status = "done"
    with session() as s:
        queue.swap_channels(session=s, actor=alpha.actor("admin"), call_id=call_id, reason=REASON)
    assert _row(call_id).channels_swapped is False


@pytest.mark.parametrize(("fields", "message"), [
    ({"channels": 1}, "pas en stéréo"),
    ({"channels": None}, "pas en stéréo"),  # never decoded: nothing says it has two channels
    ({"audio_key": None}, "plus conservé"),  # the recording was purged: it cannot be transcribed again
    ({"restricted": True}, "traitement est limité"),
    ({"scope": "excluded"}, "exclu de l'évaluation"),
    ({"status": "transcribing", "lease_owner": "hote:1:w0"}, "statut actuel : transcription"),
    ({"status": "scoring"}, "statut actuel : évaluation"),
    ({"status": "queued"}, "statut actuel : en file"),
    ({"status": "stored", "scope": "sampled_out"}, "demandez d'abord son analyse"),
])
def test_a_swap_is_refused_in_french_when_the_call_cannot_be_transcribed_again(tenants, fields, message):
    from ccr.core.errors import InvalidInput

    alpha, _ = tenants
    call_id = _stereo_call(alpha, **fields)
    with session() as s, pytest.raises(InvalidInput, match=message):
        queue.swap_channels(session=s, actor=alpha.actor("supervisor"), call_id=call_id, reason=REASON)
    assert _row(call_id).channels_swapped is False


def test_a_swap_needs_a_reason_of_ten_characters(tenants):
    from ccr.core.errors import InvalidInput

    alpha, _ = tenants
    call_id = _stereo_call(alpha)
    for reason in ("", "   inversé   ", None):
        with session() as s, pytest.raises(InvalidInput, match="10 caractères au moins"):
            queue.swap_channels(session=s, actor=alpha.actor("supervisor"), call_id=call_id, reason=reason)
    assert (_row(call_id).status, _row(call_id).channels_swapped) == ("done", False)


def test_with_a_broker_a_swapped_call_is_sent_to_transcription_once_committed(tenants, monkeypatch):
    from ccr.core.config import get_settings
    from ccr.pipeline import celery_app

    sent: list = []
    monkeypatch.setattr(celery_app, "send", lambda call_id, stage, **kw: sent.append((call_id, stage)))
    monkeypatch.setenv("CCR_BROKER_URL", "redis://127.0.0.1:1/0")  # never reached: sending is replaced
    get_settings.cache_clear()
    alpha, _ = tenants
    call_id = _stereo_call(alpha)
    with session() as s:
        queue.swap_channels(session=s, actor=alpha.actor("supervisor"), call_id=call_id, reason=REASON)
        assert sent == []  # not before the row is committed
    assert sent == [(call_id, "asr")]
