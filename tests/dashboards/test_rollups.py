"""Dashboard rollups: every figure read from them equals the live SQL figure, before and after each change."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.models import Call, RollupDirty, RollupTeamDay
from ccr.dashboards import rollups
from ccr.dashboards.agents import agent_ranking, criterion_agent_heatmap, talk_listen_by_agent, weakest_criteria
from ccr.dashboards.figures import category_breakdown, irritants_over_time, kpi_tiles, score_distribution, score_trend
from ccr.dashboards.filters import filters_from_query
from ccr.dashboards.rollups import refresh_pending, refresh_rollups, rollups_ready, split_period
from ccr.privacy import retention, subjects
from ccr.quality import reviews
from tests.kpidata import add_call
from tests.reviewdata import contract, make_call

START = date(2025, 12, 1)  # 4 months of data, with the spring DST change (29 March 2026) inside
DAYS = 130
TODAY = START + timedelta(days=DAYS - 1)
CRITERIA = ("accueil", "identification", "empathie", "solution")
IRRITANTS = ("attente_delai", "relances", "menace_depart")
CATEGORIES = ("facturation", "livraison", None)


def _instant(rng: random.Random, d: date) -> datetime:
    # Some calls just before or after local midnight: the local day and the UTC day then differ.
    hour = rng.choice([0, 8, 10, 14, 17, 21, 22, 23])
    return datetime(d.year, d.month, d.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=UTC)


@pytest.fixture
def world(tenants):
    """Org A: 300 random calls (restricted, superseded, na verdicts, irritants, missing metrics) and 6
    stored through the scorer's path (reviewable); org B: a few calls that must never show."""
    a, b = tenants
    rng = random.Random(20260331)
    agents = [(aid, a.team_ids[i % 2]) for i, aid in enumerate(a.agent_ids)] + [(None, a.team_ids[0]), (None, None)]
    for _ in range(300):
        agent, team = rng.choice(agents)
        d = START + timedelta(days=rng.randrange(DAYS))
        duration = rng.choice([None, 120.0, 300.0, 610.5])
        add_call(a.org_id, team, agent, _instant(rng, d), round(rng.uniform(0, 100), 1),
                 critical=rng.random() < 0.1, validated=rng.random() < 0.2,
                 verdicts={c: rng.choice(("pass", "pass", "fail", "na")) for c in rng.sample(CRITERIA, 3)},
                 irritants=rng.sample(IRRITANTS, rng.choice((0, 0, 1, 2))), category=rng.choice(CATEGORIES),
                 duration=duration, silence=None if rng.random() < 0.2 else 12.0,
                 agent_talk=None if rng.random() < 0.2 else 50.0, customer_talk=rng.choice((None, 40.0)),
                 restricted=rng.random() < 0.05, is_current=rng.random() > 0.05)
    for _ in range(5):
        add_call(b.org_id, b.team_ids[0], b.agent_ids[0], _instant(rng, START + timedelta(days=rng.randrange(DAYS))),
                 10.0, verdicts={"accueil": "fail"}, irritants=["relances"])
    scored = [make_call(org_id=a.org_id, team_id=a.team_ids[i % 2], agent_id=a.agent_ids[i % 4], result=contract(),
                        started_at=_instant(rng, START + timedelta(days=20 + 15 * i))) for i in range(6)]
    with session() as s:  # imported as they happened: the purge below counts from the call dates
        s.execute(update(Call).values(created_at=Call.started_at))
    return a, b, scored


def _use_rollups(monkeypatch, on: bool) -> None:
    monkeypatch.setenv("CCR_DASHBOARD_ROLLUPS", "true" if on else "false")
    get_settings.cache_clear()


