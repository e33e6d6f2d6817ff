"""Retention: how long each category of data is kept, and the purge job that really deletes it.

The durations are set per organisation and data category by the DPO (or an admin). Everything dated
by its call counts from the later of the call date and the import date (:func:`call_expired`): a call
imported long after it happened still gets its full duration here, and a call date in the future is
not believed (the import date counts), so no date, however absurd, keeps a call beyond its term.
The purge (:func:`run_purge`, daily through ``ccr.ops.scheduler``, or ``python -m ccr purge``):

1. takes a lease row in the database (:class:`~ccr.core.models.JobLock` "purge"), so two server
   processes never purge at once: the loser records a "skipped" run and returns;
2. per organisation and per batch of calls, in ONE transaction: folds the evaluations about to be
   deleted into anonymised :class:`~ccr.core.models.DailyStat` rows, deletes the expired rows, and
   records the files to remove in the run (``PurgeRun.pending_files_json``);
3. after the commit, removes those files; a run killed in between leaves them listed, and the next
   run removes them first; finally a sweep removes files that no row references;
4. optimises the full-text index, whose blocks keep deleted words until their segments are merged,
   then empties SQLite's write-ahead log into the database file (it held the old page images).

The dashboard rollups of the deleted evaluations are rebuilt in the batch's transaction
(:func:`ccr.dashboards.rollups.settle_rollups`), not when a dashboard next opens.

The lease is :mod:`ccr.privacy.locks`'s; the folding into anonymised statistics is :mod:`ccr.privacy.history`'s."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, true
from sqlmodel import Session, SQLModel, col, select

from ccr.core import audit, outbox, storage
from ccr.core.access import may
from ccr.core.calls import optimize_search_index
from ccr.core.config import Settings, get_settings
from ccr.core.db import as_utc, checkpoint_wal, get_engine, utcnow
from ccr.core.db import session as db_session
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import (
    Call,
    ConsentRecord,
    CriterionResult,
    Evaluation,
    Export,
    IrritantHit,
    Organisation,
    PurgeRun,
    RetentionSetting,
    Review,
    Transcript,
)
from ccr.core.users import Actor
from ccr.dashboards.rollups import mark_dirty, settle_rollups
from ccr.privacy.history import chunks, fold_into_daily_stats
from ccr.privacy.locks import LOCK_NAME, acquire_lock, lock_owner_id, release_lock, renew_lock
from ccr.privacy.records import EXPORT_SUFFIX, delete_quality_records, export_path

log = logging.getLogger(__name__)


# --- legal references and defaults --------------------------------------------------------------
CNIL_2014_474 = (
    "CNIL, délibération n° 2014-474 du 27 novembre 2014 (norme simplifiée NS-057, écoute et "
    "enregistrement des appels sur le lieu de travail)"
)


COUNTED_FROM_CALL = "date de l'appel, ou date de son import si elle est plus tardive"


@dataclass(frozen=True)
class CategoryRule:
    """One data category: its French label, default and reference durations, and the legal basis."""

    key: str
    label: str
    default_days: int
    reference_days: int  # beyond this, lengthening needs a written justification
    reference: str
    counted_from: str


CATEGORIES: dict[str, CategoryRule] = {
    # CNIL 2014-474 art. 5: recordings are kept at most 6 months; 183 days covers any 6 calendar months.
    "recordings": CategoryRule(
        "recordings", "Enregistrements audio", 183, 183,
        f"{CNIL_2014_474}, art. 5 : enregistrements conservés 6 mois au plus.", COUNTED_FROM_CALL),
    # A transcript reproduces the recording word for word, so it gets the recording's limit, not the
    # one-year limit of analysis documents (the evaluations keep their own short evidence quotes).
    "transcripts": CategoryRule(
        "transcripts", "Transcriptions", 183, 183,
        f"{CNIL_2014_474}, art. 5 : une transcription reproduit l'enregistrement, même durée (6 mois).",
        COUNTED_FROM_CALL),
    # CNIL 2014-474 art. 5: analysis documents (grids, scores, reviews) are kept at most 1 year.
    "evaluations_reviews": CategoryRule(
        "evaluations_reviews", "Évaluations et validations", 365, 365,
        f"{CNIL_2014_474}, art. 5 : documents d'analyse conservés 1 an au plus.", COUNTED_FROM_CALL),
    # CNIL recommendation on logging (délibération 2021-122): access logs kept 6 months to 1 year;
    # one year lets the DPO answer a data subject about the past year's accesses.
    "audit_log": CategoryRule(
        "audit_log", "Journal d'audit", 365, 365,
        "CNIL, délibération n° 2021-122 (recommandation journalisation) : 6 mois à 1 an.",
        "date de l'action"),
    # RGPD art. 7.1 asks to prove consent; the CNIL cookie guidelines (délibération 2020-091) keep a
    # choice 6 months, so the proof is kept 6 more months after the choice expired or was withdrawn.
    "consent_records": CategoryRule(
        "consent_records", "Preuves de consentement (cookies)", 183, 183,
        "RGPD art. 7.1 (preuve du consentement) ; CNIL, délibération n° 2020-091 : choix valable "
        "6 mois, preuve gardée 6 mois après expiration.", "expiration ou retrait du consentement"),
    # An export is a full copy of the data: it lives only as long as needed to download it
    # (Settings.export_keep_days, 7 by default); the policies' 30-day horizon is the outer bound.
    "exports": CategoryRule(
        "exports", "Exports", 7, 30,
        "Politique de conservation CallCenterRate, § 7 (restitution) : l'export est une copie, "
        "supprimée une fois récupérée (30 jours au plus).", "création de l'export"),
}


MIN_DAYS = 1  # zero would delete data the moment it arrives, before anyone can review it
MAX_DAYS = 3650  # ten years: a typo guard, far beyond any justified duration


# A call cannot happen after its import, but a recorder's clock or a wrong time zone (they span 26 h)
# may put it some hours ahead: a call date up to one day ahead is believed, a later one is refused at
# import, and for rows stored before that check, retention counts from the import date instead.
CLOCK_SKEW = timedelta(days=1)


# The oldest call date accepted at import: no organisation may keep call data longer than MAX_DAYS, so
# an older date (01/01/1900, a clock reset to 1970) is a mistake, never a call that may still be held.
MAX_CALL_AGE = timedelta(days=MAX_DAYS)
MIN_JUSTIFICATION_CHARS = 20  # a written reason, not "ok"
ORPHAN_GRACE_S = 3600  # an upload writes its file just before its row: younger files are never swept
ACTIVE_STATUSES = ("transcribing", "scoring")  # a worker holds these calls: left for the next run


# Test hook: kill the process between a batch's commit and its file deletions (crash-safety test).
CRASH_ENV = "CCR_TEST_CRASH_AFTER_COMMIT"
HOLD_ENV = "CCR_TEST_PURGE_HOLD_S"  # test hook: hold the lock this long, so two processes surely overlap


# Tables kept when a terminated organisation is wiped: the tenant itself, its team names (labels
# of the anonymised statistics) and the statistics; everything else with an org_id is deleted.
KEEP_ON_TERMINATION = frozenset({"organisation", "team", "dailystat", "purgerun", "joblock"})


def _require_role(actor: Actor) -> None:
    if not may(actor.role, "manage_retention"):
        raise AccessDenied("Seuls le DPO et l'administrateur gèrent la conservation des données.")


def default_days(category: str, settings: Settings | None = None) -> int:
    """Default duration of a category (exports follow ``Settings.export_keep_days``)."""
    if category == "exports":
        return (settings or get_settings()).export_keep_days
    return CATEGORIES[category].default_days


def retention_days(*, session: Session, org_id: int, settings: Settings | None = None) -> dict[str, int]:
    """Durations in force for one organisation: its settings, else the defaults."""
    rows = session.exec(select(RetentionSetting).where(RetentionSetting.org_id == org_id)).all()
    days = {c: default_days(c, settings) for c in CATEGORIES}
    days.update({r.category: r.days for r in rows if r.category in CATEGORIES})
    return days


def get_retention(*, session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Each category with its duration in force, default, reference limit, legal basis and justification."""
    _require_role(actor)
    rows = {r.category: r for r in session.exec(
        select(RetentionSetting).where(RetentionSetting.org_id == actor.org_id)).all()}
    out = []
    for key, rule in CATEGORIES.items():
        row = rows.get(key)
        out.append({
            "category": key,
            "label": rule.label,
            "days": row.days if row else default_days(key),
            "default_days": default_days(key),
            "reference_days": rule.reference_days,
            "reference": rule.reference,
            "counted_from": rule.counted_from,
            "justification": row.justification if row else None,
            "updated_at": row.updated_at if row else None,
            "beyond_reference": (row.days if row else default_days(key)) > rule.reference_days,
        })
    return out


