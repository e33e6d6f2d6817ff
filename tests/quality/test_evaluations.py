"""Evaluations: the scorer's "needs review" flag kept in its own column, and rows older than that column."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from ccr.core import db
from ccr.core.db import session, utcnow
from ccr.core.models import Evaluation
from tests.reviewdata import contract, make_call

ALL_PASS = {"identification": "pass", "conclusion": "pass"}  # 100: nothing else sends the call to review
BEFORE_FLAG = "0003"  # the last revision without evaluation.needs_review


@pytest.mark.parametrize(("needs_review", "stored"), [(True, True), (False, False), (None, False)])
def test_store_evaluation_keeps_the_scorers_flag_in_its_column(tenants, needs_review, stored):
    a, _ = tenants
    result = contract(ALL_PASS)
    if needs_review is not None:  # None: a result from before the flag, without the field
        result["needs_review"] = needs_review
    cid = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=result)
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == cid)).one()
    assert ev.needs_review is stored


# The tables as revision 0003 knows them: only the columns an insert of that time must give.
_org = sa.table("organisation", *(sa.column(c) for c in ("id", "name", "slug", "status", "created_at")))
_call = sa.table("call", *(sa.column(c) for c in (
    "id", "org_id", "sha256", "started_at", "direction", "status", "attempts", "needs_llm_retry", "restricted",
    "queued_at", "created_at")))
_EVAL_COLUMNS = ("id", "org_id", "call_id", "grid_slug", "grid_version", "engine", "is_current", "ai_score",
                 "ai_passed", "ai_critical_failed", "final_score", "final_passed", "final_critical_failed",
                 "validated", "irritant_count", "unverified", "result_json", "started_at", "restricted",
                 "created_at")
_eval = sa.table("evaluation", *(sa.column(c) for c in _EVAL_COLUMNS))


def _insert_old_evaluation(conn, ev_id: int) -> None:
    now = utcnow()
    conn.execute(sa.insert(_eval).values(
        id=ev_id, org_id=1, call_id=1, grid_slug="ccr-standard-fr", grid_version=1, engine="rules", is_current=True,
        ai_score=100.0, ai_passed=True, ai_critical_failed=False, final_score=100.0, final_passed=True,
        final_critical_failed=False, validated=False, irritant_count=0, unverified=False, result_json="{}",
        started_at=now, restricted=False, created_at=now))


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.get_engine()).get_columns("evaluation")}


def test_evaluations_stored_before_the_flag_are_not_flagged(settings_env):
    cfg = db.alembic_config(settings_env)
    command.upgrade(cfg, BEFORE_FLAG)
    now = utcnow()
    with db.get_engine().begin() as conn:
        conn.execute(sa.insert(_org).values(id=1, name="Alpha", slug="alpha", status="active", created_at=now))
        conn.execute(sa.insert(_call).values(id=1, org_id=1, sha256="a" * 64, started_at=now, direction="entrant",
                                             status="done", attempts=0, needs_llm_retry=False, restricted=False,
                                             queued_at=now, created_at=now))
        _insert_old_evaluation(conn, 1)
    assert "needs_review" not in _columns()
    command.upgrade(cfg, "head")
    with db.get_engine().begin() as conn:
        _insert_old_evaluation(conn, 2)  # code that predates the column, still running during an upgrade
    with session() as s:
        assert [(e.id, e.needs_review) for e in s.exec(select(Evaluation).order_by(Evaluation.id))] == [
            (1, False), (2, False)]
    db.dispose_engines()
    command.downgrade(cfg, BEFORE_FLAG)
    assert "needs_review" not in _columns()
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_eval)).scalar_one() == 2  # rows kept
