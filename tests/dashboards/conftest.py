"""The dashboards' shared dataset: a small hand-built month of calls in two organisations."""

from __future__ import annotations

import pytest

from tests.kpidata import add_call, at


@pytest.fixture
def data(tenants):
    """Org A: team 1 = agents 0 and 2 (the team lead's), team 2 = agent 1; org B: one call in March."""
    a, b = tenants
    t1, t2 = a.team_ids
    a0, a1, a2, _a3 = a.agent_ids
    ids = {}
    # current period (March)
    ids["c1"] = add_call(a.org_id, t1, a0, at(2026, 3, 2), 80, validated=True, ai_score=60, duration=300, silence=30,
                         agent_talk=150, customer_talk=120,
                         verdicts={"accueil": "pass", "identification": "pass", "empathie": "na"},
                         irritants=["attente_delai"], text="Bonjour, je voudrais un remboursement de ma facture.")
    ids["c2"] = add_call(a.org_id, t1, a0, at(2026, 3, 2, 14), 50, critical=True, duration=200, silence=20,
                         agent_talk=100, customer_talk=80,
                         verdicts={"accueil": "fail", "identification": "pass", "empathie": "fail"},
                         irritants=["attente_delai", "relances"], text="Mon colis est en retard, encore.")
    ids["c3"] = add_call(a.org_id, t1, a2, at(2026, 3, 10), 90, category="livraison", duration=100, silence=10,
                         agent_talk=40, customer_talk=50,
                         verdicts={"accueil": "pass", "identification": "na", "empathie": "na"},
                         campaign="ete", direction="sortant")
    ids["c4"] = add_call(a.org_id, t2, a1, at(2026, 3, 15), 70, category="livraison", validated=True, duration=400,
                         silence=40, agent_talk=200, customer_talk=150,
                         verdicts={"accueil": "pass", "identification": "fail"},
                         text="Ma livraison de remboursement est en retard.")
    # never counted: restricted by the DPO, and a superseded evaluation
    ids["restricted"] = add_call(a.org_id, t2, a1, at(2026, 3, 16), 10, restricted=True,
                                 verdicts={"accueil": "fail"}, irritants=["relances"], text="remboursement")
    ids["old"] = add_call(a.org_id, t1, a0, at(2026, 3, 20), 5, is_current=False, verdicts={"accueil": "fail"})
    # previous period (30 Jan - 28 Feb)
    ids["p1"] = add_call(a.org_id, t1, a0, at(2026, 2, 10), 60, duration=100, silence=50)
    ids["p2"] = add_call(a.org_id, t2, a1, at(2026, 2, 20), 100, validated=True, duration=300, silence=0)
    # before both periods: the first day of detailed data
    ids["first"] = add_call(a.org_id, t1, a0, at(2026, 1, 1), 0)
    # another organisation, same period
    ids["b"] = add_call(b.org_id, b.team_ids[0], b.agent_ids[0], at(2026, 3, 3), 0, verdicts={"accueil": "fail"},
                        irritants=["relances"], text="remboursement facture")
    return a, b, ids
