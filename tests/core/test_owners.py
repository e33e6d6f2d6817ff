"""Owner ids name a process of a host; a process that is gone is recognised at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from ccr.core import owners


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_an_owner_id_carries_this_host_and_pid_then_its_suffix():
    oid = owners.owner_id("w3")
    assert oid == f"{socket.gethostname()}:{os.getpid()}:w3"
    assert oid.startswith(owners.this_process_prefix())
    assert owners.pid_on_this_host(oid) == os.getpid()


def test_ids_of_other_hosts_or_malformed_ids_are_never_judged():
    assert owners.pid_on_this_host("autre-machine:1:w0") is None
    assert owners.pid_on_this_host(f"{socket.gethostname()}:abc:w0") is None
    assert owners.pid_on_this_host(None) is None
    assert not owners.owner_is_dead("autre-machine:1:w0")  # another host's process: its lease must expire


def test_a_finished_process_is_dead_a_live_one_is_not():
    pid = _dead_pid()
    assert not owners.pid_alive(pid)
    assert owners.owner_is_dead(f"{socket.gethostname()}:{pid}:w0")
    assert owners.pid_alive(os.getppid())
    assert not owners.owner_is_dead(f"{socket.gethostname()}:{os.getppid()}:w0")


def test_a_zombie_is_dead():
    """A killed process nobody reaps (PID 1 of many containers) still answers signal 0; its leases are free."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 120
        while (owners.proc_stat(proc.pid) or ["?"])[0] != "Z":  # exited, not reaped: we hold off wait() on purpose
            assert time.monotonic() < deadline, "le processus n'est jamais devenu zombie"
            time.sleep(0.05)
        os.kill(proc.pid, 0)  # the zombie still answers signal 0: the naive check would call it alive
        assert not owners.pid_alive(proc.pid)
        assert owners.owner_is_dead(f"{socket.gethostname()}:{proc.pid}:celery-1")
    finally:
        proc.wait(timeout=60)


def test_this_process_counts_as_dead_only_when_asked():
    mine = owners.owner_id("w0")
    assert not owners.owner_is_dead(mine)
    assert owners.owner_is_dead(mine, this_process_too=True)
