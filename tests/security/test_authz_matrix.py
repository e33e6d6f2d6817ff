"""The authorisation matrix, generated: every ``ccr`` function taking an id, every page taking an id from the
URL, every role (and anonymous for pages), against a record of the actor's own team, another team of the
same organisation, and another organisation.

The function list is discovered by introspection (a public function of a ``ccr`` module with a keyword
parameter ending in ``_id``/``_ids`` and a ``session`` or ``actor`` parameter). Each one must have an entry
below: a recipe (roles allowed, whether team leads are limited to their teams, how to call it on a target)
or, for functions without an actor, the reason they are trusted-caller only. A new function without an
entry fails :func:`test_every_id_taking_function_has_an_entry`.

Expected outcome of a cell: another organisation is always refused (NotFound / AccessDenied / nothing); a
role outside the function's roles is refused; a team lead on another team is refused when the function is
team-scoped; everything else must succeed (so no cell can pass because the function is broken). Every
cell is asserted and printed in the summary table (``tests/security/conftest.py``).
"""

from __future__ import annotations

import inspect
import itertools
import json
import pkgutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import ccr
from ccr.core.db import session, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from tests.conftest import TEST_PASSWORD
from tests.pages.helpers import refused as page_refused
from tests.pages.helpers import run_page

ROLES = ("admin", "dpo", "supervisor", "team_lead", "agent")
ALL = frozenset({"admin", "dpo", "supervisor", "team_lead"})  # every staff role; an agent reads only their own
TARGETS = ("own_team", "other_team", "other_org")
# The agent login is also tried on a record of its own agent: allowed only where its role is, refused elsewhere.
AGENT_TARGETS = ("own_agent", *TARGETS)
OK, REFUSED = "ok", "refus"
_seq = itertools.count(1)

RESULT = {
    "grid": "ccr-standard-fr", "grid_version": 1, "engine": "rules", "score": 80.0, "passed": True,
    "critical_failed": False,
    "criteria": [{"id": "accueil", "verdict": "pass", "weight": 100, "evidence": [], "explanation": ""}],
    "category": "information", "irritants": [], "summary": "", "recommendations": [],
}


# --- the world: two organisations, built once for the module --------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Organisations A (the actors) and B (the other tenant), in a migrated temporary data directory."""
    from ccr.core import config, db
    from tests.conftest import make_tenant

    with pytest.MonkeyPatch.context() as mp:
        data = tmp_path_factory.mktemp("authz") / "data"
        data.mkdir()
        mp.setenv("CCR_DATA_DIR", str(data))
        for var in ("CCR_SECRET_KEY", "DATABASE_URL", "CCR_DATABASE_URL", "CCR_BROKER_URL"):
            mp.delenv(var, raising=False)
        config.get_settings.cache_clear()
        db.dispose_engines()
        db.migrate(config.get_settings())
        a, b = make_tenant("Alpha Conseil", "alpha"), make_tenant("Beta Services", "beta")
        yield {"a": a, "b": b}
        db.dispose_engines()
        config.get_settings.cache_clear()


def _tenant(world, target: str):
    return world["b"] if target == "other_org" else world["a"]


def _team_index(target: str) -> int:
    return 1 if target == "other_team" else 0  # A's team lead belongs to A's first team only


# --- record factories: a fresh record per cell, so a write in one cell never changes another ---------


def make_agent(tenant, team_idx: int, agent_id: int | None = None) -> int:
    from ccr.core.models import Agent

    if agent_id is not None:
        return agent_id
    with session() as s:
        agent = Agent(org_id=tenant.org_id, team_id=tenant.team_ids[team_idx], name=f"cible {next(_seq)}")
        s.add(agent)
        s.flush()
        return agent.id


def make_call(tenant, team_idx: int, *, status: str = "done", agent_id: int | None = None,
              audio: bool = True) -> int:
    """A scored call with a transcript, an evaluation and (optionally) its encrypted recording."""
    from ccr.core import storage
    from ccr.core.models import Call, Transcript
    from ccr.quality import evaluations
    from tests.audiodata import cut_wav

    agent_id = agent_id or make_agent(tenant, team_idx)
    key = storage.put_audio(cut_wav("a01-000.wav", 1), org_id=tenant.org_id) if audio else None
    with session() as s:
        call = Call(org_id=tenant.org_id, team_id=tenant.team_ids[team_idx], agent_id=agent_id,
                    sha256=f"sha-{next(_seq)}", status=status, duration_s=30.0, audio_key=key, codec="pcm_s16le",
                    customer_phone=f"06{next(_seq):08d}", started_at=utcnow() - timedelta(days=1))
        s.add(call)
        s.flush()
        s.add(Transcript(org_id=tenant.org_id, call_id=call.id, segments_json=json.dumps(
            [{"speaker": "agent", "start": 0, "end": 1, "text": "bonjour"}]), text="bonjour"))
        evaluations.store_evaluation(session=s, call=call, result=RESULT, grid_id=None)
        return call.id


