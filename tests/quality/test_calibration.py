"""Calibration: the AI against validated and blind verdicts, and sessions where supervisors score one call blind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.audit import list_events
from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.quality import calibration, reviews
from ccr.quality.policy import update_policy
from ccr.scoring.evaluation import compute_score
from tests.reviewdata import BASE_VERDICTS, GRID, contract, make_call


def _validate(actor, call_id, overrides=None, comments=None, **kw):
    with session() as s:
        return reviews.validate_review(session=s, actor=actor, call_id=call_id, overrides=overrides or {},
                                       comments=comments or {}, **kw)


def _call(tenant, team=0):
    return make_call(org_id=tenant.org_id, team_id=tenant.team_ids[team], agent_id=tenant.agent_ids[team],
                     result=contract())


def _blind_on(tenant):
    with session() as s:
        update_policy(session=s, actor=tenant.actor("admin"), dispute_days=15, answer_days=10, dispute_limit=5,
                      dispute_window_days=30, blind_review=True)


def test_ai_agreement_counts_agreement_and_disagreements_exactly(tenants):
    a, b = tenants
    sup = a.actor("supervisor")

    def mk(org=a):
        return make_call(org_id=org.org_id, team_id=org.team_ids[0], agent_id=org.agent_ids[0],
                         result=contract())

    c1, c2, c3, unvalidated = mk(), mk(), mk(), mk()
    other = mk(org=b)
    # AI: identification fail, conclusion fail, empathie na, attente na; the rest pass.
    _validate(sup, c1, {"identification": "pass"}, {"identification": "demandé"})
    _validate(sup, c2, {"identification": "pass", "empathie": "pass"}, {"identification": "oui", "empathie": "oui"})
    _validate(sup, c3, {"conclusion": "na", "solution": "fail"}, {"conclusion": "coupé", "solution": "non"})
    _validate(b.actor("supervisor"), other, {"accueil": "fail"}, {"accueil": "non"})
    with session() as s:
        cal = calibration.ai_agreement(session=s, actor=sup)
    by_id = {c["criterion_id"]: c for c in cal["criteria"]}
    assert cal["calls"] == 3
    assert [c["criterion_id"] for c in cal["criteria"]] == [c.id for c in GRID.criteria]
    ident = by_id["identification"]
    assert (ident["n"], ident["agree"], ident["rate"]) == (3, 1, pytest.approx(1 / 3, abs=1e-4))
    assert ident["confusion"]["fail"] == {"pass": 2, "fail": 1, "na": 0}
    assert ident["confusion"]["pass"] == {"pass": 0, "fail": 0, "na": 0}
    assert by_id["accueil"]["rate"] == 1.0  # org B's disagreement does not leak in
    assert by_id["empathie"]["confusion"]["na"] == {"pass": 1, "fail": 0, "na": 2}
    assert by_id["solution"]["confusion"]["pass"] == {"pass": 2, "fail": 1, "na": 0}
    assert by_id["conclusion"]["confusion"]["fail"] == {"pass": 0, "fail": 2, "na": 1}
    top = cal["disagreements"][0]
    assert (top["criterion_id"], top["ai"], top["human"], top["count"], top["call_ids"]) == (
        "identification", "fail", "pass", 2, sorted([c1, c2]))
    assert len(cal["disagreements"]) == 4
    assert unvalidated not in {cid for d in cal["disagreements"] for cid in d["call_ids"]}


def test_category_agreement_counts_the_latest_review_of_each_call_that_chose_one(tenants):
    a, b = tenants
    sup = a.actor("supervisor")
    kept, corrected, twice, silent = _call(a), _call(a), _call(a), _call(a)
    other = _call(b)
    _validate(sup, kept, category="facturation")  # the scorer's category (contract(): facturation)
    _validate(sup, corrected, category="resiliation")
    _validate(sup, twice, category="livraison")
    _validate(sup, twice, category="resiliation")  # the latest review counts, not the first
    _validate(sup, silent)  # validated without choosing: the category it kept is the scorer's
    _validate(b.actor("supervisor"), other, category="information")
    with session() as s:
        cats = calibration.ai_agreement(session=s, actor=sup)["categories"]
    assert (cats["n"], cats["agree"], cats["rate"]) == (4, 2, 0.5)
    assert cats["corrections"] == [{"ai": "facturation", "human": "resiliation", "count": 2,
                                    "call_ids": sorted([corrected, twice])}]


def test_category_agreement_of_nothing_has_no_rate():
    assert calibration.category_agreement([]) == {"n": 0, "agree": 0, "rate": None, "corrections": []}


def test_ai_agreement_period_filters_on_call_date(tenants):
    from ccr.core.db import utcnow

    a, _ = tenants
    sup = a.actor("supervisor")
    old = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract(),
                    started_at=utcnow() - timedelta(days=40))
    _validate(sup, old, {"accueil": "fail"}, {"accueil": "non"})
    today = utcnow().date()
    with session() as s:
        recent = calibration.ai_agreement(session=s, actor=sup, period=(today - timedelta(days=7), today))
        full = calibration.ai_agreement(session=s, actor=sup, period=(today - timedelta(days=60), today))
    assert (recent["calls"], full["calls"]) == (0, 1)


# --- blind review ---------------------------------------------------------------------------------------


def test_blind_review_hides_every_ai_output_until_the_reviewer_has_submitted(tenants):
    a, _ = tenants
    sup = a.actor("supervisor")
    call_id = _call(a)
    _blind_on(a)
    with session() as s:
        view = reviews.open_call(session=s, actor=sup, call_id=call_id)
    assert view.blind and view.ai_score is None and view.result is None and view.final_score is None
    assert all(set(c) == {"id", "label", "critical", "weight"} for c in view.criteria)
    # a team lead does not validate: the rule is for those who do
    with session() as s:
        assert not reviews.open_call(session=s, actor=a.actor("team_lead"), call_id=call_id).blind
    mine = {**BASE_VERDICTS, "identification": "pass"}
    with session() as s, pytest.raises(InvalidInput, match="chaque critère"):
        reviews.submit_blind(session=s, actor=sup, call_id=call_id, verdicts={"accueil": "pass"})
    with session() as s:
        reviews.submit_blind(session=s, actor=sup, call_id=call_id, verdicts=mine)
    with session() as s:
        view = reviews.open_call(session=s, actor=sup, call_id=call_id)
    assert not view.blind and view.ai_score == 75.0 and view.blind_verdicts == mine
    assert {c["id"]: c["ai_verdict"] for c in view.criteria}["identification"] == "fail"
    with session() as s, pytest.raises(InvalidInput, match="déjà"):
        reviews.submit_blind(session=s, actor=sup, call_id=call_id, verdicts=mine)
    # another supervisor is still blind: each reviewer scores before seeing the AI
    with session() as s:
        assert reviews.open_call(session=s, actor=a.actor("admin"), call_id=call_id).blind


def test_the_blind_agreement_compares_the_ai_with_verdicts_given_before_seeing_it(tenants):
    a, _ = tenants
    sup = a.actor("supervisor")
    _blind_on(a)
    c1, c2 = _call(a), _call(a)
    with session() as s:
        reviews.submit_blind(session=s, actor=sup, call_id=c1, verdicts={**BASE_VERDICTS, "identification": "pass"})
        reviews.submit_blind(session=s, actor=sup, call_id=c2, verdicts=dict(BASE_VERDICTS))
    # After seeing the AI the supervisor confirms its verdict on c1: the validated agreement is perfect,
    # the blind one is not.
    _validate(sup, c1)
    with session() as s:
        cal = calibration.ai_agreement(session=s, actor=sup)
    ident = {c["criterion_id"]: c for c in cal["blind"]["criteria"]}["identification"]
    assert (cal["blind"]["calls"], ident["n"], ident["agree"]) == (2, 2, 1)
    assert ident["confusion"]["fail"]["pass"] == 1
    assert {c["criterion_id"]: c for c in cal["criteria"]}["identification"]["rate"] == 1.0
    with session() as s, pytest.raises(AccessDenied):
        calibration.ai_agreement(session=s, actor=a.actor("team_lead"))


# --- calibration sessions ---------------------------------------------------------------------------


def _score(actor, session_id, **changes):
    with session() as s:
        calibration.score_session(session=s, actor=actor, session_id=session_id,
                                  verdicts={**BASE_VERDICTS, **changes})


def test_a_session_shows_the_spread_only_to_those_who_scored_then_closes_on_the_agreed_result(tenants):
    from ccr.core.users import create_user
    from tests.conftest import TEST_PASSWORD

    a, b = tenants
    sup, admin = a.actor("supervisor"), a.actor("admin")
    with session() as s:
        third = create_user(session=s, org_id=a.org_id, username="alpha.sup2", display_name="Deuxième sup",
                            password=TEST_PASSWORD, role="supervisor").id
    from tests.conftest import Tenant

    sup2 = Tenant(a.org_id, a.team_ids, a.agent_ids, {"supervisor": third}).actor("supervisor")
    call_id = _call(a)
    with session() as s:
        row = calibration.create_session(session=s, actor=sup, call_id=call_id, title="Janvier")
        sid = row.id
    with session() as s:
        view = calibration.get_session(session=s, actor=sup, session_id=sid)
    assert not view.results_visible and view.spread == [] and view.ai_score is None
    _score(sup, sid)  # 75
    with session() as s, pytest.raises(InvalidInput, match="Il faut au moins 2"):
        calibration.close_session(session=s, actor=sup, session_id=sid, agreed=dict(BASE_VERDICTS))
    _score(admin, sid, identification="pass", conclusion="pass")  # 100
    _score(sup2, sid, solution="fail", accueil="fail")
    with session() as s:
        view = calibration.get_session(session=s, actor=sup, session_id=sid)
        hidden = calibration.get_session(session=s, actor=a.actor("admin"), session_id=sid)
        lines = calibration.list_sessions(session=s, actor=sup2)
    assert lines == [calibration.SessionLine(id=sid, title="Janvier", status="open", scored=3)]
    assert view.results_visible and view.scored == 3 and hidden.results_visible
    spread = {c.criterion_id: c for c in view.spread}
    assert spread["identification"].counts == {"pass": 1, "fail": 2, "na": 0}
    assert spread["identification"].majority == "fail"
    assert spread["identification"].agreement == pytest.approx(2 / 3, abs=1e-4)
    assert spread["accueil"].ai_verdict == "pass"
    by_name = {e.name: e for e in view.evaluators}
    scores = [compute_score({**BASE_VERDICTS, **c}, GRID)[0] for c in (
        {}, {"identification": "pass", "conclusion": "pass"}, {"solution": "fail", "accueil": "fail"})]
    assert scores[0] == 75.0 and scores[1] == 100.0 and scores[2] < 50
    assert view.mean_score == pytest.approx(sum(scores) / 3, abs=0.05)
    assert view.score_range == pytest.approx(scores[1] - scores[2], abs=0.05)
    assert by_name["alpha admin"].tendency == "plus indulgent"
    assert by_name["Deuxième sup"].tendency == "plus sévère"
    assert by_name["alpha supervisor"].off_majority == 0 and by_name["Deuxième sup"].off_majority == 2
    with session() as s, pytest.raises(InvalidInput, match="déjà noté"):
        calibration.score_session(session=s, actor=sup, session_id=sid, verdicts=dict(BASE_VERDICTS))
    with session() as s, pytest.raises(AccessDenied, match="animateur"):
        calibration.close_session(session=s, actor=sup2, session_id=sid, agreed=dict(BASE_VERDICTS))
    agreed = {**BASE_VERDICTS, "identification": "pass"}
    with session() as s:
        closed = calibration.close_session(session=s, actor=sup, session_id=sid, agreed=agreed, apply=True)
    assert closed.status == "closed" and closed.agreed == agreed
    with session() as s:
        view = reviews.open_call(session=s, actor=sup, call_id=call_id, log=False)
    assert view.validated and view.final_score == 87.5 and view.ai_score == 75.0
    with session() as s, pytest.raises(InvalidInput, match="close"):
        calibration.score_session(session=s, actor=sup2, session_id=sid, verdicts=dict(BASE_VERDICTS))
    with session() as s:
        actions = [e.action for e in list_events(session=s, org_id=a.org_id)]
    assert {"calibration_session_created", "calibration_scored", "calibration_session_closed"} <= set(actions)
    # another organisation's supervisor cannot reach the session
    with session() as s, pytest.raises(NotFound):
        calibration.get_session(session=s, actor=b.actor("supervisor"), session_id=sid)


def test_a_session_scoring_view_of_the_call_holds_no_ai_output(tenants):
    a, _ = tenants
    call_id = _call(a)
    with session() as s:
        view = reviews.open_call(session=s, actor=a.actor("supervisor"), call_id=call_id, hide_ai=True)
    assert view.blind and view.segments and view.ai_score is None and view.result is None
    assert [c["id"] for c in view.criteria] == [c.id for c in GRID.criteria]


def test_the_ai_agreement_window_excludes_old_calls(tenants):
    from ccr.core.db import utcnow

    a, _ = tenants
    _blind_on(a)
    old = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract(),
                    started_at=utcnow() - timedelta(days=40))
    with session() as s:
        reviews.submit_blind(session=s, actor=a.actor("supervisor"), call_id=old, verdicts=dict(BASE_VERDICTS))
    today = utcnow().date()
    with session() as s:
        recent = calibration.ai_agreement(session=s, actor=a.actor("supervisor"), period=(today - timedelta(days=7), today))
    assert recent["blind"]["calls"] == 0
