"""The incident register: SLA deadlines in business hours, breach highlighting, data breaches for the DPO."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccr.core import audit
from ccr.core.config import Settings
from ccr.core.db import session
from ccr.core.errors import AccessDenied, ConfigError, InvalidInput, NotFound
from ccr.core.models import Incident
from ccr.ops.incidents import (
    create_incident,
    export_breaches_csv,
    get_incident,
    list_incidents,
    register_rows,
    response_deadline,
    sla_state,
    update_incident,
)

PARIS = ZoneInfo("Europe/Paris")
HOURS_9_18 = Settings(support_open_hour=9, support_close_hour=18, timezone="Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("opened", "priority", "due"),
    [
        # Friday 16:00, 4 business hours: 2 h on Friday, 2 h on Monday morning.
        (paris(2026, 5, 15, 16), "P1", paris(2026, 5, 18, 11)),
        # The same on the Friday before Whit Monday (25 May 2026): the Monday is skipped.
        (paris(2026, 5, 22, 16), "P1", paris(2026, 5, 26, 11)),
        # Opened on a Saturday: the clock starts on Monday at opening time.
        (paris(2026, 5, 16, 10), "P1", paris(2026, 5, 18, 13)),
        # Opened at night: the clock starts at the next opening.
        (paris(2026, 6, 2, 20, 30), "P1", paris(2026, 6, 3, 13)),
        # Eve of 14 July (a Monday), 15:00: 3 h left on Monday, 14 July off, 6 h on Wednesday.
        (paris(2026, 7, 13, 15), "P2", paris(2026, 7, 15, 15)),
        # Across Ascension Thursday (14 May 2026): Wednesday 14:00 -> Friday 14:00.
        (paris(2026, 5, 13, 14), "P2", paris(2026, 5, 15, 14)),
        # Over Christmas: Thursday 24 December 10:00, 27 business hours, 25 December off.
        (paris(2026, 12, 24, 10), "P3", paris(2026, 12, 30, 10)),
        # Over New Year, from one year into the next.
        (paris(2026, 12, 31, 17), "P3", paris(2027, 1, 6, 17)),
        # Across the change to summer time (29 March 2026): still one opening day.
        (paris(2026, 3, 27, 17), "P2", paris(2026, 3, 30, 17)),
    ],
)
def test_response_deadline_counts_only_business_hours(opened, priority, due):
    assert response_deadline(opened, priority, HOURS_9_18) == due


def test_opening_hours_are_configurable():
    long_day = Settings(support_open_hour=8, support_close_hour=20, timezone="Europe/Paris")
    assert response_deadline(paris(2026, 5, 15, 16), "P1", long_day) == paris(2026, 5, 15, 20)
    assert response_deadline(paris(2026, 5, 15, 16), "P2", long_day) == paris(2026, 5, 18, 16)


def test_inconsistent_opening_hours_are_refused():
    with pytest.raises(ConfigError):
        response_deadline(paris(2026, 5, 15, 16), "P1", Settings(support_open_hour=18, support_close_hour=9))


def test_an_unknown_priority_is_refused():
    with pytest.raises(InvalidInput):
        response_deadline(paris(2026, 5, 15, 16), "P4", HOURS_9_18)


def _incident(opened: datetime, priority: str = "P1", first_response: datetime | None = None) -> Incident:
    return Incident(org_id=1, title="t", priority=priority, opened_at=opened, first_response_at=first_response)


@pytest.mark.parametrize(
    ("now", "first_response", "state"),
    [
        (paris(2026, 6, 1, 10), None, "running"),  # 3 h of 4 left
        (paris(2026, 6, 1, 12), None, "running"),  # exactly 1 h = 25 % left: not yet near
        (paris(2026, 6, 1, 12, 15), None, "near"),  # 45 min left, under a quarter
        (paris(2026, 6, 1, 13, 1), None, "breached"),  # deadline 13:00 passed, no answer
        (paris(2026, 6, 1, 15), paris(2026, 6, 1, 12, 59), "met"),
        (paris(2026, 6, 1, 15), paris(2026, 6, 1, 14), "breached"),  # answered late
    ],
)
def test_sla_state_of_a_p1_opened_monday_at_nine(now, first_response, state):
    inc = _incident(paris(2026, 6, 1, 9), first_response=first_response)
    assert sla_state(inc, now=now, settings=HOURS_9_18).state == state


def test_near_breach_is_measured_in_business_time_not_clock_time():
    inc = _incident(paris(2026, 5, 15, 16))  # due Monday 11:00
    # Saturday noon: 2 business hours of 4 left, though the deadline is under two days away.
    saturday = sla_state(inc, now=paris(2026, 5, 16, 12), settings=HOURS_9_18)
    assert saturday.state == "running" and saturday.remaining == timedelta(hours=2)
    assert sla_state(inc, now=paris(2026, 5, 18, 10, 30), settings=HOURS_9_18).state == "near"


# --- register in the database ------------------------------------------------------------------


BREACH = {
    "description": "Export de transcriptions envoyé au mauvais destinataire",
    "impact": "Une équipe",
    "data_categories": "transcriptions caviardées, noms d'agents",
    "people_count": 12,
    "likely_consequences": "=HYPERLINK(\"http://x\")",  # a formula must not survive into the CSV
    "measures_taken": "Destinataire contacté, fichier supprimé",
}


def test_register_highlights_breached_and_near_incidents(tenants, settings_env):
    a, _ = tenants
    admin = a.actor("admin")
    now = datetime.now(PARIS)
    with session() as s:
        old = create_incident(session=s, actor=admin, title="Panne ancienne", priority="P1",
                              opened_at=now - timedelta(days=10))
        fresh = create_incident(session=s, actor=admin, title="Question", priority="P3", opened_at=now)
        answered = create_incident(session=s, actor=admin, title="Répondu", priority="P1",
                                   opened_at=now - timedelta(days=10))
        update_incident(session=s, actor=admin, incident_id=answered.id,
                        first_response_at=answered.opened_at + timedelta(minutes=5), status="in_progress")
    with session() as s:
        rows = {r["id"]: r for r in register_rows(list_incidents(session=s, actor=admin))}
    assert rows[old.id]["sla"] == "breached" and rows[old.id]["delai"] == "dépassé"
    assert rows[fresh.id]["sla"] == "running"
    assert rows[answered.id]["sla"] == "met" and rows[answered.id]["statut"] == "en cours"


def test_the_deadline_is_fixed_at_opening_and_reset_by_a_new_priority(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    with session() as s:
        inc = create_incident(session=s, actor=admin, title="Lenteur", priority="P3",
                              opened_at=paris(2026, 5, 15, 16), settings=HOURS_9_18)
        assert inc.response_due_at == paris(2026, 5, 20, 16)
        inc = update_incident(session=s, actor=admin, incident_id=inc.id, priority="P1", settings=HOURS_9_18)
        assert inc.response_due_at == paris(2026, 5, 18, 11)


def test_the_register_is_tenant_scoped_and_admin_only(tenants):
    a, b = tenants
    with session() as s:
        inc = create_incident(session=s, actor=a.actor("admin"), title="Panne", priority="P2")
    with session() as s, pytest.raises(NotFound):
        get_incident(session=s, actor=b.actor("admin"), incident_id=inc.id)
    with session() as s:
        assert list_incidents(session=s, actor=b.actor("admin")) == []
    for role in ("supervisor", "team_lead"):
        with session() as s, pytest.raises(AccessDenied):
            list_incidents(session=s, actor=a.actor(role))
    with session() as s, pytest.raises(AccessDenied):
        create_incident(session=s, actor=a.actor("dpo"), title="x", priority="P1")


def test_the_dpo_reads_data_breaches_only(tenants):
    a, _ = tenants
    admin = a.actor("admin")
    with session() as s:
        plain = create_incident(session=s, actor=admin, title="Panne", priority="P2")
        breach = create_incident(session=s, actor=admin, title="Fuite", priority="P1", kind="breach", **BREACH)
    with session() as s:
        assert [i.id for i in list_incidents(session=s, actor=a.actor("dpo"))] == [breach.id]
        with pytest.raises(NotFound):
            get_incident(session=s, actor=a.actor("dpo"), incident_id=plain.id)


def test_a_breach_needs_its_data_categories(tenants):
    a, _ = tenants
    with session() as s, pytest.raises(InvalidInput, match="catégories"):
        create_incident(session=s, actor=a.actor("admin"), title="Fuite", priority="P1", kind="breach")


def test_dates_cannot_precede_the_opening(tenants):
    a, _ = tenants
    with session() as s:
        inc = create_incident(session=s, actor=a.actor("admin"), title="Panne", priority="P2")
        with pytest.raises(InvalidInput, match="précéder"):
            update_incident(session=s, actor=a.actor("admin"), incident_id=inc.id,
                            first_response_at=inc.opened_at - timedelta(hours=1))


def test_breach_export_is_formula_safe_audited_and_flags_late_notification(tenants):
    a, _ = tenants
    admin, dpo = a.actor("admin"), a.actor("dpo")
    opened = datetime.now(PARIS) - timedelta(hours=30)
    with session() as s:
        late = create_incident(session=s, actor=admin, title="Fuite", priority="P1", kind="breach",
                               opened_at=opened, **BREACH)
        on_time = create_incident(session=s, actor=admin, title="Erreur d'envoi", priority="P2", kind="breach",
                                  opened_at=opened, **BREACH)
        update_incident(session=s, actor=admin, incident_id=on_time.id,
                        client_notified_at=opened + timedelta(hours=3))
        create_incident(session=s, actor=admin, title="Panne sans données", priority="P3")
    with session() as s:
        flags = {r["id"]: r["notification_en_retard"] for r in register_rows(list_incidents(session=s, actor=dpo))}
        data = export_breaches_csv(session=s, actor=dpo)
    assert flags == {late.id: True, on_time.id: False}
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=_delimiter(data)))
    assert {r["id"] for r in rows} == {str(late.id), str(on_time.id)}
    by_id = {r["id"]: r for r in rows}
    assert by_id[str(on_time.id)]["delai_notification_h"] == "3.0"
    assert by_id[str(late.id)]["personnes_concernees"] == "12"
    assert not by_id[str(late.id)]["consequences_probables"].startswith("=")
    with session() as s:
        assert audit.count_events(session=s, org_id=a.org_id, action="breaches_exported") == 1


def _delimiter(data: bytes) -> str:
    first = data.decode("utf-8-sig").splitlines()[0]
    return ";" if first.count(";") > first.count(",") else ","
