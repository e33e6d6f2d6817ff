"""Team quality report (self-contained HTML) and CSV/Excel exports of the dashboard views."""

from __future__ import annotations

import html
import io
from datetime import UTC, date, datetime

import openpyxl
import pytest

from ccr.core import audit
from ccr.core.db import session
from ccr.core.errors import NotFound
from ccr.core.models import Agent
from ccr.dashboards import reports
from ccr.dashboards.filters import CallQuery, Filters
from tests.kpidata import add_call

HOSTILE = '<script>alert("x")</script>'
FORMULA = "=HYPERLINK(\"http://evil.example\",\"clic\")"
PERIOD = Filters(start=date(2026, 3, 1), end=date(2026, 3, 30), preset="perso")


@pytest.fixture
def team_data(tenants):
    a, b = tenants
    t1 = a.team_ids[0]
    with session() as s:
        agent = s.get(Agent, a.agent_ids[0])
        agent.name = HOSTILE
        s.add(agent)
    when = datetime(2026, 3, 5, 10, tzinfo=UTC)
    for score, verdict in ((80, "pass"), (60, "fail"), (40, "fail")):
        add_call(a.org_id, t1, a.agent_ids[0], when, score, critical=score == 40,
                 verdicts={"accueil": "pass", "empathie": verdict, "conclusion": "na"}, irritants=["relances"],
                 campaign=FORMULA)
    add_call(a.org_id, t1, a.agent_ids[2], when, 90, verdicts={"accueil": "pass", "empathie": "pass"})
    add_call(a.org_id, a.team_ids[1], a.agent_ids[1], when, 10, verdicts={"accueil": "fail"})  # other team
    add_call(a.org_id, t1, a.agent_ids[0], datetime(2026, 2, 10, tzinfo=UTC), 50)  # previous period
    return a, b


def _report(actor, team_id):
    with session() as s:
        return reports.team_report_html(session=s, actor=actor, filters=PERIOD, team_id=team_id)


def test_report_contains_the_expected_figures(team_data):
    a, _ = team_data
    name, body = _report(a.actor("supervisor"), a.team_ids[0])
    doc = body.decode("utf-8")
    assert name == "rapport-qualite-alpha-conseil-equipe-1-2026-03-01-2026-03-30.html"
    assert "Rapport qualité — Alpha Conseil équipe 1" in doc
    assert 'data-kpi="calls"><div>Appels analysés</div><div class="v">4</div>' in doc
    assert '<div class="v">67,5</div><div class="d">+17,5 vs période précédente</div>' in doc  # (80+60+40+90)/4 vs 50
    assert '<div class="v">50,0\u00a0%</div>' in doc  # pass rate 2/4
    assert '<div class="v">25,0\u00a0%</div>' in doc  # critical 1/4
    assert "<svg" in doc and "Seuil 70" in doc
    # coaching priority of agent 0: empathie passed 1 of 3 applicable calls; "conclusion" was na only
    assert "Empathie face aux irritants (33\u00a0% sur 3 appels)" in doc
    assert "Conclusion de l" not in doc
    assert "alpha agent 2" in doc and "alpha agent 1" not in doc  # other team left out
    assert "<script" not in doc and "http://" not in doc.replace("http://www.w3.org/2000/svg", "")


def test_report_escapes_a_hostile_agent_name(team_data):
    a, _ = team_data
    _, body = _report(a.actor("admin"), None)
    doc = body.decode("utf-8")
    assert HOSTILE not in doc
    assert html_escaped(HOSTILE) in doc


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_report_export_is_audited(team_data):
    a, _ = team_data
    _report(a.actor("supervisor"), a.team_ids[0])
    with session() as s:
        events = audit.list_events(session=s, org_id=a.org_id, action="report_exported")
    assert len(events) == 1
    assert events[0].target_id == str(a.team_ids[0]) and '"du": "2026-03-01"' in events[0].detail_json


