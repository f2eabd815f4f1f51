"""One service process: the web app on uvicorn, the job workers and the APScheduler scheduler (and,
with an HR intake, its writer in a helper process: :mod:`accessctl.hr.writer_process`).

    await run_service(settings, engine, executor=factory, options=ServiceOptions(...), stop=stop)

``executor(settings, engine)`` is an async context manager yielding the workers' ``execute``
(:func:`accessctl.lifecycle.step_executor` in production).  When ``stop`` is set (SIGTERM), uvicorn
stops taking connections and finishes its requests, the workers claim nothing more and give their
in-flight steps the grace period to finish (then release their leases), and the scheduler stops;
all of it bounded.  A worker that cannot start (:class:`WorkerBusy` on SQLite) or dies stops the
whole service with that error: a service whose steps nobody runs must not look healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from accessctl.jobs import StepOutcome, StepView, run_worker
from accessctl.settings import Settings
from accessctl.sync import clock
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness

if TYPE_CHECKING:
    from accessctl.hr.intake import HrIntake
    from accessctl.hr.reconcile import ReconcileReport

log = logging.getLogger(__name__)

Execute = Callable[[StepView], Awaitable[StepOutcome]]
ExecutorFactory = Callable[[Settings, Engine], AbstractAsyncContextManager[Execute]]
#: what the scheduler is given to hold: review campaigns, scheduled syncs (none yet)
Schedule = Callable[[Any], None]
#: beyond the grace period, what stopping may take (the store calls that release leases)
STOP_MARGIN_S = 35.0


class ServiceStopped(Exception):
    """A part of the service (its job worker, its web server) ended while the service ran."""


@dataclass(frozen=True)
class ServiceOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    #: steps run at once; 0: no workers (the API alone)
    workers: int = 4
    #: serve HTTP (False: `accessctl worker`, the workers alone)
    http: bool = True
    shutdown_grace_s: float = 10.0
    lease_s: float = 60.0
    step_timeout_s: float = 120.0
    idle_poll_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServiceOptions:
        web = settings.web
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(
            **{
                "host": web.host,
                "port": web.port,
                "workers": web.workers,
                "shutdown_grace_s": web.shutdown_grace_s,
                "lease_s": web.lease_s,
                "step_timeout_s": web.step_timeout_s,
                **given,
            }
        )


def lifecycle_executor(settings: Settings, engine: Engine) -> AbstractAsyncContextManager[Execute]:
    """The production ``execute``: the lifecycle's step executor over the configured connectors."""
    from accessctl.lifecycle import step_executor

    return step_executor(settings, engine=engine)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts (a busy port is an OSError here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: Any, options: ServiceOptions) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the service handles its signals itself
            yield

    config = uvicorn.Config(
        app,
        log_config=None,  # accessctl's logging (text or JSON lines, redacted)
        lifespan="off",
        timeout_graceful_shutdown=max(int(options.shutdown_grace_s), 1),
        server_header=False,
    )
    return Server(config)


@contextlib.asynccontextmanager
async def _scheduler(schedule: Schedule | None) -> AsyncIterator[Any]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone="UTC")
    if schedule is not None:
        schedule(scheduler)
    scheduler.start()
    try:
        yield scheduler
    finally:
        await _let_running_jobs_end(scheduler)
        scheduler.shutdown(wait=False)


#: how long stopping waits for a scheduled job already running (then it is cancelled)
JOB_END_WAIT_S = 5.0


async def _let_running_jobs_end(scheduler: Any) -> None:
    """No job starts any more; one already running gets :data:`JOB_END_WAIT_S` to end.  (The asyncio
    executor's shutdown cancels what runs, and APScheduler logs that as an error with its traceback:
    a job that fired as the service stopped.)"""
    scheduler.pause()
    await asyncio.sleep(0)  # a submission the pause came too late for is in flight now
    try:  # APScheduler 3's asyncio executor keeps what it runs here (no public way to ask)
        running = set(scheduler._lookup_executor("default")._pending_futures)
    except (AttributeError, KeyError):
        running = set()
    if running:
        await asyncio.wait(running, timeout=JOB_END_WAIT_S)


