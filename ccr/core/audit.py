"""The audit log: append-only, one keyed hash chain per organisation and a system one, anchored outside the DB.

Guarantees, checked by :func:`verify_chain` (``python -m ccr audit verify``):

- each entry's ``hash`` is an HMAC-SHA256 of its content and of the previous entry's hash in the same
  chain, under a key derived from the master secret: editing, inserting or deleting an entry in the middle
  breaks the chain, and recomputing the hashes after an edit needs the key;
- appends to one chain are serialised across processes (:func:`_lock_chain`), so the chain never forks;
- a signed checkpoint of every chain (head id, head hash, entry count, time) is appended at least daily
  (:func:`checkpoint_job`, ``python -m ccr audit checkpoint``) to ``data/audit-checkpoints/<date>.jsonl``
  (0600), outside the database: deleting the newest entries leaves a checkpointed head missing;
- the retention job deletes the oldest entries through :func:`purge_oldest`, which signs an anchor (the
  last deleted entry's id and hash) into the same files: the first remaining entry must follow an anchor
  (or start the chain), so a legitimate purge verifies and a deletion of the oldest entries outside it does not;
- rotating the master secret re-keys every chain (:func:`rekey_chains`): intact entries are re-hashed under
  the new key, altered ones keep their hash and stay altered, and the rotation is recorded in the chain;
- restoring a backup (:func:`record_restore`) notes it in every chain (``backup_restored``) and signs a restore
  record per chain (restored head, new head, count, the backup's date): checkpoints signed before it that name
  entries the restore discarded (beyond the restored head, their ids possibly reused since) no longer count,
  while a truncation without such a record is still one;
- a chain with entries older than :data:`CHECKPOINT_MAX_AGE` needs a checkpoint or restore record younger
  than that: deleting the newest entries together with the checkpoint files does not go unseen for long.
  The server signs one when it starts (:func:`checkpoint_job`), so a server down for days raises no alarm.

Not seen: entries removed after the latest checkpoint, less than :data:`CHECKPOINT_MAX_AGE` ago, together with
the checkpoint files (the DPO's exports keep a copy of them), and anything done by someone who holds the
master secret.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event
from sqlmodel import Session, col, func, select

from ccr.core import sealed
from ccr.core.config import Settings, get_settings
from ccr.core.db import hold_write_lock, utcnow
from ccr.core.db import session as db_session
from ccr.core.models import AuditLog

log = logging.getLogger(__name__)

PG_ADVISORY_BASE = 0x0CC2_0000  # namespace for the per-organisation advisory lock
CHAIN_KEY_INFO = b"ccr-audit-chain-v1"  # HKDF label: the chain key is never an export, backup or recording key
CHECKPOINT_KEY_INFO = b"ccr-audit-checkpoint-v1"  # a key of its own: a signed record never passes for an entry
CHECKPOINT_DIR = "audit-checkpoints"  # under the data directory: out of reach of whoever rewrites the database
CHECKPOINT_SUFFIX = ".jsonl"  # one signed record per line, appended, never rewritten
CHECKPOINT_FILE_MODE = 0o600  # head hashes and entry counts are the service account's business only
CHECKPOINT_DIR_MODE = 0o700
RECORD_VERSION = 1
KEY_ID_CHARS = 16  # tells the key that signed a record apart from a previous one; reveals nothing of it
ANCHOR_REASONS = ("purge", "rekey", "migration")  # why the entries before an anchor are gone
# A checkpoint is signed daily at a fixed local time (25 h apart across the autumn clock change): an hour of
# slack beyond that, and a chain whose newest signed record is older was checkpointed no more, or lost its files.
CHECKPOINT_MAX_AGE = timedelta(hours=26)
MAX_LISTED_IDS = 100  # altered ids named in a re-key entry; the count says how many there were in all


@dataclass(frozen=True)
class Who:
    """Who acted: a user (id, name) in an organisation, or the system."""

    org_id: int | None
    user_id: int | None = None
    username: str | None = None


SYSTEM = Who(org_id=None, user_id=None, username="système")


# --- keys and digests -----------------------------------------------------------------------------


def chain_key(settings: Settings | None = None) -> bytes:
    """The HMAC key of the chains, derived from the master secret."""
    return sealed.derive_key(CHAIN_KEY_INFO, settings)


def _checkpoint_key(settings: Settings) -> bytes:
    return sealed.derive_key(CHECKPOINT_KEY_INFO, settings)


def key_id(settings: Settings | None = None) -> str:
    """A short public name of the current signing key, written in every checkpoint and anchor."""
    digest = hmac.new(_checkpoint_key(settings or get_settings()), b"key-id", hashlib.sha256).hexdigest()
    return digest[:KEY_ID_CHARS]


def _payload(entry: Any, prev_hash: str | None = None) -> bytes:
    """What an entry's hash covers; ``entry`` is a row or any object with the same attributes."""
    return json.dumps(
        [
            entry.org_id,
            entry.user_id,
            entry.username,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.outcome,
            entry.detail_json,
            entry.created_at.isoformat(timespec="microseconds"),
            entry.prev_hash if prev_hash is None else prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def entry_digest(entry: Any, key: bytes, prev_hash: str | None = None) -> str:
    """The HMAC-SHA256 of an entry (linked to ``prev_hash`` when given, else to its own ``prev_hash``)."""
    return hmac.new(key, _payload(entry, prev_hash), hashlib.sha256).hexdigest()


def legacy_digest(entry: Any, prev_hash: str | None = None) -> str:
    """The unkeyed SHA-256 of the chains written before they were keyed (read by the migration only)."""
    return hashlib.sha256(_payload(entry, prev_hash)).hexdigest()


def _chain_filter(org_id: int | None):
    return AuditLog.org_id.is_(None) if org_id is None else AuditLog.org_id == org_id


def _lock_chain(session: Session, chain_org: int | None) -> None:
    """Hold the chain's write lock until the transaction ends, before its head is read: two processes that
    read the same head would both link to it and fork the chain."""
    hold_write_lock(session, PG_ADVISORY_BASE + (chain_org or 0))


# --- appending ------------------------------------------------------------------------------------


def _append(session: Session, *, chain_org: int | None, who: Who, action: str, target_type: str | None,
            target_id: Any, outcome: str, detail: dict[str, Any] | None, key: bytes) -> AuditLog:
    _lock_chain(session, chain_org)
    last = session.exec(
        select(AuditLog.hash).where(_chain_filter(chain_org)).order_by(col(AuditLog.id).desc()).limit(1)
    ).first()
    entry = AuditLog(
        org_id=chain_org,
        user_id=who.user_id,
        username=who.username,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        detail_json=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        created_at=utcnow(),
        prev_hash=last or "",
    )
    entry.hash = entry_digest(entry, key)
    session.add(entry)
    session.flush()
    return entry


def log_event(
    *,
    session: Session,
    who: Who,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> AuditLog:
    """Append one entry to the chain of ``org_id`` (default: the actor's organisation)."""
    chain_org = who.org_id if org_id is None else org_id
    return _append(session, chain_org=chain_org, who=who, action=action, target_type=target_type,
                   target_id=target_id, outcome=outcome, detail=detail, key=chain_key())


# --- signed records outside the database: checkpoints and anchors ---------------------------------


def checkpoints_dir(settings: Settings | None = None) -> Path:
    """The folder of the signed checkpoint and anchor files."""
    return (settings or get_settings()).data_dir / CHECKPOINT_DIR


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _signed(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    body = {"v": RECORD_VERSION, "at": utcnow().isoformat(timespec="microseconds"), "key": key_id(settings),
            **record}
    return {**body, "sig": hmac.new(_checkpoint_key(settings), _canonical(body), hashlib.sha256).hexdigest()}


def _append_records(records: Sequence[dict[str, Any]], settings: Settings) -> Path:
    """Append signed records to today's file in one write (O_APPEND: a line is never torn by another writer)."""
    folder = checkpoints_dir(settings)
    folder.mkdir(mode=CHECKPOINT_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(folder, CHECKPOINT_DIR_MODE)
    path = folder / f"{utcnow():%Y-%m-%d}{CHECKPOINT_SUFFIX}"
    data = "".join(json.dumps(_signed(r, settings), ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, CHECKPOINT_FILE_MODE)
    try:
        os.fchmod(fd, CHECKPOINT_FILE_MODE)
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def write_anchor(*, org_id: int | None, upto_id: int, upto_hash: str, reason: str,
                 settings: Settings | None = None) -> Path:
    """Sign that the chain's entries up to ``upto_id`` are gone on purpose; the next one follows ``upto_hash``."""
    if reason not in ANCHOR_REASONS:
        raise ValueError(f"unknown anchor reason {reason!r}")
    return _append_records([{"kind": "anchor", "chain": org_id, "upto_id": int(upto_id), "upto_hash": upto_hash,
                             "reason": reason}], settings or get_settings())


def _chain_ids(session: Session) -> list[int | None]:
    orgs = session.exec(select(AuditLog.org_id).distinct()).all()
    return sorted(orgs, key=lambda x: (x is not None, x or 0))


def write_checkpoint(*, settings: Settings | None = None) -> Path | None:
    """Append a signed checkpoint of every chain (head id and hash, entry count); None when the log is empty."""
    settings = settings or get_settings()
    records = []
    with db_session(settings) as s:
        for chain in _chain_ids(s):
            # One statement: count, head and first entry come from the same snapshot.
            count, head_id, first_id = s.exec(select(func.count(), func.max(AuditLog.id), func.min(AuditLog.id))
                                              .where(_chain_filter(chain))).one()
            head_hash = s.exec(select(AuditLog.hash).where(AuditLog.id == head_id)).first() if head_id else None
            if head_hash is None:  # purged in the meantime: the next checkpoint covers this chain
                continue
            records.append({"kind": "checkpoint", "chain": chain, "head_id": head_id, "head_hash": head_hash,
                            "count": int(count), "first_id": first_id})
    return _append_records(records, settings) if records else None


def checkpoint_job(settings: Settings | None = None) -> None:
    """Scheduler job (daily) and server start: write the checkpoint of every chain; errors are logged, never raised."""
    try:
        path = write_checkpoint(settings=settings or get_settings())
        if path is not None:
            log.info("Point de contrôle du journal d'audit écrit dans %s", path.name)
    except Exception:
        log.exception("Point de contrôle du journal d'audit en échec")


@dataclass
class Records:
    """The signed records read back: per chain, checkpoints, anchors and restores under the current key."""

    checkpoints: dict[int | None, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    anchors: dict[int | None, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    restores: dict[int | None, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    forged: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    other_key: int = 0  # signed before a key rotation (the chain was re-keyed then) or unreadable
    extra: tuple[Path, ...] = ()  # the copies read besides the server's folder


def _record_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob(f"*{CHECKPOINT_SUFFIX}")) if p.is_dir() else [p] if p.is_file() else [])
    return files


def load_records(settings: Settings | None = None, extra: Iterable[Path] = ()) -> Records:
    """Read the checkpoint and anchor files (and ``extra`` copies: a DPO export's), checking their signatures."""
    settings = settings or get_settings()
    key, kid = _checkpoint_key(settings), key_id(settings)
    out = Records(extra=tuple(extra))
    seen: set[str] = set()
    for path in _record_files([checkpoints_dir(settings), *out.extra]):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip() or line in seen:
                continue
            seen.add(line)
            try:
                rec = json.loads(line)
                chain, sig = rec.get("chain"), rec.pop("sig")
                if chain is not None and not isinstance(chain, int):
                    raise TypeError(chain)
            except (ValueError, TypeError, KeyError, AttributeError):
                out.other_key += 1  # a line torn by a crash, or not ours
                continue
            if rec.get("key") != kid:
                out.other_key += 1
            elif not hmac.compare_digest(str(sig), hmac.new(key, _canonical(rec), hashlib.sha256).hexdigest()):
                out.forged[chain] += 1
            elif rec.get("kind") == "checkpoint":
                out.checkpoints[chain].append(rec)
            elif rec.get("kind") == "anchor":
                out.anchors[chain].append(rec)
            elif rec.get("kind") == "restore":
                out.restores[chain].append(rec)
    return out


def chain_records(org_id: int | None, settings: Settings | None = None) -> bytes:
    """The signed lines of one chain, as they are on disk (JSON Lines): the copy a DPO export carries."""
    settings = settings or get_settings()
    lines = []
    for path in _record_files([checkpoints_dir(settings)]):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(line).get("chain", "?") == org_id:
                    lines.append(line + "\n")
            except (ValueError, AttributeError):
                continue
    return "".join(lines).encode("utf-8")


# --- deleting the oldest entries (retention) ------------------------------------------------------


def purge_oldest(*, session: Session, org_id: int | None, cutoff: datetime,
                 settings: Settings | None = None) -> int:
    """Delete the chain's entries created before ``cutoff``, as a prefix; the number deleted.

    The anchor (last deleted id and hash) is signed when the transaction commits, not on a dry run's rollback;
    written before the commit, so a crash in between leaves an anchor for entries still there, never a purge
    without one."""
    settings = settings or get_settings()
    chain = _chain_filter(org_id)
    _lock_chain(session, org_id)
    last_id = session.exec(select(func.max(AuditLog.id)).where(chain, AuditLog.created_at < cutoff)).one()
    if last_id is None:
        return 0
    last_hash = session.exec(select(AuditLog.hash).where(AuditLog.id == last_id)).one()
    event.listen(session, "before_commit", lambda _s: write_anchor(
        org_id=org_id, upto_id=last_id, upto_hash=last_hash, reason="purge", settings=settings), once=True)
    return int(session.execute(delete(AuditLog).where(chain, AuditLog.id <= last_id)).rowcount or 0)


# --- restoring a backup ---------------------------------------------------------------------------


def record_restore(*, backup: str, backup_at: str | None, settings: Settings | None = None) -> int:
    """After a backup was restored (server stopped): note it in every chain and sign a restore record per chain.

    Each record names the restored head (the backup's last entry), the new head (the ``backup_restored``
    entry; none for a chain the backup does not hold) and the count; signed once the entries are committed.
    Returns the number of chains recorded."""
    settings = settings or get_settings()
    known = load_records(settings)
    key = chain_key(settings)
    records = []
    with db_session(settings) as s:
        # The system chain always notes the restore; a chain known only from the files (an organisation
        # created after the backup) gets a record that excuses its checkpoints, and no entry.
        chains = set(_chain_ids(s)) | {None} | set(known.checkpoints) | set(known.restores)
        for chain in sorted(chains, key=lambda x: (x is not None, x or 0)):
            _lock_chain(s, chain)
            restored = s.exec(select(AuditLog.id, AuditLog.hash).where(_chain_filter(chain))
                              .order_by(col(AuditLog.id).desc()).limit(1)).first()
            restored_count = int(s.exec(select(func.count()).where(_chain_filter(chain))).one())
            record: dict[str, Any] = {"kind": "restore", "chain": chain, "backup_at": backup_at,
                                      "restored_id": restored[0] if restored else None,
                                      "restored_hash": restored[1] if restored else None,
                                      "head_id": None, "head_hash": None, "count": 0, "first_id": None}
            if restored is not None or chain is None:
                entry = _append(s, chain_org=chain, who=SYSTEM, action="backup_restored", target_type="audit_log",
                                target_id=None, outcome="ok", key=key,
                                detail={"sauvegarde": backup, "creee_le": backup_at,
                                        "entrees_restaurees": restored_count,
                                        "derniere_entree_restauree": record["restored_id"]})
                first_id = s.exec(select(func.min(AuditLog.id)).where(_chain_filter(chain))).one()
                record.update(head_id=entry.id, head_hash=entry.hash, count=restored_count + 1, first_id=first_id)
            records.append(record)
    _append_records(records, settings)
    return len(records)


def _superseded(cp: dict[str, Any], restores: Sequence[dict[str, Any]]) -> bool:
    """Whether a later restore discarded what ``cp`` (a checkpoint or restore record) names.

    A restore discards the entries beyond the head it restored, and their ids may be reused since. A backup
    taken before an earlier restore also misses what was written after that one (a newer backup restored
    after an older one): ``cp`` signed after that earlier restore, beyond its head, is on another branch."""
    at = datetime.fromisoformat(cp["at"])
    for r in restores:
        if datetime.fromisoformat(r["at"]) <= at:
            continue
        if cp["head_id"] > (r["restored_id"] or 0):
            return True
        taken = datetime.fromisoformat(r["backup_at"]) if r.get("backup_at") else None
        if taken is not None and any(taken < datetime.fromisoformat(r0["at"]) <= at  # cp may be r0 itself
                                     and cp["head_id"] > (r0["restored_id"] or 0) for r0 in restores):
            return True
    return False


# --- re-keying ------------------------------------------------------------------------------------


def rekey_rows(rows: Iterable[Any], *, accepts: Sequence[Callable[[Any], bool]],
               digest: Callable[[Any, str], str]) -> Iterator[tuple[Any, str, str, bool]]:
    """Re-hash one chain, rows in id order (read lazily): ``(row, prev_hash, hash, intact)`` for each.

    An entry that verifies under one of ``accepts`` and links to its predecessor is re-hashed, linked to the
    predecessor's new hash; any other keeps its stored hash (``intact`` False), so it stays altered under
    the new digest, and its successor still links to it."""
    stored_prev: str | None = None  # the predecessor's hash as stored, before re-hashing
    new_prev: str | None = None  # the predecessor's hash after re-hashing
    for i, row in enumerate(rows):
        intact = (i == 0 or row.prev_hash == stored_prev) and any(accept(row) for accept in accepts)
        stored_prev = row.hash
        if intact:
            prev = row.prev_hash if i == 0 else new_prev
            new_prev = digest(row, prev)
            yield row, prev, new_prev, True
        else:
            new_prev = row.hash
            yield row, row.prev_hash, row.hash, False


def rekey_chains(*, old: Settings, new: Settings) -> dict[int | None, int]:
    """Re-hash every chain from ``old``'s secret to ``new``'s (key rotation); entries re-hashed per chain.

    Each chain is verified under the old key first and re-keyed in one transaction, the rotation is
    recorded in it, its start anchored and a checkpoint signed under the new key. Resumable: entries
    already under the new key are accepted as they are."""
    old_key, new_key = chain_key(old), chain_key(new)
    old_records = load_records(old)
    with db_session(new) as s:
        chains = _chain_ids(s)
    done: dict[int | None, int] = {}
    for chain in chains:
        with db_session(new) as s:
            _lock_chain(s, chain)
            before = verify_chain(session=s, org_id=chain, settings=old, records=old_records)
            rows = s.exec(select(AuditLog).where(_chain_filter(chain)).order_by(col(AuditLog.id))).all()
            changed, broken = 0, []
            for row, prev, new_hash, intact in rekey_rows(rows, accepts=(
                    lambda r: hmac.compare_digest(r.hash, entry_digest(r, old_key)),
                    lambda r: hmac.compare_digest(r.hash, entry_digest(r, new_key))),
                    digest=lambda r, prev: entry_digest(r, new_key, prev)):
                if not intact:
                    broken.append(row.id)
                elif (row.prev_hash, row.hash) != (prev, new_hash):
                    row.prev_hash, row.hash = prev, new_hash
                    s.add(row)
                    changed += 1
            if not changed:  # already re-keyed by an interrupted earlier rotation
                continue
            s.flush()
            if rows[0].prev_hash:
                write_anchor(org_id=chain, upto_id=rows[0].id - 1, upto_hash=rows[0].prev_hash, reason="rekey",
                             settings=new)
            _append(s, chain_org=chain, who=SYSTEM, action="audit_rekeyed", target_type="audit_log",
                    target_id=None, outcome="ok" if before.ok else "error",
                    detail=rekey_detail("rotation de la clé secrète", len(rows), broken, before.problems),
                    key=new_key)
            done[chain] = changed
    write_checkpoint(settings=new)
    return done


def rekey_detail(reason: str, entries: int, broken: list[int], problems: Sequence[str] = ()) -> dict[str, Any]:
    """The detail of an ``audit_rekeyed`` entry: why, how many entries, which were already altered."""
    return {"motif": reason, "entrees": entries, "alterees": broken[:MAX_LISTED_IDS],
            "nb_alterees": len(broken), "anomalies": list(problems)}


# --- verifying ------------------------------------------------------------------------------------


@dataclass
class ChainReport:
    """Result of a chain verification."""

    org_id: int | None
    checked: int
    broken_at: list[int]
    problems: list[str] = field(default_factory=list)  # French: truncation, unanchored start, forged records
    last_checkpoint: datetime | None = None

    @property
    def ok(self) -> bool:
        """True when no entry was found altered, inserted or removed."""
        return not self.broken_at and not self.problems


def _when(iso: str, settings: Settings) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(ZoneInfo(settings.timezone)):%d/%m/%Y %H:%M}"


def _against_checkpoints(rows: Sequence[AuditLog], checkpoints: list[dict[str, Any]],
                         anchors: list[dict[str, Any]], restores: list[dict[str, Any]],
                         settings: Settings) -> list[str]:
    by_id = {r.id: r for r in rows}
    ids = [r.id for r in rows]
    purged_upto = max((a["upto_id"] for a in anchors), default=None)
    missing: list[dict[str, Any]] = []
    problems: list[str] = []
    # A restore record is also a checkpoint of the chain it left.
    for cp in sorted([*checkpoints, *restores], key=lambda c: datetime.fromisoformat(c["at"])):
        if cp["head_id"] is None or _superseded(cp, restores):
            continue
        head = by_id.get(cp["head_id"])
        if head is None:
            if purged_upto is None or purged_upto < cp["head_id"]:
                missing.append(cp)
        elif not hmac.compare_digest(head.hash, cp["head_hash"]):
            problems.append(f"l'entrée {cp['head_id']} ne correspond plus au point de contrôle du "
                            f"{_when(cp['at'], settings)}")
        elif not any(a["upto_id"] >= (cp["first_id"] or 0) for a in anchors):
            # Nothing purged since this checkpoint: every entry it counted must still be there.
            now_counted = bisect.bisect_right(ids, cp["head_id"])
            if now_counted != cp["count"]:
                problems.append(f"{now_counted} entrées jusqu'à l'entrée {cp['head_id']}, le point de contrôle du "
                                f"{_when(cp['at'], settings)} en comptait {cp['count']}")
    if missing:
        last = missing[-1]
        heads = sorted({c["head_id"] for c in missing})
        problems.insert(0, f"entrées récentes supprimées : l'entrée {last['head_id']}, tête de la chaîne au point "
                           f"de contrôle du {_when(last['at'], settings)}, est absente"
                           + (f" (ainsi que les entrées {', '.join(map(str, heads[:-1]))})" if len(heads) > 1 else ""))
    return problems


def verify_chain(*, session: Session, org_id: int | None, settings: Settings | None = None,
                 records: Records | None = None) -> ChainReport:
    """Recompute one chain's keyed hashes, check its start against the anchors and its head against the checkpoints."""
    settings = settings or get_settings()
    key = chain_key(settings)
    records = records if records is not None else load_records(settings)
    started = utcnow()
    rows = session.exec(select(AuditLog).where(_chain_filter(org_id)).order_by(col(AuditLog.id))).all()
    broken: list[int] = []
    prev: str | None = None
    for i, row in enumerate(rows):
        if not hmac.compare_digest(row.hash, entry_digest(row, key)) or (i > 0 and row.prev_hash != prev):
            broken.append(row.id)
        prev = row.hash
    anchors = records.anchors.get(org_id, [])
    if rows and rows[0].prev_hash and rows[0].prev_hash not in {a["upto_hash"] for a in anchors}:
        # A purge signs its anchor before it commits: one that committed during this read is on disk now.
        records = load_records(settings, records.extra)
        anchors = records.anchors.get(org_id, [])
    # A checkpoint signed after the rows were read may name entries this read could not see yet.
    checkpoints = [c for c in records.checkpoints.get(org_id, []) if datetime.fromisoformat(c["at"]) < started]
    restores = [r for r in records.restores.get(org_id, []) if datetime.fromisoformat(r["at"]) < started]
    problems = _against_checkpoints(rows, checkpoints, anchors, restores, settings)
    if rows and rows[0].prev_hash and rows[0].prev_hash not in {a["upto_hash"] for a in anchors}:
        problems.append(f"entrées les plus anciennes supprimées hors de la purge de conservation : l'entrée "
                        f"{rows[0].id} suit une entrée absente qu'aucune ancre signée ne couvre")
    if records.forged.get(org_id):
        problems.append(f"{records.forged[org_id]} point(s) de contrôle ou ancre(s) à la signature invalide "
                        f"dans {CHECKPOINT_DIR}/")
    last = max((datetime.fromisoformat(c["at"]) for c in [*checkpoints, *restores]), default=None)
    stale = started - CHECKPOINT_MAX_AGE
    if rows and min(r.created_at for r in rows) < stale and (last is None or last < stale):
        hours = int(CHECKPOINT_MAX_AGE.total_seconds() // 3600)
        since = f"le dernier date du {_when(last.isoformat(), settings)}" if last else "aucun n'a été signé"
        problems.append(f"aucun point de contrôle depuis plus de {hours} h ({since}) alors que la chaîne a des "
                        "entrées plus anciennes : des entrées récentes ont pu être supprimées avec les fichiers "
                        "de points de contrôle")
    return ChainReport(org_id=org_id, checked=len(rows), broken_at=broken, problems=problems, last_checkpoint=last)


def verify_all(*, session: Session, settings: Settings | None = None, extra: Iterable[Path] = ()) -> list[ChainReport]:
    """Verify every chain present in the log or in the checkpoints (a chain deleted whole is reported)."""
    settings = settings or get_settings()
    records = load_records(settings, extra)
    chains = set(_chain_ids(session)) | set(records.checkpoints) | set(records.forged)
    return [verify_chain(session=session, org_id=o, settings=settings, records=records)
            for o in sorted(chains, key=lambda x: (x is not None, x or 0))]


# --- reading --------------------------------------------------------------------------------------


def list_events(
    *,
    session: Session,
    org_id: int,
    user: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[AuditLog]:
    """Entries of one organisation, newest first, with optional filters."""
    stmt = select(AuditLog).where(AuditLog.org_id == org_id)
    if user:
        stmt = stmt.where(col(AuditLog.username).contains(user))
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if target:
        stmt = stmt.where((AuditLog.target_id == target) | (AuditLog.target_type == target))
    if since:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until:
        stmt = stmt.where(AuditLog.created_at < until)
    return list(session.exec(stmt.order_by(col(AuditLog.id).desc()).offset(offset).limit(limit)).all())


def count_events(*, session: Session, org_id: int, action: str | None = None) -> int:
    """Number of entries of one organisation (optionally of one action)."""
    stmt = select(func.count()).select_from(AuditLog).where(AuditLog.org_id == org_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return int(session.exec(stmt).one())
