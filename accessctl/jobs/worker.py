"""A job worker: claims runnable steps, runs each through ``execute`` with a deadline, and records
what the provider answered.

    await run_worker(engine, execute=run_step, worker_id="host:1234", clock=clock.now, stop=stop)

``execute`` is what maps a step to a connector action.  It returns a :class:`StepOutcome` (the
connector's APPLIED or ALREADY_DONE) or raises the connectors' errors: a ``TransientError`` is
retried after a backoff (its ``retry_after`` honoured), a timeout too; ``NotFoundError``,
``PermissionDeniedError``, ``AuthError`` fail the step at once (retrying cannot help).

On SQLite one worker process serves a store (it holds the store lock ``jobs:worker``; a second gets
:class:`WorkerBusy`); on PostgreSQL any number share the queue.  When ``stop`` is set, no new step
is claimed; in-flight steps get ``stop_grace_s`` to finish, then are cancelled and give their lease
back.  Every wait is bounded: a step by ``step_timeout_s``, a store call by ``store_timeout_s``, an
idle poll by ``idle_poll_s``.  Work queued in the worker's own process (``accessctl serve``: the
API and the workers) wakes idle workers at once (:func:`wake_workers`, called once the enqueue
committed); from another process it is found at the next idle poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs.backoff import Backoff
from accessctl.jobs.claim import claim_steps
from accessctl.jobs.finish import Finished, complete, fail_attempt, release, renew_lease
from accessctl.jobs.views import StepOutcome, StepView
from accessctl.store.locks import LockBusy, async_store_lock
from connectors.base import ConnectorError, TransientError

log = logging.getLogger(__name__)

WORKER_LOCK = "jobs:worker"
#: most steps taken in one claim (a new job's providers' first steps start together)
_CLAIM_AT_ONCE = 8
T = TypeVar("T")
Execute = Callable[[StepView], Awaitable[StepOutcome]]
Clock = Callable[[], datetime]


#: a wake-up per idle-capable worker in this process (thread-safe: enqueues commit in threads)
_WAKERS: set[Callable[[], None]] = set()
_WAKERS_LOCK = threading.Lock()


def wake_workers() -> None:
    """New steps were committed in this process: idle workers here claim them now, not at their
    next idle poll (``idle_poll_s``)."""
    with _WAKERS_LOCK:
        wakers = list(_WAKERS)
    for wake in wakers:
        wake()


class WorkerBusy(Exception):
    """Another worker process serves this SQLite store."""

    def __init__(self, busy: LockBusy) -> None:
        who = str(busy.holder) if busy.holder else "another process"
        super().__init__(
            f"another job worker already serves this store ({who}); a SQLite store has one worker "
            "process (stop it, or use PostgreSQL for several workers)"
        )


@dataclass
class WorkerSettings:
    concurrency: int = 4
    lease_s: float = 60.0
    idle_poll_s: float = 1.0
    step_timeout_s: float = 120.0
    store_timeout_s: float = 30.0
    stop_grace_s: float = 10.0
    #: how often a running step's lease is renewed (real seconds; None: a third of the lease)
    renew_s: float | None = None
    #: most steps of one provider at once (None: three quarters of ``concurrency``, at least one),
    #: so a provider whose steps wait out its rate limit leaves slots to the others
    per_provider: int | None = None
    backoff: Backoff = field(default_factory=Backoff)


async def _store(settings: WorkerSettings, call: Callable[..., T], *args: object, **kwargs: object) -> T:
    """A store call in a thread, awaited with a deadline, never abandoned half-way by a cancel."""
    task = asyncio.ensure_future(asyncio.to_thread(call, *args, **kwargs))
    return await asyncio.wait_for(asyncio.shield(task), settings.store_timeout_s)


@contextlib.asynccontextmanager
async def _one_worker_per_sqlite_store(engine: Engine) -> AsyncIterator[threading.Event | None]:
    """On SQLite, hold ``jobs:worker`` for the worker's life; yields the event set if it is lost."""
    if engine.dialect.name != "sqlite":
        yield None
        return
    try:
        async with async_store_lock(engine, WORKER_LOCK) as lock:
            yield lock.lost
    except LockBusy as busy:
        raise WorkerBusy(busy) from None