def make_evaluation(tenant, team_idx: int, agent_id: int | None = None) -> int:
    from ccr.quality import evaluations

    call_id = make_call(tenant, team_idx, agent_id=agent_id)
    with session() as s:
        return evaluations.current_evaluation(session=s, actor=tenant.actor("admin"), call_id=call_id).id


def make_grid(tenant, team_idx: int) -> int:
    from ccr.scoring import grid_store

    with session() as s:
        row, _ = grid_store.active_grid(session=s, org_id=tenant.org_id)
        return row.id


def make_incident(tenant, team_idx: int) -> int:
    from ccr.ops import incidents

    with session() as s:
        return incidents.create_incident(session=s, actor=tenant.actor("admin"), title="Fuite de test",
                                         priority="P2", kind="breach",
                                         data_categories="enregistrements").id


def make_window(tenant, team_idx: int) -> int:
    from ccr.pipeline import maintenance

    start = utcnow() + timedelta(days=3)
    with session() as s:
        return maintenance.schedule_window(session=s, actor=tenant.actor("admin"), starts_at=start,
                                           ends_at=start + timedelta(hours=1), message="Maintenance test").id


def make_export(tenant, team_idx: int) -> int:
    from ccr.privacy import exports

    agent_id = make_agent(tenant, team_idx)
    make_call(tenant, team_idx, agent_id=agent_id, audio=False)
    return exports.create_subject_export(actor=tenant.actor("dpo"), agent_id=agent_id)


def make_user(tenant, team_idx: int) -> int:
    from ccr.core.users import create_user

    with session() as s:
        return create_user(session=s, org_id=tenant.org_id, username=f"cible.{tenant.org_id}.{next(_seq)}",
                           display_name="Cible", password=TEST_PASSWORD, role="supervisor",
                           check_strength=False).id


def team_id(tenant, team_idx: int) -> int:
    return tenant.team_ids[team_idx]


def make_published(tenant, team_idx: int, agent_id: int | None = None) -> int:
    """A scored call's evaluation, published to its agent as the AI scored it."""
    from ccr.quality import reviews

    call_id = make_call(tenant, team_idx, agent_id=agent_id, audio=True)
    with session() as s:
        return reviews.publish_evaluation(session=s, actor=tenant.actor("supervisor"), call_id=call_id).id


def make_dispute(tenant, team_idx: int, agent_id: int | None = None) -> int:
    """An open dispute of a published evaluation, opened by its agent."""
    from ccr.core.models import Evaluation
    from ccr.core.users import Actor
    from ccr.quality import disputes

    ev_id = make_published(tenant, team_idx, agent_id)
    with session() as s:
        own = s.get(Evaluation, ev_id).agent_id
        agent = Actor(user_id=tenant.users["agent"], username="agent", display_name="agent", org_id=tenant.org_id,
                      role="agent", agent_id=own)
        return disputes.open_dispute(session=s, actor=agent, evaluation_id=ev_id, criteria={"accueil": "fail"},
                                     comment="contestation de test").id


def make_open_session(tenant, team_idx: int, agent_id: int | None = None) -> int:
    """A calibration session opened by the tenant's supervisor, not scored yet."""
    from ccr.quality import calibration

    call_id = make_call(tenant, team_idx, agent_id=agent_id, audio=False)
    with session() as s:
        return calibration.create_session(session=s, actor=tenant.actor("supervisor"), call_id=call_id).id


def make_session(tenant, team_idx: int, agent_id: int | None = None) -> int:
    """A calibration session opened by the tenant's supervisor, scored by them and the administrator."""
    from ccr.quality import calibration

    sid = make_open_session(tenant, team_idx, agent_id)
    for role in ("supervisor", "admin"):
        with session() as s:
            calibration.score_session(session=s, actor=tenant.actor(role), session_id=sid,
                                      verdicts={"accueil": "pass"})
    return sid


def make_period(tenant, team_idx: int) -> int:
    from ccr.core.models import EvaluationPeriod

    with session() as s:
        start = date(2020, 1, 1) + timedelta(days=40 * next(_seq))  # never overlapping another cell's
        row = EvaluationPeriod(org_id=tenant.org_id, starts_on=start, ends_on=start + timedelta(days=10))
        s.add(row)
        s.flush()
        return row.id


def make_token(tenant, team_idx: int) -> int:
    from ccr.core.api_tokens import issue_token

    with session() as s:
        return issue_token(session=s, org_id=tenant.org_id, name=f"jeton {next(_seq)}").token_id


def make_webhook_event(tenant, team_idx: int) -> int:
    """An event of the organisation's webhook outbox (its webhook configured on first use)."""
    from ccr.core import outbox
    from ccr.core.integration_models import WebhookEndpoint

    with session() as s:
        if s.get(WebhookEndpoint, tenant.org_id) is None:
            s.add(WebhookEndpoint(org_id=tenant.org_id, url="https://recepteur.exemple.fr/ccr",
                                  secret_sealed=outbox.seal_secret("secret-de-la-matrice-1234"), events="call.scored"))
            s.flush()
        event = outbox.emit(s, org_id=tenant.org_id, kind="call.scored", call_id=None, data={"call_id": None})
        s.flush()
        return event.id


