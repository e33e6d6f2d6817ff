"""The calls list: scope, filters, sorts, pagination, full-text search and the « à revoir » flag."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from ccr.core.db import session
from ccr.core.models import Evaluation
from ccr.dashboards import call_list
from ccr.dashboards.rollups import mark_dirty, refresh_rollups, rollups_ready
from tests.kpidata import at, march


def calls(actor, **kw):
    params = kw.pop("params", {})
    with session() as s:
        rows, total, _ = call_list.list_calls(session=s, actor=actor, filters=march(actor, **params), **kw)
    return [r["call_id"] for r in rows], total


def test_calls_list_excludes_restricted_and_superseded(data):
    a, _b, ids = data
    got, total = calls(a.actor("admin"))
    assert got == [ids["c4"], ids["c3"], ids["c2"], ids["c1"]] and total == 4


@pytest.mark.parametrize(("kw", "expected"), [
    ({"score_min": 60, "score_max": 85}, ["c4", "c1"]),
    ({"status": "valide"}, ["c4", "c1"]),
    ({"status": "a_valider"}, ["c3", "c2"]),
    ({"status": "non_conforme"}, ["c2"]),
    ({"status": "critique"}, ["c2"]),
    ({"irritant": "relances"}, ["c2"]),
    ({"failed_criterion": "accueil"}, ["c2"]),
    ({"failed_criterion": "identification"}, ["c4"]),
    ({"to_review": True}, ["c2"]),  # not validated and critical; c3 (90) is far from the threshold
    ({"sort": "score_asc"}, ["c2", "c4", "c1", "c3"]),
    ({"sort": "duree_desc"}, ["c4", "c1", "c2", "c3"]),
    ({"sort": "ancien"}, ["c1", "c2", "c3", "c4"]),
])
def test_calls_list_filters_and_sorts(kw, expected, data):
    a, _b, ids = data
    got, total = calls(a.actor("admin"), **kw)
    assert got == [ids[k] for k in expected] and total == len(expected)


def test_calls_list_is_paginated_in_the_database(data):
    a, _b, ids = data
    page1, total = calls(a.actor("admin"), page=1, page_size=3)
    page2, _ = calls(a.actor("admin"), page=2, page_size=3)
    assert total == 4 and page1 == [ids["c4"], ids["c3"], ids["c2"]] and page2 == [ids["c1"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("remboursement", {"c1", "c4"}),
    ("REMBOURSEMENT facture", {"c1"}),
    ("retard", {"c2", "c4"}),
    ("rétard", {"c2", "c4"}),  # accents are folded by the index (PostgreSQL: configuration ccr_french)
    ('remboursement" OR "colis', set()),  # quotes cannot smuggle an OR in: "or" is a word to find
    ("NEAR(remboursement facture) *", set()),  # likewise NEAR
    ("facture -remboursement", {"c1"}),
    ("^:()*", None),  # nothing searchable: no search at all
])
@pytest.mark.parametrize("dense", [False, True], ids=["mots-rares", "mots-courants"])
def test_full_text_search_quotes_the_users_words(query, expected, dense, data, monkeypatch):
    # "dense" forces the common-word plan (date-index walk with a per-call check): same answers.
    monkeypatch.setattr(call_list, "_dense_search", lambda *_a, **_k: dense)
    a, _b, ids = data
    got, _ = calls(a.actor("admin"), search=query)
    if expected is None:
        assert len(got) == 4
    else:
        assert set(got) == {ids[k] for k in expected}


@pytest.mark.parametrize("dense", [False, True], ids=["mots-rares", "mots-courants"])
def test_both_search_plans_respect_the_team_leads_scope_and_order(dense, data, monkeypatch):
    monkeypatch.setattr(call_list, "_dense_search", lambda *_a, **_k: dense)
    a, _b, ids = data
    assert calls(a.actor("team_lead"), search="remboursement")[0] == [ids["c1"]]
    assert calls(a.actor("admin"), search="remboursement", sort="ancien")[0] == [ids["c1"], ids["c4"]]


def test_full_text_search_stays_in_the_team_leads_scope(data):
    a, _b, ids = data
    got, _ = calls(a.actor("team_lead"), search="remboursement")
    assert got == [ids["c1"]]  # c4 (team 2), the restricted call and org B's call also match


def test_calls_rows_carry_display_fields(data):
    a, _b, ids = data
    with session() as s:
        rows, _, _ = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                       sort="ancien")
    first = rows[0]
    assert first["call_id"] == ids["c1"] and first["agent"] == "alpha agent 0"
    assert first["category"] == "Facturation" and first["direction"] == "Entrant"
    assert first["score"] == 80 and first["validated"] and not first["to_review"]


@pytest.mark.parametrize(("text_in", "expected"), [
    ("facture", '"facture"'),
    ('a" OR "b', '"a" "OR" "b"'),
    ("NEAR(x y)", '"NEAR" "x" "y"'),
    ("", ""),
    ("l'été", '"l" "été"'),
])
def test_fts_query_quotes_every_term(text_in, expected):
    assert call_list.fts_query(text_in) == expected


@pytest.mark.parametrize("dense", [False, True], ids=["mots-rares", "mots-courants"])
def test_a_broad_search_counts_up_to_a_cap(dense, data, monkeypatch):
    a, _b, ids = data
    monkeypatch.setattr(call_list, "_dense_search", lambda *_a, **_k: dense)
    monkeypatch.setattr(call_list, "SEARCH_COUNT_CAP", 1)
    with session() as s:
        page = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                    search="remboursement")
    # The page is whole; the count stopped at 1, and says "at least 2", the matches already on the page.
    assert {r["call_id"] for r in page.rows} == {ids["c1"], ids["c4"]}
    assert (page.total, page.count) == (2, "at_least")
    with session() as s:
        page = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                    search="colis")
    assert not page.capped and page.total == 1


def test_a_common_words_count_walks_a_bounded_window_and_says_more(data, monkeypatch):
    a, _b, ids = data
    monkeypatch.setattr(call_list, "_dense_search", lambda *_a, **_k: True)
    monkeypatch.setattr(call_list, "SEARCH_COUNT_WINDOW", 2)  # the two newest calls: c4 (a match) and c3
    with session() as s:
        page = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                    search="remboursement")
    assert [r["call_id"] for r in page.rows] == [ids["c4"], ids["c1"]]
    assert (page.total, page.count) == (2, "at_least")  # one found in the window, two on the page
    monkeypatch.setattr(call_list, "SEARCH_COUNT_WINDOW", 4)  # the whole view: an exact count
    with session() as s:
        page = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                    search="remboursement")
    assert not page.capped and page.total == 2


def test_the_plan_follows_how_common_the_word_is(data):
    from sqlalchemy import text

    from ccr.dashboards.buckets import dialect

    with session() as s:
        if dialect(s) != "sqlite":
            s.exec(text("ANALYZE transcript"))  # the statistics the estimate reads
        # 4 transcripts of 5 hold « remboursement », 1 « colis », none « zygote »: with pages of 20 calls,
        # the walk wins from sqrt(20 × 5 / GIN_VISIT_COST) = 3.8 matches on
        assert call_list._dense_search(s, "remboursement", page_size=20)
        assert not call_list._dense_search(s, "colis", page_size=20)
        assert not call_list._dense_search(s, "zygote", page_size=20)
        assert not call_list._dense_search(s, "^:()*", page_size=20)


def _built(org_id):
    with session() as s:
        refresh_rollups(session=s, org_id=org_id)


@pytest.mark.parametrize("kw", [{}, {"status": "valide"}, {"status": "a_valider"}, {"status": "conforme"},
                                {"status": "non_conforme"}, {"status": "critique"}, {"irritant": "attente_delai"},
                                {"irritant": "relances"}, {"params": {"equipe": "1"}}])
@pytest.mark.parametrize("who", ["admin", "team_lead"])
def test_the_rollups_count_the_view_exactly_as_the_rows_do(kw, who, data):
    a, _b, _ids = data
    _built(a.org_id)
    actor = a.actor(who)
    if "params" in kw:
        kw = {"params": {"equipe": str(a.team_ids[0])}}
    with session() as s:
        assert rollups_ready(s, a.org_id)
        page = call_list.list_calls(session=s, actor=actor, filters=march(actor, **kw.get("params", {})),
                                    page_size=200, **{k: v for k, v in kw.items() if k != "params"})
    assert not page.capped and page.total == len(page.rows)


def test_rollups_marked_stale_are_not_trusted_for_the_count(data):
    a, _b, ids = data
    _built(a.org_id)
    with session() as s:
        # A change not yet rolled up (its day marked, as every write path does): the count reads the rows.
        s.exec(update(Evaluation).where(Evaluation.call_id == ids["c3"]).values(restricted=True))
        mark_dirty(s, a.org_id, [at(2026, 3, 10)])
    assert calls(a.actor("admin")) == ([ids["c4"], ids["c2"], ids["c1"]], 3)


def test_filters_the_rollups_cannot_count_stop_at_a_cap(data, monkeypatch):
    a, _b, _ids = data
    _built(a.org_id)
    monkeypatch.setattr(call_list, "LIST_COUNT_CAP", 2)
    with session() as s:
        capped = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                      score_min=0)
        exact = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")))
    assert (capped.total, capped.count, len(capped.rows)) == (4, "at_least", 4)  # the page shows 4
    assert (exact.total, exact.count) == (4, "exact")  # from the rollups, past the cap
    with session() as s:
        more = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")),
                                    score_min=0, page_size=1)
    assert (more.total, more.count, len(more.rows)) == (2, "more_than", 1)


def test_a_plain_failure_not_yet_validated_is_to_review(data):
    """Same reasons as the review queue: a failed call (score far below the threshold) needs a human look."""
    from sqlmodel import select

    from ccr.core.models import Evaluation

    a, _b, ids = data
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == ids["c3"], Evaluation.is_current == True)).one()  # noqa: E712
        ev.ai_score = ev.final_score = 30.0
        ev.ai_passed = ev.final_passed = False
        s.add(ev)
    got, _ = calls(a.actor("admin"), to_review=True)
    assert got == [ids["c3"], ids["c2"]]


def test_an_unsure_verdict_stored_by_the_scorer_is_to_review(data):
    """A passing call far from the threshold still needs a human look when the scorer doubts a verdict."""
    from tests.reviewdata import contract, make_call

    a, _b, ids = data
    all_pass = {"identification": "pass", "conclusion": "pass"}  # 100
    unsure = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], started_at=at(2026, 3, 20),
                       result=contract(all_pass, unsure={"solution": (0.4, "transcription peu fiable à 00:12")}))
    sure = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], started_at=at(2026, 3, 21),
                     result=contract(all_pass, unsure={}))
    got, total = calls(a.actor("admin"), to_review=True)
    assert got == [unsure, ids["c2"]] and total == 2
    with session() as s:
        rows, _, _ = call_list.list_calls(session=s, actor=a.actor("admin"), filters=march(a.actor("admin")))
    flags = {r["call_id"]: r["to_review"] for r in rows}
    assert (flags[unsure], flags[sure]) == (True, False)
