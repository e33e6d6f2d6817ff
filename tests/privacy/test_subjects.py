"""Data-subject rights: preview, erasure that leaves nothing behind (FTS index included) but keeps
anonymised statistics, restriction out of dashboards and listening, rectification."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlmodel import select

from ccr.core import storage
from ccr.core.calls import scope_calls
from ccr.core.db import get_engine, session
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import Agent, Call, DailyStat, Evaluation, Export, RollupAgent, RollupDirty
from ccr.dashboards.rollups import refresh_rollups
from ccr.privacy import subjects
from tests import pg
from tests.dbfile import files_holding
from tests.retdata import NOW, add_call

NAME = "Zéphyrine Quenouille"  # unique enough to search every table for it
PHONE = "06 98 76 54 32"


def _agent(tenant, name: str) -> int:
    """A new agent of the tenant's first team, stored with ``name`` as given."""
    with session() as s:
        agent = Agent(org_id=tenant.org_id, team_id=tenant.team_ids[0], name=name)
        s.add(agent)
        s.flush()
        return agent.id


@pytest.fixture
def subject_data(tenants):
    a, _ = tenants
    agent_id = _agent(a, NAME)
    mine = [add_call(a.org_id, agent_id, NOW, text=f"bonjour je suis {NAME} motunique", phone=PHONE,
                     irritants=["attente"]) for _ in range(2)]
    others = [add_call(a.org_id, a.agent_ids[1], NOW, text="autre conversation")]
    return a, agent_id, mine, others


def _fts(word: str) -> list:
    with session() as s:
        return pg.fts_hits(s, word)


def _everywhere(needle: str) -> list[str]:
    """Tables and columns whose text contains ``needle`` (the whole database is scanned)."""
    found = []
    with get_engine().connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            if table.startswith("transcript_fts_"):
                continue  # shadow tables of the FTS index: checked through MATCH
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                found += [f"{table}.{k}" for k, v in row.items() if isinstance(v, str) and needle in v]
    return found


def test_preview_counts_everything_about_the_agent(subject_data):
    a, agent_id, _mine, _ = subject_data
    with session() as s:
        p = subjects.preview(session=s, actor=a.actor("dpo"), agent_id=agent_id)
    assert (p["calls"], p["transcripts"], p["evaluations"], p["audio_files"]) == (2, 2, 2, 2)
    assert p["confirmation"] == f"EFFACER {NAME}"


@pytest.mark.parametrize("phone", ["0698765432", "+33 6 98 76 54 32", "0033698765432", "06.98.76.54.32"])
def test_a_phone_number_is_found_whatever_its_format(subject_data, phone):
    a, _, mine, _ = subject_data
    with session() as s:
        assert subjects.resolve_subject(session=s, actor=a.actor("dpo"), phone=phone).call_ids == mine


RAW_NAME = "\u202eOlga  Nirvesk\u202c"  # stored before bidi controls were stripped at input
SHOWN_PHRASE = "EFFACER Olga Nirvesk"  # what the page shows: no control, single spaces


@pytest.mark.parametrize("typed", [SHOWN_PHRASE, f"EFFACER {RAW_NAME}"], ids=["as-shown", "pasted-raw"])
def test_an_agent_whose_stored_name_holds_bidi_controls_is_erased_with_the_phrase_shown(tenants, typed):
    a, _ = tenants
    agent_id = _agent(a, RAW_NAME)
    add_call(a.org_id, agent_id, NOW, text="bonjour")
    dpo = a.actor("dpo")
    with session() as s:  # the page enables its button when the typed text equals this phrase
        assert subjects.preview(session=s, actor=dpo, agent_id=agent_id)["confirmation"] == SHOWN_PHRASE
    counts = subjects.erase_subject(actor=dpo, agent_id=agent_id, confirmation=typed)
    assert counts["agent"] == 1 and counts["calls"] == 1
    with session() as s:
        assert s.get(Agent, agent_id) is None


def test_erasure_needs_the_typed_confirmation(subject_data):
    a, agent_id, _, _ = subject_data
    for wrong in ("", "EFFACER", f"effacer {NAME}", "EFFACER quelqu'un"):
        with pytest.raises(InvalidInput):
            subjects.erase_subject(actor=a.actor("dpo"), agent_id=agent_id, confirmation=wrong)
    with session() as s:
        assert s.get(Agent, agent_id) is not None


def test_erasing_an_agent_leaves_nothing_but_anonymised_statistics(subject_data):
    from ccr.privacy import exports

    a, agent_id, mine, others = subject_data
    dpo = a.actor("dpo")
    exports.start_organisation_export(actor=dpo, background=False)  # a copy that contains the agent
    with session() as s:
        keys = [s.get(Call, c).audio_key for c in mine]
    assert _fts("motunique") and _everywhere(NAME)
    counts = subjects.erase_subject(actor=dpo, agent_id=agent_id, confirmation=f"EFFACER {NAME}")
    assert counts["calls"] == 2 and counts["transcripts"] == 2 and counts["folded"] == 2
    assert _everywhere(NAME) == []
    assert _everywhere("motunique") == []
    assert _fts("motunique") == [] and _fts("quenouille") == []  # the FTS index forgot the text
    assert _fts("conversation")  # ... and only that text
    assert not any(storage.audio_path(k, org_id=a.org_id).exists() for k in keys)
    assert not list(get_settings_exports_dir().rglob("*.enc"))
    with session() as s:
        assert s.exec(select(Export)).all() == []
        assert s.exec(select(Evaluation).where(Evaluation.agent_id == agent_id)).all() == []
        assert sum(r.calls for r in s.exec(select(DailyStat)).all()) == 2  # statistics stay
        assert s.get(Call, others[0]) is not None


