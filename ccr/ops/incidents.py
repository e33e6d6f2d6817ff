"""The incident register: SLA priorities, response deadlines in business hours, data breaches.

Response targets (SLA § 5): P1 within 4 business hours, P2 within 1 business day, P3 within 3 business
days. Support works Monday to Friday, from ``support_open_hour`` to ``support_close_hour`` (local time,
``Settings.timezone``), except French public holidays (the ``holidays`` package, metropolitan list).
A *business day* is one full opening day of hours (9 h with 9-18), so a P2 opened on Monday at 15:00
is due on Tuesday at 15:00: the deadline never depends on when in the day the incident came in.

SLA state of an incident (:func:`sla_state`):

- ``met``: first response given before the deadline;
- ``breached``: first response given late, or still none and the deadline has passed;
- ``near``: no response yet and less than ``NEAR_BREACH_SHARE`` of the allowance (in business time) left;
- ``running``: no response yet, more time left.

Data breaches (DPA § 12, GDPR art. 33) are incidents of kind ``breach`` with their own fields; the
DPO reads and exports them, the administrator records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.csvsafe import rows_to_csv
from ccr.core.db import as_utc, utcnow
from ccr.core.errors import AccessDenied, ConfigError, InvalidInput, NotFound
from ccr.core.models import Incident
from ccr.core.users import Actor

PRIORITIES = ("P1", "P2", "P3")
PRIORITY_LABELS = {"P1": "P1 — critique", "P2": "P2 — élevée", "P3": "P3 — standard"}
# SLA § 5: response targets, in business hours (P1) or business days (P2, P3).
RESPONSE_HOURS = {"P1": 4}
RESPONSE_DAYS = {"P2": 1, "P3": 3}
KINDS = ("incident", "breach")
KIND_LABELS = {"incident": "Incident", "breach": "Violation de données"}
STATUSES = ("open", "in_progress", "resolved")
INCIDENT_STATUS_LABELS = {"open": "ouvert", "in_progress": "en cours", "resolved": "résolu"}
NEAR_BREACH_SHARE = 0.25  # a quarter of the allowance left: time enough to act before the deadline passes
# The controller must tell the CNIL within 72 h (GDPR art. 33); the processor notifies "without undue
# delay" (DPA § 12). 24 h leaves the client two thirds of its own 72 h.
BREACH_NOTIFY_HOURS = 24
SLA_LABELS = {"met": "respecté", "breached": "dépassé", "near": "bientôt dépassé", "running": "dans les délais"}
MAX_TEXT = 5000  # a register entry, not a document: longer text goes in the linked ticket
BREACH_FIELDS = ("data_categories", "people_count", "likely_consequences", "measures_taken", "client_notified_at")
EDITABLE = ("priority", "title", "description", "impact", "status", "first_response_at", "resolved_at",
            "caused_downtime", "downtime_start", "downtime_end", *BREACH_FIELDS)
BREACH_CSV_FIELDS = [
    "id", "titre", "priorite", "statut", "ouvert_le", "nature", "categories_de_donnees", "personnes_concernees",
    "consequences_probables", "mesures_prises", "client_notifie_le", "delai_notification_h", "impact",
    "premiere_reponse_le", "resolu_le",
]


# --- business hours -------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.France(years=year)


def is_business_day(day: date) -> bool:
    """True for Monday to Friday outside French public holidays."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def _hours(settings: Settings) -> tuple[int, int]:
    open_h, close_h = settings.support_open_hour, settings.support_close_hour
    if not 0 <= open_h < close_h <= 24:
        raise ConfigError(f"Horaires du support incohérents : ouverture {open_h} h, fermeture {close_h} h.")
    return open_h, close_h


def _day_bounds(day: date, open_h: int, close_h: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(open_h), tz)
    end = datetime.combine(day, time(0), tz) + timedelta(days=1) if close_h == 24 else \
        datetime.combine(day, time(close_h), tz)
    return start, end


