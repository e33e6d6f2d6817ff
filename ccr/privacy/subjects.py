"""Data-subject rights: find everything about one agent or one customer phone number, then
access (export), rectification, restriction and erasure.

Erasure folds the subject's evaluations into the anonymised statistics first (the same
function as the retention job, under the same lock), then deletes the calls, transcripts
(the FTS index follows through its delete trigger), evaluations, reviews, recordings and the
organisation's existing exports (copies that may contain the subject), and rebuilds the
dashboard rollups of the days concerned, all in one transaction; then the full-text index is
optimised, so the erased words leave its blocks too (with SQLite's ``secure_delete``, freed
pages are overwritten), and SQLite's write-ahead log is copied back and emptied: the words leave
the database file and its log. The audit log is kept:
it is the proof of the processing and of this very erasure (RGPD art. 17.3 b and e), it holds
no transcript, and the retention job deletes it at its own term.

After an erasure every cached query must be cleared: the page calls
``ccr.ui.dashboard_cache.clear_after_write()``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from ccr.core import audit, outbox, storage
from ccr.core.access import may
from ccr.core.calls import optimize_search_index
from ccr.core.config import Settings, get_settings
from ccr.core.db import checkpoint_wal, utcnow
from ccr.core.db import session as db_session
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import (
    Agent,
    AuditLog,
    Call,
    CriterionResult,
    Dispute,
    Evaluation,
    Export,
    IrritantHit,
    Review,
    Team,
    Transcript,
    User,
)
from ccr.core.textnorm import strip_bidi
from ccr.core.users import Actor
from ccr.core.vocab import DIRECTIONS
from ccr.dashboards.rollups import mark_dirty, settle_rollups
from ccr.privacy.history import fold_into_daily_stats
from ccr.privacy.locks import LOCK_NAME, job_lock
from ccr.privacy.records import (
    call_row,
    delete_quality_records,
    dispute_row,
    evaluation_row,
    export_path,
    iso,
    review_row,
    transcript_row,
)

CONFIRM_WORD = "EFFACER"  # the DPO types "EFFACER <name>": no erasure by a stray click
MIN_PHONE_DIGITS = 6  # shorter strings would match many unrelated numbers
LOCK_WAIT_S = 30.0  # an erasure waits this long for a running purge (the other writer of statistics)
RECTIFIABLE_CALL_FIELDS = ("external_id", "campaign", "direction", "customer_phone", "agent_id")
_SPACES = re.compile(r"\s+")  # runs of whitespace: one space on screen


@dataclass
class Subject:
    """A data subject: an agent of the organisation, or a customer phone number."""

    kind: str  # "agent" | "telephone"
    label: str  # what the DPO sees and types in the confirmation
    agent_id: int | None = None
    phone: str | None = None  # normalised digits
    call_ids: list[int] = field(default_factory=list)


def _require_role(actor: Actor) -> None:
    if not may(actor.role, "data_subjects"):
        raise AccessDenied("Seuls le DPO et l'administrateur traitent les demandes des personnes.")


def normalize_phone(raw: str | None) -> str:
    """Digits of a French phone number in national form: "+33 6 12 34 56 78" -> "0612345678"."""
    digits = re.sub(r"\D", "", raw or "")
    if digits.startswith("0033"):
        digits = "0" + digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits


def resolve_subject(*, session: Session, actor: Actor, agent_id: int | None = None,
                    phone: str | None = None) -> Subject:
    """The subject and the ids of every call about them, inside the actor's organisation."""
    _require_role(actor)
    if (agent_id is None) == (not phone):
        raise InvalidInput("Indiquez soit un agent, soit un numéro de téléphone.")
    if agent_id is not None:
        agent = session.get(Agent, agent_id)
        if agent is None or agent.org_id != actor.org_id:
            raise NotFound("Agent introuvable.")
        ids = session.exec(select(Call.id).where(Call.org_id == actor.org_id, Call.agent_id == agent_id)
                           .order_by(Call.id)).all()
        return Subject("agent", agent.name, agent_id=agent.id, call_ids=list(ids))
    wanted = normalize_phone(phone)
    if len(wanted) < MIN_PHONE_DIGITS:
        raise InvalidInput(f"Numéro de téléphone trop court (au moins {MIN_PHONE_DIGITS} chiffres).")
    # Stored numbers come in many formats: compare normalised digits, in Python.
    ids = [cid for cid, stored in session.exec(
        select(Call.id, Call.customer_phone).where(Call.org_id == actor.org_id,
                                                   col(Call.customer_phone).is_not(None)).order_by(Call.id)).all()
        if normalize_phone(stored) == wanted]
    return Subject("telephone", phone.strip(), phone=wanted, call_ids=ids)


