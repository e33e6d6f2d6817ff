"""Human review: override arithmetic, validation rules, tenant isolation, audit, queue and calibration."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core import outbox
from ccr.core.audit import count_events, list_events
from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.integration_models import WebhookEndpoint, WebhookEvent
from ccr.core.models import CriterionResult, Evaluation, Review
from ccr.quality import reviews
from tests.reviewdata import GRID, contract, make_call

# --- arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, (75.0, True, False)),
        ({"identification": "pass"}, (87.5, True, False)),
        ({"solution": "fail"}, (50.0, False, False)),
        ({"politesse": "fail"}, (0.0, False, True)),  # critical criterion
        ({"empathie": "pass"}, (77.8, True, False)),  # n/a -> pass adds its weight on both sides
        ({"conclusion": "na"}, (85.7, True, False)),  # fail -> n/a drops its weight
        ({"accueil": "fail", "identification": "pass"}, (68.8, False, False)),
        ({"identification": "fail"}, (75.0, True, False)),  # same as the AI: no change
    ],
)
def test_recompute_applies_overrides_to_ai_verdicts(overrides, expected):
    assert reviews.recompute(contract(), overrides, GRID) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"inconnu": "pass"}, "inconnu"), ({"accueil": "ok"}, "invalide")],
)
def test_recompute_refuses_unknown_criterion_or_verdict(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        reviews.recompute(contract(), overrides, GRID)


def test_changed_verdicts_keeps_only_real_changes():
    assert reviews.changed_verdicts(contract(), {"accueil": "pass", "conclusion": "na"}) == {"conclusion": "na"}


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def scored(tenants):
    """Org A: a scored call in team 1 (agent 0) and one in team 2 (agent 1); org B: one call."""
    a, b = tenants
    c1 = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    c2 = make_call(org_id=a.org_id, team_id=a.team_ids[1], agent_id=a.agent_ids[1], result=contract())
    cb = make_call(org_id=b.org_id, team_id=b.team_ids[0], agent_id=b.agent_ids[0], result=contract())
    return a, b, {"team1": c1, "team2": c2, "other_org": cb}


def _validate(actor, call_id, overrides=None, comments=None, **kw):
    with session() as s:
        return reviews.validate_review(session=s, actor=actor, call_id=call_id, overrides=overrides or {},
                                       comments=comments or {}, **kw)


def _open(actor, call_id, log=True):
    with session() as s:
        return reviews.open_call(session=s, actor=actor, call_id=call_id, log=log)


# --- opening ------------------------------------------------------------------------------


def test_open_call_shows_header_transcript_and_evaluation(scored):
    a, _, calls = scored
    view = _open(a.actor("supervisor"), calls["team1"])
    assert view.agent_name == "alpha agent 0"
    assert view.team_name == "Alpha Conseil équipe 1"
    assert (view.ai_score, view.final_score, view.validated) == (75.0, 75.0, False)
    assert view.category == "facturation"
    assert [seg["speaker"] for seg in view.segments] == ["agent", "customer", "agent", "customer"]
    assert "[CARTE]" in view.segments[1]["text"]
    assert {c["id"]: c["final_verdict"] for c in view.criteria}["identification"] == "fail"
    assert view.latest_review is None


@pytest.mark.parametrize(
    ("role", "target", "outcome"),
    [
        ("supervisor", "other_org", NotFound),
        ("admin", "other_org", NotFound),
        ("team_lead", "other_org", NotFound),
        ("team_lead", "team2", NotFound),  # another team of the same organisation
        ("supervisor", "missing", NotFound),
        ("dpo", "team1", AccessDenied),
        ("team_lead", "team1", None),
        ("supervisor", "team2", None),
        ("admin", "team1", None),
    ],
)
def test_open_call_by_id_is_checked_against_organisation_and_team(scored, role, target, outcome):
    a, _, calls = scored
    call_id = calls.get(target, 999_999)
    if outcome is None:
        assert _open(a.actor(role), call_id).call_id == call_id
    else:
        with pytest.raises(outcome) as err:
            _open(a.actor(role), call_id)
        if outcome is NotFound:
            assert str(err.value) == "Appel introuvable."  # a foreign id looks exactly like a missing one


def test_restricted_call_is_refused_in_french_and_the_refusal_logged(tenants):
    a, _ = tenants
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract(),
                    restricted=True)
    with pytest.raises(AccessDenied, match="limité"):
        _open(a.actor("supervisor"), cid)
    with session() as s:
        (entry,) = list_events(session=s, org_id=a.org_id, action="call_opened")
    assert (entry.outcome, entry.target_id) == ("refused", str(cid))


# --- audit --------------------------------------------------------------------------------


def test_open_play_and_validate_are_audited(scored):
    a, _, calls = scored
    sup = a.actor("supervisor")
    cid = calls["team1"]
    _open(sup, cid)
    _open(sup, cid, log=False)  # a rerun of the page does not log a second opening
    with session() as s:
        reviews.record_audio_play(session=s, actor=sup, call_id=cid)
    _validate(sup, cid)
    with session() as s:
        for action in ("call_opened", "audio_played", "call_validated"):
            (entry,) = list_events(session=s, org_id=a.org_id, action=action)
            assert (entry.username, entry.target_type, entry.target_id) == (sup.username, "call", str(cid))


def test_audio_play_of_another_team_is_not_found_and_not_logged(scored):
    a, _, calls = scored
    with session() as s, pytest.raises(NotFound):
        reviews.record_audio_play(session=s, actor=a.actor("team_lead"), call_id=calls["team2"])
    with session() as s:
        assert count_events(session=s, org_id=a.org_id, action="audio_played") == 0


# --- validation ---------------------------------------------------------------------------


def test_validation_stores_review_and_final_scores_but_keeps_ai_values(scored):
    a, _, calls = scored
    sup = a.actor("supervisor")
    cid = calls["team1"]
    with session() as s:
        before = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
    review = _validate(sup, cid, {"identification": "pass", "accueil": "pass"},
                       {"identification": "Le numéro client est demandé à 0:40.", "accueil": "ignoré"},
                       summary="Carte débloquée.", recommendations=["Conclure l'appel.", " "],
                       coaching_note="Bien : reformulation.")
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        rows = {r.criterion_id: r for r in s.exec(select(CriterionResult).where(CriterionResult.call_id == cid))}
        stored = s.get(Review, review.id)
    # the human values
    assert (ev.final_score, ev.final_passed, ev.final_critical_failed, ev.validated) == (87.5, True, False, True)
    assert rows["identification"].final_verdict == "pass"
    assert rows["conclusion"].final_verdict == "fail"
    assert json.loads(stored.overrides_json) == {"identification": "pass"}  # unchanged verdicts are not overrides
    assert json.loads(stored.comments_json) == {"identification": "Le numéro client est demandé à 0:40."}
    assert (stored.reviewer_id, stored.ai_score, stored.final_score) == (sup.user_id, 75.0, 87.5)
    assert json.loads(stored.recommendations_json) == ["Conclure l'appel."]
    assert stored.coaching_note == "Bien : reformulation."
    # the AI values are untouched
    assert (ev.ai_score, ev.ai_passed, ev.result_json) == (75.0, True, before.result_json)
    assert rows["identification"].ai_verdict == "fail"
    view = _open(sup, cid, log=False)
    assert (view.ai_score, view.final_score, view.validated) == (75.0, 87.5, True)
    assert view.latest_review.overrides == {"identification": "pass"}
    assert view.latest_review.coaching_note == "Bien : reformulation."


@pytest.mark.parametrize("comment", [None, "", "   "])
def test_changed_verdict_without_comment_is_refused(scored, comment):
    a, _, calls = scored
    comments = {} if comment is None else {"solution": comment}
    with pytest.raises(InvalidInput, match=r"commentaire est obligatoire.*Solution ou étape suivante"):
        _validate(a.actor("supervisor"), calls["team1"], {"solution": "fail"}, comments)
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == calls["team1"])).one()
        assert (ev.final_score, ev.validated) == (75.0, False)
        assert s.exec(select(Review)).all() == []


@pytest.mark.parametrize(("role", "target"), [("team_lead", "team1"), ("dpo", "team1"), ("admin", "other_org")])
def test_only_supervisors_and_admins_validate_their_own_calls(scored, role, target):
    a, _, calls = scored
    expected = NotFound if target == "other_org" else AccessDenied
    with pytest.raises(expected):
        _validate(a.actor(role), calls[target])


def test_admin_can_validate(scored):
    a, _, calls = scored
    assert _validate(a.actor("admin"), calls["team2"]).final_score == 75.0


def test_second_review_can_revert_an_override(scored):
    a, _, calls = scored
    sup = a.actor("supervisor")
    cid = calls["team1"]
    _validate(sup, cid, {"politesse": "fail"}, {"politesse": "Ton sec à la fin."})
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        assert (ev.final_score, ev.final_critical_failed) == (0.0, True)
    _validate(sup, cid)
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        row = s.exec(select(CriterionResult).where(CriterionResult.call_id == cid,
                                                   CriterionResult.criterion_id == "politesse")).one()
    assert (ev.final_score, ev.final_critical_failed, row.final_verdict) == (75.0, False, "pass")


def _category_rows(cid):
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        kept = [r.category for r in s.exec(select(Review).where(Review.call_id == cid).order_by(Review.id))]
    return ev, kept


def test_a_corrected_category_is_what_the_dashboards_count_and_the_scorers_stays_visible(scored):
    a, _, calls = scored
    sup = a.actor("supervisor")
    cid = calls["team1"]
    _validate(sup, cid, category="resiliation")
    ev, kept = _category_rows(cid)
    assert (ev.category, kept, json.loads(ev.result_json)["category"]) == ("resiliation", ["resiliation"],
                                                                            "facturation")
    view = _open(sup, cid, log=False)
    assert (view.category, view.ai_category) == ("resiliation", "facturation")
    with session() as s:
        entry = list_events(session=s, org_id=a.org_id, action="call_validated")[0]
    assert json.loads(entry.detail_json)["categorie"] == ["facturation", "resiliation"]
    from ccr.core.db import utcnow
    from ccr.dashboards.figures import category_breakdown
    from ccr.dashboards.filters import Filters

    today = utcnow().date()
    with session() as s:
        counted = {r["category"]: r["calls"] for r in category_breakdown(
            session=s, actor=sup, filters=Filters(start=today - timedelta(days=7), end=today))}
    assert counted == {"resiliation": 1, "facturation": 1}  # the other call of the organisation is unchanged
    # A later validation without a category (a dispute's, a calibration's) keeps the correction...
    _validate(sup, cid, {"solution": "fail"}, {"solution": "Pas de solution."})
    assert _category_rows(cid)[0].category == "resiliation"
    # ...and choosing the scorer's category again reverts it, without a "categorie" change in the log.
    _validate(sup, cid, category="facturation")
    ev, kept = _category_rows(cid)
    assert (ev.category, kept) == ("facturation", ["resiliation", "resiliation", "facturation"])
    with session() as s:
        last = list_events(session=s, org_id=a.org_id, action="call_validated")[0]
    assert "categorie" not in json.loads(last.detail_json)


@pytest.mark.parametrize("category", ["inconnue", "Résiliation", "=HYPERLINK(\"x\")"])
def test_a_category_outside_the_organisations_taxonomy_is_refused_and_nothing_stored(scored, category):
    a, _, calls = scored
    with pytest.raises(InvalidInput, match="Catégorie inconnue"):
        _validate(a.actor("supervisor"), calls["team1"], category=category)
    ev, kept = _category_rows(calls["team1"])
    assert (ev.category, ev.validated, kept) == ("facturation", False, [])


def _irritant_rows(cid):
    from ccr.core.models import IrritantHit

    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        hits = sorted((h.label, h.start_s) for h in s.exec(select(IrritantHit).where(IrritantHit.call_id == cid)))
    return ev, hits


def test_corrected_irritants_are_what_the_dashboards_count_and_the_scorers_stay_in_the_result(scored):
    a, _, calls = scored
    sup = a.actor("supervisor")
    cid = calls["team1"]
    assert _irritant_rows(cid)[1] == [("rappels répétés", 4.5)]
    # The supervisor removes the scorer's irritant and adds one it missed.
    _validate(sup, cid, irritants=["attente_delai", "attente_delai", " "])
    ev, hits = _irritant_rows(cid)
    assert (hits, ev.irritant_count) == ([("attente_delai", 0.0)], 1)
    assert [i["label"] for i in json.loads(ev.result_json)["irritants"]] == ["rappels répétés"]
    with session() as s:
        entry = list_events(session=s, org_id=a.org_id, action="call_validated")[0]
        stored = s.exec(select(Review).where(Review.call_id == cid)).one()
    assert json.loads(entry.detail_json)["irritants"] == [["rappels répétés"], ["attente_delai"]]
    assert json.loads(stored.irritants_json) == ["attente_delai"]
    assert _open(sup, cid, log=False).irritants == ["attente_delai"]
    from ccr.core.db import utcnow
    from ccr.dashboards.figures import irritants_over_time
    from ccr.dashboards.filters import Filters

    today = utcnow().date()
    with session() as s:
        counted = {k: n for k, _, n in irritants_over_time(
            session=s, actor=sup, filters=Filters(start=today - timedelta(days=7), end=today))["irritants"]}
    assert counted == {"attente_delai": 1, "rappels répétés": 1}  # the other call keeps the scorer's
    # A validation that says nothing of irritants keeps the correction; keeping the scorer's restores its time.
    _validate(sup, cid)
    assert _irritant_rows(cid)[1] == [("attente_delai", 0.0)]
    _validate(sup, cid, irritants=["rappels répétés"])
    ev, hits = _irritant_rows(cid)
    assert (hits, ev.irritant_count) == ([("rappels répétés", 4.5)], 1)
    _validate(sup, cid, irritants=[])
    assert _irritant_rows(cid)[0].irritant_count == 0


def test_the_review_webhook_carries_the_kept_category_and_irritants(scored):
    a, _, calls = scored
    with session() as s:
        s.add(WebhookEndpoint(org_id=a.org_id, url="https://crm.example/hook", events="review.validated",
                              active=True, secret_sealed=outbox.seal_secret("whsec-essai-0123456789")))
    cid = calls["team1"]
    _validate(a.actor("supervisor"), cid, category="resiliation", irritants=["attente_delai"])
    _validate(a.actor("supervisor"), cid, overrides={"conclusion": "na"}, comments={"conclusion": "Hors sujet."})
    with session() as s:
        sent = [json.loads(e.payload_json)["data"] for e in s.exec(
            select(WebhookEvent).where(WebhookEvent.call_id == cid).order_by(WebhookEvent.id)).all()]
    assert [(d["final_category"], d["final_irritants"], d["changed_criteria"]) for d in sent] == [
        ("resiliation", ["attente_delai"], []), ("resiliation", ["attente_delai"], ["conclusion"])]


def test_an_irritant_outside_the_organisations_taxonomy_is_refused_and_nothing_changed(scored):
    a, _, calls = scored
    with pytest.raises(InvalidInput, match="Irritant inconnu"):
        _validate(a.actor("supervisor"), calls["team1"], irritants=["attente_delai", "=cmd|' /C calc'!A0"])
    ev, hits = _irritant_rows(calls["team1"])
    assert (hits, ev.validated) == ([("rappels répétés", 4.5)], False)


def test_the_scorers_category_doubt_is_shown_only_when_it_flagged_one():
    reason = "Catégorie : « Facturation » incertaine (0,45), de peu devant « Résiliation »"
    assert reviews.category_doubt_of({"category_needs_review": True, "category_review_reason": reason}) == reason
    assert reviews.category_doubt_of({"category_needs_review": False, "category_review_reason": reason}) == ""
    assert reviews.category_doubt_of({"category_review_reason": reason}) == ""  # stored before the field existed
    assert reviews.category_doubt_of({"category_needs_review": True, "category_review_reason": ["x"]}) == ""


def test_dashboards_use_the_validated_score(scored):
    """Dashboards aggregate the current evaluations' final_* columns: they must carry the human score."""
    a, _, calls = scored
    sup = a.actor("supervisor")
    _validate(sup, calls["team1"], {"solution": "fail"}, {"solution": "Aucune solution réelle."})
    with session() as s:
        finals = dict(s.exec(select(Evaluation.call_id, Evaluation.final_score)
                             .where(Evaluation.org_id == a.org_id, Evaluation.is_current == True)).all())  # noqa: E712
    assert finals == {calls["team1"]: 50.0, calls["team2"]: 75.0}
    from ccr.core.db import utcnow
    from ccr.dashboards.agents import criterion_agent_heatmap
    from ccr.dashboards.figures import kpi_tiles
    from ccr.dashboards.filters import Filters

    today = utcnow().date()
    filters = Filters(start=today - timedelta(days=7), end=today)
    with session() as s:
        tiles = {t.key: t.value for t in kpi_tiles(session=s, actor=sup, filters=filters)}
        heat = criterion_agent_heatmap(session=s, actor=sup, filters=filters)
    assert tiles["avg_score"] == pytest.approx(62.5)
    assert tiles["pass_rate"] == pytest.approx(50.0)
    assert tiles["validated_share"] == pytest.approx(50.0)
    cell = next(c for c in heat["cells"] if c["criterion_id"] == "solution" and c["agent_id"] == a.agent_ids[0])
    assert (cell["passed"], cell["applicable"]) == (0, 1)


