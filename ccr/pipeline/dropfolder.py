"""The watched drop folder (``python -m ccr watch DIR --org ORG``): recordings put in a folder import themselves.

A telephony platform, a script or a person copies recordings into ``DIR``. Each scan (every
``CCR_WATCH_INTERVAL_S``) looks at the files directly in ``DIR``; a file is imported once its size and
modification date have stayed unchanged for ``CCR_WATCH_SETTLE_S`` seconds between scans, so a file still
being copied is never read half-written. Import goes through exactly the Import page's path
(:func:`ccr.pipeline.intake.ingest_one`): decoding, de-duplication, scope, maintenance, encryption, queue.

Then the file leaves ``DIR``, moved (never copied, never overwritten) into:

- ``DIR/traites/``: accepted, or already imported (a duplicate also gets ``NAME.motif.txt``, which says
  which call it is);
- ``DIR/refuses/``: refused, with ``NAME.motif.txt`` beside it holding the French reason (not a
  recording, corrupt, too large, refused by the scope, invalid metadata, unaccepted extension).

A name already taken there gets a suffix (``appel-2.wav``). A file is never lost: the move is a hard link
then an unlink (or ``os.replace`` after a check, where the file system has no links), within ``DIR``.

Metadata, for each field, comes from the first source that gives it:

1. a sidecar ``NAME.json`` with the same stem as the recording (``appel-0042.wav`` →
   ``appel-0042.json``), one JSON object; fields, all optional (:mod:`ccr.pipeline.intake`): ``agent``,
   ``team``, ``started_at`` (ISO 8601; without an offset, local time ``CCR_TIMEZONE``), ``direction``
   (entrant/sortant), ``campaign``, ``external_id``, ``line``, ``customer_phone``. An unknown field or a
   bad value refuses the recording, with the sidecar, and says why::

       {"agent": "Julie Martin", "started_at": "2026-03-15T14:30:05+01:00", "external_id": "PBX-991"}

2. the file-name pattern of the Import page (:mod:`ccr.pipeline.ingest`)::

       AAAAMMJJ-HHMMSS_<agent>_<direction>_<campagne>.<ext>
       20260315-143005_Julie-Martin_entrant_Fibre.wav

A sidecar waits for its recording (alone, it is left in place); a recording with a sidecar waits until
both are stable, so write the sidecar first, or write each file under a temporary name and rename it.

Ignored, left in place: names starting with ``.`` or ``~``, temporary files (``.part``, ``.tmp``,
``.filepart``, ``.crdownload``, ``.partial``, ending in ``~``), sub-folders, symbolic links (reading one
would import a file from outside the folder). A file that cannot be read stays and is logged once; files
larger than ``CCR_MAX_UPLOAD_MB`` are refused without being read.

The audit log names the drop folder as the actor (« dossier:NOM »); the log has one line per file handled,
its name and outcome only, never a metadata value.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ccr.core.config import get_settings
from ccr.core.db import session as db_session
from ccr.core.errors import CcrError, InvalidInput
from ccr.core.models import Organisation
from ccr.core.users import Actor
from ccr.pipeline import ingest, intake

log = logging.getLogger(__name__)

DONE_DIR = "traites"
REFUSED_DIR = "refuses"
SIDECAR_EXT = ".json"
MOTIF_SUFFIX = ".motif.txt"
# What copy tools, browsers and editors write while a file is in transit: never a finished recording.
TEMP_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".partial", "~")
SYSTEM_NAMES = frozenset({"thumbs.db", "desktop.ini"})  # written by Windows Explorer into any folder it shows
MAX_COLLISIONS = 10_000  # "appel-2.wav" … : beyond this many namesakes the folder needs a human, not a suffix
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
STATUS_LABELS = ingest.RESULT_LABELS | {"waiting": "en attente"}
WAITING_REASON = "En cours d'écriture : importé quand sa taille ne change plus."


@dataclass(frozen=True)
class DropOutcome:
    """What became of one dropped file: accepted, duplicate, rejected, or waiting in the folder (French reason)."""

    filename: str  # display name (control characters removed)
    status: str  # accepted | duplicate | rejected | waiting
    call_id: int | None = None
    reason: str = ""
    moved_to: str | None = None  # "traites/NAME" or "refuses/NAME", relative to the folder

    @property
    def status_label(self) -> str:
        """French label of the status."""
        return STATUS_LABELS.get(self.status, self.status)

    def line(self) -> str:
        """One printable line for the command line: status, name, call, reason and where the file went."""
        ref = f" (appel {self.call_id})" if self.call_id else ""
        where = ""
        if self.moved_to:
            sub, _, name = self.moved_to.partition("/")
            where = f" → {sub}/{ingest.sanitize_filename(name)}"
        return f"{self.status_label:<13} {self.filename}{ref} — {self.reason}{where}"


@dataclass
class DropState:
    """What one scan loop remembers between scans: each file's size and date, and problems already logged."""

    seen: dict[str, tuple[tuple[int, int], float]] = field(default_factory=dict)  # name -> (size, mtime), since
    reported: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> signature when logged
    stuck: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # handled but not movable: skipped

    def settled(self, name: str, st: os.stat_result, now: float, settle_s: float) -> bool:
        """Record the file's size and date; True once they have not changed for ``settle_s`` seconds."""
        sig = (st.st_size, st.st_mtime_ns)
        seen = self.seen.get(name)
        if seen is None or seen[0] != sig:
            self.seen[name] = (sig, now)
            return settle_s <= 0
        return now - seen[1] >= settle_s

    def keep_only(self, names: set[str]) -> None:
        """Forget the files that left the folder (a file dropped again later starts afresh)."""
        for memo in (self.seen, self.reported, self.stuck):
            for name in set(memo) - names:
                del memo[name]


