"""The engine's tables, and the write transaction every state change runs in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.store.models import Job, JobStep

JOBS: sa.Table = Job.__table__  # type: ignore[attr-defined]
STEPS: sa.Table = JobStep.__table__  # type: ignore[attr-defined]

#: SQLite has one writer at a time, and its busy handler is no queue: a writer that keeps losing the
#: retry race to the others (the HR intake's requests, the workers, the scheduler, all in `serve`)
#: can wait out its whole busy timeout and fail "database is locked".  This process's write
#: transactions on one database file queue here first, in turn; past WRITER_WAIT_S a transaction
#: goes on to SQLite's own busy handling, as it did before (so a stuck holder delays, never blocks)
WRITER_WAIT_S = 30.0
_writers: dict[str, threading.RLock] = {}
_writers_guard = threading.Lock()


def _writer(engine: Engine) -> threading.RLock:
    key = str(engine.url.database)
    with _writers_guard:
        return _writers.setdefault(key, threading.RLock())


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction: on SQLite it takes the write lock first (BEGIN IMMEDIATE), so what it
    reads cannot change under it, after this process's other write transactions on that file (see
    WRITER_WAIT_S); on PostgreSQL the rows it changes are locked as it goes."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    writer = _writer(engine)
    queued = writer.acquire(timeout=WRITER_WAIT_S)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
    finally:
        if queued:
            writer.release()


def lock_for_update(conn: Connection, query: sa.Select) -> sa.Select:
    """``query`` with FOR UPDATE where the database has it (SQLite's write lock is whole-database)."""
    return query if conn.dialect.name == "sqlite" else query.with_for_update()