# --- queue --------------------------------------------------------------------------------


@pytest.fixture
def no_sample(monkeypatch, settings_env):
    monkeypatch.setenv("CCR_REVIEW_SAMPLE_RATE", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_review_queue_lists_calls_worth_a_look_with_reasons(tenants, no_sample):
    a, b = tenants
    t1, ag = a.team_ids[0], a.agent_ids[0]

    def mk(org=a, **kw):
        return make_call(org_id=org.org_id, team_id=org.team_ids[0], agent_id=org.agent_ids[0],
                         result=contract(**kw))

    failed = mk(verdicts={"solution": "fail"})  # 50
    critical = mk(verdicts={"politesse": "fail"})
    unverified = mk(verdicts={"identification": "pass"}, unverified=True)  # 87.5
    near = mk()  # 75 is within 5 points of 70
    good = mk(verdicts={"identification": "pass", "conclusion": "pass"})  # 100
    validated = mk(verdicts={"solution": "fail"})
    mk(org=b, verdicts={"solution": "fail"})
    make_call(org_id=a.org_id, team_id=t1, agent_id=ag, result=contract({"solution": "fail"}), restricted=True)
    _validate(a.actor("supervisor"), validated)
    with session() as s:
        items = reviews.review_queue(session=s, actor=a.actor("supervisor"))
    got = {i.call_id: i.codes for i in items}
    assert got == {critical: ("critical",), failed: ("failed",), unverified: ("unverified",),
                   near: ("near_threshold",)}
    assert good not in got
    assert [i.call_id for i in items][:2] == [critical, failed]  # most urgent first
    assert items[0].reasons == ["Échec critique"]
    assert items[0].agent_name == "alpha agent 0"


def test_the_queue_narrows_to_one_reason_or_one_team(tenants, no_sample):
    a, _ = tenants

    def mk(team=0, **kw):
        return make_call(org_id=a.org_id, team_id=a.team_ids[team], agent_id=a.agent_ids[team],
                         result=contract(**kw))

    failed, critical, near = mk(verdicts={"solution": "fail"}), mk(verdicts={"politesse": "fail"}), mk()
    failed_2 = mk(team=1, verdicts={"solution": "fail"})
    sup = a.actor("supervisor")
    with session() as s:
        only_failed = reviews.review_queue(session=s, actor=sup, reason="failed")
        only_critical = reviews.review_queue(session=s, actor=sup, reason="critical")
        team_2 = reviews.review_queue(session=s, actor=sup, team_id=a.team_ids[1])
        both = reviews.review_queue(session=s, actor=sup, reason="near_threshold", team_id=a.team_ids[0])
        with pytest.raises(InvalidInput, match="Motif inconnu"):
            reviews.review_queue(session=s, actor=sup, reason="drop table")
    assert {i.call_id for i in only_failed} == {failed, failed_2}  # a critical failure has its own reason
    assert [i.call_id for i in only_critical] == [critical]
    assert [i.call_id for i in team_2] == [failed_2]
    assert [i.call_id for i in both] == [near]


ALL_PASS = {"identification": "pass", "conclusion": "pass"}  # 100: passes, far from the threshold
DOUBT = "transcription peu fiable à 00:12"


def test_an_unsure_verdict_enters_the_queue_with_the_scorers_reasons(tenants, no_sample):
    a, _ = tenants

    def mk(**kw):
        return make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract(**kw))

    unsure = mk(verdicts=ALL_PASS, unsure={"solution": (0.42, DOUBT)})
    unsure_failed = mk(verdicts={"solution": "fail"}, unsure={"accueil": (0.3, "formule d'accueil douteuse")})
    failed = mk(verdicts={"solution": "fail"})
    critical = mk(verdicts={"politesse": "fail"})
    sure = mk(verdicts=ALL_PASS, unsure={})  # rated by the scorer, nothing doubtful
    old = mk(verdicts=ALL_PASS)  # scored before the scorer rated its confidence
    checked = mk(verdicts=ALL_PASS, unsure={"solution": (0.42, DOUBT)})
    _validate(a.actor("supervisor"), checked)  # a human has listened: it leaves the queue
    with session() as s:
        items = reviews.review_queue(session=s, actor=a.actor("supervisor"))
    # After critical failures, before plain failures: the score itself may be wrong.
    assert [(i.call_id, i.codes) for i in items] == [
        (critical, ("critical",)),
        (unsure_failed, ("needs_review", "failed")),
        (unsure, ("needs_review",)),
        (failed, ("failed",)),
    ]
    by_id = {i.call_id: i for i in items}
    assert by_id[unsure].reasons == ["Verdict incertain à vérifier"]
    assert by_id[unsure].review_reasons == ("Solution ou étape suivante : transcription peu fiable à 00:12",)
    assert by_id[unsure_failed].reasons == ["Verdict incertain à vérifier", "Échec"]
    assert by_id[unsure_failed].review_reasons == ("Accueil et présentation : formule d'accueil douteuse",)
    assert by_id[failed].review_reasons == ()
    assert not {sure, old, checked} & set(by_id)


