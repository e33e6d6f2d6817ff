"""Fixtures of the privacy tests."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ccr.core.db import session
from ccr.core.models import Evaluation, Review
from ccr.privacy import retention
from tests.retdata import add_call, days_ago


@pytest.fixture
def dataset(tenants):
    """Org A: one call 400 days old (all expired), one 200 days old (recording and transcript expired),
    one 10 days old (nothing expired); org B: one 400-day-old call that its longer settings keep."""
    a, b = tenants
    calls = {
        "old": add_call(a.org_id, a.agent_ids[0], days_ago(400), text="vieillerie", irritants=["attente"]),
        "mid": add_call(a.org_id, a.agent_ids[1], days_ago(200), text="milieu", score=50.0,
                        verdicts={"accueil": "fail", "politesse": "fail", "empathie": "pass"}),
        "new": add_call(a.org_id, a.agent_ids[2], days_ago(10), text="recent"),
        "b_old": add_call(b.org_id, b.agent_ids[0], days_ago(400), text="autreclient"),
    }
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == calls["old"])).one()
        s.add(Review(org_id=a.org_id, call_id=calls["old"], evaluation_id=ev.id, ai_score=80, final_score=85,
                     final_passed=True, coaching_note="bien"))
    b_dpo = b.actor("dpo")
    with session() as s:
        for cat in ("recordings", "transcripts"):
            retention.set_retention(session=s, actor=b_dpo, category=cat, days=500,
                                    justification="Contentieux client : conservation exigée jusqu'au jugement.")
        retention.set_retention(session=s, actor=b_dpo, category="evaluations_reviews", days=500,
                                justification="Contentieux client : conservation exigée jusqu'au jugement.")
    return a, b, calls
