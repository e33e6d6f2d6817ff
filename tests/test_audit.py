"""The audit log's hash chain: verified, and tampering detected."""

from sqlalchemy import text

from ccr import audit
from ccr.db import session


def _fill(org_id, n=5):
    with session() as s:
        for i in range(n):
            audit.log_event(session=s, who=audit.Who(org_id, 1, "alice"), action="call_opened",
                            target_type="call", target_id=i)


def test_an_untouched_chain_verifies(tenants):
    a, b = tenants
    _fill(a.org_id)
    _fill(b.org_id)
    with session() as s:
        reports = audit.verify_all(session=s)
    assert all(r.ok for r in reports)
    assert {r.org_id for r in reports} >= {a.org_id, b.org_id}


def test_editing_a_row_is_detected(tenants):
    a, _ = tenants
    _fill(a.org_id)
    with session() as s:
        target = audit.list_events(session=s, org_id=a.org_id, action="call_opened")[2]
        s.exec(text("UPDATE auditlog SET target_id='999' WHERE id=:i").bindparams(i=target.id))
    with session() as s:
        report = audit.verify_chain(session=s, org_id=a.org_id)
    assert not report.ok and report.broken_at == [target.id]


def test_deleting_a_row_in_the_middle_is_detected(tenants):
    a, _ = tenants
    _fill(a.org_id)
    with session() as s:
        rows = audit.list_events(session=s, org_id=a.org_id, action="call_opened")
        s.exec(text("DELETE FROM auditlog WHERE id=:i").bindparams(i=rows[2].id))
    with session() as s:
        assert not audit.verify_chain(session=s, org_id=a.org_id).ok


def test_chains_are_per_organisation(tenants):
    a, b = tenants
    _fill(a.org_id, 3)
    with session() as s:
        assert audit.count_events(session=s, org_id=b.org_id, action="call_opened") == 0
        assert len(audit.list_events(session=s, org_id=a.org_id, action="call_opened")) == 3