def subject_calls(*, session: Session, actor: Actor, subject: Subject) -> list[Call]:
    """The calls about the subject."""
    return _in_chunks(session, select(Call).where(Call.org_id == actor.org_id), Call.id, subject.call_ids)


def _in_chunks(session: Session, stmt, column, ids: list[int], size: int = 500) -> list:
    out: list = []
    for i in range(0, len(ids), size):
        out += session.exec(stmt.where(col(column).in_(ids[i:i + size]))).all()
    return out


def _count(session: Session, model, column, ids: list[int], *where) -> int:
    total = 0
    for i in range(0, len(ids), 500):
        total += session.exec(select(func.count()).select_from(model).where(
            col(column).in_(ids[i:i + 500]), *where)).one()
    return int(total)


def _audit_mentions(session: Session, actor: Actor, subject: Subject) -> list[AuditLog]:
    conds = []
    if subject.agent_id is not None:
        conds.append((AuditLog.target_type == "agent") & (AuditLog.target_id == str(subject.agent_id)))
        conds.append(col(AuditLog.detail_json).contains(json.dumps(subject.label, ensure_ascii=False)))
    if subject.phone:
        conds.append(col(AuditLog.detail_json).contains(subject.phone))
    entries = list(session.exec(select(AuditLog).where(AuditLog.org_id == actor.org_id, or_(*conds))).all())
    str_ids = [str(i) for i in subject.call_ids]
    for i in range(0, len(str_ids), 500):
        entries += session.exec(select(AuditLog).where(AuditLog.org_id == actor.org_id,
                                                       AuditLog.target_type == "call",
                                                       col(AuditLog.target_id).in_(str_ids[i:i + 500]))).all()
    return sorted({e.id: e for e in entries}.values(), key=lambda e: e.id)


def preview(*, session: Session, actor: Actor, agent_id: int | None = None,
            phone: str | None = None) -> dict[str, Any]:
    """How much there is about the subject, before exporting, restricting or erasing."""
    subject = resolve_subject(session=session, actor=actor, agent_id=agent_id, phone=phone)
    ids = subject.call_ids
    calls = subject_calls(session=session, actor=actor, subject=subject)
    return {
        "kind": subject.kind,
        "label": subject.label,
        "confirmation": confirmation_phrase(subject),
        "calls": len(ids),
        "transcripts": _count(session, Transcript, Transcript.call_id, ids, Transcript.org_id == actor.org_id),
        "evaluations": _count(session, Evaluation, Evaluation.call_id, ids, Evaluation.org_id == actor.org_id),
        "reviews": _count(session, Review, Review.call_id, ids, Review.org_id == actor.org_id),
        "audio_files": sum(1 for c in calls if c.audio_key),
        "restricted": sum(1 for c in calls if c.restricted),
        "audit_mentions": len(_audit_mentions(session, actor, subject)),
        "exports": int(session.exec(select(func.count()).select_from(Export)
                                    .where(Export.org_id == actor.org_id)).one()),
    }


def confirmation_phrase(subject: Subject) -> str:
    """What the DPO must type to confirm an erasure, as the page shows it (no bidi control, single spaces)."""
    return _confirm_form(f"{CONFIRM_WORD} {subject.label}")


def _confirm_form(text: str) -> str:
    # A name stored before bidi controls were stripped at input still holds them, and the page shows it
    # without them: both the phrase and what is typed are compared in the form the screen displays.
    return _SPACES.sub(" ", strip_bidi(text)).strip()