def folder_actor(org_id: int, folder: str | os.PathLike) -> Actor:
    """The acting identity of a drop folder: the organisation, audited as « dossier:NOM »."""
    name = ingest.sanitize_filename(Path(folder).resolve().name)
    return Actor(user_id=ingest.CLI_USER_ID, username=f"dossier:{name}", display_name=f"Dossier de dépôt « {name} »",
                 org_id=org_id, role="supervisor")


def prepare_folder(folder: str | os.PathLike) -> Path:
    """Check that the drop folder exists and is writable, and create ``traites/`` and ``refuses/`` in it."""
    root = Path(folder)
    if not root.is_dir():
        raise CcrError(f"Dossier de dépôt introuvable : {root}.")
    if not os.access(root, os.W_OK | os.X_OK):
        raise CcrError(f"Dossier de dépôt non modifiable : {root} (il faut pouvoir y déplacer les fichiers traités).")
    for sub in (DONE_DIR, REFUSED_DIR):
        try:
            (root / sub).mkdir(exist_ok=True)
        except OSError as err:  # also a plain file named "traites"
            raise CcrError(f"Impossible de créer le dossier « {sub} » dans {root} : {err.strerror or err}.") from err
    return root


def is_ignored(name: str) -> bool:
    """Hidden, temporary and system files: left alone, whatever their extension."""
    lower = name.lower()
    return name.startswith((".", "~")) or lower.endswith(TEMP_SUFFIXES) or lower in SYSTEM_NAMES


def scan_once(folder: str | os.PathLike, *, actor: Actor, state: DropState, settle_s: float,
              now: float | None = None, stop: threading.Event | None = None) -> list[DropOutcome]:
    """Look at the folder once: import and move every stable recording; the others are « waiting »."""
    return list(_scan(folder, actor=actor, state=state, settle_s=settle_s, now=now, stop=stop))


def _scan(folder: str | os.PathLike, *, actor: Actor, state: DropState, settle_s: float, now: float | None,
          stop: threading.Event | None) -> Iterator[DropOutcome]:
    """The outcomes of one scan, each given as soon as its file is handled (a later failure loses none)."""
    root = prepare_folder(folder)
    now = time.monotonic() if now is None else now
    entries = _listing(root)
    state.keep_only(set(entries))
    sidecars = {name[: -len(SIDECAR_EXT)]: name for name in entries if name.lower().endswith(SIDECAR_EXT)}
    max_bytes = get_settings().max_upload_mb * 1024 * 1024
    org_checked = False
    for name in sorted(entries):
        if stop is not None and stop.is_set():
            break
        if name.lower().endswith(SIDECAR_EXT):
            continue  # handled with its recording; alone, it waits for it
        st = entries[name]
        sidecar = sidecars.get(os.path.splitext(name)[0])
        stable = state.settled(name, st, now, settle_s)
        if sidecar is not None:
            stable = state.settled(sidecar, entries[sidecar], now, settle_s) and stable
        if not stable:
            yield DropOutcome(ingest.sanitize_filename(name), "waiting", reason=WAITING_REASON)
            continue
        if name in state.stuck:
            if state.stuck[name] == _signature(st):
                continue  # handled, but could not be moved: logged once, not handled again each scan
            del state.stuck[name]
        if not org_checked:
            _require_active_org(actor.org_id)  # a suspended organisation's files wait in the folder
            org_checked = True
        outcome = _handle(root, name, st, sidecar, actor=actor, state=state, max_bytes=max_bytes)
        if outcome is not None:
            yield outcome


