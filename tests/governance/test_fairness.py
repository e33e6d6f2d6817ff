"""The fairness audit: per group, scores with their intervals, AI-human disagreement and overrides, flags beyond
chance against the rest of the organisation, and the administrators' agent groups."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import event

from ccr.core.audit import list_events
from ccr.core.db import get_engine, session
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, AgentGroupMember, Call, CriterionResult, Evaluation
from ccr.governance import fairness
from tests.conftest import count_rows

_seq = count(1)
START, END = date(2026, 3, 1), date(2026, 3, 31)
NORMAL = (55, 65, 75, 85, 95)  # mean 75, a spread of real call scores
LOW = (40, 50, 60, 70, 80)  # mean 60: 15 points lower, the same spread
CRITERIA = ("accueil", "identification", "decouverte", "solution", "politesse")


def at(day: int, hour: int = 10) -> datetime:
    """An instant of March 2026 (10:00 UTC is the same day in Paris)."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def add_eval(tenant, agent_id: int, score: float, *, team: int = 0, when: datetime | None = None,
             changed: int | None = None, verdicts: int = len(CRITERIA), campaign: str = "printemps",
             scope: str = "in", restricted: bool = False, is_current: bool = True) -> int:
    """One call and its evaluation; ``changed`` (not None) makes it human-reviewed with that many verdicts changed."""
    when = when or at(1 + next(_seq) % 28)
    validated = changed is not None
    with session() as s:
        call = Call(org_id=tenant.org_id, team_id=tenant.team_ids[team], agent_id=agent_id,
                    sha256=f"fair-{next(_seq)}", started_at=when, status="done", campaign=campaign, scope=scope,
                    restricted=restricted)
        s.add(call)
        s.flush()
        ev = Evaluation(org_id=tenant.org_id, call_id=call.id, grid_slug="ccr-standard-fr", grid_version=1,
                        engine="rules", is_current=is_current, ai_score=score, ai_passed=score >= 70,
                        ai_critical_failed=False, final_score=score, final_passed=score >= 70,
                        final_critical_failed=False, validated=validated, result_json="{}",
                        team_id=tenant.team_ids[team], agent_id=agent_id, started_at=when, campaign=campaign,
                        restricted=restricted)
        s.add(ev)
        s.flush()
        for i, cid in enumerate(CRITERIA[:verdicts]):
            final = "pass" if validated and i < (changed or 0) else "fail"
            s.add(CriterionResult(org_id=tenant.org_id, evaluation_id=ev.id, call_id=call.id, criterion_id=cid,
                                  ai_verdict="fail", final_verdict=final, team_id=tenant.team_ids[team],
                                  agent_id=agent_id, started_at=when))
        return ev.id


def new_agent(tenant, team: int = 0) -> int:
    with session() as s:
        agent = Agent(org_id=tenant.org_id, team_id=tenant.team_ids[team], name=f"agent équité {next(_seq)}")
        s.add(agent)
        s.flush()
        return agent.id


def scores(tenant, agent_id: int, pattern, times: int, **kw) -> None:
    for _ in range(times):
        for value in pattern:
            add_eval(tenant, agent_id, value, **kw)


def report(actor, dimension: str, start: date = START, end: date = END):
    with session() as s:
        return fairness.group_report(session=s, actor=actor, dimension=dimension, start=start, end=end)


def make_group(admin, name: str, agent_ids) -> int:
    with session() as s:
        gid = fairness.create_group(session=s, actor=admin, name=name).id
        fairness.set_members(session=s, actor=admin, group_id=gid, agent_ids=agent_ids)
        return gid


def by_name(rep) -> dict[str, fairness.GroupStats]:
    return {g.name: g for g in rep.groups}


