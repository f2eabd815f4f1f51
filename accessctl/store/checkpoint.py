"""WAL checkpoints of a SQLite store moved off the commit path, for a long-running service.

    with background_checkpoints(engine):   # accessctl serve and worker, for the service's life
        ...

By default SQLite folds its write-ahead log back into the database file inside the commit that takes
the log past 1,000 pages: that commit copies the pages and syncs the file before it returns, so
every few hundred HR events one group of requests waits for it (the intake's slowest answers, and a
quarter of its CPU while the interpreter is busy).  Here a thread of its own runs a PASSIVE
checkpoint every ``every_s`` seconds (0.05) while writes come in, backing off to one a second while
the store is quiet, on a connection of its own, beside the writers (SQLite copies what no reader
still needs and blocks no one), and the service's connections checkpoint only once the log passes
``writer_pages`` (8,000 pages, 32 MiB).  The more often the thread copies, the less is left for
such a commit (under the intake benchmark, commits slower than 8 ms: 11 to 12 per 10,000 events with
the thread every 0.25 s, 6 to 10 every 0.05 s).

Why the writers keep that rare checkpoint: SQLite starts the log again from its beginning only when
a write transaction begins with every frame copied.  A writer that is never idle (the intake under
load) always begins while the thread's last pass is a moment old, so the log would grow without end
(400 MB in 9 s at 1,400 events/s, seen).  The rare checkpoint in the commit copies only what the
thread has not copied yet (a quarter of a second's writes) and lets the next transaction start
the log again.  Nothing is less durable: the log is the store's until it is copied (a service
killed between checkpoints leaves a longer log, replayed by the next connection).  Both service
processes (`accessctl serve` and `accessctl worker`) run it; the CLI's short commands keep SQLite's
default.  PostgreSQL has nothing to do here.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

#: how often the service's thread checkpoints while writes come in (seconds)
EVERY_S = 0.05
#: how long it waits at most once they stop (doubling from ``EVERY_S`` while nothing is new)
IDLE_EVERY_S = 1.0
#: the log's size (pages) past which a commit of the service checkpoints what is left
WRITER_PAGES = 8_000


def _checkpoint_rarely(pages: int) -> Callable[..., None]:
    """The engine's connect hook: SQLite's own checkpoint only once the log passes ``pages``."""

    def on_connect(dbapi_connection: Any, _record: Any = None) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
        cursor.close()

    return on_connect


class Checkpointer:
    """The thread that checkpoints one SQLite file; :attr:`runs` counts its checkpoints."""

    def __init__(self, path: Path, every_s: float, idle_every_s: float = IDLE_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.idle_every_s = max(idle_every_s, every_s)
        self.runs = 0
        self._last: tuple[int, int] = (-1, -1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        except sqlite3.Error as exc:
            log.error("store: cannot open %s to checkpoint it (%s); its log grows", self.path, exc)
            return
        try:
            # only the wait for a lock: the journal mode is the writers' to set (a store being created)
            connection.execute("PRAGMA busy_timeout=10000")
            wait = self.every_s
            while not self._stop.wait(wait):
                copied = self.checkpoint(connection)
                # often while the log grows (a commit that finds the log long copies the rest
                # itself, its requests waiting); rarely while the store is quiet
                wait = self.every_s if copied else min(wait * 2, self.idle_every_s)
            self.checkpoint(connection)  # what the last writes left, before the service stops
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> bool:
        """One PASSIVE checkpoint; True when it found frames in the log it had not seen copied."""
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the store busy or away: the next pass tries again
            log.warning("store: a WAL checkpoint failed (%s); the next one tries again", exc)
            return True  # soon again
        self.runs += 1
        # (busy, frames in the log, frames copied): the log's frame count changes as writes come in
        frames = (row[1], row[2]) if row else (0, 0)
        new, self._last = frames != self._last, frames
        return new


@contextlib.contextmanager
def background_checkpoints(
    engine: Engine, *, every_s: float = EVERY_S, writer_pages: int = WRITER_PAGES
) -> Iterator[Checkpointer | None]:
    """For the block, ``engine``'s SQLite connections leave checkpoints to a thread of their own but
    for one per ``writer_pages`` of log (the thread yielded; None for PostgreSQL or SQLite in
    memory).  Connections the engine's pool opened before are closed first, so that every one it
    hands out has the setting."""
    with checkpoints_left_to_the_thread(engine, writer_pages=writer_pages) as database:
        if database is None:
            yield None
            return
        checkpointer = Checkpointer(database, every_s)
        checkpointer.start()
        try:
            yield checkpointer
        finally:
            checkpointer.stop()


@contextlib.contextmanager
def checkpoints_left_to_the_thread(
    engine: Engine, *, writer_pages: int = WRITER_PAGES
) -> Iterator[Path | None]:
    """For the block, ``engine``'s SQLite connections checkpoint only once per ``writer_pages`` of
    log: for another process of the service (its HR writer) whose store a service's
    :func:`background_checkpoints` thread checkpoints.  Yields the store's file (None for
    PostgreSQL or SQLite in memory: nothing is changed)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield None
        return
    on_connect = _checkpoint_rarely(writer_pages)
    sa.event.listen(engine, "connect", on_connect)
    engine.dispose()  # pooled connections opened without the setting
    try:
        yield Path(database)
    finally:
        sa.event.remove(engine, "connect", on_connect)
        engine.dispose()  # back to SQLite's own checkpoints for whoever uses the engine next
