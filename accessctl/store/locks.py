"""Named locks held in the store: one sync per provider now, the scheduler's syncs and job workers later.

    with store_lock(engine, "sync:okta", wait=True, timeout=600) as lock:
        ...  # nobody else holds "sync:okta" in this store until the block ends

A lock that is held elsewhere raises :class:`LockBusy` naming its holder (pid, host, since when), at
once or, with ``wait``, when ``timeout`` runs out.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection kept for as
  long as the lock is held; the key is derived from the lock's name and the schema, so two stores in
  one database do not block each other.  A holder that dies loses its session and so the lock.
  The ``store_lock`` row only says who holds it.
- SQLite: the ``store_lock`` row is the lock, taken in an immediate (write-locked) transaction.  Its
  holder renews a lease from a heartbeat thread; a row whose lease has expired, or whose holder's
  process is gone on this host (a SIGKILLed sync), is taken over.

Every wait has a deadline: the wait for the lock (``timeout``), each heartbeat (its interval) and
the heartbeat thread's end (a join with a timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.store.models import StoreLockRow
from accessctl.timestamps import utc

log = logging.getLogger(__name__)

LOCKS: sa.Table = StoreLockRow.__table__  # type: ignore[attr-defined]

#: how long a holder's claim lasts without a heartbeat (SQLite); the heartbeat renews it 4 times as often
DEFAULT_LEASE = timedelta(seconds=60)
#: how often a waiting caller tries again
POLL_S = 0.5
#: the longest an async taker waits for one store call of the lock (taking or releasing it)
STORE_CALL_TIMEOUT_S = 30.0

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: the process (pid on host) and since when."""

    pid: int
    host: str
    since: datetime

    def __str__(self) -> str:
        since = utc(self.since).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on {self.host} since {since}"


