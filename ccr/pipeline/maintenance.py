"""Scheduled maintenance: windows, the banner announcing them, and uploads held while one is active.

A window belongs to one organisation (scheduled by its administrator on the "Incidents & support"
page) or to every organisation (``org_id`` None, scheduled by the operator with
``python -m ccr maintenance``). From ``maintenance_notice_hours`` before its start, every page shows
a banner. During the window uploads are accepted with status ``held`` (never refused);
:func:`release_held_calls`, run every minute by the scheduler, queues them once no window is active.

For availability (``ccr.ops.health.monthly_availability``) a window counts as *announced* from the moment
it was scheduled: its minutes before ``created_at`` are not excluded, so a window recorded after an
outage cannot erase it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, or_, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.db import as_utc, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Call, MaintenanceWindow
from ccr.core.users import Actor
from ccr.pipeline.queue import dispatch_after_commit

MAX_WINDOW_HOURS = 72  # longer than a weekend is a migration project, not a maintenance window
MAX_MESSAGE = 500  # a banner line, not a notice


@dataclass(frozen=True)
class Announcement:
    """A window to announce: active now, or starting within the notice period."""

    window_id: int
    starts_at: datetime
    ends_at: datetime
    message: str
    active: bool
    all_orgs: bool



def _applies_to(org_id: int | None):
    if org_id is None:
        return col(MaintenanceWindow.org_id).is_(None)
    return or_(col(MaintenanceWindow.org_id).is_(None), MaintenanceWindow.org_id == org_id)


def schedule_window(
    *,
    session: Session,
    actor: Actor | None,
    starts_at: datetime,
    ends_at: datetime,
    message: str,
    now: datetime | None = None,
) -> MaintenanceWindow:
    """Schedule a window for the actor's organisation (``actor=None``: the operator, every organisation)."""
    if actor is not None and not may(actor.role, "schedule_maintenance"):
        raise AccessDenied("Seul un administrateur peut programmer une maintenance.")
    if starts_at is None or ends_at is None:
        raise InvalidInput("Indiquez le début et la fin de la maintenance.")
    now = now or utcnow()
    start, end = as_utc(starts_at), as_utc(ends_at)
    text = (message or "").strip()
    if not text:
        raise InvalidInput("Indiquez le message affiché aux utilisateurs.")
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(f"Message trop long : {MAX_MESSAGE} caractères au maximum.")
    if end <= start:
        raise InvalidInput("La fin de la maintenance doit suivre son début.")
    if end <= now:
        raise InvalidInput("Cette fenêtre est déjà passée : une maintenance s'annonce à l'avance.")
    if end - start > timedelta(hours=MAX_WINDOW_HOURS):
        raise InvalidInput(f"Une fenêtre de maintenance dure au plus {MAX_WINDOW_HOURS} heures.")
    window = MaintenanceWindow(org_id=actor.org_id if actor else None, starts_at=start, ends_at=end, message=text,
                               created_by=actor.user_id if actor else None, created_at=now)
    session.add(window)
    session.flush()
    who = actor.who if actor else audit.SYSTEM
    audit.log_event(session=session, who=who, action="maintenance_scheduled", target_type="maintenance",
                    target_id=window.id, detail={"debut": start.isoformat(), "fin": end.isoformat(),
                                                 "toutes_organisations": actor is None})
    return window


def cancel_window(*, session: Session, actor: Actor, window_id: int, now: datetime | None = None) -> None:
    """Cancel a window of the actor's organisation (kept in the history, no longer applied)."""
    if not may(actor.role, "schedule_maintenance"):
        raise AccessDenied("Seul un administrateur peut annuler une maintenance.")
    window = session.get(MaintenanceWindow, int(window_id))
    if window is None or window.org_id != actor.org_id:
        raise NotFound("Fenêtre de maintenance introuvable.")
    window.cancelled_at = now or utcnow()
    session.add(window)
    audit.log_event(session=session, who=actor.who, action="maintenance_cancelled", target_type="maintenance",
                    target_id=window.id)