def collect_subject_data(*, session: Session, actor: Actor, subject: Subject) -> dict[str, Any]:
    """Everything stored about the subject, as JSON-ready data (right of access and portability)."""
    teams = dict(session.exec(select(Team.id, Team.name).where(Team.org_id == actor.org_id)).all())
    agents = dict(session.exec(select(Agent.id, Agent.name).where(Agent.org_id == actor.org_id)).all())
    ids = subject.call_ids
    person: dict[str, Any] = {"type": subject.kind}
    if subject.kind == "agent":
        agent = session.get(Agent, subject.agent_id)
        person.update({"id": agent.id, "nom": agent.name, "equipe": teams.get(agent.team_id),
                       "reference_externe": agent.external_ref, "actif": agent.active,
                       "cree_le": iso(agent.created_at)})
    else:
        person["telephone"] = subject.label
    calls = subject_calls(session=session, actor=actor, subject=subject)
    return {
        "personne": person,
        "genere_le": iso(utcnow()),
        "appels": [call_row(c, teams, agents) for c in calls],
        "transcriptions": [transcript_row(t) for t in _in_chunks(
            session, select(Transcript).where(Transcript.org_id == actor.org_id), Transcript.call_id, ids)],
        "evaluations": [evaluation_row(e) for e in _in_chunks(
            session, select(Evaluation).where(Evaluation.org_id == actor.org_id), Evaluation.call_id, ids)],
        "validations": [review_row(r) for r in _in_chunks(
            session, select(Review).where(Review.org_id == actor.org_id), Review.call_id, ids)],
        "contestations": [dispute_row(d) for d in _in_chunks(
            session, select(Dispute).where(Dispute.org_id == actor.org_id), Dispute.call_id, ids)],
        "journal": [{"date": iso(e.created_at), "utilisateur": e.username, "action": e.action,
                     "cible": e.target_type, "cible_id": e.target_id}
                    for e in _audit_mentions(session, actor, subject)],
    }


def summary_text(data: dict[str, Any], *, settings: Settings | None = None) -> str:
    """A readable French summary of a subject export (resume.txt)."""
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)
    person = data["personne"]
    who = f"l'agent « {person['nom']} »" if person["type"] == "agent" else f"le numéro {person['telephone']}"
    lines = [
        f"Données personnelles concernant {who}",
        f"Document généré le {datetime.fromisoformat(data['genere_le']).astimezone(tz):%d/%m/%Y à %H:%M}.",
        "",
        "Ce dossier répond aux droits d'accès et à la portabilité (RGPD, articles 15 et 20).",
        "Le fichier donnees.json contient les mêmes informations dans un format lisible par une machine.",
        "",
        f"Appels : {len(data['appels'])}",
        f"Transcriptions (caviardées) : {len(data['transcriptions'])}",
        f"Évaluations : {len(data['evaluations'])}",
        f"Validations par un superviseur : {len(data['validations'])}",
        f"Contestations : {len(data.get('contestations', []))}",
        f"Mentions au journal d'audit : {len(data['journal'])}",
        "",
    ]
    scores = {e["call_id"]: e["final_score"] for e in data["evaluations"] if e["is_current"]}
    if data["appels"]:
        lines.append("Détail des appels :")
        for c in data["appels"]:
            when = datetime.fromisoformat(c["started_at"]).astimezone(tz) if c["started_at"] else None
            score = scores.get(c["id"])
            lines.append(
                f"- Appel n° {c['id']} du {when:%d/%m/%Y à %H:%M}" if when else f"- Appel n° {c['id']}")
            lines.append(f"  sens : {c['direction']}, durée : {round(c['duration_s'] or 0)} s, "
                         f"campagne : {c['campaign'] or '—'}, "
                         f"score : {score if score is not None else 'non évalué'}"
                         f"{', traitement limité' if c['restricted'] else ''}")
        lines.append("")
    lines += [
        "Vous pouvez demander la rectification, l'effacement ou la limitation de ces données,",
        f"ou vous opposer à leur traitement, en écrivant au délégué à la protection des données : "
        f"{settings.dpo_contact}.",
        "Vous pouvez aussi introduire une réclamation auprès de la CNIL (www.cnil.fr).",
    ]
    return "\n".join(lines) + "\n"


# --- erasure --------------------------------------------------------------------------------------