class LockBusy(Exception):
    """The lock is held by someone else (``holder``: None when the holder has not said who yet)."""

    def __init__(self, name: str, holder: LockHolder | None, waited_s: float | None = None) -> None:
        self.name = name
        self.holder = holder
        self.waited_s = waited_s
        who = str(holder) if holder else "another process"
        gave_up = f" (gave up waiting after {waited_s:.0f}s)" if waited_s is not None else ""
        super().__init__(f"{name} is held by {who}{gave_up}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def advisory_key(schema: str, name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from the schema and the lock's name."""
    digest = hashlib.sha256(f"accessctl:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StoreLock:
    """One named lock in one store.  :meth:`try_acquire` and :meth:`release`; :func:`store_lock` and
    :func:`async_store_lock` wrap them with waiting and a deadline."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        lease: timedelta = DEFAULT_LEASE,
        clock: Clock = _utcnow,
        pid: int | None = None,
        host: str | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.lease = lease
        self.clock = clock
        self.pid = os.getpid() if pid is None else pid
        self.host = socket.gethostname() if host is None else host
        self.token = secrets.token_hex(16)
        #: set when a heartbeat found the lock taken over (SQLite) or its session gone (PostgreSQL)
        self.lost = threading.Event()
        self._held = False
        self._conn: Connection | None = None  # PostgreSQL: the session holding the advisory lock
        self._key = 0
        self._conn_guard = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held

    # -------------------------------------------------------------------------- acquire / release

    def try_acquire(self) -> LockHolder | None:
        """Take the lock if it is free; returns None when taken, else who holds it (raises
        :class:`LockBusy` when the holder cannot be named)."""
        if self._held:
            raise RuntimeError(f"{self.name} is already held by this StoreLock")
        if self.engine.dialect.name == "postgresql":
            holder = self._try_postgres()
        else:
            holder = self._try_sqlite()
        if holder is None:
            self._held = True
            self._stop.clear()
            self.lost.clear()
            self._heartbeat = threading.Thread(
                target=self._beat, name=f"lock-heartbeat:{self.name}", daemon=True
            )
            self._heartbeat.start()
        return holder

    def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        if not self._held:
            return
        self._held = False
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=30)
            self._heartbeat = None
        if self.engine.dialect.name == "postgresql":
            self._release_postgres()
        else:
            with self.engine.begin() as conn:
                conn.execute(LOCKS.delete().where(LOCKS.c.name == self.name, LOCKS.c.token == self.token))

    def holder(self) -> LockHolder | None:
        """Who the store says holds the lock now (None when nobody has said)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(LOCKS).where(LOCKS.c.name == self.name)).first()
        return _holder(row) if row is not None else None

    # -------------------------------------------------------------------------- SQLite: the row

    def _try_sqlite(self) -> LockHolder | None:
        with self.engine.connect() as conn:
            # a write lock first, so two contenders never both see the row free
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                row = conn.execute(sa.select(LOCKS).where(LOCKS.c.name == self.name)).first()
                if row is not None and not self._stale(row):
                    conn.rollback()
                    return _holder(row)
                if row is not None:
                    log.warning("taking over lock %s from %s (%s)", self.name, _holder(row), self._why(row))
                    conn.execute(LOCKS.delete().where(LOCKS.c.name == self.name))
                conn.execute(LOCKS.insert().values(self._claim()))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return None

    def _stale(self, row: sa.Row) -> bool:
        return utc(row.expires_at) <= self.clock() or (
            row.holder_host == self.host and not pid_alive(row.holder_pid)
        )

    def _why(self, row: sa.Row) -> str:
        if utc(row.expires_at) <= self.clock():
            return "its lease expired"
        return "its process is gone"

    def _claim(self) -> dict[str, object]:
        at = self.clock()
        return {
            "name": self.name,
            "holder_pid": self.pid,
            "holder_host": self.host,
            "token": self.token,
            "acquired_at": at,
            "heartbeat_at": at,
            "expires_at": at + self.lease,
        }

    # -------------------------------------------------------------------------- PostgreSQL: advisory

    def _try_postgres(self) -> LockHolder | None:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar() or "public"
            key = advisory_key(schema, self.name)
            taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            if not taken:
                conn.close()
                holder = self.holder()
                if holder is None:
                    raise LockBusy(self.name, None)
                return holder
            conn.execute(LOCKS.delete().where(LOCKS.c.name == self.name))  # a dead holder's row
            conn.execute(LOCKS.insert().values(self._claim()))
        except BaseException:
            if not conn.closed:  # closed already when the lock was busy: nothing of ours is held
                conn.invalidate()  # never hand a session that may hold the lock back to the pool
                conn.close()
            raise
        self._conn = conn
        self._key = key
        return None

    def _release_postgres(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with self._conn_guard:
            try:
                conn.execute(LOCKS.delete().where(LOCKS.c.name == self.name, LOCKS.c.token == self.token))
                unlock = sa.text("SELECT pg_advisory_unlock(:key)")
                unlocked = conn.execute(unlock, {"key": self._key}).scalar()
                if not unlocked:
                    conn.invalidate()
            except sa.exc.DBAPIError:
                conn.invalidate()  # closing the session releases the lock in any case
                log.warning("lock %s: the session was gone at release", self.name)
            finally:
                conn.close()

    # -------------------------------------------------------------------------- heartbeat

    def _beat(self) -> None:
        interval = max(self.lease.total_seconds() / 4, 0.05)
        while not self._stop.wait(interval):
            try:
                renewed = self._renew()
            except sa.exc.DBAPIError as exc:  # busy database, dropped session: try again next beat
                log.warning("lock %s: heartbeat failed: %s", self.name, exc.orig or exc)
                if self.engine.dialect.name == "postgresql":
                    renewed = False
                else:
                    continue
            if not renewed:
                log.error("lock %s was lost (taken over or its session ended)", self.name)
                self.lost.set()
                return

    def _renew(self) -> bool:
        at = self.clock()
        update = (
            LOCKS.update()
            .where(LOCKS.c.name == self.name, LOCKS.c.token == self.token)
            .values(heartbeat_at=at, expires_at=at + self.lease)
        )
        if self.engine.dialect.name == "postgresql":
            with self._conn_guard:
                if self._conn is None:
                    return True  # being released
                self._conn.execute(update)  # on the lock's own session: proves it is still alive
                return True
        with self.engine.begin() as conn:
            return conn.execute(update).rowcount == 1


def _holder(row: sa.Row) -> LockHolder:
    return LockHolder(pid=row.holder_pid, host=row.holder_host, since=utc(row.acquired_at))


# ------------------------------------------------------------------------------ waiting


class _Waiting:
    """What a lock's taker does after a busy attempt: give up (:class:`LockBusy`) or pause and retry.

    Without ``wait`` the first busy attempt gives up; with it, attempts go on until ``timeout``
    seconds have passed, and ``on_wait(holder)`` is called once, when the wait begins."""

    def __init__(
        self,
        name: str,
        wait: bool,
        timeout: float | None,
        on_wait: Callable[[LockHolder | None], None] | None,
    ) -> None:
        if wait and timeout is None:
            raise ValueError("waiting for a lock needs a timeout")
        self.name = name
        self.started = time.monotonic()
        self.deadline = self.started + timeout if wait and timeout is not None else None
        self.on_wait = on_wait
        self.announced = False

    def pause_after(self, holder: LockHolder | None) -> float:
        """Seconds to pause before the next attempt; raises LockBusy when it is time to give up."""
        if self.deadline is None:
            raise LockBusy(self.name, holder)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise LockBusy(self.name, holder, time.monotonic() - self.started)
        if not self.announced and self.on_wait is not None:
            self.on_wait(holder)
        self.announced = True
        return min(POLL_S, remaining)


@contextmanager
def store_lock(
    engine: Engine,
    name: str,
    *,
    wait: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[LockHolder | None], None] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    clock: Clock = _utcnow,
) -> Iterator[StoreLock]:
    """Hold ``name`` for the block.  Busy: :class:`LockBusy` at once, or with ``wait`` after trying
    every half second until ``timeout`` seconds have passed (``on_wait(holder)`` is called once,
    when the wait begins)."""
    lock = StoreLock(engine, name, lease=lease, clock=clock)
    waiting = _Waiting(name, wait, timeout, on_wait)
    while True:
        try:
            holder = lock.try_acquire()
        except LockBusy as busy:  # busy, and the holder could not be read
            if waiting.deadline is None:
                raise
            holder = busy.holder
        else:
            if holder is None:
                break  # taken
        time.sleep(waiting.pause_after(holder))
    try:
        yield lock
    finally:
        lock.release()


@asynccontextmanager
async def async_store_lock(
    engine: Engine,
    name: str,
    *,
    wait: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[LockHolder | None], None] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    clock: Clock = _utcnow,
) -> AsyncIterator[StoreLock]:
    """:func:`store_lock` for async code: the store work runs in a thread, the wait is cancellable."""
    lock = StoreLock(engine, name, lease=lease, clock=clock)
    waiting = _Waiting(name, wait, timeout, on_wait)
    while True:
        attempt = asyncio.ensure_future(asyncio.to_thread(lock.try_acquire))
        try:
            holder = await asyncio.shield(attempt)
        except LockBusy as busy:  # busy, and the holder could not be read
            if waiting.deadline is None:
                raise
            holder = busy.holder
        except asyncio.CancelledError:
            # the attempt may have taken the lock: give it back (bounded; a lease left behind expires)
            await asyncio.wait([attempt], timeout=STORE_CALL_TIMEOUT_S)
            taken = attempt.done() and not attempt.cancelled() and attempt.exception() is None
            if taken and attempt.result() is None:
                await asyncio.wait_for(asyncio.to_thread(lock.release), STORE_CALL_TIMEOUT_S)
            raise
        else:
            if holder is None:
                break  # taken
        await asyncio.sleep(waiting.pause_after(holder))
    try:
        yield lock
    finally:
        await asyncio.shield(asyncio.wait_for(asyncio.to_thread(lock.release), STORE_CALL_TIMEOUT_S))