def make_exclusion(tenant, team_idx: int) -> int:
    from ccr.core.models import ScopeExclusion

    with session() as s:
        row = ScopeExclusion(org_id=tenant.org_id, kind="campaign", value=f"campagne {next(_seq)}", reason="motif")
        s.add(row)
        s.flush()
        return row.id


def make_group(tenant, team_idx: int) -> int:
    """An audit group with one agent of the team."""
    from ccr.core.models import AgentGroup, AgentGroupMember

    agent_id = make_agent(tenant, team_idx)  # its own transaction first: SQLite has one writer at a time
    with session() as s:
        group = AgentGroup(org_id=tenant.org_id, name=f"groupe {next(_seq)}")
        s.add(group)
        s.flush()
        s.add(AgentGroupMember(group_id=group.id, agent_id=agent_id, org_id=tenant.org_id))
        return group.id


def make_stored_call(tenant, team_idx: int) -> int:
    """A call the quota kept without analysis."""
    from ccr.core.models import Call

    with session() as s:
        call = Call(org_id=tenant.org_id, team_id=tenant.team_ids[team_idx], agent_id=make_agent(tenant, team_idx),
                    sha256=f"sha-{next(_seq)}", status="stored", scope="sampled_out", duration_s=30.0)
        s.add(call)
        s.flush()
        return call.id


def make_stereo_call(tenant, team_idx: int) -> int:
    """A scored stereo call whose recording is stored: a supervisor may swap its channels."""
    from ccr.core.models import Call

    call_id = make_call(tenant, team_idx)
    with session() as s:
        s.get(Call, call_id).channels = 2
    return call_id


def _dispute_evaluation(s, dispute_id: int) -> int:
    from ccr.core.models import Dispute

    return s.get(Dispute, dispute_id).evaluation_id


def agent_with_call(tenant, team_idx: int, agent_id: int | None = None) -> int:
    if agent_id is not None:
        return agent_id
    agent_id = make_agent(tenant, team_idx)
    make_call(tenant, team_idx, agent_id=agent_id, audio=False)
    return agent_id


def failed_call(tenant, team_idx: int, agent_id: int | None = None) -> int:
    return make_call(tenant, team_idx, status="failed", agent_id=agent_id)


def team_with_queued_call(tenant, team_idx: int) -> int:
    """A team with a failed, unvalidated call: one the « À revoir » queue lists."""
    from sqlmodel import select

    from ccr.core.models import Evaluation

    call_id = make_call(tenant, team_idx, audio=False)
    with session() as s:
        ev = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
        ev.final_score, ev.final_passed = 40.0, False
        s.add(ev)
    return tenant.team_ids[team_idx]


# --- the recipes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to attack one function: the roles it serves, team scoping, target factory and the call."""

    roles: frozenset[str]
    team_scoped: bool
    make: object  # (tenant, team_idx) -> id
    call: object  # (session, actor, target_id, world) -> result
    empty_is_refusal: bool = False  # list/count results: nothing returned = nothing leaked


def _filters(actor):
    from ccr.core.config import get_settings
    from ccr.dashboards.filters import filters_from_query

    # The organisation's today, as the pages compute it: near midnight UTC and local dates differ.
    return filters_from_query({}, actor, datetime.now(ZoneInfo(get_settings().timezone)).date())


def _own_grid(s, actor) -> int:
    from ccr.scoring import grid_store

    return grid_store.active_grid(session=s, org_id=actor.org_id)[0].id


def _erase(s, act, agent_id, w):
    from ccr.privacy import subjects

    # The typed confirmation is built from the subject, which only the DPO of its organisation can resolve.
    with session() as own:
        try:
            subj = subjects.resolve_subject(session=own, actor=act, agent_id=agent_id)
            phrase = subjects.confirmation_phrase(subj)
        except (NotFound, AccessDenied, InvalidInput):
            phrase = "EFFACER cible"
    return subjects.erase_subject(actor=act, confirmation=phrase, agent_id=agent_id)


def _imp(path: str):
    module, name = path.rsplit(".", 1)
    return getattr(__import__(f"ccr.{module}", fromlist=[name]), name)