def test_within_a_reason_the_calls_whose_result_is_most_likely_wrong_come_first(tenants, no_sample):
    a, _ = tenants
    hour = timedelta(hours=1)

    def mk(age_h, **kw):
        return make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract(**kw),
                         started_at=utcnow() - age_h * hour)

    # Passed at 100: a doubt on one verdict leaves it passed (risk 0); at 80, a doubtful accueil sinks it.
    safe = mk(1, verdicts=ALL_PASS, unsure={"solution": (0.42, DOUBT)})
    at_stake = mk(5, verdicts={"identification": "pass"}, unsure={"accueil": (0.6, DOUBT)})
    old = mk(3, verdicts=ALL_PASS)  # scored before the risk existed, and sure: not in the queue
    older_style = contract(ALL_PASS, unsure={"solution": (0.42, DOUBT)})
    del older_style["result_risk"]  # scored before the risk existed, but flagged
    unknown = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=older_style,
                        started_at=utcnow() - 2 * hour)
    with session() as s:
        items = reviews.review_queue(session=s, actor=a.actor("supervisor"), reason="needs_review")
    assert [i.call_id for i in items] == [at_stake, safe, unknown]  # then the most recent first, as before
    by_id = {i.call_id: i for i in items}
    assert by_id[at_stake].result_risk == pytest.approx(0.4) and by_id[safe].result_risk == 0.0
    assert by_id[unknown].result_risk is None and old not in by_id


