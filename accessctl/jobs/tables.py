"""The engine's tables, and the write transaction every state change runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.store.models import Job, JobStep

JOBS: sa.Table = Job.__table__  # type: ignore[attr-defined]
STEPS: sa.Table = JobStep.__table__  # type: ignore[attr-defined]


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction: on SQLite it takes the write lock first (BEGIN IMMEDIATE), so what it
    reads cannot change under it; on PostgreSQL the rows it changes are locked as it goes."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def lock_for_update(conn: Connection, query: sa.Select) -> sa.Select:
    """``query`` with FOR UPDATE where the database has it (SQLite's write lock is whole-database)."""
    return query if conn.dialect.name == "sqlite" else query.with_for_update()
