"""What the API says about calls: cursors, dates, the settle delay of the list, restricted calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccr.api import records
from ccr.core.api_tokens import ApiClient
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Call


def _client(tenant, scopes=("calls:read",)) -> ApiClient:
    return ApiClient(org_id=tenant.org_id, token_id=1, name="crm", scopes=frozenset(scopes))


def _call(tenant, **kw) -> int:
    with session() as s:
        call = Call(org_id=tenant.org_id, sha256=f"sha-{utcnow().timestamp()}-{kw}", status="done", **kw)
        s.add(call)
        s.flush()
        return call.id


def test_a_cursor_round_trips_and_a_forged_one_is_refused_in_french():
    moment = datetime(2026, 3, 15, 14, 30, 5, 123456, tzinfo=UTC)
    assert records.decode_cursor(records.encode_cursor(moment, 42)) == (moment, 42)
    with pytest.raises(InvalidInput, match="Curseur invalide"):
        records.decode_cursor("pas-un-curseur!")


def test_updated_since_without_offset_is_utc_and_garbage_is_refused():
    assert records.parse_since("2026-03-15T10:00:00") == datetime(2026, 3, 15, 10, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="ISO 8601"):
        records.parse_since("hier")


def test_the_list_pages_in_change_order_hides_fresh_and_restricted_calls(tenants):
    a, b = tenants
    old = utcnow() - timedelta(minutes=10)
    ids = [_call(a, updated_at=old + timedelta(seconds=i)) for i in range(5)]
    same_time = [_call(a, updated_at=old + timedelta(seconds=10)) for _ in range(2)]  # ties: ordered by id
    _call(a, updated_at=old, restricted=True)
    fresh = _call(a, updated_at=utcnow())  # not settled yet: shows on a later poll
    _call(b, updated_at=old)
    seen, cursor = [], None
    with session() as s:
        first = records.list_records(session=s, client=_client(a), updated_since="2000-01-01", limit=3)
        seen += [i["id"] for i in first["items"]]
        cursor = first["next_cursor"]
        assert first["has_more"]
        while True:
            page = records.list_records(session=s, client=_client(a), cursor=cursor, limit=3)
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    assert seen == ids + same_time and fresh not in seen
    assert cursor  # an empty page keeps the place, so the next poll resumes there


def test_reading_a_call_needs_the_scope_the_organisation_and_logs_the_access(tenants):
    from sqlmodel import select

    from ccr.core.models import AuditLog

    a, b = tenants
    call_id = _call(a)
    with session() as s:
        assert records.call_record(session=s, client=_client(a), call_id=call_id)["id"] == call_id
        with pytest.raises(NotFound):
            records.call_record(session=s, client=_client(b), call_id=call_id)
        with pytest.raises(AccessDenied):
            records.call_record(session=s, client=_client(a, ("calls:write",)), call_id=call_id)
    with session() as s:
        opened = s.exec(select(AuditLog).where(AuditLog.action == "call_opened",
                                               AuditLog.target_id == str(call_id))).all()
    assert [r.username for r in opened] == ["api:crm"]