def _figures(actor, filters) -> dict:
    out = {}
    with session() as s:
        ranking = agent_ranking(session=s, actor=actor, filters=filters)
        weakest = [r["agent_id"] for r in reversed(ranking)][:2]
        out["ranking"] = ranking
        out["tiles"] = [dataclasses.asdict(t) for t in kpi_tiles(session=s, actor=actor, filters=filters)]
        for gran in ("auto", "day", "week"):
            out[f"trend_{gran}"] = score_trend(session=s, actor=actor, filters=filters, granularity=gran)
            out[f"irritants_{gran}"] = irritants_over_time(session=s, actor=actor, filters=filters,
                                                           granularity=gran)
        out["distribution"] = score_distribution(session=s, actor=actor, filters=filters)
        out["talk"] = talk_listen_by_agent(session=s, actor=actor, filters=filters)
        out["heatmap"] = criterion_agent_heatmap(session=s, actor=actor, filters=filters)
        out["heatmap_weakest"] = criterion_agent_heatmap(session=s, actor=actor, filters=filters,
                                                         agent_ids=weakest)
        out["weakest"] = weakest_criteria(session=s, actor=actor, filters=filters)
        out["categories"] = category_breakdown(session=s, actor=actor, filters=filters)
    return out


def _same(x, y, path="") -> None:
    """Equal, floats up to summation order (the rollups add partial sums in another order)."""
    if isinstance(x, float) or isinstance(y, float):
        assert x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (path, x, y)
    elif isinstance(x, dict):
        assert isinstance(y, dict) and x.keys() == y.keys(), (path, x, y)
        for k in x:
            _same(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, (list, tuple)):
        assert isinstance(y, (list, tuple)) and len(x) == len(y), (path, x, y)
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _same(u, v, f"{path}[{i}]")
    else:
        assert x == y, (path, x, y)


def _views(a) -> list:
    admin, lead = a.actor("admin"), a.actor("team_lead")
    q = filters_from_query
    return [
        (admin, q({"periode": "perso", "du": START.isoformat(), "au": TODAY.isoformat()}, admin, TODAY)),
        (admin, q({"periode": "perso", "du": "2025-12-03", "au": "2026-03-31"}, admin, TODAY)),  # DST inside
        (admin, q({"periode": "30j"}, admin, TODAY)),
        (admin, q({"periode": "7j", "equipe": str(a.team_ids[1])}, admin, TODAY)),
        (admin, q({"periode": "perso", "du": "2026-01-05", "au": "2026-02-01"}, admin, TODAY)),  # whole weeks
        (admin, q({"periode": "perso", "du": "2026-02-11", "au": "2026-02-11"}, admin, TODAY)),  # one day
        (lead, q({"periode": "perso", "du": START.isoformat(), "au": TODAY.isoformat()}, lead, TODAY)),
        (lead, q({"periode": "mois", "equipe": ",".join(map(str, a.team_ids))}, lead, TODAY)),
    ]


def _assert_rollups_match_live(monkeypatch, a) -> None:
    """Refresh as the background refresher does, then compare each view's rollup figures with live ones."""
    _use_rollups(monkeypatch, True)
    refresh_pending()
    with session() as s:
        assert rollups_ready(s, a.org_id)  # else the "rollup" figures below would be live ones too
    for actor, filters in _views(a):
        _use_rollups(monkeypatch, False)
        live = _figures(actor, filters)
        _use_rollups(monkeypatch, True)
        _same(_figures(actor, filters), live, f"{actor.role} {filters}")


def _dirty_days(org_id: int) -> list[date]:
    with session() as s:
        return list(s.exec(select(RollupDirty.day).where(RollupDirty.org_id == org_id)).all())


def _calls_of(org_id: int) -> int:
    with session() as s:
        refresh_rollups(session=s, org_id=org_id)
        return sum(r.calls for r in s.query(RollupTeamDay).filter(RollupTeamDay.org_id == org_id))


@pytest.mark.parametrize(("start", "end", "weeks", "edges"), [
    (date(2026, 1, 5), date(2026, 2, 1), (date(2026, 1, 5), date(2026, 1, 26)), []),
    (date(2026, 1, 7), date(2026, 2, 3), (date(2026, 1, 12), date(2026, 1, 26)),
     [(date(2026, 1, 7), date(2026, 1, 11)), (date(2026, 2, 2), date(2026, 2, 3))]),
    (date(2026, 1, 7), date(2026, 1, 12), None, [(date(2026, 1, 7), date(2026, 1, 12))]),
    (date(2026, 2, 11), date(2026, 2, 11), None, [(date(2026, 2, 11), date(2026, 2, 11))]),
])
def test_split_period_into_whole_weeks_and_edge_days(start, end, weeks, edges):
    assert split_period(start, end) == (weeks, edges)