def add_business_time(start: datetime, amount: timedelta, settings: Settings | None = None) -> datetime:
    """The instant ``amount`` of support opening time after ``start`` (aware), in UTC."""
    settings = settings or get_settings()
    open_h, close_h = _hours(settings)
    tz = ZoneInfo(settings.timezone)
    local = as_utc(start).astimezone(tz)
    left = amount
    day = local.date()
    for _ in range(3660):  # ten years of days: more than any allowance, and never an endless loop
        if is_business_day(day):
            day_start, day_end = _day_bounds(day, open_h, close_h, tz)
            begin = max(local, day_start)
            if begin < day_end:
                available = day_end - begin
                if left <= available:
                    return (begin + left).astimezone(ZoneInfo("UTC"))
                left -= available
        day += timedelta(days=1)
    raise ConfigError("Échéance introuvable : aucun jour ouvré dans les dix ans à venir.")


def business_time_between(start: datetime, end: datetime, settings: Settings | None = None) -> timedelta:
    """Support opening time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
    settings = settings or get_settings()
    open_h, close_h = _hours(settings)
    tz = ZoneInfo(settings.timezone)
    a, b = as_utc(start).astimezone(tz), as_utc(end).astimezone(tz)
    total = timedelta(0)
    day = a.date()
    while day <= b.date():
        if is_business_day(day):
            day_start, day_end = _day_bounds(day, open_h, close_h, tz)
            lo, hi = max(a, day_start), min(b, day_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def allowance(priority: str, settings: Settings | None = None) -> timedelta:
    """The response allowance of a priority, in support opening time (1 business day = one opening day)."""
    settings = settings or get_settings()
    _check_priority(priority)
    open_h, close_h = _hours(settings)
    if priority in RESPONSE_HOURS:
        return timedelta(hours=RESPONSE_HOURS[priority])
    return timedelta(hours=(close_h - open_h) * RESPONSE_DAYS[priority])


def response_deadline(opened_at: datetime, priority: str, settings: Settings | None = None) -> datetime:
    """The SLA first-response deadline of an incident opened at ``opened_at`` (aware UTC)."""
    settings = settings or get_settings()
    return add_business_time(opened_at, allowance(priority, settings), settings)


@dataclass(frozen=True)
class SlaState:
    """Where an incident stands against its response deadline."""

    state: str  # met | breached | near | running
    deadline: datetime
    remaining: timedelta  # business time left (zero once passed or answered)

    @property
    def label(self) -> str:
        """The French label of the state."""
        return SLA_LABELS[self.state]


def sla_state(incident: Incident, *, now: datetime | None = None, settings: Settings | None = None) -> SlaState:
    """The SLA state of ``incident`` at ``now``: met, breached, near (< 25 % left) or running."""
    settings = settings or get_settings()
    now = as_utc(now or utcnow())
    deadline = as_utc(incident.response_due_at) if incident.response_due_at else \
        response_deadline(incident.opened_at, incident.priority, settings)
    if incident.first_response_at is not None:
        state = "met" if as_utc(incident.first_response_at) <= deadline else "breached"
        return SlaState(state, deadline, timedelta(0))
    if now > deadline:
        return SlaState("breached", deadline, timedelta(0))
    remaining = business_time_between(now, deadline, settings)
    near = remaining < allowance(incident.priority, settings) * NEAR_BREACH_SHARE
    return SlaState("near" if near else "running", deadline, remaining)


def breach_notification_late(incident: Incident, *, now: datetime | None = None) -> bool:
    """True for a data breach whose client was not notified within ``BREACH_NOTIFY_HOURS`` of its opening."""
    if incident.kind != "breach":
        return False
    limit = as_utc(incident.opened_at) + timedelta(hours=BREACH_NOTIFY_HOURS)
    notified = as_utc(incident.client_notified_at) if incident.client_notified_at else None
    return (notified or as_utc(now or utcnow())) > limit


# --- register ---------------------------------------------------------------------------------



def _check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise InvalidInput(f"Priorité « {priority} » inconnue (P1, P2 ou P3).")


def _require_write(actor: Actor) -> None:
    if not may(actor.role, "write_incidents"):
        raise AccessDenied("Seul un administrateur peut tenir le registre des incidents.")


def _require_read(actor: Actor) -> None:
    if not may(actor.role, "read_breaches"):
        raise AccessDenied("Le registre des incidents est réservé à l'administrateur et au DPO.")


def _text(value: Any, label: str, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise InvalidInput(f"{label} : champ obligatoire.")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{label} : {MAX_TEXT} caractères au maximum.")
    return text


def _check_fields(inc: Incident) -> None:
    _check_priority(inc.priority)
    if inc.kind not in KINDS:
        raise InvalidInput(f"Type d'incident « {inc.kind} » inconnu.")
    if inc.status not in STATUSES:
        raise InvalidInput(f"Statut « {inc.status} » inconnu (ouvert, en cours ou résolu).")
    opened = as_utc(inc.opened_at)
    for field, label in (("first_response_at", "La première réponse"), ("resolved_at", "La résolution"),
                         ("client_notified_at", "La notification du client")):
        value = getattr(inc, field)
        if value is not None and as_utc(value) < opened:
            raise InvalidInput(f"{label} ne peut pas précéder l'ouverture de l'incident.")
    if inc.status == "resolved" and inc.resolved_at is None:
        raise InvalidInput("Indiquez la date de résolution d'un incident résolu.")
    if inc.caused_downtime:
        if inc.downtime_start is None:
            raise InvalidInput("Indiquez le début de l'interruption de service.")
        if inc.downtime_end is not None and as_utc(inc.downtime_end) <= as_utc(inc.downtime_start):
            raise InvalidInput("La fin de l'interruption doit suivre son début.")
    if inc.people_count is not None and inc.people_count < 0:
        raise InvalidInput("Le nombre de personnes concernées ne peut pas être négatif.")
    if inc.kind == "breach" and not (inc.data_categories or "").strip():
        raise InvalidInput("Violation de données : indiquez les catégories de données concernées.")


def _apply(inc: Incident, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Champs non modifiables : {', '.join(sorted(unknown))}.")
    for key, value in fields.items():
        if key in ("title",):
            value = _text(value, "Titre", required=True)
        elif key in ("description", "impact"):
            value = _text(value, "Description" if key == "description" else "Impact")
        elif key in ("data_categories", "likely_consequences", "measures_taken"):
            value = _text(value, "Champ de la violation") or None
        elif isinstance(value, datetime):
            value = as_utc(value)
        setattr(inc, key, value)


def create_incident(
    *,
    session: Session,
    actor: Actor,
    title: str,
    priority: str,
    kind: str = "incident",
    opened_at: datetime | None = None,
    settings: Settings | None = None,
    **fields: Any,
) -> Incident:
    """Open an incident (or data breach) in the actor's organisation; its response deadline is fixed now."""
    _require_write(actor)
    settings = settings or get_settings()
    _check_priority(priority)
    opened = as_utc(opened_at) if opened_at else utcnow()
    inc = Incident(org_id=actor.org_id, kind=kind, priority=priority, title="", opened_at=opened,
                   created_by=actor.user_id, updated_at=utcnow())
    _apply(inc, {"title": title, **fields})
    inc.response_due_at = response_deadline(opened, priority, settings)
    _check_fields(inc)
    session.add(inc)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="incident_opened", target_type="incident",
                    target_id=inc.id, detail={"type": kind, "priorite": priority, "titre": inc.title})
    return inc


