"""Named leases in the database: one holder at a time, expiry, a dead holder's lease taken over at once."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from ccr.core.errors import CcrError
from ccr.privacy import locks


def test_lock_is_exclusive_until_released_or_expired(migrated):
    assert locks.acquire_lock("t", "p1")
    assert not locks.acquire_lock("t", "p2")
    locks.release_lock("t", "p1")
    assert locks.acquire_lock("t", "p2")
    assert locks.acquire_lock("u", "p1", lease_s=-1)  # an expired lease is free to take
    assert locks.acquire_lock("u", "p2")


def test_a_lease_held_by_a_dead_process_of_this_host_is_taken_over_at_once(migrated):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    dead = f"{socket.gethostname()}:{proc.pid}:abc"
    assert locks.acquire_lock("purge-test", dead, lease_s=3600)
    assert locks.acquire_lock("purge-test", locks.lock_owner_id())  # no half-hour wait for a killed purge


def test_a_live_holder_keeps_its_lease_and_the_block_form_waits_then_refuses(migrated):
    holder = locks.lock_owner_id()
    assert locks.acquire_lock("verrou", holder)
    with pytest.raises(CcrError, match="purge"), locks.job_lock("verrou", wait_s=0.5):
        pass
    assert locks.renew_lock("verrou", holder)
    locks.release_lock("verrou", holder)
    with locks.job_lock("verrou") as owner:
        assert not locks.acquire_lock("verrou", holder) and owner != holder