async def run_worker(
    engine: Engine,
    *,
    execute: Execute,
    worker_id: str,
    clock: Clock,
    stop: asyncio.Event,
    concurrency: int = 4,
    lease_s: float = 60.0,
    idle_poll_s: float = 1.0,
    step_timeout_s: float = 120.0,
    store_timeout_s: float = 30.0,
    stop_grace_s: float = 10.0,
    renew_s: float | None = None,
    backoff: Backoff | None = None,
    per_provider: int | None = None,
    prepare: Callable[[datetime], object] | None = None,
) -> int:
    """Run steps until ``stop`` is set; returns how many steps this worker ran.  ``prepare(now)``
    runs (in a thread, with the store's deadline) before each claim: it plans the jobs committed
    without their steps (:func:`accessctl.lifecycle.plan_pending.pending_planner`)."""
    settings = WorkerSettings(
        concurrency=concurrency,
        lease_s=lease_s,
        idle_poll_s=idle_poll_s,
        step_timeout_s=step_timeout_s,
        store_timeout_s=store_timeout_s,
        stop_grace_s=stop_grace_s,
        renew_s=renew_s,
        backoff=backoff or Backoff(),
        per_provider=per_provider,
    )
    async with _one_worker_per_sqlite_store(engine) as lost:
        worker = _Worker(engine, execute, worker_id, clock, stop, settings, lost)
        worker.prepare = prepare
        return await worker.run()


