"""Protection des données: open to the DPO and the administrator, refused to every other role."""

from __future__ import annotations

import pytest

from tests.pages.helpers import refused, run_page
from tests.retdata import NOW, add_call

PAGE = "pages/data_protection.py"


@pytest.mark.parametrize("role", ["dpo", "admin"])
def test_dpo_and_admin_see_every_tab(tenants, role):
    a, _ = tenants
    add_call(a.org_id, a.agent_ids[0], NOW)
    at = run_page(PAGE, a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    assert not refused(at)
    assert [t.label for t in at.tabs] == ["Conservation", "Exports", "Droits des personnes", "Journal d'audit",
                                          "Sous-traitants"]
    assert any("Prochaine purge" in m.value for m in at.markdown)
    assert any("Résilier" in e.label for e in at.expander) is (role == "admin")


@pytest.mark.parametrize("role", ["supervisor", "team_lead", None])
def test_other_roles_are_refused(tenants, role):
    a, _ = tenants
    at = run_page(PAGE, a.users[role] if role else None)
    assert refused(at)


def test_run_now_records_a_run_in_the_history(tenants):
    a, _ = tenants
    at = run_page(PAGE, a.users["dpo"])
    at.button(key="purge_now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Purge terminée" in s.value for s in at.success)
    assert "manuelle" in at.dataframe[0].value["Déclenchement"].tolist()


def test_shortening_a_duration_is_saved(tenants):
    from ccr.core.db import session
    from ccr.privacy import retention

    a, _ = tenants
    at = run_page(PAGE, a.users["dpo"])
    at.number_input(key="ret_days_recordings").set_value(90)
    at.button[0].click().run()  # the form's submit button comes first
    assert not at.exception, [e.value for e in at.exception]
    with session() as s:
        assert retention.retention_days(session=s, org_id=a.org_id)["recordings"] == 90