def get_incident(*, session: Session, actor: Actor, incident_id: int) -> Incident:
    """One incident of the actor's organisation (the DPO sees data breaches only)."""
    _require_read(actor)
    inc = session.get(Incident, int(incident_id))
    if inc is None or inc.org_id != actor.org_id or (actor.role == "dpo" and inc.kind != "breach"):
        raise NotFound("Incident introuvable.")
    return inc


def update_incident(*, session: Session, actor: Actor, incident_id: int, settings: Settings | None = None,
                    **fields: Any) -> Incident:
    """Update an incident (status, response, resolution, breach fields...); a new priority resets the deadline."""
    _require_write(actor)
    settings = settings or get_settings()
    inc = get_incident(session=session, actor=actor, incident_id=incident_id)
    before = {k: _jsonable(getattr(inc, k)) for k in fields if k in EDITABLE}
    _apply(inc, fields)
    if "priority" in fields:
        inc.response_due_at = response_deadline(inc.opened_at, inc.priority, settings)
    if inc.status == "resolved" and inc.resolved_at is None:
        inc.resolved_at = utcnow()
    _check_fields(inc)
    inc.updated_at = utcnow()
    session.add(inc)
    changed = {k: _jsonable(getattr(inc, k)) for k in before if before[k] != _jsonable(getattr(inc, k))}
    audit.log_event(session=session, who=actor.who, action="incident_updated", target_type="incident",
                    target_id=inc.id, detail={"modifications": sorted(changed)})
    return inc


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def list_incidents(*, session: Session, actor: Actor, kind: str | None = None,
                   since: datetime | None = None) -> list[Incident]:
    """Incidents of the actor's organisation, newest first (the DPO gets data breaches only)."""
    _require_read(actor)
    stmt = select(Incident).where(Incident.org_id == actor.org_id)
    if actor.role == "dpo":
        kind = "breach"
    if kind is not None:
        stmt = stmt.where(Incident.kind == kind)
    if since is not None:
        stmt = stmt.where(col(Incident.opened_at) >= since)
    return list(session.exec(stmt.order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())).all())


