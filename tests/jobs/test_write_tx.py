"""SQLite write transactions of one process queue in turn instead of racing in SQLite's busy handler,
where a writer that keeps losing fails "database is locked" once its busy timeout is out (seen as
503s from the HR intake under load)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from accessctl.jobs import tables
from accessctl.jobs.tables import write_tx
from accessctl.store.engine import make_engine

THREADS = 12
EACH = 8


def _contend(path: Path) -> tuple[int, list[BaseException]]:
    engine = make_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def impatient(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=40")  # far less than the others' turns take

    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer() -> None:
        start.wait()
        for _ in range(EACH):
            try:
                with write_tx(engine) as conn:
                    conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                    time.sleep(0.01)  # work inside the transaction
            except sa.exc.OperationalError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one()
    engine.dispose()
    return rows, errors


def test_write_transactions_of_one_process_take_turns_and_none_fails(tmp_path: Path) -> None:
    rows, errors = _contend(tmp_path / "store.db")
    assert errors == []
    assert rows == THREADS * EACH


def test_without_the_queue_sqlite_s_busy_handler_fails_some(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the queue prevents: the same contention with the queue bypassed loses writes."""

    class NoQueue:
        def acquire(self, timeout: float) -> bool:
            return False

        def release(self) -> None:  # pragma: no cover - never acquired
            raise AssertionError

    monkeypatch.setattr(tables, "_writer", lambda engine: NoQueue())
    rows, errors = _contend(tmp_path / "store.db")
    assert errors and all("locked" in str(e) for e in errors)
    assert rows == THREADS * EACH - len(errors)
