"""Conformité IA: the three documents, their publication and the audit-log check for the DPO and the
administrator; refused to every other role."""

from __future__ import annotations

import pytest

from ccr.core import audit
from ccr.core.db import session
from ccr.core.models import NoticePublication
from ccr.core.vocab import GOVERNANCE_DOCUMENTS
from tests.conftest import count_rows
from tests.pages.helpers import refused, run_page
from tests.reviewdata import SEGMENTS, contract, make_call

PAGE = "pages/ai_act.py"


@pytest.mark.parametrize("role", ["dpo", "admin"])
def test_dpo_and_admin_see_the_documents_and_publish_them(tenants, role):
    a, _ = tenants
    at = run_page(PAGE, a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    assert not refused(at)
    assert [t.label for t in at.tabs] == [*GOVERNANCE_DOCUMENTS.values(), "Contrôle du journal d'audit"]
    assert any("Note d'information des salariés — Alpha Conseil" in m.value for m in at.markdown)
    assert any("jamais été publié" in w.value for w in at.warning)
    at.button(key="publish_worker_notice").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("publiée (empreinte" in s.value for s in at.success)
    assert count_rows(NoticePublication, org_id=a.org_id, kind="worker_notice") == 1
    assert any("Identique à la version publiée le" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert list(table.columns) == ["Date", "Par", "Empreinte"] and table["Par"].tolist() == [f"alpha {role}"]


def test_a_changed_setting_warns_that_the_published_text_is_out_of_date(tenants):
    from ccr.quality import scope

    a, _ = tenants
    at = run_page(PAGE, a.users["dpo"])
    at.button(key="publish_instructions").click().run()
    with session() as s:
        scope.update_rules(session=s, actor=a.actor("admin"), sampling="quota", quota=4, quota_period="month",
                           store_excluded=False, use_periods=False, block_unvalidated_exports=False)
    at = run_page(PAGE, a.users["dpo"])
    assert any("Le texte en vigueur diffère de la version publiée" in w.value for w in at.warning)


def test_the_audit_check_reports_a_planted_excerpt(tenants):
    a, _ = tenants
    make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    at = run_page(PAGE, a.users["dpo"])
    at.button(key="audit_check").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Aucun texte de transcription dans le journal" in s.value for s in at.success)
    with session() as s:
        audit.log_event(session=s, who=a.actor("admin").who, action="note", detail={"x": SEGMENTS[1]["text"]})
    at.button(key="audit_check").click().run()
    assert any("NON CONFORME" in e.value for e in at.error)
    assert not any("troisième" in str(e.value) for e in [*at.error, *at.success])


@pytest.mark.parametrize("role", ["supervisor", "team_lead", "agent", None])
def test_other_roles_are_refused(tenants, role):
    a, _ = tenants
    at = run_page(PAGE, a.users[role] if role else None)
    assert refused(at)
    assert not any("Note d'information" in m.value for m in at.markdown)