def set_retention(*, session: Session, actor: Actor, category: str, days: int,
                  justification: str | None = None) -> RetentionSetting:
    """Set one category's duration (DPO/admin); beyond the reference limit a written justification is required."""
    _require_role(actor)
    if category not in CATEGORIES:
        raise InvalidInput(f"Catégorie de données inconnue : {category!r}.")
    rule = CATEGORIES[category]
    try:
        days = int(days)
    except (TypeError, ValueError) as err:
        raise InvalidInput("La durée doit être un nombre entier de jours.") from err
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"La durée doit être comprise entre {MIN_DAYS} et {MAX_DAYS} jours.")
    justification = (justification or "").strip() or None
    if days > rule.reference_days and (justification is None or len(justification) < MIN_JUSTIFICATION_CHARS):
        raise InvalidInput(
            f"{rule.label} : {days} jours dépasse la durée de référence ({rule.reference_days} jours). "
            f"Une justification écrite d'au moins {MIN_JUSTIFICATION_CHARS} caractères est obligatoire."
        )
    row = session.exec(select(RetentionSetting).where(RetentionSetting.org_id == actor.org_id,
                                                      RetentionSetting.category == category)).first()
    before = row.days if row else default_days(category)
    if row is None:
        row = RetentionSetting(org_id=actor.org_id, category=category, days=days)
    row.days = days
    # A justification only makes sense for a duration beyond the reference; a shorter one drops it.
    row.justification = justification if days > rule.reference_days else None
    row.updated_by = actor.user_id
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="retention_set", target_type="retention",
                    target_id=category, detail={"avant": before, "apres": days,
                                                "justification": row.justification})
    return row


