"""Journal d'audit tab: the integrity check says intact, then names the newest entries deleted after a checkpoint."""

from __future__ import annotations

from sqlalchemy import text

from ccr.core import audit
from ccr.core.db import session
from tests.pages.helpers import run_page

PAGE = "pages/data_protection.py"


def _verify(user_id: int):
    at = run_page(PAGE, user_id)
    at.button(key="aud_verify").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_check_reports_newest_entries_deleted_after_a_checkpoint(tenants):
    a, _ = tenants
    at = _verify(a.users["dpo"])
    assert any("Journal intègre" in s.value for s in at.success)
    audit.write_checkpoint()
    with session() as s:
        head = s.exec(text("SELECT max(id) FROM auditlog WHERE org_id = :o").bindparams(o=a.org_id)).one()[0]
        s.exec(text("DELETE FROM auditlog WHERE id = :i").bindparams(i=head))
    at = _verify(a.users["dpo"])
    assert not at.success
    assert any("Journal altéré" in e.value and f"entrées récentes supprimées : l'entrée {head}" in e.value
               for e in at.error)
