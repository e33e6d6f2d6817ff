"""The evaluation scope: the reproducible quota draw, announced periods, exclusions, requests and the DPO's bilan."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from ccr.core import storage
from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import Agent, AuditLog, Call, Grid, ScopePolicy
from ccr.dashboards.call_list import list_calls
from ccr.dashboards.filters import Filters
from ccr.pipeline import queue, steps
from ccr.pipeline.ingest import ingest_files
from ccr.privacy.subjects import set_restriction
from ccr.quality import scope
from tests.audiodata import cut_wav
from tests.conftest import count_rows
from tests.pipeline.calldata import call_row, claim, transcribed_call

MAY = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)


def _files(n: int, first: int = 0) -> list[tuple[str, bytes]]:
    """``n`` distinct short recordings (each a different slice of one call)."""
    return [(f"enr{i}.wav", cut_wav("a01-000.wav", 0.6, start=0.3 * i)) for i in range(first, first + n)]


def _import(tenant, files, **defaults):
    batch = ingest_files(actor=tenant.actor("supervisor"), files=files, defaults=defaults)
    return batch.results


def _set_rules(tenant, **changes):
    base = dict(sampling="all", quota=8, quota_period="month", store_excluded=False, use_periods=False,
                block_unvalidated_exports=False)
    with session() as s:
        return scope.update_rules(session=s, actor=tenant.actor("admin"), **(base | changes))


def _set_seed(org_id: int, seed: str) -> None:
    with session() as s:
        s.get(ScopePolicy, org_id).seed = seed


def test_the_draw_is_fixed_per_recording_and_seed_and_spread_over_zero_one():
    a = [scope.draw("graine-1", f"{i:064x}") for i in range(2000)]
    assert a == [scope.draw("graine-1", f"{i:064x}") for i in range(2000)]
    assert a != [scope.draw("graine-2", f"{i:064x}") for i in range(2000)]
    assert all(0 <= x < 1 for x in a) and 0.45 < sum(a) / len(a) < 0.55
    assert sum(x < 0.1 for x in a) in range(150, 251)  # about a tenth below 0.1: no bias towards either end


def test_a_quota_caps_each_agents_analysed_calls_per_month_and_the_same_imports_draw_the_same(tenants):
    alpha, beta = tenants
    selections = []
    for tenant in (alpha, beta):
        _set_rules(tenant, sampling="quota", quota=3)
        _set_seed(tenant.org_id, "même-graine")
        with session() as s:  # beta's agents have other ids: draw for the same agent position in each org
            agent_name = s.get(Agent, tenant.agent_ids[1]).name
        results = _import(tenant, _files(12), agent=agent_name, started_at=MAY)
        assert all(r.status == "accepted" for r in results), [r.reason for r in results]
        scopes = [call_row(r.call_id).scope for r in results]
        statuses = [call_row(r.call_id).status for r in results]
        analysed = [i for i, sc in enumerate(scopes) if sc == "in"]
        assert 1 <= len(analysed) <= 3
        assert all((sc == "in") == (st == "queued") for sc, st in zip(scopes, statuses, strict=True))
        assert {sc for sc in scopes if sc != "in"} <= {"sampled_out"}
        assert all(call_row(r.call_id).scope_draw is not None for r in results)
        assert "non analysé" in next(r.reason for r in results if call_row(r.call_id).scope == "sampled_out")
        selections.append(analysed)
    assert selections[0] == selections[1]  # same recordings, same seed, same order: the same draw


def test_the_quota_is_counted_per_agent_and_per_period(tenants):
    alpha, _ = tenants
    _set_rules(alpha, sampling="quota", quota=2)
    names = ["alpha agent 0", "alpha agent 1"]
    for k, name in enumerate(names):
        for month, first in ((MAY, 0), (datetime(2026, 6, 3, 9, tzinfo=UTC), 40)):
            results = _import(alpha, _files(6, first + 10 * k), agent=name, started_at=month)
            assert sum(call_row(r.call_id).scope == "in" for r in results) <= 2
    with session() as s:
        rows = scope.coverage_report(session=s, actor=alpha.actor("dpo"), months=2, today=date(2026, 6, 20))
    assert {(r.month, r.agent) for r in rows} == {(date(2026, m, 1), n) for m in (5, 6) for n in names}
    for row in rows:
        assert row.received == 6 and row.analysed + row.sampled_out == 6 and row.analysed <= 2
        assert row.quota == 2 and not row.over_quota


def test_calls_outside_the_announced_periods_are_kept_without_analysis(tenants):
    alpha, _ = tenants
    _set_rules(alpha, use_periods=True)
    with session() as s:
        scope.add_period(session=s, actor=alpha.actor("admin"), starts_on=date(2026, 5, 1),
                         ends_on=date(2026, 5, 31), label="Campagne qualité de mai")
        with pytest.raises(InvalidInput, match="chevauche"):
            scope.add_period(session=s, actor=alpha.actor("admin"), starts_on=date(2026, 5, 20),
                             ends_on=date(2026, 6, 5))
    inside, outside = (_import(alpha, _files(1, i), started_at=when)[0]
                       for i, when in ((0, MAY), (1, datetime(2026, 7, 2, 8, tzinfo=UTC))))
    assert (call_row(inside.call_id).scope, call_row(inside.call_id).status) == ("in", "queued")
    assert (call_row(outside.call_id).scope, call_row(outside.call_id).status) == ("outside_period", "stored")
    assert "02/07/2026" in outside.reason and "hors des périodes" in outside.reason
    assert claim("hote:1:w0") == inside.call_id and claim("hote:1:w0") is None  # the stored one is never claimed


def test_an_excluded_agent_is_refused_at_import_and_nothing_is_kept(tenants):
    alpha, _ = tenants
    with session() as s:
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="agent", value=alpha.agent_ids[2],
                            reason="Représentante du personnel")
    audio_dir = storage.audio_path(storage.new_key(), org_id=alpha.org_id).parent
    before = set(audio_dir.rglob("*")) if audio_dir.exists() else set()
    result = _import(alpha, _files(1), agent="alpha agent 2")[0]
    assert result.status == "rejected" and "exclus de l'évaluation" in result.reason
    assert "Représentante" not in result.reason  # the reason is the organisation's, not shown to uploaders
    assert count_rows(Call, org_id=alpha.org_id) == 0
    after = set(audio_dir.rglob("*")) if audio_dir.exists() else set()
    assert after == before


def test_a_line_or_campaign_exclusion_matches_whatever_the_spelling_and_can_keep_the_call(tenants):
    alpha, _ = tenants
    _set_rules(alpha, store_excluded=True)
    with session() as s:
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="line", value="01 23 45 67 89",
                            reason="Ligne syndicale")
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="campaign", value="Appels privés",
                            reason="Appels personnels")
    line, campaign, other = (_import(alpha, _files(1, i), **meta)[0] for i, meta in
                             ((0, {"line": "+33 1.23.45.67.89"}), (1, {"campaign": "APPELS  PRIVES"}),
                              (2, {"line": "0987654321"})))
    for result in (line, campaign):
        call = call_row(result.call_id)
        assert (call.scope, call.status, call.restricted) == ("excluded", "stored", True)
    assert call_row(other.call_id).scope == "in"
    assert claim("hote:1:w0") == other.call_id and claim("hote:1:w0") is None
    with session() as s:
        with pytest.raises(InvalidInput, match="exclu"):
            queue.request_evaluation(session=s, actor=alpha.actor("supervisor"), call_id=line.call_id,
                                     reason="Le client a demandé un rappel")


def test_excluding_an_agent_removes_their_scored_calls_from_lists_and_a_lifted_restriction_keeps_them_out(tenants):
    alpha, _ = tenants
    ids = [transcribed_call(alpha.org_id, agent_id=alpha.agent_ids[1], team_id=alpha.team_ids[1]) for _ in range(2)]
    for _ in ids:
        assert steps.process_call(claim("hote:1:w0"), owner="hote:1:w0") == "done"
    supervisor = alpha.actor("supervisor")
    filters = Filters(start=date(2000, 1, 1), end=date(2100, 1, 1))
    with session() as s:
        assert list_calls(session=s, actor=supervisor, filters=filters).total == 2
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="agent", value=alpha.agent_ids[1],
                            reason="Mandat de représentant")
    with session() as s:
        assert list_calls(session=s, actor=supervisor, filters=filters).total == 0
        assert {call_row(i).scope for i in ids} == {"excluded"}
        set_restriction(session=s, actor=alpha.actor("dpo"), restricted=False, agent_id=alpha.agent_ids[1])
    assert all(call_row(i).restricted for i in ids)
    with session() as s:
        assert list_calls(session=s, actor=supervisor, filters=filters).total == 0
        grid_id = s.exec(select(Grid.id).where(Grid.org_id == alpha.org_id)).first()
        assert queue.rescore_calls(session=s, actor=supervisor, grid_id=grid_id, call_ids=ids) == 0
    assert {call_row(i).status for i in ids} == {"done"}  # not queued again for a re-scoring


def test_a_campaign_or_line_excluded_later_catches_the_calls_already_imported_whatever_their_spelling(tenants):
    alpha, _ = tenants
    kept, other = (_import(alpha, _files(1, i), **meta)[0] for i, meta in
                   ((0, {"campaign": "Fidélité  Été"}), (1, {"campaign": "Relance"})))
    line = _import(alpha, _files(1, 2), line="01.23.45.67.89")[0]
    with session() as s:
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="campaign", value="fidelite ete",
                            reason="Appels privés")
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="line", value="+33 1 23 45 67 89",
                            reason="Ligne syndicale")
    assert [(call_row(r.call_id).scope, call_row(r.call_id).status) for r in (kept, line)] == [
        ("excluded", "stored")] * 2
    assert call_row(other.call_id).scope == "in"


def test_a_supervisor_asks_for_a_stored_call_with_a_reason_and_it_is_audited(tenants):
    alpha, beta = tenants
    _set_rules(alpha, sampling="quota", quota=1)
    results = _import(alpha, _files(5), agent="alpha agent 0", started_at=MAY)
    stored = next(r.call_id for r in results if call_row(r.call_id).scope == "sampled_out")
    with session() as s:
        listed = queue.stored_calls(session=s, actor=alpha.actor("supervisor"))
        assert stored in {row["call_id"] for row in listed}
        with pytest.raises(AccessDenied):
            queue.stored_calls(session=s, actor=alpha.actor("team_lead"))
        with pytest.raises(AccessDenied):
            queue.request_evaluation(session=s, actor=alpha.actor("team_lead"), call_id=stored, reason="x" * 20)
        with pytest.raises(InvalidInput, match="pourquoi"):
            queue.request_evaluation(session=s, actor=alpha.actor("supervisor"), call_id=stored, reason="court")
        with pytest.raises(Exception, match="introuvable"):
            queue.request_evaluation(session=s, actor=beta.actor("supervisor"), call_id=stored, reason="x" * 20)
        queue.request_evaluation(session=s, actor=alpha.actor("supervisor"), call_id=stored,
                                 reason="Réclamation écrite du client sur cet appel")
    call = call_row(stored)
    assert (call.scope, call.status) == ("requested", "queued")
    with session() as s:
        event = s.exec(select(AuditLog).where(AuditLog.action == "evaluation_requested")).one()
        assert event.target_id == str(stored) and "Réclamation" in event.detail_json
        rows = scope.coverage_report(session=s, actor=alpha.actor("admin"), months=1, today=date(2026, 5, 30))
    drawn = sum(call_row(r.call_id).scope == "in" for r in results)  # the quota's ceiling: 0 or 1
    assert drawn <= 1 and [(r.analysed, r.requested, r.sampled_out) for r in rows] == [(drawn + 1, 1, 4 - drawn)]


def test_only_administrators_change_the_scope_and_only_they_and_the_dpo_read_the_bilan(tenants):
    alpha, beta = tenants
    for role in ("dpo", "supervisor", "team_lead", "agent"):
        with session() as s, pytest.raises(AccessDenied):
            scope.update_rules(session=s, actor=alpha.actor(role), sampling="quota", quota=5, quota_period="week",
                               store_excluded=False, use_periods=False, block_unvalidated_exports=False)
        with session() as s, pytest.raises(AccessDenied):
            scope.add_exclusion(session=s, actor=alpha.actor(role), kind="campaign", value="x", reason="motif")
    for role in ("supervisor", "team_lead", "agent"):
        with session() as s, pytest.raises(AccessDenied):
            scope.coverage_report(session=s, actor=alpha.actor(role))
    with session() as s, pytest.raises(Exception, match="introuvable"):
        scope.add_exclusion(session=s, actor=alpha.actor("admin"), kind="agent", value=beta.agent_ids[0],
                            reason="Agent d'une autre organisation")
    rules = _set_rules(alpha, sampling="quota", quota=5, quota_period="week")
    assert rules.summary() == "Au plus 5 appels par agent et par semaine, tirés au sort, sont analysés."
    with session() as s:
        assert scope.get_rules(session=s, org_id=beta.org_id).sampling == "all"  # another org is untouched


@pytest.mark.parametrize(("raw", "normalised"), [("01 23 45 67 89", "+33123456789"), ("0033 1 23 45 67 89",
                                                  "+33123456789"), ("+33 (0)1", "+3301"), ("Poste Accueil ", "poste accueil")])
def test_phone_lines_are_compared_in_one_form(raw, normalised):
    assert scope.normalise_line(raw) == normalised