def call_date_error(started_at: datetime, *, now: datetime | None = None,
                    settings: Settings | None = None) -> str | None:
    """Why a call date cannot be accepted at import (French, lower case), or None when it is plausible."""
    now = as_utc(now) if now else utcnow()
    started_at = as_utc(started_at)
    oldest = now - MAX_CALL_AGE
    if oldest <= started_at <= now + CLOCK_SKEW:
        return None  # checked on every line of a metadata CSV: the message is only built when needed
    tz = ZoneInfo((settings or get_settings()).timezone)
    shown = f"{started_at.astimezone(tz):%d/%m/%Y %H:%M}"
    if started_at > now:
        return (f"date de l'appel {shown} dans le futur : un appel ne peut pas être daté après son import "
                f"(un jour de décalage d'horloge au plus est toléré)")
    return (f"date de l'appel {shown} antérieure au {oldest.astimezone(tz):%d/%m/%Y} : plus ancienne "
            f"que toute durée de conservation autorisée ({MAX_DAYS // 365} ans)")


def call_expired(cutoff: datetime, *, now: datetime) -> Any:
    """SQL condition: the call's retention instant is before ``cutoff``.

    That instant is the later of the call date and the import date (``Call.created_at``), except for a
    call date beyond ``now`` + CLOCK_SKEW, which is not believed: the import date alone counts."""
    return and_(Call.created_at < cutoff,
                or_(Call.started_at < cutoff, Call.started_at > now + CLOCK_SKEW))


def termination_deadline(org: Organisation, settings: Settings | None = None) -> datetime | None:
    """When a terminated organisation's data is deleted (None if it is not terminated)."""
    if org.status != "terminated" or org.terminated_at is None:
        return None
    return as_utc(org.terminated_at) + timedelta(days=(settings or get_settings()).termination_grace_days)


def termination_countdown(org: Organisation, *, now: datetime | None = None,
                          settings: Settings | None = None) -> int | None:
    """Whole days left before a terminated organisation's data is deleted (0 = at the next run)."""
    deadline = termination_deadline(org, settings)
    if deadline is None:
        return None
    left = deadline - (now or utcnow())
    return max(0, left.days + (1 if left.seconds or left.microseconds else 0))