def test_open_call_shows_which_criterion_to_verify_and_why(tenants):
    a, _ = tenants
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0],
                    result=contract(ALL_PASS, unsure={"solution": (0.42, DOUBT)}))
    view = _open(a.actor("team_lead"), cid)
    assert view.needs_review is True
    assert view.review_reasons == ["Solution ou étape suivante : transcription peu fiable à 00:12"]
    by_id = {c["id"]: c for c in view.criteria}
    assert {k: by_id["solution"][k] for k in ("confidence", "needs_review", "review_reason")} == {
        "confidence": 0.42, "needs_review": True, "review_reason": DOUBT}
    assert by_id["solution"]["evidence"] == [{"start": 12.0, "speaker": "agent", "text": "je débloque votre carte"}]
    assert {k: by_id["accueil"][k] for k in ("confidence", "needs_review", "review_reason")} == {
        "confidence": 1.0, "needs_review": False, "review_reason": ""}


def test_a_result_stored_before_confidence_existed_still_opens(tenants):
    a, _ = tenants
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    view = _open(a.actor("supervisor"), cid)
    assert (view.needs_review, view.review_reasons) == (False, [])
    assert all((c["confidence"], c["needs_review"], c["review_reason"]) == (None, False, "") for c in view.criteria)
    assert len(view.criteria) == 8


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.42, 0.42), (1, 1.0), (0, 0.0), (None, None), (True, None), ("0.5", None), (1.5, None), (-0.1, None)],
)
def test_confidence_of_accepts_only_a_number_between_0_and_1(value, expected):
    assert reviews.confidence_of({"confidence": value}) == expected