def erase_subject(*, actor: Actor, confirmation: str, agent_id: int | None = None, phone: str | None = None,
                  settings: Settings | None = None) -> dict[str, int]:
    """Erase everything about the subject after the typed confirmation; anonymised statistics stay.

    Returns the deleted counts. The page must clear every cached query afterwards.
    """
    settings = settings or get_settings()
    with db_session(settings) as s:
        subject = resolve_subject(session=s, actor=actor, agent_id=agent_id, phone=phone)
    if _confirm_form(confirmation or "") != confirmation_phrase(subject):
        raise InvalidInput(f"Confirmation incorrecte : tapez exactement « {confirmation_phrase(subject)} ».")
    counts: dict[str, int] = {}
    audio: list[str] = []
    export_files: list[str] = []
    with job_lock(LOCK_NAME, wait_s=LOCK_WAIT_S, settings=settings), db_session(settings) as s:
        subject = resolve_subject(session=s, actor=actor, agent_id=agent_id, phone=phone)  # fresh, under lock
        ids = subject.call_ids
        org = actor.org_id
        counts["folded"] = fold_into_daily_stats(session=s, org_id=org, call_ids=ids, settings=settings)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            mark_dirty(s, org, call_ids=chunk)  # dashboard rollups of those days (ccr.dashboards.rollups)
            ev_ids = list(s.exec(select(Evaluation.id).where(Evaluation.org_id == org,
                                                             col(Evaluation.call_id).in_(chunk))).all())
            counts["reviews"] = counts.get("reviews", 0) + _rowcount(
                s, delete(Review).where(Review.org_id == org, col(Review.call_id).in_(chunk)))
            counts["disputes"] = counts.get("disputes", 0) + delete_quality_records(s, org, ev_ids)
            _rowcount(s, delete(CriterionResult).where(col(CriterionResult.evaluation_id).in_(ev_ids)))
            _rowcount(s, delete(IrritantHit).where(col(IrritantHit.evaluation_id).in_(ev_ids)))
            counts["evaluations"] = counts.get("evaluations", 0) + _rowcount(
                s, delete(Evaluation).where(col(Evaluation.id).in_(ev_ids)))
            outbox.forget_calls(s, org, chunk)  # webhook events not yet delivered quote those calls too
            counts["transcripts"] = counts.get("transcripts", 0) + _rowcount(
                s, delete(Transcript).where(Transcript.org_id == org, col(Transcript.call_id).in_(chunk)))
            audio += [k for k in s.exec(select(Call.audio_key).where(
                col(Call.id).in_(chunk), col(Call.audio_key).is_not(None))).all()]
            counts["calls"] = counts.get("calls", 0) + _rowcount(
                s, delete(Call).where(Call.org_id == org, col(Call.id).in_(chunk)))
        counts["audio_files"] = len(audio)
        # Existing exports are copies that may contain the subject: they go too.
        exports = s.exec(select(Export).where(Export.org_id == org)).all()
        export_files = [e.file_key for e in exports if e.file_key]
        for e in exports:
            s.delete(e)
        counts["exports"] = len(exports)
        if subject.kind == "agent":
            # The agent's login (if any) loses its link and is closed: it would otherwise point at nothing.
            for user in s.exec(select(User).where(User.org_id == org, User.agent_id == subject.agent_id)).all():
                user.agent_id, user.active, user.sessions_revoked_at = None, False, utcnow()
                s.add(user)
                counts["accounts_closed"] = counts.get("accounts_closed", 0) + 1
            s.flush()
            s.delete(s.get(Agent, subject.agent_id))
            counts["agent"] = 1
        settle_rollups(session=s, org_id=org, settings=settings)  # no per-agent figure outlives the erasure
        # The log records the erasure without the name or number that was erased.
        audit.log_event(session=s, who=actor.who, action="subject_erased", target_type=subject.kind,
                        target_id=subject.agent_id, detail={k: v for k, v in counts.items() if v})
    # Its own transaction: it rewrites the whole index, too long to hold the erasure's lock for. A crash
    # before it leaves the words in index blocks only until the nightly purge optimises again.
    with db_session(settings) as s:
        optimize_search_index(session=s)
    # Once the optimise is committed: SQLite's write-ahead log still holds the images of the pages it
    # rewrote, and the database file the pages as they were, until the log is copied back and emptied.
    checkpoint_wal(settings)
    # Rows are committed: now the files. A crash here leaves orphans that the purge's sweep removes.
    for key in audio:
        storage.delete_audio(key, org_id=actor.org_id, settings=settings)
    for key in export_files:
        path = export_path(settings, actor.org_id, key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".part").unlink(missing_ok=True)
    return counts


def _rowcount(s: Session, stmt) -> int:
    return int(s.execute(stmt).rowcount or 0)


# --- restriction and rectification ----------------------------------------------------------------