def _remove_file(settings: Settings, entry: list) -> None:
    kind, org_id, key = entry
    if kind == "audio":
        storage.delete_audio(key, org_id=org_id, settings=settings)
    elif kind == "export":
        path = export_path(settings, org_id, key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".part").unlink(missing_ok=True)


def sweep_orphans(*, settings: Settings | None = None, min_age_s: float = ORPHAN_GRACE_S) -> int:
    """Remove audio and export files that no row references (left by a crash); returns how many.

    Files younger than ``min_age_s`` are left alone: an upload writes its file just before its row.
    """
    settings = settings or get_settings()
    cutoff = time.time() - min_age_s
    removed = 0

    def old_enough(path: Path) -> bool:
        try:
            return path.stat().st_mtime <= cutoff
        except FileNotFoundError:
            return False

    for base in (settings.audio_dir, settings.exports_dir):
        if not base.is_dir():
            continue
        for org_dir in base.iterdir():
            if not (org_dir.is_dir() and org_dir.name.isdigit()):
                continue
            org_id = int(org_dir.name)
            with db_session(settings) as s:
                if base == settings.audio_dir:
                    known = set(s.exec(select(Call.audio_key).where(Call.org_id == org_id)).all())
                else:
                    known = set(s.exec(select(Export.file_key).where(Export.org_id == org_id)).all())
            if base == settings.audio_dir:
                paths = [storage.audio_path(k, org_id=org_id, settings=settings)
                         for k in storage.iter_stored_keys(org_id, settings=settings) if k not in known]
                # Temporary files of an interrupted upload only ever hold ciphertext; old ones are litter.
                paths += list(org_dir.glob(storage.TMP_PREFIX + "*"))
            else:
                paths = [p for p in org_dir.iterdir() if p.is_file()
                         and p.name.split(".", 1)[0] not in known
                         and (p.name.endswith(EXPORT_SUFFIX) or p.name.endswith(EXPORT_SUFFIX + ".part"))]
            for path in paths:
                if old_enough(path):
                    path.unlink(missing_ok=True)
                    removed += 1
    return removed


def _day_cutoff(now: datetime, days: int, tz: ZoneInfo) -> datetime:
    """Data of local day D expires at the first run on day D + days: cutoff = midnight of today - days + 1."""
    today = as_utc(now).astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tz).astimezone(UTC)


@contextmanager
def _tx(settings: Settings, dry_run: bool) -> Iterator[Session]:
    with Session(get_engine(settings), expire_on_commit=False) as s:
        try:
            yield s
            if dry_run:
                s.rollback()
            else:
                s.commit()
        except BaseException:
            s.rollback()
            raise