def get_settings_exports_dir():
    from ccr.core.config import get_settings

    return get_settings().exports_dir


def test_erasing_a_phone_number_removes_its_calls_only(subject_data):
    a, _, _mine, others = subject_data
    counts = subjects.erase_subject(actor=a.actor("dpo"), phone=PHONE, confirmation=f"EFFACER {PHONE}")
    assert counts["calls"] == 2
    assert _everywhere("98 76 54 32") == [] and _fts("motunique") == []
    with session() as s:
        assert [c.id for c in s.exec(select(Call)).all()] == others


def test_restricted_calls_leave_dashboards_and_listening(subject_data):
    a, agent_id, mine, others = subject_data
    dpo = a.actor("dpo")
    with session() as s:
        assert subjects.set_restriction(session=s, actor=dpo, agent_id=agent_id, restricted=True) == 2
    sup = a.actor("supervisor")
    with session() as s:
        dash = s.exec(scope_calls(select(Evaluation.call_id), sup, model=Evaluation,
                                  include_restricted=False)).all()
        assert set(dash) == set(others)
        calls = s.exec(scope_calls(select(Call.id), sup, include_restricted=False)).all()
        assert set(calls) == set(others)
        with pytest.raises(AccessDenied):
            storage.load_call_audio(session=s, actor=sup, call_id=mine[0])
    with session() as s:
        assert s.get(Call, mine[0]) is not None  # kept
        subjects.set_restriction(session=s, actor=dpo, agent_id=agent_id, restricted=False)
    with session() as s:
        assert len(s.exec(scope_calls(select(Evaluation.id), sup, model=Evaluation,
                                      include_restricted=False)).all()) == 3


def test_rectification_of_a_name_and_of_call_metadata(subject_data):
    a, agent_id, mine, _ = subject_data
    dpo = a.actor("dpo")
    with session() as s:
        subjects.rectify_agent(session=s, actor=dpo, agent_id=agent_id, name="Zéphyrine Q.")
        subjects.rectify_call(session=s, actor=dpo, call_id=mine[0], campaign="Fidélisation",
                              agent_id=a.agent_ids[1])
    with session() as s:
        assert s.get(Agent, agent_id).name == "Zéphyrine Q."
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == mine[0])).one()
        assert (ev.agent_id, ev.campaign) == (a.agent_ids[1], "Fidélisation")
    with session() as s, pytest.raises(InvalidInput):
        subjects.rectify_call(session=s, actor=dpo, call_id=mine[0], sha256="x")


@pytest.mark.parametrize("role", ["supervisor", "team_lead"])
def test_only_dpo_and_admin_handle_subject_requests(subject_data, role):
    a, agent_id, _, _ = subject_data
    with session() as s, pytest.raises(AccessDenied):
        subjects.preview(session=s, actor=a.actor(role), agent_id=agent_id)


def test_another_tenant_agent_is_not_found(tenants, subject_data):
    from ccr.core.errors import NotFound

    _, agent_id, _, _ = subject_data
    _, b = tenants
    with session() as s, pytest.raises(NotFound):
        subjects.preview(session=s, actor=b.actor("dpo"), agent_id=agent_id)


# --- remnants: what the database file and the dashboard rollups keep after an erasure ------------------

SURNAME = "Xylqorvenz"  # a made-up customer surname: present in the file's bytes only if something kept it


@pytest.mark.skipif(pg.is_postgres(os.environ.get("CCR_TEST_DATABASE_URL")),
                    reason="octets du fichier SQLite")
def test_an_erased_customer_leaves_no_byte_in_the_database_file_or_its_log(tenants, settings_env):
    a, _ = tenants
    phone = "07 11 22 33 44"
    for i in range(3):
        add_call(a.org_id, a.agent_ids[0], NOW, text=f"bonjour madame {SURNAME} appel {i}", phone=phone)
    add_call(a.org_id, a.agent_ids[1], NOW, text="autre conversation")
    assert files_holding(settings_env, SURNAME)  # the word is really written there first (log or file)
    subjects.erase_subject(actor=a.actor("dpo"), phone=phone, confirmation=f"EFFACER {phone}")
    assert _fts("conversation")
    assert files_holding(settings_env, SURNAME) == []  # neither in a freed page nor in an FTS index block


def test_erasing_an_agent_removes_their_dashboard_rollups_at_once(subject_data):
    a, agent_id, _mine, others = subject_data
    with session() as s:  # a dashboard was opened: the rollups hold the agent's figures
        refresh_rollups(session=s, org_id=a.org_id)
        assert s.exec(select(RollupAgent).where(RollupAgent.agent_id == agent_id)).all()
    subjects.erase_subject(actor=a.actor("dpo"), agent_id=agent_id, confirmation=f"EFFACER {NAME}")
    with session() as s:  # read as stored, before any dashboard opens again
        assert s.exec(select(RollupAgent).where(RollupAgent.agent_id == agent_id)).all() == []
        assert s.exec(select(RollupDirty).where(RollupDirty.org_id == a.org_id)).all() == []
        assert sum(r.calls for r in s.exec(select(RollupAgent).where(RollupAgent.span == "d")).all()) == len(others)