class _Worker:
    def __init__(
        self,
        engine: Engine,
        execute: Execute,
        worker_id: str,
        clock: Clock,
        stop: asyncio.Event,
        settings: WorkerSettings,
        lock_lost: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.lock_lost = lock_lost
        self.execute = execute
        self.worker_id = worker_id
        self.clock = clock
        self.stop = stop
        self.settings = settings
        self.in_flight: set[asyncio.Task[None]] = set()
        self.running_steps: dict[asyncio.Task[None], StepView] = {}
        cap = settings.per_provider or settings.concurrency - settings.concurrency // 4
        self.per_provider = max(1, cap)
        self.slot_free = asyncio.Event()
        self.ran = 0
        self.prepare: Callable[[datetime], object] | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.slot_free.set)

        with _WAKERS_LOCK:
            _WAKERS.add(wake)
        try:
            while not self.stop.is_set():
                if self.lock_lost is not None and self.lock_lost.is_set():
                    log.error(
                        "worker %s: lost the store's worker lock; claiming no more steps", self.worker_id
                    )
                    break
                if len(self.in_flight) >= self.settings.concurrency:
                    self.slot_free.clear()
                    await self._wait_for_slot_or_stop()
                    continue
                held = Counter(step.provider for step in self.running_steps.values())
                try:
                    if self.prepare is not None:
                        await _store(self.settings, self.prepare, self.clock())
                    steps = await _store(
                        self.settings,
                        claim_steps,
                        self.engine,
                        worker_id=self.worker_id,
                        lease_s=self.settings.lease_s,
                        now=self.clock(),
                        limit=min(self.settings.concurrency - len(self.in_flight), _CLAIM_AT_ONCE),
                        running=frozenset(s.step_id for s in self.running_steps.values()),
                        full=frozenset(p for p, n in held.items() if n >= self.per_provider),
                        per_provider=self.per_provider,
                        held=held,
                    )
                except (TimeoutError, sa.exc.DBAPIError) as exc:  # the store is busy or away: try again
                    log.warning("worker %s: claiming a step failed: %s", self.worker_id, exc)
                    steps = []
                if not steps:
                    self.slot_free.clear()
                    await self._wait_for_slot_or_stop()
                    continue
                for step in steps:
                    task = asyncio.create_task(self._run_step(step), name=f"step:{step.step_id}")
                    self.in_flight.add(task)
                    self.running_steps[task] = step
                    task.add_done_callback(self._done)
        finally:
            with _WAKERS_LOCK:
                _WAKERS.discard(wake)
            await self._drain()
        return self.ran

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.running_steps.pop(task, None)
        self.slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            # a bug in execute, or the store gone while recording: like a crash, the step's lease
            # expires and it runs again, until its attempts are spent
            log.error(
                "worker %s: %s ended abnormally", self.worker_id, task.get_name(), exc_info=task.exception()
            )

    async def _wait_for_slot_or_stop(self) -> None:
        waits = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.slot_free.wait())]
        try:
            await asyncio.wait(waits, timeout=self.settings.idle_poll_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _drain(self) -> None:
        """In-flight steps get the grace period to finish; the rest are cancelled and release their lease."""
        if not self.in_flight:
            return
        _, late = await asyncio.wait(set(self.in_flight), timeout=self.settings.stop_grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=self.settings.store_timeout_s + 1)

    async def _run_step(self, step: StepView) -> None:
        """Run ``step``, then the steps of its chain this worker claimed as each one finished."""
        this = asyncio.current_task()
        following: StepView | None = step
        while following is not None:
            step = following
            if this is not None:
                self.running_steps[this] = step
            renewing = asyncio.create_task(self._renew(step))
            try:
                finished = await self._attempt(step)
            except asyncio.CancelledError:
                why = "worker stopping"
                await _store(self.settings, release, self.engine, step, why=why, now=self.clock())
                raise
            finally:
                renewing.cancel()
            self.ran += 1
            log.info(
                "step %s (job %s, %s %s) attempt %s: %s",
                step.step_id,
                step.job_id,
                step.provider,
                step.action,
                step.attempt,
                finished.step_state or "lease lost",
            )
            following = finished.following

    async def _attempt(self, step: StepView) -> Finished:
        s = self.settings
        try:
            outcome = await asyncio.wait_for(self.execute(step), s.step_timeout_s)
        except TransientError as exc:
            return await self._record(
                fail_attempt, step, error=_describe(exc), retry_after=exc.retry_after, backoff=s.backoff
            )
        except TimeoutError:
            error = f"no answer within {s.step_timeout_s:g}s"
            return await self._record(fail_attempt, step, error=error, backoff=s.backoff)
        except ConnectorError as exc:  # not found, permission denied, bad credentials: retrying cannot help
            return await self._record(fail_attempt, step, error=_describe(exc), permanent=True)
        except Exception as exc:  # a bug, or the store busy inside a step: said, and retried
            # recorded as a failed attempt with what went wrong, not left running for its lease to
            # expire (which said only "never finished", and cost a lease per attempt)
            log.error("step %s (job %s): %s", step.step_id, step.job_id, _unexpected(exc), exc_info=exc)
            return await self._record(fail_attempt, step, error=_unexpected(exc), backoff=s.backoff)
        # the chain's next step, claimed in the same transaction: no claim, no wait for a slot
        then_claim = None if self.stop.is_set() else s.lease_s
        return await self._record(
            complete, step, result=str(outcome.result), answer=outcome.answer, then_claim=then_claim
        )

    async def _record(self, finish: Callable[..., Finished], step: StepView, **kwargs: object) -> Finished:
        """Record how the attempt ended; a busy or unreachable store is tried again while the lease
        (renewed meanwhile) lasts, instead of dropping what the provider answered."""
        s = self.settings
        loop = asyncio.get_running_loop()
        until, pause = loop.time() + s.lease_s, 0.05
        while True:
            try:
                return await _store(s, finish, self.engine, step, now=self.clock(), **kwargs)
            except (TimeoutError, sa.exc.DBAPIError) as exc:
                if loop.time() >= until:
                    raise
                log.warning("step %s: recording its end failed (%s); trying again", step.step_id, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def _renew(self, step: StepView) -> None:
        """Keep a long step's lease: renewed every third of it (bounded waits, ends with the step)."""
        interval = self.settings.renew_s or max(self.settings.lease_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await _store(
                    self.settings,
                    renew_lease,
                    self.engine,
                    step,
                    lease_s=self.settings.lease_s,
                    now=self.clock(),
                )
            except (TimeoutError, sa.exc.DBAPIError) as exc:  # the store busy: the next renewal may pass
                log.warning("step %s: renewing its lease failed (%s); trying again", step.step_id, exc)
                continue
            if not held:
                log.warning("step %s: lease lost to another worker", step.step_id)
                return


def _unexpected(exc: BaseException) -> str:
    return f"unexpected error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _describe(exc: ConnectorError) -> str:
    status = getattr(exc, "status", None)
    kind = type(exc).__name__
    return f"{kind} ({status}): {exc}" if status else f"{kind}: {exc}"