class _Purger:
    """State of one run: the run row, the clock, counters and the files to remove after each commit."""

    def __init__(self, run_id: int, now: datetime, dry_run: bool, settings: Settings, owner: str) -> None:
        self.run_id = run_id
        self.now = now
        self.dry_run = dry_run
        self.settings = settings
        self.owner = owner
        self.tz = ZoneInfo(settings.timezone)
        self.counts: Counter[str] = Counter()

    # One batch = one transaction; files are listed in the run row within it, removed after the commit.
    def _commit_batch(self, s: Session, files: list[list]) -> None:
        if files and not self.dry_run:
            run = s.get(PurgeRun, self.run_id)
            run.pending_files_json = json.dumps(json.loads(run.pending_files_json or "[]") + files)
            s.add(run)

    def _after_commit(self, files: list[list]) -> None:
        if self.dry_run or not files:
            return
        if os.environ.get(CRASH_ENV) == "1":
            os._exit(137)  # simulate a SIGKILL between the commit and the file deletion
        for entry in files:
            _remove_file(self.settings, entry)
        with _tx(self.settings, False) as s:
            run = s.get(PurgeRun, self.run_id)
            done = {tuple(e) for e in files}
            run.pending_files_json = json.dumps(
                [e for e in json.loads(run.pending_files_json or "[]") if tuple(e) not in done])
            s.add(run)
        renew_lock(LOCK_NAME, self.owner, settings=self.settings)

    def _call_batches(self, org_id: int, where: list, extra=None) -> list[int]:
        with _tx(self.settings, True) as s:
            stmt = select(Call.id).where(Call.org_id == org_id, col(Call.status).not_in(ACTIVE_STATUSES), *where)
            if extra is not None:
                stmt = extra(stmt)
            return list(s.exec(stmt.order_by(Call.id)).all())

    def purge_organisation(self, org: Organisation, days: dict[str, int]) -> Counter[str]:
        """Apply the durations to one organisation; everything expires once a termination is due."""
        counts: Counter[str] = Counter()
        deadline = termination_deadline(org, self.settings)
        wipe = deadline is not None and self.now >= deadline
        far = self.now + timedelta(days=1)
        # What has expired, per category: everything once a termination is due, else by retention instant.
        expired = {c: true() if wipe else call_expired(_day_cutoff(self.now, days[c], self.tz), now=self.now)
                   for c in ("recordings", "transcripts", "evaluations_reviews")}
        # 1. evaluations (+ verdicts, irritants, reviews), folded into the statistics first; the dashboard
        # rollups of their days are rebuilt in the same transaction (no per-agent figure outlives them)
        ids = self._call_batches(org.id, [expired["evaluations_reviews"]], lambda st: st.where(
            col(Call.id).in_(select(Evaluation.call_id).where(Evaluation.org_id == org.id))))
        for chunk in chunks(ids):
            with _tx(self.settings, self.dry_run) as s:
                mark_dirty(s, org.id, call_ids=chunk)  # dashboard rollups of those days (ccr.dashboards.rollups)
                counts["folded"] += fold_into_daily_stats(session=s, org_id=org.id, call_ids=chunk,
                                                          settings=self.settings)
                ev_ids = list(s.exec(select(Evaluation.id).where(Evaluation.org_id == org.id,
                                                                 col(Evaluation.call_id).in_(chunk))).all())
                counts["reviews"] += _delete(s, Review, col(Review.evaluation_id).in_(ev_ids))
                counts["disputes"] += delete_quality_records(s, org.id, ev_ids)
                _delete(s, CriterionResult, col(CriterionResult.evaluation_id).in_(ev_ids))
                _delete(s, IrritantHit, col(IrritantHit.evaluation_id).in_(ev_ids))
                counts["evaluations"] += _delete(s, Evaluation, col(Evaluation.id).in_(ev_ids))
                outbox.forget_calls(s, org.id, chunk)  # the webhook events quoting those scores go with them
                settle_rollups(session=s, org_id=org.id, settings=self.settings)
        # 2. transcripts (the FTS index follows through its delete trigger, and is optimised after the run)
        ids = self._call_batches(org.id, [expired["transcripts"]], lambda st: st.where(
            col(Call.id).in_(select(Transcript.call_id).where(Transcript.org_id == org.id))))
        for chunk in chunks(ids):
            with _tx(self.settings, self.dry_run) as s:
                counts["transcripts"] += _delete(s, Transcript, Transcript.org_id == org.id,
                                                 col(Transcript.call_id).in_(chunk))
        # 3. recordings: the row forgets its file in the transaction; the file goes after the commit
        ids = self._call_batches(org.id, [expired["recordings"], col(Call.audio_key).is_not(None)])
        for chunk in chunks(ids):
            with _tx(self.settings, self.dry_run) as s:
                calls = s.exec(select(Call).where(col(Call.id).in_(chunk))).all()
                files = [["audio", org.id, c.audio_key] for c in calls]
                for c in calls:
                    c.audio_key = None
                    s.add(c)
                counts["recordings"] += len(calls)
                self._commit_batch(s, files)
            self._after_commit(files)
        # 4. the call rows themselves, once every category has expired and nothing hangs on them any more
        ids = self._call_batches(org.id, [*expired.values(), col(Call.audio_key).is_(None)], lambda st: st.where(
            col(Call.id).not_in(select(Evaluation.call_id).where(Evaluation.org_id == org.id)),
            col(Call.id).not_in(select(Transcript.call_id).where(Transcript.org_id == org.id))))
        for chunk in chunks(ids):
            with _tx(self.settings, self.dry_run) as s:
                counts["calls"] += _delete(s, Call, Call.org_id == org.id, col(Call.id).in_(chunk))
        # 5. audit log, consent proofs and exports: exact instants, no statistics
        with _tx(self.settings, self.dry_run) as s:
            counts["audit_log"] += _purge_audit(s, org.id, far if wipe else self.now - timedelta(
                days=days["audit_log"]))
            consent_cut = far if wipe else self.now - timedelta(days=days["consent_records"])
            counts["consent_records"] += _delete(
                s, ConsentRecord, ConsentRecord.org_id == org.id,
                or_(ConsentRecord.expires_at < consent_cut,
                    (col(ConsentRecord.withdrawn_at).is_not(None)) & (ConsentRecord.withdrawn_at < consent_cut)))
            export_cut = far if wipe else self.now - timedelta(days=days["exports"])
            exports = s.exec(select(Export).where(Export.org_id == org.id, Export.created_at < export_cut)).all()
            files = [["export", org.id, e.file_key] for e in exports if e.file_key]
            for e in exports:
                s.delete(e)
            counts["exports"] += len(exports)
            self._commit_batch(s, files)
        self._after_commit(files)
        # 6. a due termination: every other table holding this organisation's data
        if wipe:
            counts.update(self._wipe_organisation(org))
        if any(counts.values()) and not self.dry_run:
            with _tx(self.settings, False) as s:
                audit.log_event(session=s, who=audit.SYSTEM, org_id=org.id, action="retention_purge",
                                target_type="organisation", target_id=org.id,
                                detail={"run": self.run_id, "supprime": dict(counts), "resiliation": wipe})
        return counts

    def _wipe_organisation(self, org: Organisation) -> Counter[str]:
        counts: Counter[str] = Counter()
        with _tx(self.settings, self.dry_run) as s:
            files = [["audio", org.id, k] for k in s.exec(select(Call.audio_key).where(
                Call.org_id == org.id, col(Call.audio_key).is_not(None))).all()]
            # Children first (reverse dependency order), so foreign keys never block a delete.
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name in KEEP_ON_TERMINATION or "org_id" not in table.c:
                    continue
                res = s.execute(delete(table).where(table.c.org_id == org.id))
                if res.rowcount:
                    counts[f"termination_{table.name}"] += res.rowcount
            self._commit_batch(s, files)
        self._after_commit(files)
        return counts

    def purge_consent_without_org(self) -> int:
        """Consent proofs of visitors not logged in (no organisation) follow the default duration."""
        with _tx(self.settings, self.dry_run) as s:
            cut = self.now - timedelta(days=default_days("consent_records", self.settings))
            return _delete(s, ConsentRecord, col(ConsentRecord.org_id).is_(None), or_(
                ConsentRecord.expires_at < cut,
                (col(ConsentRecord.withdrawn_at).is_not(None)) & (ConsentRecord.withdrawn_at < cut)))

    def purge_system_audit(self) -> int:
        """The system chain (failed logins of unknown names...) follows the default audit duration."""
        with _tx(self.settings, self.dry_run) as s:
            return _purge_audit(s, None, self.now - timedelta(days=default_days("audit_log", self.settings)))


