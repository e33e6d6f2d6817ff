"""Two processes appending to one organisation's audit chain at once never fork it.

One process writes ``call_opened`` the way a page does (a read, then the entry alone in its transaction),
the other appends the way ``python -m ccr ingest`` does (a row written, then its entry); both start
together on a signal, and the chain must verify with exactly every entry in it.

The writers are plain interpreters (``python -c``), not ``multiprocessing`` children: a spawned child
re-imports the parent's ``__main__``, which in a test worker that ran a page under AppTest is that page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ccr.core import audit
from ccr.core.db import session
from tests.conftest import REPO

ENTRIES_PER_PROCESS = 300  # enough for the two appenders to overlap many times, even on a loaded machine
START_DEADLINE_S = 300  # both children imported CCR and opened the database, on a loaded machine
FINISH_DEADLINE_S = 600  # generous: a loaded 2-core machine; appends normally take a few seconds

WRITER = """
import os, sys, time
from pathlib import Path
from sqlmodel import select
from ccr.core import audit
from ccr.core.db import session
from ccr.core.models import Agent, Organisation

kind, org_id, ready, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
with session() as s:  # the engine and the connection are open before the race starts
    s.exec(select(Organisation.id)).all()
ready.touch()
while not go.exists():
    time.sleep(0.01)
who = audit.Who(org_id, None, "cli" if kind == "ingest" else "alice")
for i in range(int(sys.argv[5])):
    with session() as s:
        if kind == "ingest":  # the ingest path writes its row first, then audits it
            agent = Agent(org_id=org_id, name=f"ingest agent {i}")
            s.add(agent)
            s.flush()
            audit.log_event(session=s, who=who, action="call_uploaded", target_type="agent", target_id=agent.id)
        else:  # a page reads what it shows, then audits the access alone
            s.get(Organisation, org_id)
            audit.log_event(session=s, who=who, action="call_opened", target_type="call", target_id=i)
"""


def _wait_for(predicate, deadline_s: float, procs) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        if any(p.poll() not in (None, 0) for p in procs):
            return False
        time.sleep(0.05)
    return False


def test_two_processes_appending_at_once_keep_one_intact_chain(tenants, tmp_path):
    a, _ = tenants
    with session() as s:
        before = audit.count_events(session=s, org_id=a.org_id)
    go = tmp_path / "go"
    readies = [tmp_path / "ready-page", tmp_path / "ready-ingest"]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, kind, str(a.org_id), str(ready), str(go),
                               str(ENTRIES_PER_PROCESS)], cwd=REPO, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for kind, ready in zip(("page", "ingest"), readies, strict=True)]
    try:
        started = _wait_for(lambda: all(r.exists() for r in readies), START_DEADLINE_S, procs)
        assert started, [p.communicate(timeout=60)[1][-2000:] for p in procs if p.poll() is not None]
        go.touch()
        errors = [p.communicate(timeout=FINISH_DEADLINE_S)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errors]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with session() as s:
        assert audit.count_events(session=s, org_id=a.org_id) == before + 2 * ENTRIES_PER_PROCESS
        report = audit.verify_chain(session=s, org_id=a.org_id)
    assert report.ok, f"chain forked at {len(report.broken_at)} entries: {report.broken_at[:10]}"