R = Recipe
RECIPES: dict[str, Recipe] = {
    "core.calls.get_call": R(ALL, True, make_call, lambda s, a, i, w: _imp("core.calls.get_call")(
        session=s, actor=a, call_id=i)),
    "core.calls.get_transcript": R(ALL, True, make_call, lambda s, a, i, w: _imp("core.calls.get_transcript")(
        session=s, actor=a, call_id=i)),
    "quality.evaluations.current_evaluation": R(ALL, True, make_call, lambda s, a, i, w: _imp(
        "quality.evaluations.current_evaluation")(session=s, actor=a, call_id=i)),
    "quality.evaluations.list_evaluations": R(ALL, True, make_call, lambda s, a, i, w: _imp(
        "quality.evaluations.list_evaluations")(session=s, actor=a, call_id=i), empty_is_refusal=True),
    "quality.evaluations.get_evaluation": R(ALL, True, make_evaluation, lambda s, a, i, w: _imp(
        "quality.evaluations.get_evaluation")(session=s, actor=a, evaluation_id=i)),
    "privacy.exports.get_export": R(frozenset({"dpo", "admin"}), False, make_export, lambda s, a, i, w: _imp(
        "privacy.exports.get_export")(session=s, actor=a, export_id=i)),
    "privacy.exports.read_export": R(frozenset({"dpo", "admin"}), False, make_export, lambda s, a, i, w: _imp(
        "privacy.exports.read_export")(actor=a, export_id=i)),
    "privacy.exports.create_subject_export": R(frozenset({"dpo", "admin"}), False, make_agent, lambda s, a, i, w: _imp(
        "privacy.exports.create_subject_export")(actor=a, agent_id=i)),
    "scoring.grid_store.get_grid_version": R(ALL, False, make_grid, lambda s, a, i, w: _imp(
        "scoring.grid_store.get_grid_version")(session=s, actor=a, grid_id=i)),
    "scoring.grid_store.activate_grid": R(frozenset({"supervisor", "admin"}), False, make_grid, lambda s, a, i, w: _imp(
        "scoring.grid_store.activate_grid")(session=s, actor=a, grid_id=i)),
    "ops.incidents.get_incident": R(frozenset({"admin", "dpo"}), False, make_incident, lambda s, a, i, w: _imp(
        "ops.incidents.get_incident")(session=s, actor=a, incident_id=i)),
    "ops.incidents.update_incident": R(frozenset({"admin"}), False, make_incident, lambda s, a, i, w: _imp(
        "ops.incidents.update_incident")(session=s, actor=a, incident_id=i, description="Pris en charge")),
    "pipeline.queue.retry_call": R(frozenset({"admin", "supervisor"}), True, failed_call, lambda s, a, i, w: _imp(
        "pipeline.queue.retry_call")(session=s, actor=a, call_id=i)),
    "pipeline.queue.rescore_calls": R(frozenset({"admin", "supervisor"}), True, make_call, lambda s, a, i, w: _imp(
        "pipeline.queue.rescore_calls")(session=s, actor=a, grid_id=_own_grid(s, a), call_ids=[i]), empty_is_refusal=True),
    "pipeline.queue.rescore_calls(grid)": R(frozenset({"admin", "supervisor"}), False, make_grid, lambda s, a, i, w: _imp(
        "pipeline.queue.rescore_calls")(session=s, actor=a, grid_id=i, call_ids=[])),
    "pipeline.queue.calls_progress": R(ALL, True, make_call, lambda s, a, i, w: _imp("pipeline.queue.calls_progress")(
        session=s, actor=a, call_ids=[i])["rows"], empty_is_refusal=True),
    "dashboards.agents.criterion_agent_heatmap": R(ALL, True, agent_with_call, lambda s, a, i, w: _imp(
        "dashboards.agents.criterion_agent_heatmap")(session=s, actor=a, filters=_filters(a), agent_ids=[i])["cells"],
        empty_is_refusal=True),
    "pipeline.maintenance.cancel_window": R(frozenset({"admin"}), False, make_window, lambda s, a, i, w: _imp(
        "pipeline.maintenance.cancel_window")(session=s, actor=a, window_id=i) or "annulée"),
    "core.orgs.get_team": R(ALL, True, team_id, lambda s, a, i, w: _imp("core.orgs.get_team")(
        session=s, actor=a, team_id=i)),
    "core.orgs.list_agents": R(ALL, True, team_id, lambda s, a, i, w: _imp("core.orgs.list_agents")(
        session=s, actor=a, team_id=i), empty_is_refusal=True),
    "core.orgs.get_agent": R(ALL, True, make_agent, lambda s, a, i, w: _imp("core.orgs.get_agent")(
        session=s, actor=a, agent_id=i)),
    "core.orgs.create_agent": R(frozenset({"admin", "supervisor"}), False, team_id, lambda s, a, i, w: _imp(
        "core.orgs.create_agent")(session=s, actor=a, name=f"Nouvel agent {next(_seq)}", team_id=i)),
    "dashboards.reports.team_report_html": R(frozenset({"admin", "supervisor", "team_lead", "dpo"}), True, team_id,
                                  lambda s, a, i, w: _imp("dashboards.reports.team_report_html")(
                                      session=s, actor=a, filters=_filters(a), team_id=i)),
    "quality.reviews.open_call": R(frozenset({"supervisor", "admin", "team_lead"}), True, make_call,
                           lambda s, a, i, w: _imp("quality.reviews.open_call")(session=s, actor=a, call_id=i)),
    "quality.reviews.record_audio_play": R(frozenset({"supervisor", "admin", "team_lead"}), True, make_call,
                                   lambda s, a, i, w: _imp("quality.reviews.record_audio_play")(
                                       session=s, actor=a, call_id=i) or "journalisé"),
    "quality.reviews.load_audio": R(frozenset({"supervisor", "admin", "team_lead"}), True, make_call,
                            lambda s, a, i, w: _imp("quality.reviews.load_audio")(session=s, actor=a, call_id=i)),
    "quality.reviews.validate_review": R(frozenset({"supervisor", "admin"}), True, make_call,
                                 lambda s, a, i, w: _imp("quality.reviews.validate_review")(
                                     session=s, actor=a, call_id=i, overrides={}, comments={})),
    "core.storage.load_call_audio": R(ALL, True, make_call, lambda s, a, i, w: _imp("core.storage.load_call_audio")(
        session=s, actor=a, call_id=i)),
    "privacy.subjects.resolve_subject": R(frozenset({"dpo", "admin"}), False, make_agent, lambda s, a, i, w: _imp(
        "privacy.subjects.resolve_subject")(session=s, actor=a, agent_id=i)),
    "privacy.subjects.preview": R(frozenset({"dpo", "admin"}), False, make_agent, lambda s, a, i, w: _imp(
        "privacy.subjects.preview")(session=s, actor=a, agent_id=i)),
    "privacy.subjects.erase_subject": R(frozenset({"dpo", "admin"}), False, make_agent, _erase),
    "privacy.subjects.set_restriction": R(frozenset({"dpo", "admin"}), False, make_call, lambda s, a, i, w: _imp(
        "privacy.subjects.set_restriction")(session=s, actor=a, restricted=True, call_ids=[i]), empty_is_refusal=True),
    "privacy.subjects.rectify_agent": R(frozenset({"dpo", "admin"}), False, make_agent, lambda s, a, i, w: _imp(
        "privacy.subjects.rectify_agent")(session=s, actor=a, agent_id=i, name=f"Rectifié {next(_seq)}")),
    "privacy.subjects.rectify_call": R(frozenset({"dpo", "admin"}), False, make_call, lambda s, a, i, w: _imp(
        "privacy.subjects.rectify_call")(session=s, actor=a, call_id=i, campaign="Rectifiée")),
    "core.users.update_user": R(frozenset({"admin"}), False, make_user, lambda s, a, i, w: _imp("core.users.update_user")(
        session=s, actor=a, user_id=i, display_name="Renommé")),
    "quality.agent_space.open_own": R(frozenset({"agent"}), False, make_published, lambda s, a, i, w: _imp(
        "quality.agent_space.open_own")(session=s, actor=a, evaluation_id=i)),
    "quality.agent_space.own_audio": R(frozenset({"agent"}), False, make_published, lambda s, a, i, w: _imp(
        "quality.agent_space.own_audio")(session=s, actor=a, evaluation_id=i)),
    "quality.agent_space.acknowledge": R(frozenset({"agent"}), False, make_published, lambda s, a, i, w: _imp(
        "quality.agent_space.acknowledge")(session=s, actor=a, evaluation_id=i)),
    "quality.disputes.open_dispute": R(frozenset({"agent"}), False, make_published, lambda s, a, i, w: _imp(
        "quality.disputes.open_dispute")(session=s, actor=a, evaluation_id=i, criteria={"accueil": "fail"},
                                         comment="contestation")),
    "quality.disputes.get_dispute": R(frozenset({"agent", "supervisor", "admin"}), False, make_dispute,
                                      lambda s, a, i, w: _imp("quality.disputes.get_dispute")(
                                          session=s, actor=a, dispute_id=i)),
    "quality.disputes.disputes_of": R(frozenset({"agent", "supervisor", "admin"}), False, make_dispute,
                                      lambda s, a, i, w: _imp("quality.disputes.disputes_of")(
                                          session=s, actor=a, evaluation_ids=[_dispute_evaluation(s, i)]),
                                      empty_is_refusal=True),
    "quality.disputes.resolve_dispute": R(frozenset({"supervisor", "admin"}), False, make_dispute,
                                          lambda s, a, i, w: _imp("quality.disputes.resolve_dispute")(
                                              session=s, actor=a, dispute_id=i, accepted=[], reason="non")),
    "quality.reviews.review_queue": R(frozenset({"supervisor", "admin"}), True, team_with_queued_call,
                                      lambda s, a, i, w: _imp("quality.reviews.review_queue")(
                                          session=s, actor=a, team_id=i), empty_is_refusal=True),
    "quality.reviews.publish_evaluation": R(frozenset({"supervisor", "admin"}), True, make_call,
                                            lambda s, a, i, w: _imp("quality.reviews.publish_evaluation")(
                                                session=s, actor=a, call_id=i)),
    "quality.reviews.submit_blind": R(frozenset({"supervisor", "admin"}), True, make_call,
                                      lambda s, a, i, w: _imp("quality.reviews.submit_blind")(
                                          session=s, actor=a, call_id=i, verdicts={"accueil": "pass"})),
    "quality.calibration.create_session": R(frozenset({"supervisor", "admin"}), True, make_call,
                                            lambda s, a, i, w: _imp("quality.calibration.create_session")(
                                                session=s, actor=a, call_id=i)),
    "quality.calibration.get_session": R(frozenset({"supervisor", "admin"}), False, make_session,
                                         lambda s, a, i, w: _imp("quality.calibration.get_session")(
                                             session=s, actor=a, session_id=i)),
    "quality.calibration.score_session": R(frozenset({"supervisor", "admin"}), False, make_open_session,
                                           lambda s, a, i, w: _imp("quality.calibration.score_session")(
                                               session=s, actor=a, session_id=i, verdicts={"accueil": "fail"})),
    "quality.calibration.close_session": R(frozenset({"supervisor", "admin"}), False, make_session,
                                           lambda s, a, i, w: _imp("quality.calibration.close_session")(
                                               session=s, actor=a, session_id=i, agreed={"accueil": "pass"})),
    "quality.scope.remove_period": R(frozenset({"admin"}), False, make_period, lambda s, a, i, w: _imp(
        "quality.scope.remove_period")(session=s, actor=a, period_id=i) or "fait"),
    "quality.scope.remove_exclusion": R(frozenset({"admin"}), False, make_exclusion, lambda s, a, i, w: _imp(
        "quality.scope.remove_exclusion")(session=s, actor=a, exclusion_id=i) or "fait"),
    "pipeline.queue.request_evaluation": R(frozenset({"supervisor", "admin"}), True, make_stored_call,
                                           lambda s, a, i, w: _imp("pipeline.queue.request_evaluation")(
                                               session=s, actor=a, call_id=i, reason="Réclamation du client")),
    "pipeline.queue.swap_channels": R(frozenset({"supervisor", "admin"}), True, make_stereo_call,
                                      lambda s, a, i, w: _imp("pipeline.queue.swap_channels")(
                                          session=s, actor=a, call_id=i, reason="Agent sur le canal du client")),
    "governance.fairness.rename_group": R(frozenset({"admin"}), False, make_group, lambda s, a, i, w: _imp(
        "governance.fairness.rename_group")(session=s, actor=a, group_id=i, name=f"renommé {next(_seq)}") or "fait"),
    "governance.fairness.set_members": R(frozenset({"admin"}), False, make_group, lambda s, a, i, w: _imp(
        "governance.fairness.set_members")(session=s, actor=a, group_id=i, agent_ids=[]) or "fait"),
    "governance.fairness.delete_group": R(frozenset({"admin"}), False, make_group, lambda s, a, i, w: _imp(
        "governance.fairness.delete_group")(session=s, actor=a, group_id=i) or "fait"),
    "core.users.reset_password": R(frozenset({"admin"}), False, make_user, lambda s, a, i, w: _imp(
        "core.users.reset_password")(session=s, actor=a, user_id=i, new_password=TEST_PASSWORD) or "fait"),
    "ops.webhooks.resend_event": R(frozenset({"admin"}), False, make_webhook_event, lambda s, a, i, w: _imp(
        "ops.webhooks.resend_event")(session=s, actor=a, event_id=i) or "remis en file"),
    "core.api_tokens.revoke_token": R(frozenset({"admin"}), False, make_token, lambda s, a, i, w: _imp(
        "core.api_tokens.revoke_token")(session=s, actor=a, token_id=i) or "fait"),
}

