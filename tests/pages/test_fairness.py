"""Équité des scores: the audit per group for supervisors, the DPO and administrators (who also manage the
agent groups), refused to team leads and agents."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.db import session, utcnow
from ccr.core.formats import UNIT_SEP as NBSP
from ccr.governance import fairness
from tests.governance.test_fairness import LOW, NORMAL, add_eval
from tests.pages.helpers import refused, run_page

PAGE = "pages/fairness.py"


def _recent(tenant, agent_id: int, pattern, times: int, team: int, **kw) -> None:
    """Evaluations of the last days, inside the page's default period whatever today is."""
    now = utcnow()
    for k in range(times):
        for i, value in enumerate(pattern):
            add_eval(tenant, agent_id, value, team=team, when=now - timedelta(days=2, hours=k * 5 + i), **kw)


def _texts(at) -> str:
    return "\n".join([*(w.value for w in at.warning), *(i.value for i in at.info), *(m.value for m in at.markdown),
                      *(c.value for c in at.caption), *(s.value for s in at.success)])


@pytest.mark.parametrize("role", ["supervisor", "dpo", "admin"])
def test_the_audit_shows_groups_flags_and_french_numbers(tenants, role):
    a, _ = tenants
    _recent(a, a.agent_ids[0], NORMAL, 6, team=0)  # 30 evaluations, mean 75
    _recent(a, a.agent_ids[1], LOW, 5, team=1, changed=1)  # 25 reviewed evaluations, mean 60
    at = run_page(PAGE, a.users[role])
    assert not at.exception, [e.value for e in at.exception]
    assert not refused(at)
    assert [t.label for t in at.tabs] == (["Audit par groupe", "Groupes d'agents"] if role == "admin"
                                          else ["Audit par groupe"])
    table = at.dataframe[0].value
    assert list(table["Groupe"]) == ["Alpha Conseil équipe 1", "Alpha Conseil équipe 2", "Toute l'organisation"]
    assert list(table["Score IA moyen"]) == ["75,0", "60,0", "68,2"]
    assert table["Taux de correction"].iloc[1] == f"100,0{NBSP}%"  # never wraps away from its number
    assert table["Constat"].iloc[1] == "⚠️ écart au-delà du hasard"
    text = _texts(at)
    assert "Le score IA moyen est plus bas que celui du reste de l'organisation de 15,0 points" in text
    assert "pas la preuve d'un biais" in text
    assert "Au-delà du hasard" in text
    # 30 of 55 evaluations have no human validation: the page says so.
    assert f"30 évaluation(s) sur 55 (54,5{NBSP}%) n'ont été validées par aucun humain" in text


def test_a_tiny_group_says_the_sample_is_too_small(tenants):
    a, _ = tenants
    _recent(a, a.agent_ids[0], NORMAL, 1, team=0)
    at = run_page(PAGE, a.users["supervisor"])
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value["Constat"].iloc[0] == "… échantillon insuffisant"
    assert "Aucun groupe n'a un échantillon suffisant" in _texts(at)


@pytest.mark.parametrize("role", ["team_lead", "agent", None])
def test_team_leads_agents_and_anonymous_are_refused(tenants, role):
    a, _ = tenants
    at = run_page(PAGE, a.users[role] if role else None)
    assert refused(at)
    assert not at.dataframe


def test_admin_creates_a_group_and_names_stay_text(tenants):
    a, _ = tenants
    hostile = "**Lyon** [lien](http://x.test) <b>gras</b>"
    _recent(a, a.agent_ids[0], NORMAL, 1, team=0)
    at = run_page(PAGE, a.users["admin"])
    at.text_input(key="fair_new_name").set_value(hostile)
    at.multiselect(key="fair_new_members").set_value([a.agent_ids[0], a.agent_ids[2]])
    next(b for b in at.button if b.label == "Créer le groupe").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Groupe créé" in s.value for s in at.success)
    with session() as s:
        [group] = fairness.list_groups(session=s, actor=a.actor("admin"))
    assert (group.name, group.agent_ids) == (hostile, tuple(sorted([a.agent_ids[0], a.agent_ids[2]])))
    [expander] = [e for e in at.expander if "agent(s)" in e.label]
    assert "\\<b\\>" in expander.label and "\\*\\*Lyon\\*\\*" in expander.label  # escaped, never markup
    at.radio(key="fair_dimension").set_value("group").run()
    assert not at.exception, [e.value for e in at.exception]
    assert hostile in list(at.dataframe[0].value["Groupe"])


def test_admin_renames_changes_members_and_deletes_a_group(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    with session() as s:
        gid = fairness.create_group(session=s, actor=admin, name="Matin").id
        fairness.set_members(session=s, actor=admin, group_id=gid, agent_ids=[a.agent_ids[0]])
    at = run_page(PAGE, a.users["admin"])
    at.text_input(key=f"fair_name_{gid}").set_value("Équipe du matin")
    at.multiselect(key=f"fair_members_{gid}").set_value([a.agent_ids[1], a.agent_ids[3]])
    at.button(key=f"fair_save_{gid}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Groupe enregistré" in s.value for s in at.success)
    with session() as s:
        [group] = fairness.list_groups(session=s, actor=admin)
    assert (group.name, group.agent_ids) == ("Équipe du matin", (a.agent_ids[1], a.agent_ids[3]))
    assert at.button(key=f"fair_delete_{gid}").disabled  # a deletion is confirmed first
    at.checkbox(key=f"fair_confirm_{gid}").check().run()
    at.button(key=f"fair_delete_{gid}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with session() as s:
        assert fairness.list_groups(session=s, actor=admin) == []
    assert any("Groupe supprimé" in s.value for s in at.success)
