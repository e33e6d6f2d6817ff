"""« Mes évaluations », « Contestations » and the blind review page, run as their users would run them."""

from __future__ import annotations

from ccr.core.db import session
from ccr.core.formats import fr_score
from ccr.quality import disputes, reviews
from ccr.quality.policy import update_policy
from tests.pages.helpers import run_page
from tests.reviewdata import contract, make_call


def _published(tenant, agent=0):
    call_id = make_call(org_id=tenant.org_id, team_id=tenant.team_ids[0], agent_id=tenant.agent_ids[agent],
                        result=contract())
    with session() as s:
        return call_id, reviews.publish_evaluation(session=s, actor=tenant.actor("supervisor"), call_id=call_id).id


def _text(at) -> str:
    return "\n".join(str(getattr(e, "value", "")) for kind in ("markdown", "caption", "info", "error", "metric")
                     for e in getattr(at, kind))


def test_the_agent_sees_only_published_evaluations_and_contests_one(tenants):
    a, _ = tenants
    make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())  # a draft
    _, ev_id = _published(a)
    at = run_page("pages/my_evaluations.py", a.users["agent"])
    assert not at.exception
    assert len([b for b in at.button if b.label == "Ouvrir"]) == 1  # the draft is not listed
    at = run_page("pages/my_evaluations.py", a.users["agent"], query={"evaluation": str(ev_id)})
    assert not at.exception
    text = _text(at)
    assert "Évaluation automatique, non revue par un humain" in text
    assert at.metric[0].value == fr_score(75.0)
    assert "je débloque votre carte" in text  # the evidence, quoted
    at.multiselect[0].set_value(["identification"]).run()
    at.text_area[0].input("J'ai demandé le numéro client à 0:05.").run()
    next(b for b in at.button if b.label == "Envoyer la contestation").click().run()
    assert not at.exception and not at.error
    with session() as s:
        [d] = disputes.dispute_queue(session=s, actor=a.actor("supervisor"))
    assert d.evaluation_id == ev_id and d.items[0].requested == "pass"


def test_a_colleagues_evaluation_in_the_url_is_not_found(tenants):
    a, b = tenants
    _, colleague = _published(a, agent=2)
    for ev_id in (colleague, _published(b)[1]):
        at = run_page("pages/my_evaluations.py", a.users["agent"], query={"evaluation": str(ev_id)})
        assert not at.exception
        assert [e.value for e in at.error] == ["Évaluation introuvable."]
        assert "je débloque" not in _text(at)


def test_the_supervisor_answers_a_dispute_from_the_queue(tenants):
    a, _ = tenants
    _, ev_id = _published(a)
    with session() as s:
        disputes.open_dispute(session=s, actor=a.actor("agent"), evaluation_id=ev_id,
                              criteria={"identification": "pass"}, comment="Numéro demandé.")
    home = run_page("pages/home.py", a.users["supervisor"])
    assert any("1 contestation" in w.value for w in home.warning)
    at = run_page("pages/disputes.py", a.users["supervisor"])
    assert not at.exception, [e.value for e in at.exception]
    assert "Numéro demandé" in _text(at)
    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Enregistrer la réponse").click().run()
    assert not at.exception and not at.error
    assert any("acceptée" in s.value for s in at.success)


def test_blind_review_page_holds_no_ai_verdict_until_submitted(tenants):
    a, _ = tenants
    call_id = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    with session() as s:
        update_policy(session=s, actor=a.actor("admin"), dispute_days=15, answer_days=10, dispute_limit=5,
                      dispute_window_days=30, blind_review=True)
    at = run_page("pages/review.py", a.users["supervisor"], query={"call_id": str(call_id)})
    assert not at.exception
    text = _text(at)
    assert "Verdict IA" not in text and "Score retenu" not in text and "Explication du critère" not in text
    assert "je débloque votre carte tout de suite" in text  # the transcript itself is there
    for box in at.selectbox:
        if box.key and box.key.startswith("bv_"):
            box.set_value("pass")
    next(b for b in at.button if "Enregistrer mes verdicts" in b.label).click().run()
    assert not at.exception and not at.error
    text = _text(at)
    assert "Verdict IA : Non conforme" in text and "Votre verdict à l'aveugle" in text