def schedule_hr(scheduler: Any, intake: HrIntake, *, every_s: float) -> None:
    """Fire the HR intake's future-dated terminations every ``every_s`` seconds (and once at start):
    missed runs coalesce into one, never two at once, a run later than ``every_s`` is skipped (the
    next one catches up: a due schedule stays due)."""
    scheduler.add_job(
        fire_due_terminations,
        "interval",
        seconds=every_s,
        args=[intake],
        id="hr.fire_due",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(1, int(every_s)),
        next_run_time=clock.now(),
    )


def fire_due_terminations(intake: HrIntake) -> int:
    """One pass of :meth:`HrIntake.fire_due` (in the scheduler's thread); a failure is logged and
    the next pass tries again."""
    try:
        started = intake.fire_due()
    except Exception as exc:  # the store unreachable, say: nothing was committed
        log.error(
            "HR: firing due terminations failed (%s: %s); the next pass retries", type(exc).__name__, exc
        )
        return 0
    if started:
        log.info("HR: %d future-dated termination(s) fired", started)
    return started


def schedule_hr_reconcile(
    scheduler: Any,
    settings: Settings,
    engine: Engine,
    *,
    now: Callable[[], datetime] = clock.now,
    connectors: Any = None,
) -> bool:
    """Run the HR reconciliation on ``hr.reconcile_schedule`` (cron, in ``hr.reconcile_timezone``);
    returns False when it is "manual".  A run missed while the service was down is not made up:
    the next one finds the same people.  Never two at once, here or (the store lock) elsewhere."""
    from zoneinfo import ZoneInfo

    from accessctl.reviews.schedule import _cron_trigger  # cron weekdays as crontab numbers them

    hr = settings.hr
    if hr.reconcile_schedule == "manual":
        return False
    scheduler.add_job(
        reconcile_hr,
        _cron_trigger(hr.reconcile_schedule, ZoneInfo(hr.reconcile_timezone)),
        args=[settings, engine],
        kwargs={"now": now, "connectors": connectors},
        id="hr.reconcile",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
        replace_existing=True,
    )
    return True


async def reconcile_hr(
    settings: Settings,
    engine: Engine,
    *,
    now: Callable[[], datetime] = clock.now,
    connectors: Any = None,
) -> ReconcileReport | None:
    """One scheduled HR reconciliation under its store lock; None when another process holds the
    lock or the run failed (logged: the next run tries again)."""
    from accessctl.hr.reconcile import run_reconcile
    from accessctl.store.locks import LockBusy

    try:
        report = await run_reconcile(settings, engine, now=now(), connectors=connectors)
    except LockBusy:
        log.info("HR reconcile: another process is running it; skipped")
        return None
    except Exception as exc:  # the store or every provider unreachable: nothing half-done is kept
        log.error("HR reconcile failed (%s: %s); the next run retries", type(exc).__name__, exc)
        return None
    log.info(
        "HR reconcile: %d terminated people checked, %d leaver(s) queued, %d quarantined, %d error(s)",
        report.checked,
        report.count("queued"),
        report.count("quarantined"),
        report.count("error"),
    )
    return report


def _with_reviews(schedule: Schedule | None, settings: Settings, engine: Engine) -> Schedule:
    from accessctl.reviews.scheduler import add_review_jobs

    def both(scheduler: Any) -> None:
        if schedule is not None:
            schedule(scheduler)
        add_review_jobs(scheduler, settings, engine)

    return both