@pytest.mark.parametrize(("role", "team_index"), [("team_lead", 1), ("admin", None)])
def test_report_of_a_team_outside_the_scope_is_not_found(team_data, role, team_index):
    a, b = team_data
    team_id = a.team_ids[team_index] if team_index is not None else b.team_ids[0]
    with pytest.raises(NotFound):
        _report(a.actor(role), team_id)


def test_team_lead_report_of_all_their_teams_leaves_others_out(team_data):
    a, _ = team_data
    _, body = _report(a.actor("team_lead"), None)
    assert "alpha agent 1" not in body.decode("utf-8")


def test_calls_export_neutralises_formulas_and_is_audited(team_data):
    a, _ = team_data
    admin = a.actor("admin")
    with session() as s:
        name, data = reports.export_calls_file(session=s, actor=admin, filters=PERIOD, query=CallQuery(),
                                               fmt="csv")
    text = data.decode("utf-8-sig")
    assert name == "appels-2026-03-01-2026-03-30.csv"
    assert "'" + FORMULA.replace('"', '""') in text
    assert ";\"=HYPERLINK" not in text
    with session() as s:
        _, xlsx = reports.export_calls_file(session=s, actor=admin, filters=PERIOD, query=CallQuery(),
                                            fmt="xlsx")
        assert len(audit.list_events(session=s, org_id=a.org_id, action="calls_exported")) == 2
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    campaigns = {row[4] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert "'" + FORMULA in campaigns and FORMULA not in campaigns


def test_ranking_export_lists_the_agents(team_data):
    a, _ = team_data
    with session() as s:
        _, data = reports.export_ranking_file(session=s, actor=a.actor("team_lead"), filters=PERIOD)
    text = data.decode("utf-8-sig")
    assert "alpha agent 2" in text and "alpha agent 1" not in text


def _block_unvalidated(tenant):
    from ccr.quality import scope

    with session() as s:
        scope.update_rules(session=s, actor=tenant.actor("admin"), sampling="all", quota=8, quota_period="month",
                           store_excluded=False, use_periods=False, block_unvalidated_exports=True)


def test_ai_only_scores_are_named_in_every_export_and_can_be_kept_from_leaving(team_data):
    from ccr.core.errors import AccessDenied
    from ccr.dashboards.figures import validation_counts

    a, _ = team_data
    add_call(a.org_id, a.team_ids[0], a.agent_ids[2], datetime(2026, 3, 6, 9, tzinfo=UTC), 77, validated=True)
    admin = a.actor("admin")
    with session() as s:
        checked = validation_counts(session=s, actor=admin, filters=PERIOD)
        _, ranking = reports.export_ranking_file(session=s, actor=admin, filters=PERIOD)
    assert (checked.total, checked.unvalidated) == (6, 5)
    assert checked.by_agent == {a.agent_ids[0]: 3, a.agent_ids[2]: 1, a.agent_ids[1]: 1}
    assert checked.note == "Dont 5 évaluation(s) (83\u00a0%) qu'aucun humain n'a validée(s) : ce sont les scores de l'IA seule."
    assert "Non validés par un humain" in ranking.decode("utf-8-sig").splitlines()[0]
    assert html.escape(checked.note) in _report(admin, None)[1].decode()

    _block_unvalidated(a)
    with session() as s:
        with pytest.raises(AccessDenied, match="aucun humain"):
            reports.export_ranking_file(session=s, actor=admin, filters=PERIOD)
        _, calls = reports.export_calls_file(session=s, actor=admin, filters=PERIOD, query=CallQuery())
        page = reports.team_report_html(session=s, actor=admin, filters=PERIOD)[1].decode()
        [event] = [e for e in audit.list_events(session=s, org_id=a.org_id, action="calls_exported")]
    rows = calls.decode("utf-8-sig").strip().splitlines()
    assert len(rows) == 2 and ";77.0;" in rows[1]  # only the validated call is exported
    assert "Résultats par agent non inclus" in page and "alpha agent 2" not in page
    assert '"non_valides_retenus": 5' in event.detail_json