def test_review_reasons_are_french_strings_only_and_only_when_flagged():
    flagged = {"needs_review": True, "review_reasons": ["Accueil : douteux", "", 3, None, "  Politesse : x  "]}
    assert reviews.review_reasons_of(flagged) == ["Accueil : douteux", "Politesse : x"]
    assert reviews.review_reasons_of({"review_reasons": ["Accueil : douteux"]}) == []  # not flagged
    assert reviews.review_reasons_of({"needs_review": True, "review_reasons": "Accueil"}) == []
    assert reviews.review_reasons_of({}) == []


def test_queue_and_recompute_use_the_grid_version_of_the_evaluation(tenants, no_sample):
    from ccr.core.models import Call
    from ccr.core.models import Grid as GridRow
    from ccr.quality.evaluations import store_evaluation
    from ccr.scoring.grid import dump_grid_yaml, new_version

    a, _ = tenants
    strict = new_version(GRID, pass_threshold=90.0)
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=None)
    with session() as s:
        row = GridRow(org_id=a.org_id, slug=strict.id, name=strict.name, version=strict.version,
                      definition_json=dump_grid_yaml(strict))
        s.add(row)
        s.flush()
        result = contract({"identification": "pass"})  # 87.5: passes at 70, 2.5 points under 90
        result["grid_version"] = strict.version
        store_evaluation(session=s, call=s.get(Call, cid), result=result, grid_id=row.id)
    with session() as s:
        (item,) = reviews.review_queue(session=s, actor=a.actor("supervisor"))
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
        assert reviews.grid_of(session=s, evaluation=ev).pass_threshold == 90.0
    assert item.codes == ("near_threshold",)
    review = _validate(a.actor("supervisor"), cid)
    assert (review.final_score, review.final_passed) == (87.5, False)  # judged against the grid's 90