def watch(folder: str | os.PathLike, *, org_id: int, stop: threading.Event, settle_s: float | None = None,
          interval_s: float | None = None, on_result: Callable[[DropOutcome], None] | None = None) -> None:
    """Scan the drop folder every ``interval_s`` until ``stop`` is set; ``on_result`` gets each file handled.

    Files still waiting are not passed to ``on_result``. A scan that fails (database, folder unmounted) is
    logged once and tried again at the next interval, like the worker's loop."""
    settings = get_settings()
    settle = settings.watch_settle_s if settle_s is None else settle_s
    interval = settings.watch_interval_s if interval_s is None else interval_s
    root = prepare_folder(folder)
    _require_active_org(org_id)
    actor = folder_actor(org_id, root)
    state = DropState()
    failing: str | None = None
    log.info("Dossier de dépôt %s surveillé (stabilité %s s, toutes les %s s).", root, settle, interval)
    while not stop.is_set():
        outcomes = _scan(root, actor=actor, state=state, settle_s=settle, now=None, stop=stop)
        while True:
            try:
                outcome = next(outcomes, None)
            except Exception as err:  # the watcher must outlive a locked database or a share that went away
                if str(err) != failing:
                    log.warning("Dossier de dépôt %s : tour en échec (%s) ; nouvel essai dans %s s.", root, err,
                                interval, exc_info=not isinstance(err, (CcrError, OSError)))
                failing = str(err)
                break
            if outcome is None:
                failing = None
                break
            if outcome.status != "waiting" and on_result is not None:
                on_result(outcome)  # outside the guard: a bug of the caller surfaces
        stop.wait(interval)


# --- one file ------------------------------------------------------------------------------------------


