"""Incidents & support page, per role: the admin's register and forms, the DPO's read-only breaches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccr.core.db import session, utcnow
from ccr.ops import incidents
from ccr.pipeline.maintenance import schedule_window
from tests.pages.helpers import REPO, refused, run_page

PAGE = "pages/incidents.py"
BREACH = {"description": "Envoi au mauvais destinataire", "data_categories": "transcriptions caviardées",
          "people_count": 3}


@pytest.fixture(autouse=True)
def fresh_caches():
    """The page's cached reads are per process and keyed on ids that every test database reuses."""
    from ccr.ui.maintenance_banner import announcements
    from ccr.ui.service_level import availability, latest_probe

    for cached in (announcements, availability, latest_probe):
        cached.clear()
    yield
    for cached in (announcements, availability, latest_probe):
        cached.clear()


@pytest.fixture
def register(tenants):
    """Org A has an overdue P1 incident and a data breach; org B has an incident of its own."""
    a, b = tenants
    with session() as s:
        incidents.create_incident(session=s, actor=a.actor("admin"), title="Serveur injoignable", priority="P1",
                                  opened_at=utcnow() - timedelta(days=7))
        incidents.create_incident(session=s, actor=a.actor("admin"), title="Fuite d'export", priority="P2",
                                  kind="breach", **BREACH)
        incidents.create_incident(session=s, actor=b.actor("admin"), title="Incident de Beta", priority="P3")
    return a, b


def _texts(at) -> str:
    parts = [e.value for e in (*at.error, *at.warning, *at.info, *at.success)]
    parts += [m.value for m in at.markdown] + [t.value for t in at.title] + [s.value for s in at.subheader]
    return "\n".join(str(p) for p in parts)


def _table_titles(at) -> set[str]:
    titles = set()
    for df in at.dataframe:
        value = df.value
        data = value.data if hasattr(value, "data") else value  # a Styler keeps its frame in .data
        if "Titre" in data.columns:
            titles |= set(data["Titre"])
    return titles


def test_admin_sees_availability_register_with_overdue_highlight_and_forms(register):
    a, _ = register
    at = run_page(PAGE, a.users["admin"])
    assert not at.exception, [e.value for e in at.exception]
    text = _texts(at)
    assert "Disponibilité du mois" in text
    assert "hors délai de prise en charge" in text
    assert _table_titles(at) >= {"Serveur injoignable", "Fuite d'export"}
    assert "Incident de Beta" not in _table_titles(at)  # another organisation's register stays there
    buttons = {b.label for b in at.button}
    assert {"Ouvrir l'incident", "Programmer la maintenance"} <= buttons


def test_admin_opens_an_incident_from_the_form(register):
    a, _ = register
    at = run_page(PAGE, a.users["admin"])
    next(t for t in at.text_input if t.label == "Titre").set_value("Lenteur des tableaux de bord")
    next(b for b in at.button if b.label == "Ouvrir l'incident").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("ouvert : réponse attendue avant le" in s.value for s in at.success)
    with session() as s:
        titles = [i.title for i in incidents.list_incidents(session=s, actor=a.actor("admin"))]
    assert "Lenteur des tableaux de bord" in titles


def test_dpo_reads_breaches_only_and_can_export_them(register):
    a, _ = register
    at = run_page(PAGE, a.users["dpo"])
    assert not at.exception and not refused(at)
    assert "Violations de données" in _texts(at)
    assert _table_titles(at) == {"Fuite d'export"}
    labels = {b.label for b in at.button}
    assert "Ouvrir l'incident" not in labels and "Programmer la maintenance" not in labels
    next(b for b in at.button if b.key == "prepare_breach_export").click()
    at.run()
    assert not at.exception
    assert at.session_state["ccr_breach_export"].decode("utf-8-sig").count("Fuite d'export") == 1


@pytest.mark.parametrize("role", ["supervisor", "team_lead"])
def test_other_roles_are_refused(register, role):
    a, _ = register
    at = run_page(PAGE, a.users[role])
    assert refused(at)


def test_anonymous_is_refused(register):
    assert refused(run_page(PAGE, None))


def test_an_announced_window_shows_a_banner_on_the_app_frame(tenants):
    from streamlit.testing.v1 import AppTest

    now = utcnow()
    with session() as s:
        schedule_window(session=s, actor=None, starts_at=now + timedelta(hours=5), ends_at=now + timedelta(hours=6),
                        message="Mise à jour de sécurité")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Mise à jour de sécurité" in w.value for w in at.warning)
