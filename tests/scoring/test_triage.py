"""The « à revoir » rule: one definition for the review queue and the calls list, in SQL and in Python."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.models import Call, Evaluation
from ccr.core.models import Grid as GridRow
from ccr.dashboards import call_list
from ccr.dashboards.filters import Filters
from ccr.quality import reviews
from ccr.quality.evaluations import store_evaluation
from ccr.scoring import triage
from ccr.scoring.grid import default_grid, dump_grid_yaml, new_version
from tests.kpidata import add_call, at
from tests.reviewdata import contract, make_call

MARCH = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31), preset="perso")
ALL_PASS = {"identification": "pass", "conclusion": "pass"}  # 100: passes, far from any threshold


def _grid(org_id: int, slug: str, threshold: float, *, active: bool = False, broken: bool = False) -> int:
    grid = new_version(default_grid(), id=slug, pass_threshold=threshold)
    with session() as s:
        row = GridRow(org_id=org_id, slug=slug, name=slug, version=grid.version, is_active=active,
                      definition_json="pas une grille" if broken else dump_grid_yaml(grid))
        s.add(row)
        s.flush()
        return row.id


def _scored_with(grid_id: int, org_id: int, team_id: int, agent_id: int, day: int, verdicts: dict) -> int:
    """A call whose current evaluation was scored with the stored grid ``grid_id``."""
    cid = make_call(org_id=org_id, team_id=team_id, agent_id=agent_id, started_at=at(2026, 3, day), result=None)
    with session() as s:
        store_evaluation(session=s, call=s.get(Call, cid), result=contract(verdicts), grid_id=grid_id)
    return cid


@pytest.fixture
def world(tenants):
    """Org A with every reason, both edges of the margin (5 points), per-grid thresholds; org B beside it."""
    a, b = tenants
    t1, t2 = a.team_ids
    g0, g1 = a.agent_ids[0], a.agent_ids[1]

    def mk(day, **kw):
        return make_call(org_id=a.org_id, team_id=t1, agent_id=g0, started_at=at(2026, 3, day), result=contract(**kw))

    def add(day, score, **kw):
        return add_call(a.org_id, kw.pop("team", t1), g0, at(2026, 3, day), score, **kw)

    _grid(a.org_id, "souple", 60.0, active=True)  # the organisation's active grid: never judges another's calls
    strict = _grid(a.org_id, "stricte", 90.0)
    broken = _grid(a.org_id, "cassee", 90.0, broken=True)
    ids = {
        "failed": mk(2, verdicts={"solution": "fail"}),  # 50
        "critical": mk(3, verdicts={"politesse": "fail"}),
        "unverified": mk(4, verdicts={"identification": "pass"}, unverified=True),  # 87.5
        "unsure": mk(5, verdicts=ALL_PASS, unsure={"solution": (0.4, "transcription peu fiable à 00:12")}),
        "unsure_checked": mk(6, verdicts=ALL_PASS, unsure={"solution": (0.4, "transcription peu fiable")}),
        "good": mk(7, verdicts=ALL_PASS),
        "edge_high": add(8, 75.0),  # exactly threshold + margin: in (the calls list used to leave it out)
        "edge_low": add(9, 65.0),  # exactly threshold - margin, and failed
        "just_above": add(10, 75.5),
        "team2_failed": add(11, 40.0, team=t2),
        "validated_failed": add(12, 40.0, validated=True),
        "restricted_failed": add(13, 40.0, restricted=True),
        "superseded_failed": add(14, 40.0, is_current=False),
        "strict_near": _scored_with(strict, a.org_id, t1, g1, 15, {"identification": "pass"}),  # 87.5, 2.5 under 90
        "lenient_far": mk(16, verdicts={"identification": "pass"}),  # 87.5 on the built-in grid (70)
        "broken_grid": _scored_with(broken, a.org_id, t1, g1, 17, {}),  # 75.0: judged on the built-in 70
        "other_org": make_call(org_id=b.org_id, team_id=b.team_ids[0], agent_id=b.agent_ids[0],
                               started_at=at(2026, 3, 18), result=contract({"solution": "fail"})),
    }
    with session() as s:
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=ids["unsure_checked"], overrides={},
                                comments={})
    return a, b, ids


TO_REVIEW = {"failed": ("failed",), "critical": ("critical",), "unverified": ("unverified",),
             "unsure": ("needs_review",), "edge_high": ("near_threshold",), "edge_low": ("failed", "near_threshold"),
             "team2_failed": ("failed",), "strict_near": ("near_threshold",), "broken_grid": ("near_threshold",)}


@pytest.fixture
def sample_rate(monkeypatch, settings_env, request):
    monkeypatch.setenv("CCR_REVIEW_SAMPLE_RATE", request.param)
    get_settings.cache_clear()
    yield float(request.param)
    get_settings.cache_clear()


@pytest.mark.parametrize("sample_rate", ["0", "1.0"], indirect=True, ids=["sans-echantillon", "tout-echantillon"])
def test_the_calls_list_filter_is_the_review_queue_without_its_sample(world, sample_rate):
    a, _b, ids = world
    admin = a.actor("admin")
    with session() as s:
        rows, total, _ = call_list.list_calls(session=s, actor=admin, filters=MARCH, to_review=True, page_size=200)
        queue = reviews.review_queue(session=s, actor=admin, limit=10_000)
    listed = {r["call_id"] for r in rows}
    sample_only = {i.call_id for i in queue if i.codes == (triage.SAMPLE,)}
    assert listed == {i.call_id for i in queue} - sample_only
    assert total == len(listed)
    name = {v: k for k, v in ids.items()}
    assert {name[i.call_id]: tuple(c for c in i.codes if c != triage.SAMPLE) for i in queue
            if i.call_id not in sample_only} == TO_REVIEW
    if sample_rate:
        assert {name[c] for c in sample_only} == {"good", "just_above", "lenient_far"}
    else:
        assert sample_only == set()


def test_the_calls_list_flag_is_the_filter(world):
    a, _b, ids = world
    admin = a.actor("admin")
    with session() as s:
        every, _, _ = call_list.list_calls(session=s, actor=admin, filters=MARCH, page_size=200)
        flagged, _, _ = call_list.list_calls(session=s, actor=admin, filters=MARCH, to_review=True, page_size=200)
    assert {r["call_id"] for r in every if r["to_review"]} == {r["call_id"] for r in flagged}
    assert {r["call_id"] for r in flagged} == {ids[k] for k in TO_REVIEW}


def test_sql_and_python_agree_on_every_evaluation(world):
    a, _b, _ids = world
    margin = get_settings().review_margin
    with session() as s:
        thresholds = triage.grid_thresholds(s, a.org_id)
        rows = s.exec(select(Evaluation).where(Evaluation.org_id == a.org_id)).all()
        matched = set(s.exec(select(Evaluation.id).where(Evaluation.org_id == a.org_id,
                                                         triage.review_condition(thresholds, margin))).all())
    assert len(rows) > 15
    assert {r.id for r in rows if triage.review_codes(r, thresholds, margin)} == matched


@pytest.mark.parametrize("score", [69.9, 70.1, 69.89999999999999, 70.10000000000001, 70.2, 69.8, 70.0])
def test_sql_and_python_agree_at_the_edges_of_a_tiny_margin(tenants, score):
    """Float edges: SQL computes |score - threshold| <= margin exactly as Python does."""
    a, _b = tenants
    add_call(a.org_id, a.team_ids[0], a.agent_ids[0], at(2026, 3, 2), score, passed=True)
    thresholds = {None: 70.0}
    with session() as s:
        row = s.exec(select(Evaluation).where(Evaluation.org_id == a.org_id)).one()
        in_sql = s.exec(select(Evaluation.id).where(Evaluation.id == row.id,
                                                    triage.review_condition(thresholds, 0.1))).first() is not None
    assert in_sql == bool(triage.review_codes(row, thresholds, 0.1))


def test_grid_thresholds_are_the_organisations_own(tenants):
    a, b = tenants
    strict = _grid(a.org_id, "stricte", 90.0)
    broken = _grid(a.org_id, "cassee", 90.0, broken=True)
    foreign = _grid(b.org_id, "etrangere", 50.0)
    builtin = default_grid().pass_threshold
    with session() as s:
        every = triage.grid_thresholds(s, a.org_id)
        some = triage.grid_thresholds(s, a.org_id, {foreign})
    assert every == {None: builtin, strict: 90.0}  # a broken grid is left to the built-in threshold
    assert some == {None: builtin}  # another organisation's grid is never read
    assert triage.threshold_for(every, broken) == triage.threshold_for(every, None) == builtin
    assert triage.threshold_for(every, strict) == 90.0


class Row:
    """An evaluation row as the queue reads it; defaults: unvalidated, passed at 100 on the built-in grid."""

    def __init__(self, **kw):
        self.validated, self.grid_id, self.final_score, self.final_passed = False, None, 100.0, True
        self.final_critical_failed, self.needs_review, self.unverified = False, False, False
        self.__dict__.update(kw)


@pytest.mark.parametrize(("row", "codes"), [
    (Row(), ()),
    (Row(validated=True, final_passed=False, final_score=10.0), ()),
    (Row(final_passed=False, final_score=50.0), ("failed",)),
    # A critical failure is only "critical", even near the threshold: it fails whatever the score.
    (Row(final_passed=False, final_critical_failed=True, final_score=72.0), ("critical",)),
    (Row(final_passed=False, final_score=66.0, needs_review=True, unverified=True),
     ("needs_review", "failed", "unverified", "near_threshold")),
    (Row(final_score=87.5, grid_id=7), ("near_threshold",)),
    (Row(final_score=87.5, grid_id=8), ()),  # a grid id without a stored threshold: the built-in one
])
def test_reason_codes_come_in_queue_order(row, codes):
    assert triage.review_codes(row, {None: 70.0, 7: 90.0}, 5.0) == codes
    assert list(triage.REASONS) == ["critical", "needs_review", "failed", "unverified", "near_threshold", "sample"]