def _delete(s: Session, model, *where) -> int:
    return int(s.execute(delete(model).where(*where)).rowcount or 0)


def _purge_audit(s: Session, org_id: int | None, cutoff: datetime) -> int:
    """Delete the oldest entries of a chain, as a prefix; ``ccr.core.audit`` signs where the rest starts."""
    return audit.purge_oldest(session=s, org_id=org_id, cutoff=cutoff)


def _finish_interrupted(settings: Settings, current_run_id: int) -> int:
    """Remove the files listed by runs that died between a commit and their file deletions."""
    removed = 0
    with _tx(settings, False) as s:
        runs = s.exec(select(PurgeRun).where(PurgeRun.id != current_run_id, or_(
            PurgeRun.status == "running", PurgeRun.pending_files_json != "[]"))).all()
        for run in runs:
            for entry in json.loads(run.pending_files_json or "[]"):
                _remove_file(settings, entry)
                removed += 1
            run.pending_files_json = "[]"
            if run.status == "running":
                # We hold the lock, so a run still marked running died without finishing.
                run.status = "interrupted"
                run.error = "Purge interrompue ; terminée par la purge suivante."
                run.finished_at = run.finished_at or utcnow()
            s.add(run)
    return removed


def run_purge(*, now: datetime | None = None, dry_run: bool = False, trigger: str = "manual",
              settings: Settings | None = None) -> PurgeRun:
    """Fold, then delete everything past its retention duration, in every organisation; returns the run."""
    settings = settings or get_settings()
    ref_now = as_utc(now) if now else utcnow()
    started = time.monotonic()
    owner = lock_owner_id()
    if not acquire_lock(LOCK_NAME, owner, settings=settings):
        with _tx(settings, False) as s:
            run = PurgeRun(trigger=trigger, dry_run=dry_run, reference_now=ref_now, status="skipped",
                           finished_at=utcnow(), duration_s=0.0,
                           error="Une autre purge est en cours dans un autre processus.")
            s.add(run)
        return run
    try:
        if os.environ.get(HOLD_ENV):
            time.sleep(float(os.environ[HOLD_ENV]))
        with _tx(settings, False) as s:
            run = PurgeRun(trigger=trigger, dry_run=dry_run, reference_now=ref_now, status="running")
            s.add(run)
            s.flush()
            run_id = run.id
        purger = _Purger(run_id, ref_now, dry_run, settings, owner)
        status, error = "ok", None
        try:
            if not dry_run:
                purger.counts["resumed_files"] += _finish_interrupted(settings, run_id)
            with _tx(settings, False) as s:
                orgs = list(s.exec(select(Organisation).order_by(Organisation.id)).all())
                days_of = {o.id: retention_days(session=s, org_id=o.id, settings=settings) for o in orgs}
            for org in orgs:
                renew_lock(LOCK_NAME, owner, settings=settings)
                purger.counts.update(purger.purge_organisation(org, days_of[org.id]))
            purger.counts["consent_records"] += purger.purge_consent_without_org()
            purger.counts["audit_log"] += purger.purge_system_audit()
            if not dry_run:  # the webhook delivery log keeps a month of delivered and abandoned events
                with _tx(settings, False) as s:
                    purger.counts["webhook_events"] += outbox.prune(s, now=ref_now)
            if not dry_run:
                purger.counts["orphans"] += sweep_orphans(settings=settings)
                # Every run, not only when it deleted transcripts: an erasure that died before optimising
                # is covered by the next night; with nothing to merge it returns at once.
                with _tx(settings, False) as s:
                    optimize_search_index(session=s)
                # Then the write-ahead log is copied back and emptied: it held the rewritten pages' old images.
                checkpoint_wal(settings)
        except Exception as err:  # the run is recorded with its error; the next run resumes
            log.exception("La purge a échoué")
            status, error = "error", f"{type(err).__name__}: {err}"
        with _tx(settings, False) as s:
            run = s.get(PurgeRun, run_id)
            run.status = status
            run.error = error
            run.deleted_json = json.dumps({k: v for k, v in sorted(purger.counts.items()) if v})
            run.finished_at = utcnow()
            run.duration_s = round(time.monotonic() - started, 3)
            s.add(run)
        return run
    finally:
        release_lock(LOCK_NAME, owner, settings=settings)


