"""Owner-only file modes for everything under the data directory.

The data directory holds transcripts, names, phone numbers, password hashes and the secret key: nothing
under it may be readable by another account of the server. Every process restricts its umask and the
database files at its first database use (a handful of paths); the server start and ``migrate`` walk the
whole tree; the health probe looks at the top levels each minute.

This module depends on the settings only, so the database layer can call it without an import cycle.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from ccr.core.config import SECRET_KEY_FILE, Settings, get_settings

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077  # files created by this process: 0600, folders: 0700
EXPOSED_BITS = 0o077  # any right for the group or the others
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")
MODE_SAMPLE_MAX = 500  # entries the health probe looks at each minute: the top levels, never a full walk


def restrict_umask() -> None:
    """Make every file and folder this process creates from now on owner-only."""
    os.umask(PRIVATE_UMASK)


def secure_database_files(settings: Settings | None = None) -> int:
    """Owner-only umask, data folder, database files and secret key (every process, at its first database
    use); a handful of paths, never a walk. Returns the fixes made."""
    settings = settings or get_settings()
    restrict_umask()
    root = Path(settings.data_dir)
    paths = [root, root / SECRET_KEY_FILE]
    database = make_url(settings.db_url).database if settings.is_sqlite else None
    if database and database != ":memory:":
        paths += [Path(database + suffix) for suffix in DATABASE_SUFFIXES]
    return sum(_restrict(path) for path in paths)


def secure_data_dir(settings: Settings | None = None) -> int:
    """Set owner-only modes on the data directory and everything under it; returns the fixes made.

    A walk over every recording, export and backup: run where the server starts (``python -m ccr serve``)
    and by ``python -m ccr migrate``, never by every command (a monitor runs ``health`` each minute)."""
    settings = settings or get_settings()
    fixed = secure_database_files(settings)
    root = Path(settings.data_dir)
    if not root.is_dir():
        return fixed
    for folder, dirs, files in os.walk(root):  # not following links: a link's target is not ours to change
        fixed += sum(_restrict(Path(name)) for name in [folder, *(os.path.join(folder, f) for f in files)])
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return fixed


def _restrict(path: Path) -> int:
    """Remove the group's and others' rights on ``path`` (never a link's target); 1 when it changed."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & EXPOSED_BITS:
            return 0
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~EXPOSED_BITS)
        return 1
    except FileNotFoundError:  # not created yet, or removed meanwhile
        return 0
    except OSError as err:  # not ours: health reports what stays open
        log.warning("Droits non restreints sur %s : %s", path, err.strerror)
        return 0


def exposed_paths(settings: Settings | None = None, limit: int = MODE_SAMPLE_MAX) -> list[Path]:
    """Paths under the data directory that the group or others may access (its top two levels, bounded)."""
    settings = settings or get_settings()
    root = Path(settings.data_dir)
    found: list[Path] = []
    seen = 0
    pending = [(root, 0)]
    while pending and seen < limit:
        path, depth = pending.pop(0)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        seen += 1
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & EXPOSED_BITS:
            found.append(path)
        if stat.S_ISDIR(st.st_mode) and depth < 2:
            try:
                pending.extend((child, depth + 1) for child in sorted(path.iterdir()))
            except OSError:
                continue
    return found
