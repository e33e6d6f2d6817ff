"""The frame (app.py) on AppTest's first run: login form, logged-in landing, revoked sessions.

Only first runs are asserted: with a ``pages/`` folder, AppTest may run only the
page file on later runs, which would let a test pass without the frame.
"""

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from ccr.core.db import session, utcnow
from ccr.core.users import record_logout
from tests.pages.helpers import REPO


def first_run(state: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def logged_in_state(tenant, role, issued_at=None) -> dict:
    username = {"admin": "alpha.admin", "dpo": "alpha.dpo", "supervisor": "alpha.supervisor",
                "team_lead": "alpha.teamlead"}[role]
    return {"authentication_status": True, "username": username, "name": username,
            "ccr_user_id": tenant.users[role], "ccr_issued_at": issued_at or utcnow()}


def test_anonymous_first_visit_shows_the_login_form(tenants):
    at = first_run()
    assert [t.label for t in at.text_input][:2] == ["Identifiant", "Mot de passe"]
    assert any(b.label == "Se connecter" for b in at.button)
    assert not any("Bonjour" in m.value for m in at.markdown)


@pytest.mark.parametrize("role", ["admin", "dpo", "supervisor", "team_lead"])
def test_each_role_lands_on_its_home_page(tenants, role):
    a, _ = tenants
    at = first_run(logged_in_state(a, role))
    assert any("Bonjour" in m.value for m in at.markdown)
    assert any(b.label == "Se déconnecter" for b in at.sidebar.button)
    assert not at.text_input  # no login form once logged in


def test_a_session_issued_before_logout_is_refused(tenants):
    a, _ = tenants
    issued = utcnow() - timedelta(minutes=5)
    with session() as s:
        record_logout(session=s, user_id=a.users["supervisor"])
    at = first_run(logged_in_state(a, "supervisor", issued_at=issued))
    assert not any("Bonjour" in m.value for m in at.markdown)
    assert [t.label for t in at.text_input][:2] == ["Identifiant", "Mot de passe"]