def run_purge_now(*, actor: Actor, settings: Settings | None = None) -> PurgeRun:
    """The "Lancer maintenant" button: a DPO/admin runs the purge at once; the request is audited."""
    _require_role(actor)
    with db_session(settings) as s:
        audit.log_event(session=s, who=actor.who, action="purge_requested", target_type="retention")
    return run_purge(trigger="manual", settings=settings)


def pending_terminations(*, session: Session, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Terminated organisations whose data is still waiting for deletion, with the deadline (CLI, operators)."""
    rows = session.exec(select(Organisation).where(Organisation.status == "terminated")).all()
    return [{"org_id": o.id, "name": o.name, "deadline": termination_deadline(o, settings),
             "days_left": termination_countdown(o, settings=settings)} for o in rows]


def list_runs(*, session: Session, actor: Actor, limit: int = 50) -> list[PurgeRun]:
    """The latest purge runs, newest first (DPO/admin)."""
    _require_role(actor)
    return list(session.exec(select(PurgeRun).order_by(col(PurgeRun.id).desc()).limit(limit)).all())


DELETED_LABELS = {
    "recordings": "Enregistrements",
    "transcripts": "Transcriptions",
    "evaluations": "Évaluations",
    "reviews": "Validations",
    "disputes": "Contestations",
    "calls": "Appels",
    "audit_log": "Entrées du journal",
    "consent_records": "Preuves de consentement",
    "exports": "Exports",
    "folded": "Évaluations agrégées (statistiques)",
    "orphans": "Fichiers orphelins",
    "resumed_files": "Fichiers d'une purge interrompue",
}