async def run_service(
    settings: Settings,
    engine: Engine,
    *,
    executor: ExecutorFactory,
    options: ServiceOptions,
    stop: asyncio.Event,
    sock: socket.socket | None = None,
    schedule: Schedule | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run until ``stop`` is set; returns how many steps the workers ran.  Raises
    :class:`WorkerBusy` or :class:`ServiceStopped` when the workers cannot run."""
    metrics = ServiceMetrics(engine)
    liveness = Liveness(workers=1 if options.workers else 0)
    hr_intake = None
    if options.http:
        from accessctl.web.app import build_hr_intake

        hr_intake = build_hr_intake(settings, engine, metrics)
    if options.http:  # `accessctl serve` runs the review campaigns' schedules
        schedule = _with_reviews(schedule, settings, engine)
    async with (
        executor(settings, engine) as execute,
        _scheduler(schedule) as scheduler,
        _checkpoints_beside(engine),
    ):
        liveness.scheduler = scheduler
        if hr_intake is not None:
            schedule_hr(scheduler, hr_intake, every_s=settings.hr.fire_due_every_s)
        if options.http:
            schedule_hr_reconcile(scheduler, settings, engine)
        tasks: dict[str, asyncio.Task[Any]] = {}
        if options.workers:
            from accessctl.lifecycle.plan_pending import pending_planner

            tasks["worker"] = asyncio.create_task(
                run_worker(
                    engine,
                    prepare=pending_planner(settings, engine),
                    execute=metrics.timed(execute),
                    worker_id=worker_id(),
                    clock=clock.now,
                    stop=stop,
                    concurrency=options.workers,
                    lease_s=options.lease_s,
                    idle_poll_s=options.idle_poll_s,
                    step_timeout_s=options.step_timeout_s,
                    stop_grace_s=options.shutdown_grace_s,
                ),
                name="jobs-worker",
            )
            liveness.worker_tasks.append(tasks["worker"])
        remote = None
        if hr_intake is not None:
            # the group-commit writer beside this process (its own interpreter), before any request
            from accessctl.hr.writer_process import WriterGone, WriterProcess

            try:
                remote = hr_intake.remote = await WriterProcess.start(settings)
            except WriterGone as gone:
                stop.set()
                if "worker" in tasks:
                    await asyncio.wait([tasks["worker"]], timeout=options.shutdown_grace_s + STOP_MARGIN_S)
                raise ServiceStopped(str(gone)) from None
        server = None
        if options.http:
            from accessctl.web.app import create_app
            from accessctl.web.hr_fast import events_fast_path

            app = create_app(settings, engine, liveness=liveness, metrics=metrics, hr_intake=hr_intake)
            server = _uvicorn_server(events_fast_path(app, hr_intake), options)
            tasks["http"] = asyncio.create_task(server.serve(sockets=[sock] if sock else None), name="http")
        if remote is not None:
            tasks["hr-writer"] = asyncio.create_task(
                remote.until_gone(stop, tasks["http"], http_stop_s=options.shutdown_grace_s + STOP_MARGIN_S),
                name="hr-writer",
            )
        if on_ready is not None:
            on_ready()
        try:
            return await _supervise(tasks, server, stop, options)
        finally:
            if hr_intake is not None:  # the HTTP server has stopped: nothing more is handed to it
                if remote is not None and not remote.ended.done():
                    await remote.close()
                await asyncio.to_thread(hr_intake.close)


@contextlib.asynccontextmanager
async def _checkpoints_beside(engine: Engine) -> AsyncIterator[None]:
    """A SQLite store's WAL checkpoints in a thread of their own for the service's life, not in
    the commits of the requests (:mod:`accessctl.store.checkpoint`); stopped in a thread."""
    from accessctl.store.checkpoint import background_checkpoints

    checkpoints = background_checkpoints(engine)
    await asyncio.to_thread(checkpoints.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(checkpoints.__exit__, None, None, None)


async def _supervise(
    tasks: dict[str, asyncio.Task[Any]], server: Any, stop: asyncio.Event, options: ServiceOptions
) -> int:
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopping, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    early = [name for name, task in tasks.items() if task.done()] if not stop.is_set() else []
    stop.set()
    if server is not None:
        server.should_exit = True
    _, late = await asyncio.wait(tasks.values(), timeout=options.shutdown_grace_s + STOP_MARGIN_S)
    for task in late:
        log.error("%s did not stop in time; cancelled", task.get_name())
        task.cancel()
    worker = tasks.get("worker")
    if worker is not None and worker.done() and not worker.cancelled() and worker.exception() is not None:
        raise worker.exception()  # type: ignore[misc]
    if early:
        failed = tasks[early[0]]
        cause = None if failed.cancelled() else failed.exception()
        raise ServiceStopped(f"the service's {early[0]} stopped unexpectedly") from cause
    ran = worker.result() if worker is not None and worker.done() and not worker.cancelled() else 0
    return int(ran)