def register_rows(incidents: list[Incident], *, now: datetime | None = None,
                  settings: Settings | None = None) -> list[dict[str, Any]]:
    """Display rows of the register: French labels, deadline, SLA state and the highlight flags."""
    settings = settings or get_settings()
    now = now or utcnow()
    rows = []
    for inc in incidents:
        sla = sla_state(inc, now=now, settings=settings)
        rows.append({
            "id": inc.id,
            "type": KIND_LABELS.get(inc.kind, inc.kind),
            "priorite": inc.priority,
            "titre": inc.title,
            "statut": INCIDENT_STATUS_LABELS.get(inc.status, inc.status),
            "ouvert_le": as_utc(inc.opened_at),
            "echeance_reponse": sla.deadline,
            "premiere_reponse": as_utc(inc.first_response_at) if inc.first_response_at else None,
            "resolu_le": as_utc(inc.resolved_at) if inc.resolved_at else None,
            "delai": sla.label,
            "sla": sla.state,
            "reste_ouvre_h": round(sla.remaining.total_seconds() / 3600, 1),
            "interruption": inc.caused_downtime,
            "notification_en_retard": breach_notification_late(inc, now=now),
        })
    return rows


def export_breaches_csv(*, session: Session, actor: Actor) -> bytes:
    """The organisation's data breaches as a CSV for the DPO (formula-safe; the export is audited)."""
    _require_read(actor)
    breaches = list_incidents(session=session, actor=actor, kind="breach")
    rows = []
    for inc in breaches:
        notified = as_utc(inc.client_notified_at) if inc.client_notified_at else None
        delay = round((notified - as_utc(inc.opened_at)).total_seconds() / 3600, 1) if notified else None
        rows.append({
            "id": inc.id, "titre": inc.title, "priorite": inc.priority,
            "statut": INCIDENT_STATUS_LABELS.get(inc.status, inc.status), "ouvert_le": _iso(inc.opened_at),
            "nature": inc.description, "categories_de_donnees": inc.data_categories or "",
            "personnes_concernees": "" if inc.people_count is None else inc.people_count,
            "consequences_probables": inc.likely_consequences or "", "mesures_prises": inc.measures_taken or "",
            "client_notifie_le": _iso(inc.client_notified_at), "delai_notification_h": "" if delay is None else delay,
            "impact": inc.impact, "premiere_reponse_le": _iso(inc.first_response_at),
            "resolu_le": _iso(inc.resolved_at),
        })
    audit.log_event(session=session, who=actor.who, action="breaches_exported", target_type="incident",
                    detail={"violations": len(rows)})
    return rows_to_csv(rows, BREACH_CSV_FIELDS)


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat(timespec="minutes") if value else ""


def downtime_incidents(*, session: Session, start: datetime, end: datetime,
                       org_id: int | None = None) -> list[Incident]:
    """Incidents that declared a service interruption overlapping ``[start, end)`` (every org when None)."""
    stmt = select(Incident).where(Incident.caused_downtime == True,  # noqa: E712
                                  col(Incident.downtime_start).is_not(None), col(Incident.downtime_start) < end)
    if org_id is not None:
        stmt = stmt.where(Incident.org_id == org_id)
    rows = session.exec(stmt.order_by(col(Incident.downtime_start))).all()
    return [i for i in rows if i.downtime_end is None or as_utc(i.downtime_end) > as_utc(start)]
