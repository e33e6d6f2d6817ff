"""Every page, for every role, with hostile names in the database: they show as text, never as markup.

Names are written straight into the database (as rows stored before input was cleaned would be) and
hold a Markdown image and link, a Streamlit colour directive, bare URLs that GitHub-flavoured Markdown
turns into links, emphasis, an HTML link (which plotly renders) and a right-to-left override. Every
string AppTest received is read from the element protos: those Streamlit interprets as Markdown
(bodies, labels, tooltips, metric values, radio options…) must hold the escaped form; none may hold a
bidirectional control, plain-text ones (dataframes, select box options, charts) included.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from google.protobuf.message import Message
from sqlmodel import select

from ccr.core.access import PAGES, PUBLIC
from ccr.core.db import session, utcnow
from ccr.core.models import Agent, Incident, MaintenanceWindow, Organisation, Team, User
from ccr.core.textnorm import BIDI_CONTROLS
from tests.kpidata import add_call
from tests.pages.helpers import REPO, run_page, walk_strings
from tests.pages.test_app import logged_in_state
from tests.reviewdata import contract, make_call

RLO = "\u202e"
HOSTILE = (f"![x](http://evil.example/i.png) [lien](http://evil.example) :red[rouge] http://evil.example "
           f"www.evil.example **gras** <a href='http://evil.example'>a</a> {RLO}esrever")
ROLES = ("admin", "dpo", "supervisor", "team_lead")

# Proto fields Streamlit renders as Markdown, by field name (any element) or element.field.
MARKDOWN_FIELDS = {"body", "label", "help", "delta", "text", "captions"}
MARKDOWN_OPTIONS = {"Radio", "ButtonGroup"}  # option labels of these widgets are Markdown too
# What the hostile text would render as if it reached Markdown unescaped.
MARKUP = ("![x](", "[lien](", ":red[", "**gras**")
# GitHub-flavoured autolink literals (remark-gfm), looked for once the backslash escapes are resolved.
AUTOLINK = re.compile(r"(?i)(https?://|www\.)evil")


def _walk(node):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def _strings(msg: Message, element: str):
    """(element, field, value) for every string or bytes value in a proto message, nested ones included."""
    for fd, value in msg.ListFields():
        values = [value] if isinstance(value, (str, bytes, Message, int, float)) else list(value)
        for v in values:
            if isinstance(v, Message):
                yield from _strings(v, element if fd.name != "options" else element + ".options")
            elif isinstance(v, (str, bytes)):
                yield element, fd.name, v


def problems(at) -> list[str]:
    """What a hostile name turned into on this run: markup, live links, bidi controls."""
    found = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = type(proto).__name__
        for element, field, value in _strings(proto, kind):
            if isinstance(value, bytes):
                if any(c.encode() in value for c in BIDI_CONTROLS):
                    found.append(f"{element}.{field}: bidi control in binary data")
                continue
            if element == "PlotlyChart" and field == "spec":
                for s in walk_strings(json.loads(value)):
                    if any(c in s for c in BIDI_CONTROLS) or "<a href" in s:
                        found.append(f"plotly: {s!r}")
                continue
            if any(c in value for c in BIDI_CONTROLS):
                found.append(f"{element}.{field}: bidi control in {value!r}")
            markdown = field in MARKDOWN_FIELDS or (
                element.endswith(".options") and element.split(".")[0] in MARKDOWN_OPTIONS)
            if markdown:
                if any(m in value for m in MARKUP):
                    found.append(f"{element}.{field}: markup in {value!r}")
                if AUTOLINK.search(value.replace("\\", "")):
                    found.append(f"{element}.{field}: live link in {value!r}")
    return found


@pytest.fixture
def hostile(tenants):
    """Tenant A with hostile organisation, team, agent and user names, a scored call, an incident."""
    a, _ = tenants
    with session() as s:
        s.get(Organisation, a.org_id).name = "Org " + HOSTILE
        for i, team in enumerate(s.exec(select(Team).where(Team.org_id == a.org_id)).all()):
            team.name = f"Équipe {i} {HOSTILE}"
        for i, agent in enumerate(s.exec(select(Agent).where(Agent.org_id == a.org_id)).all()):
            agent.name = f"Agent {i} {HOSTILE}"
        for user in s.exec(select(User).where(User.org_id == a.org_id)).all():
            user.display_name = f"{user.role} {HOSTILE}"
        now = utcnow()
        s.add(Incident(org_id=a.org_id, kind="incident", priority="P3", title="Panne " + HOSTILE, status="open",
                       opened_at=now - timedelta(hours=1), response_due_at=now + timedelta(days=3),
                       description=HOSTILE, impact=HOSTILE))
        s.add(MaintenanceWindow(org_id=a.org_id, starts_at=now + timedelta(hours=2),
                                ends_at=now + timedelta(hours=3), message="Maintenance " + HOSTILE,
                                created_by=a.users["admin"]))
    call_id = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    add_call(a.org_id, a.team_ids[0], a.agent_ids[1], utcnow() - timedelta(days=1), 64, campaign="Camp " + HOSTILE,
             verdicts={"accueil": "fail"}, irritants=["relances"])
    return a, call_id


CASES = [(spec.path, role) for spec in PAGES for role in ROLES if PUBLIC in spec.roles or role in spec.roles]


@pytest.mark.parametrize(("path", "role"), CASES)
def test_hostile_names_show_as_text_on_every_page(hostile, path, role):
    a, call_id = hostile
    at = run_page(path, a.users[role], query={"call_id": str(call_id)} if path == "pages/review.py" else None)
    assert not at.exception, [e.value for e in at.exception]
    found = problems(at)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("role", ROLES)
def test_hostile_display_name_shows_as_text_in_the_frame_and_sidebar(hostile, role):
    from streamlit.testing.v1 import AppTest

    a, _ = hostile
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    for key, value in logged_in_state(a, role).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Connecté" in c.value for c in at.sidebar.caption)
    found = problems(at)
    assert found == [], "\n".join(found)