def test_review_queue_is_refused_to_team_leads(tenants):
    a, _ = tenants
    with session() as s, pytest.raises(AccessDenied):
        reviews.review_queue(session=s, actor=a.actor("team_lead"))


def test_calibration_sample_is_deterministic_and_close_to_the_rate(settings_env):
    picked = [cid for cid in range(20_000) if reviews.in_calibration_sample(1, cid, 0.05)]
    assert 0.04 < len(picked) / 20_000 < 0.06
    assert picked == [cid for cid in range(20_000) if reviews.in_calibration_sample(1, cid, 0.05)]
    other_org = {cid for cid in range(20_000) if reviews.in_calibration_sample(2, cid, 0.05)}
    assert other_org != set(picked)  # the sample is not the same set of ids in every organisation
    assert not any(reviews.in_calibration_sample(1, cid, 0.0) for cid in range(1000))


def test_sampled_good_calls_enter_the_queue(tenants, monkeypatch):
    a, _ = tenants
    monkeypatch.setenv("CCR_REVIEW_SAMPLE_RATE", "1.0")
    get_settings.cache_clear()
    good = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0],
                     result=contract({"identification": "pass", "conclusion": "pass"}))
    with session() as s:
        (item,) = reviews.review_queue(session=s, actor=a.actor("admin"))
    assert (item.call_id, item.codes, item.reasons) == (good, ("sample",), ["Échantillon de calibration"])


