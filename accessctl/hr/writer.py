"""Group commit for the HR intake: a writer thread stores the events many requests hand it in one
transaction, commits once, and only then answers each request (one thread on SQLite; on PostgreSQL
a few, each employee's events always to the same one).  `accessctl serve` runs it in a process of
its own (:mod:`accessctl.hr.writer_process`); a process that writes alone calls :meth:`write_group`.

    writer = GroupWriter(engine)
    accepted = await writer.write(lambda conn: record_event(conn, ...), deadline_s=10)

Why: every event is one write, and the store has one writer at a time (SQLite's write lock; on
PostgreSQL a commit waits for its log flush).  Thirty-two requests each opening their own transaction
in a thread queue on that lock and on the interpreter; one thread writing them in turn,
``max_batch`` to a commit, does the same work once per group, and appends the group's audit events
together as its commit nears.  Nothing changes for a request but its wait: one event's refusal (a
replay with another body, a restore while its leaver runs) or failure never touches the others (the
group is rolled back and written again, each event in a savepoint), and no request is answered
before the commit that holds its event (a failed commit answers every request of the group with that
error).  A request that gives up waiting (``deadline_s``) before the writer took its event has stored
nothing; one taken already is committed, and the sender's retry gets the first answer (a replay).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.jobs.tables import write_tx

log = logging.getLogger(__name__)
T = TypeVar("T")

#: events committed together at most
MAX_BATCH = 64
#: writer threads on PostgreSQL (on SQLite one)
POSTGRES_WRITERS = 4


@dataclass(slots=True)
class _Item(Generic[T]):
    """One event's work and where its answer goes: a thread's ``future``, or an event loop's
    ``waiter`` (resolved in that loop, once per group)."""

    work: Callable[[Connection], T]
    future: concurrent.futures.Future[T] | None = None
    waiter: asyncio.Future[T] | None = None
    #: ``time.monotonic()`` past which its request has given up (a future's; None: it waits)
    expires_at: float | None = None

    def take(self) -> bool:
        """False when its request gave up before the writer took it (then nothing is stored)."""
        if self.future is not None:
            if self.expires_at is not None and time.monotonic() > self.expires_at:
                self.future.cancel()
            return self.future.set_running_or_notify_cancel()
        assert self.waiter is not None
        # read from the writer's thread: a cancel just after this is a request that timed out
        # after its event was taken (stored; the sender's retry gets the first answer)
        return not self.waiter.cancelled()


_Result = tuple[_Item[object], object, BaseException | None]
_Answer = tuple[asyncio.Future[object], object, BaseException | None]


def _resolve(answers: list[_Answer]) -> None:
    """In the requests' event loop: each waiter gets its event's result or error."""
    for waiter, result, error in answers:
        if waiter.done():  # its request gave up meanwhile
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)


class GroupWriter:
    """The writer threads of one store; started on first use, stopped by :meth:`close`."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = MAX_BATCH,
        threads: int | None = None,
        after_commit: Callable[[], None] | None = None,
        on_answered: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        #: SQLite has one writer at a time; PostgreSQL's commits of several groups overlap (each
        #: waits on its round trips and its log flush, not on the others)
        self.threads = threads or (1 if engine.dialect.name == "sqlite" else POSTGRES_WRITERS)
        self.after_commit = after_commit
        #: called once a group's requests were answered (committed or not), before its log lines
        self.on_answered = on_answered
        self._queues: list[queue.SimpleQueue[_Item[object] | None]] = [
            queue.SimpleQueue() for _ in range(self.threads)
        ]
        self._started: list[threading.Thread] = []
        self._start = threading.Lock()
        self.commits = 0
        self.written = 0

    def submit(
        self, work: Callable[[Connection], T], *, key: str = "", expires_at: float | None = None
    ) -> concurrent.futures.Future[T]:
        """Queue ``work`` (run in the writer's transaction, in a savepoint of its own); the future is
        resolved once that transaction committed (or with the error that stopped it).  Work of one
        ``key`` (an employee) goes to one thread, in order: two groups never wait on each other's
        locks of one person's rows.  Not taken by ``expires_at`` (``time.monotonic()``), it is
        cancelled and stores nothing."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(_Item(work, future=future, expires_at=expires_at), key)
        return future

    async def write(self, work: Callable[[Connection], T], *, key: str = "", deadline_s: float) -> T:
        """:meth:`submit` for a coroutine, awaited at most ``deadline_s`` (then
        :class:`TimeoutError`).  The writer answers a group's requests with one call into their
        event loop (not one wake-up per event)."""
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(_Item(work, waiter=waiter), key)
        async with asyncio.timeout(deadline_s):
            return await waiter

    def _put(self, item: _Item[T], key: str) -> None:
        self._ensure_started()
        self._queues[zlib.crc32(key.encode()) % self.threads].put(item)  # type: ignore[arg-type]

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the threads."""
        with self._start:
            threads, self._started = self._started, []
        for waiting in self._queues[: len(threads)]:
            waiting.put(None)
        for thread in threads:
            thread.join(timeout_s)

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start:
            if not self._started:
                for n in range(self.threads):
                    thread = threading.Thread(
                        target=self._run, args=(self._queues[n],), name=f"hr-intake-writer-{n}", daemon=True
                    )
                    thread.start()
                    self._started.append(thread)

    def _run(self, waiting: queue.SimpleQueue[_Item[object] | None]) -> None:
        while True:
            first = waiting.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def write_group(
        self, work: Sequence[tuple[Callable[[Connection], T], concurrent.futures.Future[T], float | None]]
    ) -> None:
        """Write ``work`` (each with its future and ``expires_at``) in the calling thread as one
        group of at most ``max_batch``: for a caller that is its own writer thread (no queue, no
        hand-over between threads).  The futures are resolved (their callbacks run) on return."""
        self._write([_Item(w, future=future, expires_at=at) for w, future, at in work])  # type: ignore[misc]

    def _write(self, batch: list[_Item[object]]) -> None:
        with audit.logged_after():  # the group's audit log lines once its requests are answered
            self._write_group(batch)

    def _write_group(self, batch: list[_Item[object]]) -> None:
        taken = [item for item in batch if item.take()]
        if not taken:
            return
        try:
            try:  # the usual group: every event stored, no savepoint needed
                results = self._group(taken, isolated=False)
            except _ItemFailed:  # one refused or failed: the group again, each event in a savepoint
                results = self._group(taken, isolated=True)
        except Exception as exc:  # the commit failed: none of the group is stored
            log.warning("HR intake: a group of %d events could not be committed: %s", len(taken), exc)
            self._answer([(item, None, exc) for item in taken])
            if self.on_answered is not None:
                self.on_answered()
            return
        self.commits += 1
        self.written += len(taken)
        self._answer(results)
        if self.on_answered is not None:
            self.on_answered()
        if self.after_commit is not None:
            self.after_commit()

    @staticmethod
    def _answer(results: list[_Result]) -> None:
        """Each request its answer: threads' futures at once, each event loop's waiters in one call."""
        loops: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
        for item, result, error in results:
            if item.future is not None:
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    if error is not None:
                        item.future.set_exception(error)
                    else:
                        item.future.set_result(result)
            elif item.waiter is not None:
                loops.setdefault(item.waiter.get_loop(), []).append((item.waiter, result, error))
        for loop, answers in loops.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, answers)

    def _group(self, taken: list[_Item[object]], *, isolated: bool) -> list[_Result]:
        """One transaction over ``taken``, committed.  Not ``isolated``, the first event that raises
        rolls the whole group back (:class:`_ItemFailed`); ``isolated``, each runs in a savepoint
        and what one raises is its answer."""
        results: list[_Result] = []
        with write_tx(self.engine) as conn, audit.deferred(conn):  # the group's events appended once
            for item in taken:
                if not isolated:
                    try:
                        results.append((item, item.work(conn), None))
                    except Exception as exc:
                        raise _ItemFailed from exc
                    continue
                try:
                    with conn.begin_nested(), audit.deferred(conn):
                        results.append((item, item.work(conn), None))
                except Exception as exc:  # its request answers it (a 4xx, or 503)
                    results.append((item, None, exc))
        return results


class _ItemFailed(Exception):
    """An event of a group raised: the group is rolled back and written again, each in a savepoint."""