def list_windows(*, session: Session, org_id: int | None, since: datetime | None = None,
                 include_cancelled: bool = False) -> list[MaintenanceWindow]:
    """Windows that apply to ``org_id`` (its own and the all-organisation ones), ending after ``since``."""
    stmt = select(MaintenanceWindow).where(_applies_to(org_id))
    if since is not None:
        stmt = stmt.where(col(MaintenanceWindow.ends_at) > since)
    if not include_cancelled:
        stmt = stmt.where(col(MaintenanceWindow.cancelled_at).is_(None))
    return list(session.exec(stmt.order_by(col(MaintenanceWindow.starts_at))).all())


def upcoming_or_active(*, session: Session, org_id: int | None, now: datetime | None = None,
                       lead_time: timedelta | None = None) -> list[Announcement]:
    """Windows to announce to ``org_id`` at ``now``: active ones, and those starting within ``lead_time``."""
    now = now or utcnow()
    if lead_time is None:
        lead_time = timedelta(hours=get_settings().maintenance_notice_hours)
    stmt = select(MaintenanceWindow).where(
        _applies_to(org_id), col(MaintenanceWindow.cancelled_at).is_(None),
        col(MaintenanceWindow.ends_at) > now, col(MaintenanceWindow.starts_at) <= now + lead_time,
    ).order_by(col(MaintenanceWindow.starts_at))
    return [
        Announcement(w.id, as_utc(w.starts_at), as_utc(w.ends_at), w.message, as_utc(w.starts_at) <= now,
                     w.org_id is None)
        for w in session.exec(stmt).all()
    ]


def is_maintenance_active(*, session: Session, org_id: int | None, now: datetime | None = None) -> bool:
    """True while a (non-cancelled) window applying to ``org_id`` is in progress."""
    now = now or utcnow()
    stmt = select(MaintenanceWindow.id).where(
        _applies_to(org_id), col(MaintenanceWindow.cancelled_at).is_(None),
        col(MaintenanceWindow.starts_at) <= now, col(MaintenanceWindow.ends_at) > now,
    ).limit(1)
    return session.exec(stmt).first() is not None


def banner_text(announcement: Announcement, settings: Settings | None = None) -> str:
    """The French banner line of an announcement, times in the display timezone."""
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)
    start, end = announcement.starts_at.astimezone(tz), announcement.ends_at.astimezone(tz)
    fmt = "%d/%m/%Y à %H:%M"
    if announcement.active:
        head = f"Maintenance en cours jusqu'au {end.strftime(fmt)}"
        tail = " Les appels importés pendant la maintenance sont mis en attente et traités ensuite."
    else:
        head = f"Maintenance programmée du {start.strftime(fmt)} au {end.strftime(fmt)}"
        tail = ""
    return f"🛠️ {head} : {announcement.message}{tail}"


def release_held_calls(*, session: Session, now: datetime | None = None) -> int:
    """Queue the calls held during maintenance, for every organisation no longer in a window; how many."""
    now = now or utcnow()
    org_ids = session.exec(select(Call.org_id).where(Call.status == "held").distinct()).all()
    released = 0
    for org_id in org_ids:
        if is_maintenance_active(session=session, org_id=org_id, now=now):
            continue
        # queued_at is kept: held calls go to the worker in their upload order, ahead of newer ones.
        held = list(session.exec(select(Call.id).where(Call.org_id == org_id, Call.status == "held")).all())
        result = session.exec(
            update(Call).where(Call.org_id == org_id, Call.status == "held")
            .values(status="queued", lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            dispatch_after_commit(session, held)  # Celery mode: their tasks are sent once this commits
            released += result.rowcount
            audit.log_event(session=session, who=audit.SYSTEM, org_id=org_id, action="held_calls_released",
                            target_type="call", detail={"appels": result.rowcount})
    return released
