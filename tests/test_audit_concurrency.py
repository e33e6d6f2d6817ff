"""Two processes appending to one organisation's audit chain at once never fork it.

One process writes ``call_opened`` the way a page does (a read, then the entry alone in its transaction),
the other appends the way ``python -m ccr ingest`` does (a row written, then its entry); both start
together on a signal, and the chain must verify with exactly every entry in it.
"""

from __future__ import annotations

import multiprocessing as mp

from ccr import audit
from ccr.db import session

ENTRIES_PER_PROCESS = 300  # enough for the two appenders to overlap many times, even on a loaded machine
START_DEADLINE_S = 120  # both children imported CCR and opened the database
FINISH_DEADLINE_S = 600  # generous: a loaded 2-core machine; appends normally take a few seconds


def _append_many(kind: str, org_id: int, ready, go) -> None:
    """Child process: wait for the signal, then append ``ENTRIES_PER_PROCESS`` entries, one transaction each."""
    from sqlmodel import select

    from ccr.db import session
    from ccr.models import Agent, Organisation

    with session() as s:  # the engine and the connection are open before the race starts
        s.exec(select(Organisation.id)).all()
    ready.set()
    if not go.wait(START_DEADLINE_S):
        raise SystemExit(3)
    who = audit.Who(org_id, None, "cli" if kind == "ingest" else "alice")
    for i in range(ENTRIES_PER_PROCESS):
        with session() as s:
            if kind == "ingest":  # the ingest path writes its row first, then audits it
                agent = Agent(org_id=org_id, name=f"ingest agent {i}")
                s.add(agent)
                s.flush()
                audit.log_event(session=s, who=who, action="call_uploaded", target_type="agent", target_id=agent.id)
            else:  # a page reads what it shows, then audits the access alone
                s.get(Organisation, org_id)
                audit.log_event(session=s, who=who, action="call_opened", target_type="call", target_id=i)


def test_two_processes_appending_at_once_keep_one_intact_chain(tenants):
    a, _ = tenants
    with session() as s:
        before = audit.count_events(session=s, org_id=a.org_id)
    ctx = mp.get_context("spawn")  # a fresh interpreter each: no engine or lock inherited from the test
    go = ctx.Event()
    readies = [ctx.Event(), ctx.Event()]
    procs = [ctx.Process(target=_append_many, args=(kind, a.org_id, ready, go))
             for kind, ready in zip(("page", "ingest"), readies, strict=True)]
    for p in procs:
        p.start()
    try:
        assert all(r.wait(START_DEADLINE_S) for r in readies), "the writers did not start"
        go.set()
        for p in procs:
            p.join(FINISH_DEADLINE_S)
        assert [p.exitcode for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    with session() as s:
        assert audit.count_events(session=s, org_id=a.org_id) == before + 2 * ENTRIES_PER_PROCESS
        report = audit.verify_chain(session=s, org_id=a.org_id)
    assert report.ok, f"chain forked at {len(report.broken_at)} entries: {report.broken_at[:10]}"