def set_restriction(*, session: Session, actor: Actor, restricted: bool, agent_id: int | None = None,
                    phone: str | None = None, call_ids: list[int] | None = None) -> int:
    """Mark the subject's calls (or the given calls) restricted: kept, but out of processing,
    dashboards and listening; returns how many calls changed."""
    _require_role(actor)
    if call_ids is not None:
        ids = list(session.exec(select(Call.id).where(Call.org_id == actor.org_id,
                                                      col(Call.id).in_(call_ids))).all())
        if len(ids) != len(set(call_ids)):
            raise NotFound("Appel introuvable.")
        kind, target = "appels", None
    else:
        subject = resolve_subject(session=session, actor=actor, agent_id=agent_id, phone=phone)
        ids, kind, target = subject.call_ids, subject.kind, subject.agent_id
    if not restricted and ids:
        # An excluded call (staff representative, private line) stays out of processing: lifting the
        # restriction of a person's calls does not bring it back.
        ids = [i for start in range(0, len(ids), 500) for i in session.exec(
            select(Call.id).where(Call.org_id == actor.org_id, col(Call.id).in_(ids[start:start + 500]),
                                  Call.scope != "excluded")).all()]
    changed = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        mark_dirty(session, actor.org_id, call_ids=chunk)  # dashboard rollups of those days (ccr.dashboards.rollups)
        changed += _rowcount(session, update(Call).where(Call.org_id == actor.org_id, col(Call.id).in_(chunk),
                                                         Call.restricted != restricted)
                             .values(restricted=restricted))
        session.execute(update(Evaluation).where(Evaluation.org_id == actor.org_id,
                                                 col(Evaluation.call_id).in_(chunk))
                        .values(restricted=restricted))
    audit.log_event(session=session, who=actor.who, action="restriction_set" if restricted else "restriction_lifted",
                    target_type=kind, target_id=target, detail={"appels": changed})
    return changed


def rectify_agent(*, session: Session, actor: Actor, agent_id: int, name: str) -> Agent:
    """Correct an agent's name (right of rectification)."""
    _require_role(actor)
    agent = session.get(Agent, agent_id)
    if agent is None or agent.org_id != actor.org_id:
        raise NotFound("Agent introuvable.")
    name = strip_bidi(name or "").strip()  # a bidi control would reverse the name on every screen
    if not name:
        raise InvalidInput("Le nom de l'agent est obligatoire.")
    clash = session.exec(select(Agent).where(Agent.org_id == actor.org_id, Agent.id != agent_id)).all()
    if any(a.name.casefold() == name.casefold() for a in clash):
        raise InvalidInput(f"Un autre agent s'appelle déjà « {name} ».")
    agent.name = name
    session.add(agent)
    audit.log_event(session=session, who=actor.who, action="subject_rectified", target_type="agent",
                    target_id=agent.id, detail={"champs": ["nom"]})
    return agent


def rectify_call(*, session: Session, actor: Actor, call_id: int, **fields: Any) -> Call:
    """Correct a call's metadata (external id, campaign, direction, customer phone, agent)."""
    _require_role(actor)
    call = session.get(Call, call_id)
    if call is None or call.org_id != actor.org_id:
        raise NotFound("Appel introuvable.")
    unknown = set(fields) - set(RECTIFIABLE_CALL_FIELDS)
    if unknown:
        raise InvalidInput(f"Champ non modifiable : {', '.join(sorted(unknown))}.")
    changed = []
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip() or None
        if name == "direction" and value not in DIRECTIONS:
            raise InvalidInput("Le sens d'appel doit être « entrant » ou « sortant ».")
        if name == "agent_id" and value is not None:
            agent = session.get(Agent, int(value))
            if agent is None or agent.org_id != actor.org_id:
                raise NotFound("Agent introuvable.")
            call.team_id = agent.team_id
        if getattr(call, name) != value:
            setattr(call, name, value)
            changed.append(name)
    if not changed:
        return call
    session.add(call)
    mark_dirty(session, actor.org_id, [call.started_at])  # dashboard rollups of that day (ccr.dashboards.rollups)
    # Dashboards aggregate denormalised copies: keep them in step with the corrected call.
    denorm = {"agent_id": call.agent_id, "team_id": call.team_id}
    session.execute(update(Evaluation).where(Evaluation.call_id == call.id)
                    .values(**denorm, campaign=call.campaign, direction=call.direction))
    session.execute(update(CriterionResult).where(CriterionResult.call_id == call.id).values(**denorm))
    session.execute(update(IrritantHit).where(IrritantHit.call_id == call.id).values(**denorm))
    # Field names only: the old and new values may be personal data, and the log is immutable.
    audit.log_event(session=session, who=actor.who, action="subject_rectified", target_type="call",
                    target_id=call.id, detail={"champs": changed})
    return call
