"""The explanation owed to an evaluated agent: their own download, and the same text in the DPO's subject export."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from sqlmodel import select

from ccr.core.audit import list_events
from ccr.core.db import session
from ccr.core.errors import AccessDenied
from ccr.core.models import Evaluation
from ccr.privacy import exports
from ccr.privacy.explanations import own_export
from ccr.quality import agent_space, disputes, reviews
from tests.reviewdata import GRID, contract, make_call


def _published(tenant, *, validate: bool = False, restricted: bool = False) -> int:
    call_id = make_call(org_id=tenant.org_id, team_id=tenant.team_ids[0], agent_id=tenant.agent_ids[0],
                        result=contract(), restricted=restricted)
    with session() as s:
        sup = tenant.actor("supervisor")
        if validate:
            reviews.validate_review(session=s, actor=sup, call_id=call_id, overrides={"identification": "pass"},
                                    comments={"identification": "=HYPERLINK(\"http://x\")"}, publish=True)
            return call_id
        if restricted:  # published before the restriction: it leaves the agent's copy, stays in the DPO's
            row = s.exec(select(Evaluation).where(Evaluation.call_id == call_id)).one()
            row.published_at, row.published_by = row.started_at, sup.user_id
            s.add(row)
            return call_id
        reviews.publish_evaluation(session=s, actor=sup, call_id=call_id)
    return call_id


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_the_agent_downloads_every_published_evaluation_explained(tenants):
    a, b = tenants
    validated = _published(a, validate=True)
    automatic = _published(a)
    make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())  # a draft
    restricted = _published(a, restricted=True)
    _published(b)
    agent = a.actor("agent")
    with session() as s:
        ev_id = next(e.evaluation_id for e in agent_space.list_own(session=s, actor=agent)
                     if e.call_id == automatic)
        disputes.open_dispute(session=s, actor=agent, evaluation_id=ev_id, criteria={"conclusion": "pass"},
                              comment="J'ai conclu l'appel.")
    with session() as s:
        zf = _zip(own_export(session=s, actor=agent))
    assert set(zf.namelist()) == {"explication.txt", "evaluations.json", "evaluations.csv"}
    data = json.loads(zf.read("evaluations.json"))
    assert sorted(e["call_id"] for e in data["evaluations"]) == sorted([validated, automatic])
    assert restricted not in {e["call_id"] for e in data["evaluations"]}
    text = zf.read("explication.txt").decode("utf-8")
    assert f"Appel n° {validated}" in text and f"Appel n° {automatic}" in text
    assert "validée par alpha supervisor" in text and "évaluation automatique, non revue par un humain" in text
    assert f"grille « {GRID.name} » version {GRID.version}" in text
    assert "Passage à 00:12 (Agent) : « je débloque votre carte »" in text
    assert "dans les 15 jours suivant la publication" in text
    assert "Contestation du" in text and "en attente" in text
    rows = list(csv.DictReader(io.StringIO(zf.read("evaluations.csv").decode("utf-8-sig")), delimiter=";"))
    comment = next(r["comment"] for r in rows if r["comment"])
    assert comment.startswith("'=HYPERLINK")  # neutralised: a spreadsheet shows it, never runs it
    with session() as s:
        assert list_events(session=s, org_id=a.org_id, action="own_evaluations_exported")
    with session() as s, pytest.raises(AccessDenied):
        own_export(session=s, actor=a.actor("dpo"))


def test_the_dpos_subject_export_of_an_agent_holds_the_same_explanation(tenants):
    a, _ = tenants
    restricted = _published(a, restricted=True)
    _published(a, validate=True)
    dpo = a.actor("dpo")
    export_id = exports.create_subject_export(actor=dpo, agent_id=a.agent_ids[0])
    zf = _zip(exports.read_export(actor=dpo, export_id=export_id))
    text = zf.read("explication_evaluations.txt").decode("utf-8")
    assert "validée par alpha supervisor" in text
    assert f"Appel n° {restricted}" in text  # the DPO's copy is complete
    assert "contestations" in json.loads(zf.read("donnees.json"))