@pytest.mark.parametrize(("start", "end", "months", "edges"), [
    (date(2026, 1, 1), date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 1)), []),
    (date(2025, 12, 3), date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 1)),
     [(date(2025, 12, 3), date(2025, 12, 31))]),
    (date(2025, 12, 3), date(2026, 4, 9), (date(2026, 1, 1), date(2026, 3, 1)),
     [(date(2025, 12, 3), date(2025, 12, 31)), (date(2026, 4, 1), date(2026, 4, 9))]),
    (date(2026, 2, 1), date(2026, 2, 28), (date(2026, 2, 1), date(2026, 2, 1)), []),  # February, whole
    (date(2026, 2, 2), date(2026, 3, 30), None, [(date(2026, 2, 2), date(2026, 3, 30))]),
    (date(2026, 1, 31), date(2026, 2, 27), None, [(date(2026, 1, 31), date(2026, 2, 27))]),
])
def test_split_months_into_whole_months_and_edge_days(start, end, months, edges):
    assert rollups.split_months(start, end) == (months, edges)


def test_rollups_of_an_older_layout_get_their_month_rows_from_the_day_rows(monkeypatch, world):
    from sqlalchemy import delete

    from ccr.core.models import RollupAgent, RollupCategory, RollupState

    a, _b, _scored = world
    _assert_rollups_match_live(monkeypatch, a)
    with session() as s:  # as an organisation rolled up before month rows existed
        for model in (RollupAgent, RollupCategory):
            s.exec(delete(model).where(model.span == "m"))
        s.exec(update(RollupState).values(layout=1))
    with session() as s:
        assert not rollups_ready(s, a.org_id)  # the readers use the base tables meanwhile
    _assert_rollups_match_live(monkeypatch, a)  # the refresher adds the month rows, then they are read
    with session() as s:
        months = s.exec(select(RollupAgent.day).where(RollupAgent.org_id == a.org_id, RollupAgent.span == "m")
                        .distinct()).all()
    assert sorted(months) == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1),
                              date(2026, 4, 1)]


def test_rollup_figures_equal_live_figures(monkeypatch, world):
    a, _b, _scored = world
    _assert_rollups_match_live(monkeypatch, a)


def test_rollups_follow_every_change_at_once(monkeypatch, world):
    a, _b, scored = world
    dpo = a.actor("dpo")
    _assert_rollups_match_live(monkeypatch, a)  # rollups built: what follows are incremental refreshes
    before = _calls_of(a.org_id)

    with session() as s:  # a supervisor fails two criteria of a scored call
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=scored[0],
                                overrides={"accueil": "fail", "solution": "fail"},
                                comments={"accueil": "Pas de présentation.", "solution": "Pas de solution."})
    _assert_rollups_match_live(monkeypatch, a)

    with session() as s:  # the DPO restricts two calls, then lifts one restriction
        subjects.set_restriction(session=s, actor=dpo, restricted=True, call_ids=scored[1:3])
    assert _calls_of(a.org_id) == before - 2
    _assert_rollups_match_live(monkeypatch, a)
    with session() as s:
        subjects.set_restriction(session=s, actor=dpo, restricted=False, call_ids=scored[1:2])
    _assert_rollups_match_live(monkeypatch, a)

    with session() as s:  # a call is moved to an agent of the other team
        subjects.rectify_call(session=s, actor=dpo, call_id=scored[3], agent_id=a.agent_ids[1])
    _assert_rollups_match_live(monkeypatch, a)

    with session() as s:  # a new evaluation of an already scored call supersedes the previous one
        from ccr.core.models import Call
        from ccr.quality.evaluations import store_evaluation

        store_evaluation(session=s, call=s.get(Call, scored[4]), result=contract({"politesse": "fail"}),
                         grid_id=None)
    _assert_rollups_match_live(monkeypatch, a)

    with session() as s:  # erasure of an agent: their calls go
        subject = subjects.resolve_subject(session=s, actor=dpo, agent_id=a.agent_ids[3])
    subjects.erase_subject(actor=dpo, confirmation=subjects.confirmation_phrase(subject), agent_id=a.agent_ids[3])
    _assert_rollups_match_live(monkeypatch, a)

    # the purge: a year after mid-December, the oldest evaluations are folded into the statistics
    run = retention.run_purge(now=datetime(2026, 12, 15, 12, tzinfo=UTC))
    assert json.loads(run.deleted_json)["evaluations"] > 0
    with session() as s:  # the purge rebuilt the days it emptied itself, before any dashboard reads them
        assert s.exec(select(RollupDirty).where(RollupDirty.org_id == a.org_id)).all() == []
    _assert_rollups_match_live(monkeypatch, a)