# Functions with an id but no actor: called by trusted code only (worker, scheduler, CLI, login frame), with
# an organisation or user id that already comes from an authenticated, scoped context. Each says why.
TRUSTED: dict[str, str] = {
    "core.api_tokens.issue_token": "org_id de l'administrateur (create_token, contrôlé) ou de la CLI (--org)",
    "core.outbox.emit": "écrit par le code qui vient de changer l'appel (worker, revue), dans sa transaction",
    "api.records.call_record": "client de l'API : organisation du jeton authentifié, 404 ailleurs (tests/test_api.py)",
    "core.audit.log_event": "écriture du journal, identité fournie par l'appelant",
    "core.audit.verify_chain": "CLI / page DPO après contrôle du rôle",
    "core.audit.list_events": "org_id de l'acteur, page DPO après contrôle du rôle",
    "core.audit.count_events": "org_id de l'acteur",
    "core.audit.purge_oldest": "job de purge : chaîne de l'organisation purgée",
    "privacy.consent.record_consent": "cookie de consentement signé, sans donnée client",
    "privacy.consent.withdraw": "identifiant de consentement du cookie signé du navigateur",
    "privacy.consent.list_consent_records": "preuve de consentement du navigateur lui-même",
    "quality.evaluations.store_evaluation": "worker : l'appel vient de la ligne réclamée",
    "scoring.grid_store.active_grid": "worker / pages : org_id de l'acteur",
    "scoring.grid_store.active_taxonomy": "worker / pages : org_id de l'acteur",
    "scoring.grid_store.active_taxonomy_version": "org_id de l'acteur",
    "scoring.grid_store.grid_by_id": "worker : org_id de l'appel réclamé (re-notation avec une version choisie)",
    "ops.health.monthly_availability": "org_id de l'acteur, page incidents",
    "ops.incidents.downtime_incidents": "org_id de l'acteur",
    "pipeline.ingest.metadata_from_filename": "org_id de l'acteur déjà contrôlé par ingest_upload",
    "pipeline.lease.renew_lease": "worker : bail détenu par ce worker",
    "pipeline.lease.claim_call": "worker (Celery) : identifiant reçu de la file, sans utilisateur",
    "dashboards.rollups.mark_dirty": "écritures internes (évaluation, revue, purge) : org_id de l'appel",
    "dashboards.rollups.refresh_rollups": "lecture du tableau de bord : org_id de l'acteur",
    "dashboards.rollups.settle_rollups": "purge et effacement : org_id des lignes qu'ils viennent de supprimer",
    "pipeline.maintenance.list_windows": "org_id de l'acteur",
    "pipeline.maintenance.upcoming_or_active": "org_id de l'acteur (bandeau)",
    "pipeline.maintenance.is_maintenance_active": "org_id de l'acteur (import)",
    "core.orgs.find_agent_by_name": "org_id de l'acteur (import)",
    "privacy.notices.retention_rows": "org_id de l'acteur, page Confidentialité",
    "privacy.retention.retention_days": "job de purge / org_id de l'acteur",
    "privacy.history.reportable_team_ids": "job de purge",
    "privacy.history.fold_into_daily_stats": "job de purge",
    "privacy.history.stats_history": "org_id de l'acteur",
    "core.users.load_actor": "garde de page : user_id de la session authentifiée",
    "core.users.session_is_valid": "garde de page : user_id de la session authentifiée",
    "core.users.record_login": "cadre de connexion après vérification du mot de passe",
    "core.users.record_logout": "cadre de connexion : utilisateur de la session",
    "core.users.create_user": "CLI / page Utilisateurs (org_id de l'administrateur)",
    "quality.reviews.grid_by_row_id": "org_id des évaluations ou contestations déjà lues pour l'acteur",
    "quality.policy.get_policy": "org_id de l'acteur ou de l'évaluation déjà contrôlée",
    "privacy.explanations.explanation_data": "export de l'agent (son agent_id) ou export DPO après contrôle du rôle",
    "quality.scope.get_rules": "import et pages : org_id de l'acteur",
    "governance.counterfactual.load_org_transcripts": "CLI audit-fairness : organisation choisie par l'exploitant",
    "governance.counterfactual.record_audit_run": "CLI audit-fairness : organisation de l'audit qui vient de tourner",
    "speech.vocabulary.current_terms": "worker : org_id de l'appel réclamé (mots-clés de sa transcription)",
    "speech.vocabulary.current_vocabulary": "worker : org_id de l'appel réclamé (version et mots-clés de sa "
                                            "transcription)",
    "quality.scope.decide": "import : org_id de l'acteur déjà contrôlé par ingest_upload, agent résolu dans cette org",
}


