"""Who holds a lease: owner ids of the form ``host:pid:suffix``, and whether that process still lives.

Call leases, job locks and worker heartbeats all name their holder this way, so a process starting on
the same host can tell at once that a holder is gone, instead of waiting for its lease to run out."""

from __future__ import annotations

import os
import socket


def owner_id(suffix: str) -> str:
    """This process's owner id ending with ``suffix`` (a worker index, a task id, a random attempt id)."""
    return f"{this_process_prefix()}{suffix}"


def this_process_prefix() -> str:
    """The start shared by every owner id of this process: ``host:pid:``."""
    return f"{socket.gethostname()}:{os.getpid()}:"


def pid_on_this_host(owner: str | None) -> int | None:
    """The pid in an owner id naming a process of this host; None for another host or a malformed id."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return int(pid)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (one this user may not signal still counts); a zombie is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed worker whose parent died too is re-parented to PID 1, which in many containers never reaps
    # it: it stays a zombie, answering signal 0, and its leases would wait for their expiry (15 min).
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # No /proc (not Linux) or the process just went: signal 0 has already answered.
    fields = proc_stat(pid)
    return fields is not None and fields[0] in ("Z", "X")


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent, process group...); None if unread."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the name may hold spaces and ")": split after its last one
    except (OSError, IndexError):
        return None
    return fields or None


def owner_is_dead(owner: str | None, *, this_process_too: bool = False) -> bool:
    """True when ``owner`` names a process of this host that no longer exists.

    With ``this_process_too``, this process's own ids count as dead too (a restart of its workers)."""
    pid = pid_on_this_host(owner)
    if pid is None:
        return False
    if pid == os.getpid():
        return this_process_too
    return not pid_alive(pid)
