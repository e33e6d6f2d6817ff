"""Where a page run's time goes, measured only when ``CCR_RUN_TIMINGS_FILE`` names a file.

Each page run then appends one JSON line: the page, its wall time, the CPU time of its own thread (the
rest of the wall time is waiting: for the interpreter lock, the database's write lock, the disk), and
the time spent in SQL, in authentication and in building figures. ``benchmarks/bench_load.py`` reads
the file for its server-side breakdown. Off by default: nothing is measured and nothing is written.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_run: ContextVar[dict[str, Any] | None] = ContextVar("ccr_run_timing", default=None)
_write_lock = threading.Lock()
_sql_hooked = False
_START_KEY = "ccr_sql_started"


@contextmanager
def page_run(path: Path | None) -> Iterator[None]:
    """Measure the run inside the block and append its line to ``path`` (nothing at all when None)."""
    if path is None:
        yield
        return
    _hook_sql()
    rec: dict[str, Any] = {"page": "", "sections": defaultdict(float), "sql_n": 0}
    token = _run.set(rec)
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        _run.reset(token)
        line = {"page": rec["page"], "wall_s": time.perf_counter() - wall, "cpu_s": time.thread_time() - cpu,
                "sql_n": rec["sql_n"], **{f"{k}_s": v for k, v in rec["sections"].items()}}
        with _write_lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def name_page(name: str) -> None:
    """Name the page of the run being measured (known once the navigation has chosen it)."""
    if (rec := _run.get()) is not None:
        rec["page"] = name


@contextmanager
def section(name: str) -> Iterator[None]:
    """Add the block's wall time to section ``name`` of the run being measured."""
    rec = _run.get()
    if rec is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        rec["sections"][name] += time.perf_counter() - t0


def timed(name: str) -> Callable:
    """Decorator: the function's time counts in section ``name``."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with section(name):
                return fn(*args, **kwargs)
        return inner
    return wrap


def _hook_sql() -> None:
    """Count SQL time (the database's lock waits included) for every engine, once per process."""
    global _sql_hooked
    with _write_lock:
        if _sql_hooked:
            return
        event.listen(Engine, "before_cursor_execute", _before_sql)
        event.listen(Engine, "after_cursor_execute", _after_sql)
        _sql_hooked = True


def _before_sql(conn, _cursor, _statement, _parameters, _context, _executemany) -> None:
    if _run.get() is not None:
        conn.info.setdefault(_START_KEY, []).append(time.perf_counter())


def _after_sql(conn, _cursor, _statement, _parameters, _context, _executemany) -> None:
    rec, started = _run.get(), conn.info.get(_START_KEY)
    if rec is not None and started:
        rec["sections"]["sql"] += time.perf_counter() - started.pop()
        rec["sql_n"] += 1