def discover() -> dict[str, inspect.Signature]:
    """Public ``ccr`` functions taking an id keyword and a session or an actor."""
    import importlib

    found = {}
    for info in pkgutil.walk_packages(ccr.__path__, "ccr."):
        short = info.name.removeprefix("ccr.")
        if info.ispkg or short.startswith(("_", "ui.")):
            continue
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            params = inspect.signature(fn).parameters
            ids = [p for p, v in params.items() if p.endswith(("_id", "_ids")) and v.kind == v.KEYWORD_ONLY]
            if ids and ("session" in params or "actor" in params):
                found[f"{short}.{name}"] = inspect.signature(fn)
    return found


def test_every_id_taking_function_has_an_entry():
    found = discover()
    covered = {k.split("(")[0] for k in RECIPES} | set(TRUSTED)
    assert not set(found) - covered, f"fonctions sans entrée dans la matrice : {sorted(set(found) - covered)}"
    assert not covered - set(found), f"entrées obsolètes : {sorted(covered - set(found))}"
    for name in TRUSTED:  # the exemption is only for functions that cannot receive a user's actor
        assert "actor" not in found[name].parameters or name == "core.users.create_user", name


def _expected(recipe: Recipe, role: str, target: str) -> str:
    if target == "other_org" or role not in recipe.roles:
        return REFUSED
    if role == "agent":  # an agent reaches only records of their own agent
        return OK if target == "own_agent" else REFUSED
    if target == "other_team" and recipe.team_scoped and role == "team_lead":
        return REFUSED
    return OK