@pytest.mark.parametrize(("codec", "mime"), [("mp3", "audio/mpeg"), ("WAV", "audio/wav"), (None, "audio/wav")])
def test_audio_mime(codec, mime):
    assert reviews.audio_mime(codec) == mime


def test_low_asr_word_probabilities_send_the_scored_call_to_the_queue_with_the_time_to_hear(tenants, no_sample):
    a, _ = tenants
    from ccr.scoring.score import score_transcript

    turns = [("agent", "Bonjour, Hélène du service clients d'Aquavéo, que puis-je faire pour vous ?"),
             ("customer", "Bonjour, ma carte est bloquée depuis ce matin."),
             ("agent", "Pouvez-vous me donner votre numéro client ?"),
             ("customer", "Oui, le 88 41 20."),
             ("agent", "Je débloque votre carte tout de suite, elle fonctionnera dans une heure."),
             ("agent", "Puis-je faire autre chose pour vous ? Bonne journée, au revoir.")]
    segments = []
    for i, (speaker, text) in enumerate(turns):
        start = 3.0 * i
        seg = {"speaker": speaker, "start": start, "end": start + 2.5, "text": text}
        if i == 4:  # the solution line was barely heard
            seg["words"] = [{"start": start + k * 0.2, "end": start + k * 0.2 + 0.2, "probability": 0.15}
                            for k in range(len(text.split()))]
        segments.append(seg)
    result = score_transcript({"call_id": "x", "duration_s": 20.0, "segments": segments})
    assert result["needs_review"]
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=result,
                    segments=segments)
    with session() as s:
        items = reviews.review_queue(session=s, actor=a.actor("supervisor"))
    item = next(i for i in items if i.call_id == cid)
    assert "needs_review" in item.codes
    assert any(r.startswith("Solution ou étape suivante : transcription peu fiable à 00:12") for r in item.review_reasons)
    view = _open(a.actor("supervisor"), cid)
    solution = next(c for c in view.criteria if c["id"] == "solution")
    assert solution["needs_review"] and solution["review_at"] == 12.0
