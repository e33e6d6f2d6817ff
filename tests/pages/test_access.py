"""Every page, every role and anonymous: allowed or refused, as the permissions table says.

Generated from ``ccr.core.access.PAGES``, so a new page is covered as soon as it is registered.
Each page file is run directly (as a deep link in Streamlit's legacy ``pages/`` mode would),
so the guard inside the page is what is tested, not the navigation.
"""

import pytest

from ccr.core import audit
from ccr.core.access import PAGES, allowed
from ccr.core.db import session
from tests.pages.helpers import refused, run_page

ROLES = ["admin", "dpo", "supervisor", "team_lead", "agent", None]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonyme")
@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.key)
def test_page_guard_matches_the_permissions_table(tenants, spec, role):
    a, _ = tenants
    at = run_page(spec.path, a.users[role] if role else None)
    assert not at.exception, [e.value for e in at.exception]
    if allowed(spec.key, role):
        assert not refused(at), f"{spec.key} refused {role}"
    else:
        assert refused(at), f"{spec.key} let {role} in"


def test_a_refusal_is_written_to_the_audit_log(tenants):
    a, _ = tenants
    at = run_page("pages/users.py", a.users["supervisor"])
    assert refused(at)
    with session() as s:
        entries = audit.list_events(session=s, org_id=a.org_id, action="access_refused")
    assert entries and entries[0].target_id == "users" and entries[0].outcome == "refused"


def test_a_deactivated_user_is_refused_at_the_next_interaction(tenants):
    from ccr.core.users import update_user

    a, _ = tenants
    at = run_page("pages/home.py", a.users["supervisor"])
    assert not refused(at)
    with session() as s:
        update_user(session=s, actor=a.actor("admin"), user_id=a.users["supervisor"], active=False)
    at.run()
    assert refused(at)


def test_users_page_lists_only_its_own_organisation(tenants):
    a, _ = tenants
    at = run_page("pages/users.py", a.users["admin"])
    table = at.dataframe[0].value
    assert set(table["Identifiant"]) == {"alpha.admin", "alpha.dpo", "alpha.supervisor", "alpha.teamlead",
                                         "alpha.agent"}