def _observe(recipe: Recipe, world, actor, target_id) -> str:
    try:
        with session() as s:
            out = recipe.call(s, actor, target_id, world)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], bytes):
                out = out[1]
    except (NotFound, AccessDenied):
        return REFUSED
    if out is None or (recipe.empty_is_refusal and not out):
        return REFUSED
    return OK


def _make(recipe: Recipe, tenant, target: str) -> int:
    """A fresh target record; for ``own_agent``, one of the agent login's own agent where that means anything."""
    if target == "own_agent" and "agent_id" in inspect.signature(recipe.make).parameters:
        return recipe.make(tenant, 0, agent_id=tenant.agent_ids[0])
    return recipe.make(tenant, _team_index(target))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_data_function_matrix(world, name, matrix_cell):
    recipe = RECIPES[name]
    failures = []
    for role in ROLES:
        actor = world["a"].actor(role)
        for target in AGENT_TARGETS if role == "agent" else TARGETS:
            tenant = _tenant(world, target)
            target_id = _make(recipe, tenant, target)
            expected = _expected(recipe, role, target)
            observed = _observe(recipe, world, actor, target_id)
            matrix_cell("fonctions ccr (acteur de l'organisation A)", name, f"{role}/{target}", expected, observed)
            if observed != expected:
                failures.append(f"{role}/{target}: {observed} (attendu {expected})")
    assert not failures, f"{name}: {failures}"


