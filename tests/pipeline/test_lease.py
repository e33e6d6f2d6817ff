"""Claims and leases: one owner per call, expiry, dead processes, clean stops, exhausted attempts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

from ccr.core.db import session, utcnow
from ccr.core.models import Organisation
from ccr.pipeline import lease, steps
from tests.pipeline.calldata import call_row, claim, queued_call


def test_a_claim_leases_the_oldest_queued_call_to_one_owner(tenants):
    alpha, _ = tenants
    first, second = queued_call(alpha.org_id), queued_call(alpha.org_id)
    assert claim("hote:1:w0") == first
    call = call_row(first)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", "hote:1:w0", 1)
    assert call.lease_until > utcnow() + timedelta(seconds=800)
    assert claim("hote:2:w0") == second
    assert claim("hote:3:w0") is None  # both are leased


def test_an_expired_lease_is_claimed_again_and_counts_as_an_attempt(tenants):
    alpha, _ = tenants
    call_id = queued_call(alpha.org_id)
    assert claim("mort:1:w0") == call_id
    assert claim("vivant:2:w0") is None
    later = utcnow() + timedelta(seconds=steps.get_settings().job_lease_s + 1)
    assert claim("vivant:2:w0", now=later) == call_id
    call = call_row(call_id)
    assert (call.status, call.lease_owner, call.attempts) == ("transcribing", "vivant:2:w0", 2)


def test_concurrent_workers_never_claim_the_same_call(tenants):
    alpha, beta = tenants
    ids = {queued_call(alpha.org_id if i % 2 else beta.org_id) for i in range(24)}
    claimed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            while (call_id := claim(f"hote:1:w{n}")) is not None:
                claimed.append(call_id)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == sorted(ids)  # every call once, none twice


def test_restricted_calls_and_inactive_organisations_are_not_claimed(tenants):
    alpha, beta = tenants
    queued_call(alpha.org_id, restricted=True)
    queued_call(beta.org_id)
    with session() as s:
        org = s.get(Organisation, beta.org_id)
        org.status = "suspended"
        s.add(org)
    assert claim("hote:1:w0") is None


def test_lease_renewal_only_works_for_the_owner(tenants):
    alpha, _ = tenants
    call_id = queued_call(alpha.org_id)
    claim("a:1:w0")
    with session() as s:
        assert lease.renew_lease(session=s, call_id=call_id, owner="a:1:w0") is True
        assert lease.renew_lease(session=s, call_id=call_id, owner="b:1:w0") is False


def test_leases_of_a_dead_process_on_this_host_are_released_at_start(tenants):
    alpha, _ = tenants
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    host = socket.gethostname()
    mine = queued_call(alpha.org_id)
    theirs = queued_call(alpha.org_id)
    other_host = queued_call(alpha.org_id)
    for call_id, owner in ((mine, f"{host}:{dead.pid}:w0"), (theirs, f"{host}:{os.getppid()}:w0"),
                           (other_host, f"ailleurs:{dead.pid}:w0")):
        assert claim(owner) == call_id  # oldest first
    with session() as s:
        assert lease.release_dead_leases(session=s) == 1
    assert call_row(mine).lease_owner is None
    assert call_row(theirs).lease_owner is not None and call_row(other_host).lease_owner is not None


def test_a_clean_stop_gives_back_this_processs_calls_wherever_the_interrupt_landed(tenants):
    alpha, _ = tenants
    first, second, foreign = (queued_call(alpha.org_id) for _ in range(3))
    assert claim(lease.worker_owner_id(0)) == first  # claimed, but the step's own handler never ran
    assert claim(lease.worker_owner_id(1)) == second
    assert claim(f"ailleurs:{os.getpid()}:w0") == foreign
    assert lease.give_back_leases() == 2
    assert [(call_row(c).lease_owner, call_row(c).attempts) for c in (first, second)] == [(None, 0), (None, 0)]
    assert call_row(foreign).lease_owner is not None
    assert claim("suivant:1:w0") == first  # at once, without waiting for the lease to expire


def test_calls_interrupted_at_every_attempt_end_failed(tenants):
    alpha, _ = tenants
    call_id = queued_call(alpha.org_id, status="transcribing", attempts=3, lease_owner="x:1:w0",
                           lease_until=utcnow() - timedelta(seconds=5))
    assert claim("hote:1:w0") is None
    call = call_row(call_id)
    assert call.status == "failed" and "interrompu à chaque tentative" in call.last_error
