"""Publication and disputes: drafts stay hidden from the agent, a published evaluation can be contested within
the organisation's deadline and under its limit, and a supervisor's answer changes the score through the
review path (AI score kept, audited). The clock is passed in, so deadlines are tested to the second."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.audit import list_events
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Dispute, Evaluation
from ccr.quality import agent_space, disputes, evaluations, reviews
from ccr.quality.policy import get_policy, update_policy
from tests.reviewdata import contract, make_call


def _call(tenant, agent=0, team=0):
    return make_call(org_id=tenant.org_id, team_id=tenant.team_ids[team], agent_id=tenant.agent_ids[agent],
                     result=contract())


def _publish(tenant, call_id):
    with session() as s:
        return reviews.publish_evaluation(session=s, actor=tenant.actor("supervisor"), call_id=call_id).id


def _open(actor, ev_id, criteria=None, comment="J'ai bien demandé le numéro client.", now=None):
    with session() as s:
        return disputes.open_dispute(session=s, actor=actor, evaluation_id=ev_id,
                                     criteria=criteria or {"identification": "pass"}, comment=comment, now=now)


def _resolve(actor, dispute_id, accepted, reason="", now=None):
    with session() as s:
        return disputes.resolve_dispute(session=s, actor=actor, dispute_id=dispute_id, accepted=accepted,
                                        reason=reason, now=now)


def _own(tenant):
    with session() as s:
        return agent_space.list_own(session=s, actor=tenant.actor("agent"))


def test_a_draft_is_invisible_to_its_agent_and_publication_shows_it_with_its_mention(tenants):
    a, _ = tenants
    agent = a.actor("agent")
    call_id = _call(a)
    assert _own(a) == []
    with session() as s:
        ev_id = evaluations.current_evaluation(session=s, actor=a.actor("supervisor"), call_id=call_id).id
    with session() as s, pytest.raises(NotFound):
        agent_space.open_own(session=s, actor=agent, evaluation_id=ev_id)
    with session() as s, pytest.raises(NotFound):
        disputes.open_dispute(session=s, actor=agent, evaluation_id=ev_id, criteria={"identification": "pass"},
                              comment="non publiée")
    _publish(a, call_id)
    [item] = _own(a)
    assert (item.evaluation_id, item.score, item.validated, item.contestable) == (ev_id, 75.0, False, True)
    with session() as s:
        view = agent_space.open_own(session=s, actor=agent, evaluation_id=ev_id)
    assert view.publication == "Évaluation automatique, non revue par un humain"
    assert {c["id"]: c["final_verdict"] for c in view.criteria}["identification"] == "fail"
    # a supervisor's validation keeps it published and the mention follows
    with session() as s:
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=call_id, overrides={}, comments={},
                                coaching_note="Reformulez avant la solution.")
    with session() as s:
        view = agent_space.open_own(session=s, actor=agent, evaluation_id=ev_id)
        notes = agent_space.own_coaching_notes(session=s, actor=agent)
    assert view.publication == "Évaluation validée par un superviseur" and view.reviewer == "alpha supervisor"
    assert [n[2] for n in notes] == ["Reformulez avant la solution."]


def test_validating_with_publish_publishes_and_a_team_lead_cannot_publish(tenants):
    a, _ = tenants
    call_id = _call(a)
    with session() as s, pytest.raises(AccessDenied):
        reviews.publish_evaluation(session=s, actor=a.actor("team_lead"), call_id=call_id)
    with session() as s:
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=call_id, overrides={},
                                comments={}, publish=True)
    [item] = _own(a)
    assert item.validated
    with session() as s:
        logged = list_events(session=s, org_id=a.org_id, action="evaluation_published")
    assert len(logged) == 1 and '"ia_seule": false' in logged[0].detail_json


def test_another_agents_evaluation_is_not_found_by_any_agent_function(tenants):
    a, b = tenants
    agent = a.actor("agent")
    colleague = _call(a, agent=2)  # same team, another agent
    other_org = _call(b)
    ids = [_publish(a, colleague), _publish(b, other_org)]
    for ev_id in ids:
        for fn in (agent_space.open_own, agent_space.own_audio, agent_space.acknowledge):
            with session() as s, pytest.raises(NotFound):
                fn(session=s, actor=agent, evaluation_id=ev_id)
        with pytest.raises(NotFound):
            _open(agent, ev_id)
    assert _own(a) == []


def test_the_dispute_life_cycle_accept_keeps_the_ai_score_and_is_audited(tenants):
    a, _ = tenants
    agent, sup = a.actor("agent"), a.actor("supervisor")
    call_id = _call(a)
    ev_id = _publish(a, call_id)
    now = utcnow()
    with pytest.raises(InvalidInput, match="commentaire est obligatoire"):
        _open(agent, ev_id, comment="  ", now=now)
    with pytest.raises(InvalidInput, match="déjà « Conforme »"):
        _open(agent, ev_id, criteria={"accueil": "pass"}, now=now)
    d = _open(agent, ev_id, criteria={"identification": "pass", "conclusion": "pass"}, now=now)
    assert d.status == "open" and d.answer_due_at == now + timedelta(days=10)
    with pytest.raises(InvalidInput, match="déjà été contestée"):
        _open(agent, ev_id, now=now)
    with session() as s:
        assert disputes.count_open_disputes(session=s, actor=sup) == 1
        assert [q.id for q in disputes.dispute_queue(session=s, actor=sup)] == [d.id]
        assert disputes.count_open_disputes(session=s, actor=a.actor("team_lead")) == 0
    with pytest.raises(AccessDenied):
        _resolve(a.actor("team_lead"), d.id, ["identification"])
    with pytest.raises(InvalidInput, match="Motivez le refus"):
        _resolve(sup, d.id, ["identification"])
    out = _resolve(sup, d.id, ["identification"], reason="La conclusion manque toujours.")
    assert out.status == "partial"
    assert {i.criterion_id: i.decision for i in out.items} == {"identification": "accepted", "conclusion": "rejected"}
    with session() as s:
        ev = s.get(Evaluation, ev_id)
        view = reviews.open_call(session=s, actor=sup, call_id=call_id, log=False)
    assert (ev.ai_score, ev.validated, ev.published_at is not None) == (75.0, True, True)
    assert ev.final_score > 75.0
    assert {c["id"]: c["final_verdict"] for c in view.criteria}["identification"] == "pass"
    assert view.latest_review.comments["identification"].startswith(f"Contestation n° {d.id} acceptée")
    with pytest.raises(InvalidInput, match="déjà reçu une réponse"):
        _resolve(sup, d.id, [])
    [item] = _own(a)
    assert (item.dispute_status, item.score, item.contestable) == ("partial", ev.final_score, False)
    with session() as s:
        actions = [e.action for e in list_events(session=s, org_id=a.org_id)]
    assert {"dispute_opened", "dispute_resolved", "call_validated"} <= set(actions)
    with session() as s:
        resolved = list_events(session=s, org_id=a.org_id, action="dispute_resolved")[0]
    assert "La conclusion" not in resolved.detail_json  # free text stays out of the log


def test_a_rejection_needs_a_reason_and_leaves_the_score(tenants):
    a, _ = tenants
    ev_id = _publish(a, _call(a))
    d = _open(a.actor("agent"), ev_id)
    out = _resolve(a.actor("admin"), d.id, [], reason="Le numéro n'a pas été demandé.")
    assert out.status == "rejected" and out.resolution == "Le numéro n'a pas été demandé."
    with session() as s:
        ev = s.get(Evaluation, ev_id)
        seen = disputes.get_dispute(session=s, actor=a.actor("agent"), dispute_id=d.id)
    assert (ev.final_score, ev.validated) == (75.0, False)
    assert seen.status == "rejected" and seen.resolver == "alpha admin"


def test_the_deadline_is_counted_from_publication_and_refused_in_french_after(tenants):
    a, _ = tenants
    ev_id = _publish(a, _call(a))
    with session() as s:
        published = s.get(Evaluation, ev_id).published_at
        days = get_policy(session=s, org_id=a.org_id).dispute_days
    assert days == 15
    with pytest.raises(InvalidInput, match=r"Le délai de contestation est dépassé.*15 jours après sa publication"):
        _open(a.actor("agent"), ev_id, now=published + timedelta(days=15, seconds=1))
    d = _open(a.actor("agent"), ev_id, now=published + timedelta(days=15))
    assert d.status == "open"


def test_the_limit_per_agent_and_period_is_the_organisations(tenants):
    a, _ = tenants
    with session() as s:
        update_policy(session=s, actor=a.actor("admin"), dispute_days=30, answer_days=5, dispute_limit=2,
                      dispute_window_days=7, blind_review=False)
    evs = [_publish(a, _call(a)) for _ in range(3)]
    now = utcnow()
    _open(a.actor("agent"), evs[0], now=now)
    _open(a.actor("agent"), evs[1], now=now)
    with pytest.raises(InvalidInput, match="limite de 2 contestations sur 7 jours"):
        _open(a.actor("agent"), evs[2], now=now)
    d = _open(a.actor("agent"), evs[2], now=now + timedelta(days=8))  # the window has moved on
    assert d.answer_due_at == now + timedelta(days=13)
    with session() as s, pytest.raises(AccessDenied):
        update_policy(session=s, actor=a.actor("supervisor"), dispute_days=1, answer_days=1, dispute_limit=0,
                      dispute_window_days=1, blind_review=True)
    with session() as s, pytest.raises(InvalidInput, match="entre 1 et 365"):
        update_policy(session=s, actor=a.actor("admin"), dispute_days=0, answer_days=1, dispute_limit=0,
                      dispute_window_days=1, blind_review=True)


def test_a_rescored_call_can_only_be_rejected(tenants):
    from ccr.quality.evaluations import store_evaluation

    a, _ = tenants
    call_id = _call(a)
    ev_id = _publish(a, call_id)
    d = _open(a.actor("agent"), ev_id)
    with session() as s:
        from ccr.core.models import Call

        store_evaluation(session=s, call=s.get(Call, call_id), result=contract(), grid_id=None)
    with pytest.raises(InvalidInput, match="réévalué"):
        _resolve(a.actor("supervisor"), d.id, ["identification"])
    assert _resolve(a.actor("supervisor"), d.id, [], reason="Nouvelle évaluation à venir.").status == "rejected"


def test_erasing_the_agent_deletes_their_disputes_and_closes_their_login(tenants):
    from ccr.core.models import User
    from ccr.privacy import subjects
    from tests.conftest import count_rows

    a, _ = tenants
    ev_id = _publish(a, _call(a))
    _open(a.actor("agent"), ev_id)
    dpo = a.actor("dpo")
    with session() as s:
        phrase = subjects.confirmation_phrase(subjects.resolve_subject(session=s, actor=dpo, agent_id=a.agent_ids[0]))
    counts = subjects.erase_subject(actor=dpo, confirmation=phrase, agent_id=a.agent_ids[0])
    assert counts["disputes"] == 1 and counts["accounts_closed"] == 1
    assert count_rows(Dispute, org_id=a.org_id) == 0
    with session() as s:
        user = s.get(User, a.users["agent"])
    assert (user.active, user.agent_id) == (False, None)
