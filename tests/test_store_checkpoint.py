"""A SQLite store's WAL checkpoints run in a thread of their own while the service runs, not inside
the commits (accessctl.store.checkpoint)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from accessctl.store.checkpoint import WRITER_PAGES, background_checkpoints
from accessctl.store.engine import make_engine

ROWS = 6_000  # 6,000 rows of 1 KiB: the log passes SQLite's 1,000-page autocheckpoint
PAGE = 4096


def _write(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad BLOB)"))
    for start in range(0, ROWS, 500):  # many commits, as a service makes them
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO t (id, pad) VALUES (:id, :pad)"),
                [{"id": n, "pad": b"x" * 1024} for n in range(start, start + 500)],
            )


def _rows_in_the_file_alone(path: Path, tmp_path: Path) -> int:
    """What the database file holds without its log: what checkpoints have copied into it (-1 when
    the copy caught a checkpoint halfway through writing the file: a torn copy, not a bad store)."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:  # the table itself is still only in the log
            return 0
        except sqlite3.DatabaseError:  # "malformed": copied while the thread wrote pages into it
            return -1


def _autocheckpoint(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():  # a pooled connection opened before: it must not checkpoint either
        pass
    with background_checkpoints(engine, every_s=3600) as checkpointer:
        assert checkpointer is not None
        assert _autocheckpoint(engine) == WRITER_PAGES
        _write(engine)
        # no commit copied the log into the file, though it is past 1,000 pages
        assert _rows_in_the_file_alone(path, tmp_path) == 0
    # stopping checkpointed what was left, and the engine checkpoints as SQLite does again
    assert _rows_in_the_file_alone(path, tmp_path) == ROWS
    assert _autocheckpoint(engine) == 1000
    engine.dispose()


def test_the_thread_copies_the_log_into_the_file_while_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    with background_checkpoints(engine, every_s=0.05) as checkpointer:
        assert checkpointer is not None
        _write(engine)
        deadline = time.monotonic() + 10
        rows = _rows_in_the_file_alone(path, tmp_path)
        while rows != ROWS and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = _rows_in_the_file_alone(path, tmp_path)
        assert rows == ROWS
        assert checkpointer.runs > 0
        # a complete checkpoint lets the next writer start the log again from its beginning: more
        # writes reuse the file instead of growing it
        wal = path.with_name("store.db-wal")
        size = wal.stat().st_size
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO t (id, pad) VALUES (:id, :pad)"),
                [{"id": -n, "pad": b"y" * 1024} for n in range(1, 2_001)],
            )
        assert wal.stat().st_size <= size
    engine.dispose()


def test_a_writer_never_idle_still_keeps_the_log_small(tmp_path: Path) -> None:
    """Back-to-back commits never begin with the whole log copied, so the thread alone would let it
    grow without end; the writers' rare checkpoint starts it again."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    wal = path.with_name("store.db-wal")
    with background_checkpoints(engine, every_s=0.01, writer_pages=300):
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)"))
        largest = 0
        for start in range(0, ROWS, 10):  # ~3 pages a commit, ~2,000 pages in all, never a pause
            with engine.begin() as conn:
                conn.execute(
                    sa.text("INSERT INTO t (id, pad) VALUES (:id, :pad)"),
                    [{"id": n, "pad": b"z" * 1024} for n in range(start, start + 10)],
                )
            largest = max(largest, wal.stat().st_size)
    engine.dispose()
    assert largest < 600 * PAGE  # 300 pages and what came in while they were copied, not 2,000


def test_nothing_to_do_for_sqlite_in_memory() -> None:
    engine = make_engine("sqlite://")
    with background_checkpoints(engine) as checkpointer:
        assert checkpointer is None


def test_the_thread_checkpoints_often_while_writes_come_in_and_backs_off_when_quiet(tmp_path: Path) -> None:
    from accessctl.store.checkpoint import Checkpointer

    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)"))
    checkpointer = Checkpointer(path, every_s=0.01, idle_every_s=0.4)
    checkpointer.start()
    try:
        end = time.monotonic() + 0.6
        n = 0
        while time.monotonic() < end:  # a commit every few milliseconds
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO t (id, pad) VALUES (:id, :pad)"), {"id": n, "pad": b"x"})
            n += 1
            time.sleep(0.002)
        busy = checkpointer.runs
        time.sleep(1.2)  # quiet: 0.01, 0.02, ... 0.32, then 0.4 s apart
        quiet = checkpointer.runs - busy
    finally:
        checkpointer.stop()
        engine.dispose()
    assert busy >= 20  # about one per 10 ms while the log grew (60 at best)
    assert quiet <= 10  # not 120: it waited longer each time nothing was new