def test_report_intervals_and_quartiles_by_hand(tenants):
    a, _ = tenants
    for value in (60, 70, 80, 90):
        add_eval(a, a.agent_ids[0], value, campaign="hiver")
    add_eval(a, a.agent_ids[0], 75, campaign="hiver", changed=2)  # 2 of 5 verdicts changed
    add_eval(a, a.agent_ids[0], 75, campaign="hiver", changed=0)  # confirmed as is
    hiver = by_name(report(a.actor("supervisor"), "campaign"))["hiver"]
    assert (hiver.evaluations, hiver.agents, hiver.reviewed, hiver.unvalidated) == (6, 1, 2, 4)
    # Scores 60, 70, 75, 75, 80, 90: mean 75, s = sqrt(500/5) = 10, t(5) = 2.5706: 75 ± 10.494.
    assert hiver.mean_score == pytest.approx(75.0)
    assert (hiver.mean_low, hiver.mean_high) == (pytest.approx(64.506, abs=1e-3), pytest.approx(85.494, abs=1e-3))
    assert hiver.quartiles == pytest.approx((60, 71.25, 75, 78.75, 90))
    assert (hiver.disagreement.hits, hiver.disagreement.n) == (2, 10)
    assert (hiver.disagreement.low, hiver.disagreement.high) == (pytest.approx(0.0567, abs=1e-4),
                                                                  pytest.approx(0.5098, abs=1e-4))
    assert (hiver.override.hits, hiver.override.n) == (1, 2)
    assert (hiver.override.low, hiver.override.high) == (pytest.approx(0.0945, abs=1e-4),
                                                          pytest.approx(0.9055, abs=1e-4))
    assert hiver.by_criterion["accueil"].hits == 1 and hiver.by_criterion["accueil"].n == 2
    assert hiver.by_criterion["solution"].hits == 0
    assert hiver.status == fairness.TOO_SMALL  # 6 evaluations: nothing is tested


# --- flags --------------------------------------------------------------------------------------------