def test_a_reader_never_refreshes_and_reads_the_base_tables_while_a_day_is_marked(monkeypatch, world):
    """A page run takes no write lock: the marked day stays marked, and the figures are still exact."""
    a, _b, scored = world
    _assert_rollups_match_live(monkeypatch, a)
    with session() as s:
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=scored[0],
                                overrides={"accueil": "fail"}, comments={"accueil": "Pas de présentation."})
    marked = _dirty_days(a.org_id)
    assert marked
    for actor, filters in _views(a)[:3]:
        _use_rollups(monkeypatch, False)
        live = _figures(actor, filters)
        _use_rollups(monkeypatch, True)
        _same(_figures(actor, filters), live, f"{actor.role} {filters}")
    assert _dirty_days(a.org_id) == marked
    with session() as s:
        assert not rollups_ready(s, a.org_id)


def test_a_commit_that_marks_a_day_wakes_the_refresher(world):
    a, _b, scored = world
    rollups.CHANGED.clear()
    with session() as s:
        reviews.validate_review(session=s, actor=a.actor("supervisor"), call_id=scored[1],
                                overrides={"accueil": "fail"}, comments={"accueil": "Pas de présentation."})
        assert not rollups.CHANGED.is_set()  # not before the commit: the refresher would find nothing yet
    assert rollups.CHANGED.is_set()


def test_a_first_build_runs_in_batches_and_readers_use_the_base_tables_meanwhile(monkeypatch, world):
    a, _b, _scored = world
    _use_rollups(monkeypatch, True)
    with session() as s:  # one batch of a first build, as the refresher's first transaction does
        first = refresh_rollups(session=s, org_id=a.org_id, max_days=10)
    assert first == 10
    left = _dirty_days(a.org_id)
    assert len(left) > 50  # the other days stay marked for the next transactions
    with session() as s:
        assert not rollups_ready(s, a.org_id)
    assert refresh_pending(batch_days=10) >= len(left)  # the other organisation's first build too
    assert _dirty_days(a.org_id) == []
    _assert_rollups_match_live(monkeypatch, a)


def test_a_timezone_change_rebuilds_the_rollups(monkeypatch, world):
    a, _b, _scored = world
    _assert_rollups_match_live(monkeypatch, a)
    monkeypatch.setenv("CCR_TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    _assert_rollups_match_live(monkeypatch, a)


def test_a_first_rebuild_covers_the_days_of_evaluations_not_the_span_between_them(tenants):
    """A call dated years before the others (old data with an absurd date) costs its own day, not a decade."""
    a, _ = tenants
    for when in (datetime(2016, 6, 20, 23, 30, tzinfo=UTC), datetime(2026, 6, 15, 10, tzinfo=UTC),
                 datetime(2026, 6, 15, 22, 30, tzinfo=UTC)):  # 00:30 on the 16th in Paris
        add_call(a.org_id, a.team_ids[0], a.agent_ids[0], when, 80.0)
    with session() as s:
        rebuilt = refresh_rollups(session=s, org_id=a.org_id)
        days = sorted(s.exec(select(RollupTeamDay.day).where(RollupTeamDay.org_id == a.org_id)).all())
    assert rebuilt <= 4, rebuilt
    assert days == [date(2016, 6, 21), date(2026, 6, 15), date(2026, 6, 16)]