# --- pages: role x target, with ids taken from the URL ------------------------------------------------


def _page_text(at) -> str:
    """Everything a page rendered as text, tables included (what a user could read)."""
    parts = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "text", "metric", "info", "warning",
                 "success", "error", "code", "json", "table"):
        for el in getattr(at, kind, []):
            parts.append(str(getattr(el, "value", "")) + " " + str(getattr(el, "label", "")))
    for df in at.dataframe:
        parts.append(df.value.to_string())
    return "\n".join(parts)


PAGE_ROLES = (*ROLES, None)
URL_PAGES = {
    # page key -> the query parameters that carry an id (each tampered with in turn)
    "review": ("call_id",),
    "calls": ("agent", "equipe"),
    "dashboard": ("equipe", "agent"),
}


@pytest.fixture(scope="module")
def page_targets(world):
    """One distinctive call per target, with an agent whose name appears only on pages that may show it."""
    from ccr.core.models import Agent

    out = {}
    for target in TARGETS:
        tenant = _tenant(world, target)
        idx = _team_index(target)
        marker = f"Agent{target.replace('_', '')}Marqueur"
        with session() as s:
            agent = Agent(org_id=tenant.org_id, team_id=tenant.team_ids[idx], name=marker)
            s.add(agent)
            s.flush()
            agent_id = agent.id
        call_id = make_call(tenant, idx, agent_id=agent_id, audio=False)
        out[target] = {"call_id": call_id, "agent": agent_id, "equipe": tenant.team_ids[idx], "marker": marker}
    return out


def _page_expected(key: str, role: str | None, target: str | None) -> str:
    from ccr.core.access import allowed

    if not allowed(key, role):
        return REFUSED
    if target is None or target == "other_org":
        return OK if target is None else "caché"
    if target == "other_team" and role == "team_lead":
        return "caché"
    return "visible"


def _page_spec_ids():
    from ccr.core.access import PAGES

    return [p.key for p in PAGES]


@pytest.mark.parametrize("key", _page_spec_ids())
def test_page_matrix(world, page_targets, key, matrix_cell):
    from ccr.core.access import PAGE_BY_KEY, allowed

    spec = PAGE_BY_KEY[key]
    failures = []
    for role in PAGE_ROLES:
        user_id = world["a"].users[role] if role else None
        name = role or "anonyme"
        if key not in URL_PAGES or not allowed(key, role):
            at = run_page(spec.path, user_id)
            assert not at.exception, (key, role, [e.value for e in at.exception])
            observed = REFUSED if page_refused(at) else OK
            expected = _page_expected(key, role, None)
            matrix_cell("pages (rôle)", key, name, expected, observed)
            if observed != expected:
                failures.append(f"{name}: {observed}")
            continue
        for param, target in itertools.product(URL_PAGES[key], TARGETS):
            t = page_targets[target]
            at = run_page(spec.path, user_id, query={param: str(t[param])})
            assert not at.exception, (key, role, target, [e.value for e in at.exception])
            text = _page_text(at)
            if page_refused(at):
                observed = REFUSED
            else:
                observed = "visible" if t["marker"] in text else "caché"
            expected = _page_expected(key, role, target)
            matrix_cell("pages avec un identifiant dans l'URL", f"{key}?{param}= · {name}", target, expected,
                        observed)
            if observed != expected:
                failures.append(f"{name}/{param}/{target}: {observed} (attendu {expected})")
            # Whatever the page shows, another organisation's marker never appears on it.
            assert page_targets["other_org"]["marker"] not in text, (key, name, target)
    assert not failures, f"{key}: {failures}"


def test_the_matrix_covers_every_registered_page():
    from ccr.core.access import PAGES

    assert {p.key for p in PAGES} == set(_page_spec_ids())
    assert set(URL_PAGES) <= {p.key for p in PAGES}
    readers = Path("ccr/dashboards/filters.py").read_text()  # the dashboard and calls filters parse the URL there
    for key, params in URL_PAGES.items():  # the parameters really are read from the URL
        for param in params:
            assert f'"{param}"' in Path(f"pages/{key}.py").read_text() + readers, (key, param)