def test_clearly_lower_group_is_flagged_same_distribution_is_not_tiny_group_is_too_small(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    normal = [new_agent(a, team=i % 2) for i in range(6)]
    low, tiny = new_agent(a), new_agent(a, team=1)
    for agent in normal:
        scores(a, agent, NORMAL, 4)  # 20 evaluations each, mean 75
    scores(a, low, LOW, 5)  # 25 evaluations, mean 60
    scores(a, tiny, NORMAL, 1)  # 5 evaluations
    make_group(admin, "Site de Lyon", [low])
    make_group(admin, "Site de Nantes", normal[:2])
    make_group(admin, "Nuit", [tiny])
    rep = report(a.actor("dpo"), "group")
    groups = by_name(rep)
    lyon, nantes, nuit = groups["Site de Lyon"], groups["Site de Nantes"], groups["Nuit"]
    assert lyon.flagged and lyon.comparisons["score"].status == fairness.FLAGGED
    assert lyon.comparisons["score"].difference == pytest.approx(60 - 75)
    assert lyon.comparisons["score"].p_adjusted < fairness.ALPHA
    assert (lyon.evaluations, lyon.agents, lyon.mean_score) == (25, 1, pytest.approx(60.0))
    assert not nantes.flagged and nantes.status == fairness.NO_GAP
    assert nantes.comparisons["score"].p_adjusted >= fairness.ALPHA
    assert nuit.status == fairness.TOO_SMALL and not nuit.flagged
    assert fairness.STATUS_LABELS[nuit.status] == "échantillon insuffisant"
    assert nuit.comparisons["score"].p_value is None
    # No review at all: the rates are never tested, and every score is the AI's alone.
    assert lyon.comparisons["override"].status == fairness.TOO_SMALL
    assert rep.overall.unvalidated == rep.overall.evaluations == 6 * 20 + 25 + 5
    assert rep.outside_groups == 4 * 20  # the agents in no group count in the rest only
    assert [g.name for g in rep.flagged] == ["Site de Lyon"]


def test_a_group_the_ai_disagrees_with_more_is_flagged_on_the_rates_not_on_the_score(tenants):
    a, _ = tenants
    sup = a.actor("supervisor")
    for i in range(30):
        # Same scores in both teams; humans correct the AI on 24 of 30 calls of team 1, on 3 of 30 of team 2.
        add_eval(a, a.agent_ids[0], NORMAL[i % 5], team=0, changed=1 if i < 24 else 0)
        add_eval(a, a.agent_ids[1], NORMAL[i % 5], team=1, changed=1 if i < 3 else 0)
    rep = report(sup, "team")
    first, second = rep.groups[0], rep.groups[1]
    assert first.key == a.team_ids[0] and second.key == a.team_ids[1]
    assert first.comparisons["score"].status == fairness.NO_GAP
    assert first.comparisons["override"].status == fairness.FLAGGED
    assert first.comparisons["override"].difference == pytest.approx(24 / 30 - 3 / 30)
    assert first.comparisons["disagreement"].status == fairness.FLAGGED
    assert (first.override.hits, first.override.n, first.disagreement.hits, first.disagreement.n) == (24, 30, 24, 150)
    assert second.flagged  # the other side of the same gap
    assert rep.tests == 6


def test_reviews_stored_by_the_review_workflow_are_read(tenants):
    from ccr.core.db import utcnow
    from ccr.quality import reviews
    from tests.reviewdata import contract, make_call

    a, _ = tenants
    sup = a.actor("supervisor")
    call = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    with session() as s:
        reviews.validate_review(session=s, actor=sup, call_id=call, overrides={"identification": "pass"},
                                comments={"identification": "Le client a bien été identifié."})
    today = utcnow().date()  # the UTC day; the local one (Paris) may be the next
    team = report(sup, "team", today - timedelta(days=2), today + timedelta(days=1)).groups[0]
    assert (team.evaluations, team.reviewed, team.unvalidated) == (2, 1, 1)
    assert (team.override.hits, team.override.n) == (1, 1)
    assert (team.disagreement.hits, team.disagreement.n) == (1, 8)  # 8 criteria in the standard grid
    assert team.mean_score == pytest.approx(75.0)  # the AI's score, not the validated one


# --- what counts -------------------------------------------------------------------------------------


def test_only_current_unrestricted_in_scope_evaluations_of_the_period_count(tenants):
    a, b = tenants
    agent = a.agent_ids[0]
    add_eval(a, agent, 80, when=at(10))
    add_eval(a, agent, 20, when=at(11), scope="excluded")  # excluded by the scope, evaluation not restricted
    add_eval(a, agent, 20, when=at(12), restricted=True)
    add_eval(a, agent, 20, when=at(13), is_current=False)
    add_eval(a, agent, 20, when=datetime(2026, 2, 28, 23, 30, tzinfo=UTC))  # 1 March 00:30 in Paris: counted
    add_eval(a, agent, 20, when=datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 1 April in Paris: not counted
    add_eval(a, agent, 20, when=at(14), scope="sampled_out")  # analysed anyway: counted like the dashboards do
    add_eval(b, b.agent_ids[0], 10, when=at(10), campaign="beta-secret")
    rep = report(a.actor("admin"), "campaign")
    assert [g.name for g in rep.groups] == ["printemps"]
    assert rep.overall.evaluations == 3
    assert rep.overall.mean_score == pytest.approx((80 + 20 + 20) / 3)


def test_another_organisations_groups_and_teams_never_appear(tenants):
    a, b = tenants
    make_group(b.actor("admin"), "Groupe Beta", [b.agent_ids[0]])
    make_group(a.actor("admin"), "Groupe Alpha", [a.agent_ids[0]])
    scores(b, b.agent_ids[0], LOW, 6)
    scores(a, a.agent_ids[0], NORMAL, 1)
    groups = report(a.actor("supervisor"), "group")
    assert [g.name for g in groups.groups] == ["Groupe Alpha"]
    assert groups.overall.evaluations == 5
    teams = report(a.actor("supervisor"), "team")
    assert {g.key for g in teams.groups} == set(a.team_ids)  # A's two teams only
    with session() as s:
        assert [g.name for g in fairness.list_groups(session=s, actor=a.actor("dpo"))] == ["Groupe Alpha"]


def test_the_report_reads_a_fixed_number_of_queries(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    make_group(admin, "Matin", a.agent_ids[:2])
    statements: list[str] = []

    def count_sql(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries() -> int:
        statements.clear()
        engine = get_engine()
        event.listen(engine, "before_cursor_execute", count_sql)
        try:
            report(a.actor("supervisor"), "group")
        finally:
            event.remove(engine, "before_cursor_execute", count_sql)
        return len(statements)

    for i in range(5):
        add_eval(a, a.agent_ids[i % 4], 70, changed=i % 2)
    few = queries()
    for i in range(60):
        add_eval(a, a.agent_ids[i % 4], 70, changed=i % 2)
    assert queries() == few


# --- who may --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["team_lead", "agent"])
def test_team_leads_and_agents_cannot_run_the_audit(tenants, role):
    a, _ = tenants
    with pytest.raises(AccessDenied, match="réservé aux superviseurs, au DPO"):
        report(a.actor(role), "team")


@pytest.mark.parametrize(("start", "end", "dimension"), [
    (date(2026, 3, 2), date(2026, 3, 1), "team"), (date(2025, 1, 1), date(2026, 3, 1), "team"),
    (START, END, "agent"),
])
def test_a_wrong_period_or_dimension_is_refused_in_french(tenants, start, end, dimension):
    a, _ = tenants
    with pytest.raises(InvalidInput):
        report(a.actor("supervisor"), dimension, start, end)


@pytest.mark.parametrize("role", ["supervisor", "dpo", "team_lead", "agent"])
def test_only_administrators_manage_groups(tenants, role):
    a, _ = tenants
    gid = make_group(a.actor("admin"), "Ancienneté < 1 an", [a.agent_ids[0]])
    actor = a.actor(role)
    with session() as s, pytest.raises(AccessDenied):
        fairness.create_group(session=s, actor=actor, name="Autre")
    with session() as s, pytest.raises(AccessDenied):
        fairness.rename_group(session=s, actor=actor, group_id=gid, name="Autre")
    with session() as s, pytest.raises(AccessDenied):
        fairness.set_members(session=s, actor=actor, group_id=gid, agent_ids=[])
    with session() as s, pytest.raises(AccessDenied):
        fairness.delete_group(session=s, actor=actor, group_id=gid)
    assert count_rows(AgentGroupMember, group_id=gid) == 1


def test_foreign_group_and_agent_ids_are_not_found(tenants):
    a, b = tenants
    admin = a.actor("admin")
    theirs = make_group(b.actor("admin"), "Site Beta", [b.agent_ids[0]])
    mine = make_group(admin, "Site Alpha", [a.agent_ids[0]])
    for call in (lambda s: fairness.rename_group(session=s, actor=admin, group_id=theirs, name="Volé"),
                 lambda s: fairness.set_members(session=s, actor=admin, group_id=theirs, agent_ids=[]),
                 lambda s: fairness.delete_group(session=s, actor=admin, group_id=theirs),
                 lambda s: fairness.set_members(session=s, actor=admin, group_id=mine,
                                                agent_ids=[a.agent_ids[1], b.agent_ids[1]])):
        with session() as s, pytest.raises(NotFound, match="introuvable"):
            call(s)
    assert count_rows(AgentGroupMember, group_id=theirs) == 1
    assert count_rows(AgentGroupMember, group_id=mine) == 1


def test_group_management_is_audited_and_names_are_checked(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    gid = make_group(admin, "  Équipe de nuit  ", a.agent_ids[:2])
    with session() as s:
        fairness.set_members(session=s, actor=admin, group_id=gid, agent_ids=[a.agent_ids[1], a.agent_ids[2]])
        fairness.rename_group(session=s, actor=admin, group_id=gid, name="Nuit")
        other = fairness.create_group(session=s, actor=admin, name="Jour").id
    for bad in ("", "   ", "Jour", "x" * (fairness.MAX_GROUP_NAME_CHARS + 1)):
        with session() as s, pytest.raises(InvalidInput):
            fairness.rename_group(session=s, actor=admin, group_id=gid, name=bad)
    with session() as s:
        [view] = [g for g in fairness.list_groups(session=s, actor=admin) if g.id == gid]
        assert (view.name, view.agent_ids) == ("Nuit", tuple(sorted(a.agent_ids[1:3])))
        fairness.delete_group(session=s, actor=admin, group_id=other)
    with session() as s:
        actions = [e.action for e in list_events(session=s, org_id=a.org_id, target="agent_group")
                   if e.action.startswith("agent_group")]
        members = list_events(session=s, org_id=a.org_id, action="agent_group_members_set")[0]
    assert actions.count("agent_group_created") == 2
    assert {"agent_group_renamed", "agent_group_deleted", "agent_group_members_set"} <= set(actions)
    # Ids and counts, never the agents' names.
    assert json.loads(members.detail_json) == {"membres": 2, "ajoutes": [a.agent_ids[2]], "retires": [a.agent_ids[0]]}