def _listing(root: Path) -> dict[str, os.stat_result]:
    """The regular files directly in the folder, except ignored ones, with their stat."""
    found: dict[str, os.stat_result] = {}
    with os.scandir(root) as it:
        for entry in it:
            if is_ignored(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue  # sub-folders (traites/, refuses/), links, sockets, pipes
                found[entry.name] = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone between the listing and the stat: someone else took it
                continue
    return found


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    # ctime moves with a chmod too: a file whose permissions were fixed is tried (and reported) again.
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _require_active_org(org_id: int) -> None:
    with db_session() as s:
        org = s.get(Organisation, org_id)
    if org is None or org.status != "active":
        raise CcrError("L'organisation de ce dossier de dépôt n'est pas active : les fichiers restent en attente.")


def _report_once(state: DropState, name: str, st: os.stat_result, message: str) -> None:
    if state.reported.get(name) != _signature(st):
        state.reported[name] = _signature(st)
        log.warning("Dossier de dépôt : %s — %s", ingest.sanitize_filename(name), message)


def _read(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a regular file, never through a link (swapped in since the listing)."""
    fd = os.open(path, READ_FLAGS)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path.name} n'est pas un fichier ordinaire")
        return f.read(limit + 1)


def _handle(root: Path, name: str, st: os.stat_result, sidecar: str | None, *, actor: Actor, state: DropState,
            max_bytes: int) -> DropOutcome | None:
    """Import one stable file and move it (with its sidecar); ``None`` when it vanished meanwhile."""
    display = ingest.sanitize_filename(name)
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    result: ingest.IngestResult | None = None
    if ext not in ingest.ACCEPTED_EXTENSIONS:
        reason = (f"Format non accepté (« .{ext} ») : {', '.join(ingest.ACCEPTED_EXTENSIONS)} seulement."
                  if ext else f"Fichier sans extension : {', '.join(ingest.ACCEPTED_EXTENSIONS)} seulement.")
        result = ingest.IngestResult(display, "rejected", reason)
    elif st.st_size > max_bytes:
        result = _too_large(display, st.st_size)
    if result is None:
        try:
            data = _read(root / name, max_bytes)
            raw_meta = _read(root / sidecar, intake.MAX_METADATA_BYTES) if sidecar else None
        except FileNotFoundError:
            return None  # another watcher of the same folder took it
        except OSError as err:
            _report_once(state, name, st, f"illisible, laissé en place ({err.strerror or err}).")
            return DropOutcome(display, "waiting", reason=f"Illisible ({err.strerror or err}) : laissé en place.")
        if len(data) > max_bytes:  # it grew past the limit after the listing
            result = _too_large(display, len(data))
        else:
            try:
                metadata = intake.parse_metadata(raw_meta)
            except InvalidInput as err:
                where = ingest.sanitize_filename(sidecar)
                result = ingest.IngestResult(display, "rejected", f"Métadonnées « {where} » invalides : {err}")
            else:
                result = intake.ingest_one(actor=actor, filename=name, data=data, metadata=metadata)
    refused = result.status == "rejected"
    motif = result.reason if result.status != "accepted" else None
    try:
        moved = _move(root, REFUSED_DIR if refused else DONE_DIR, name, sidecar, motif, audio_first=refused)
    except OSError as err:
        state.stuck[name] = _signature(st)  # handled: not imported (nor decoded) again at every scan
        _report_once(state, name, st, f"traité ({result.status_label}) mais impossible à déplacer "
                                      f"({err.strerror or err}) : laissé en place.")
        moved = None
    state.seen.pop(name, None)
    outcome = DropOutcome(display, result.status, result.call_id, result.reason, moved)
    ref = f" (appel n° {outcome.call_id})" if outcome.call_id else ""
    log.info("Dossier de dépôt : %s — %s%s", display, outcome.status_label, ref)
    return outcome


def _too_large(display: str, size: int) -> ingest.IngestResult:
    limit = get_settings().max_upload_mb
    return ingest.IngestResult(display, "rejected", f"Fichier trop volumineux ({size / 1e6:.0f} Mo) : "
                                                    f"{limit} Mo au maximum.")


# --- moving without losing nor overwriting -----------------------------------------------------------


def _move(root: Path, sub: str, name: str, sidecar: str | None, motif: str | None, *, audio_first: bool) -> str:
    """Move the file (and its sidecar) into ``root/sub`` under a free name, the motif beside it; returns
    where the recording went, relative to ``root``."""
    target = root / sub
    stem, ext = os.path.splitext(name)
    suffixes = [ext] + ([os.path.splitext(sidecar)[1]] if sidecar else []) + ([MOTIF_SUFFIX] if motif else [])
    # An imported recording goes after its sidecar: a crash in between leaves the recording, which comes back
    # as a duplicate; a refused one goes first, so it is never retried without the sidecar that refused it.
    members = [(name, ext)] + ([(sidecar, os.path.splitext(sidecar)[1])] if sidecar else [])
    if not audio_first:
        members.reverse()
    for n in range(1, MAX_COLLISIONS + 1):
        free = stem if n == 1 else f"{stem}-{n}"
        if any((target / (free + s)).exists() for s in suffixes):
            continue
        motif_path = target / (free + MOTIF_SUFFIX)
        try:
            if motif is not None:  # written before the file moves: a refused file is never without its reason
                with open(motif_path, "x", encoding="utf-8") as f:
                    f.write(motif + "\n")
        except FileExistsError:  # taken meanwhile (a second watcher): the next free name
            continue
        try:
            final = {members[0][0]: _place(root / members[0][0], target / (free + members[0][1])).name}
        except FileExistsError:
            if motif is not None:
                motif_path.unlink(missing_ok=True)
            continue
        for member, member_ext in members[1:]:
            final[member] = _place_anywhere(root / member, target, free, member_ext).name
        return f"{sub}/{final[name]}"
    raise OSError(f"plus de {MAX_COLLISIONS} fichiers de ce nom dans {sub}/")


def _place(src: Path, dst: Path) -> Path:
    """Move ``src`` to ``dst`` unless ``dst`` exists (``FileExistsError``); returns ``dst``."""
    try:
        os.link(src, dst)  # fails if dst exists: no window where a file could be overwritten
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network shares, protected links): check, then replace
        if dst.exists():
            raise FileExistsError(dst) from None
        os.replace(src, dst)
        return dst
    os.unlink(src)
    return dst


def _place_anywhere(src: Path, target: Path, stem: str, ext: str) -> Path:
    """Move a file next to its companion, or under the next free name if a second watcher took that one."""
    for n in range(1, MAX_COLLISIONS + 1):
        try:
            return _place(src, target / ((stem if n == 1 else f"{stem}-{n}") + ext))
        except FileExistsError:
            continue
    raise OSError(f"plus de {MAX_COLLISIONS} fichiers de ce nom dans {target.name}/")
