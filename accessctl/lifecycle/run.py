"""Running one job to its end in this process, with the same worker code `accessctl worker` runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from accessctl.jobs import JobStatus, WorkerBusy, get_job, run_worker
from accessctl.jobs.states import JobState
from accessctl.lifecycle.execute import Execute
from accessctl.sync import clock

#: a job in one of these has nothing more to run
FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobTimeout(Exception):
    """The job did not finish within the deadline (it goes on, in the queue)."""


def _status(engine: Engine, job_id: int) -> JobStatus:
    with engine.connect() as conn:
        status = get_job(conn, job_id)
    assert status is not None, f"job {job_id} vanished"
    return status


async def run_job(
    engine: Engine,
    job_id: int,
    *,
    execute: Execute,
    on_progress: Callable[[JobStatus], None] | None = None,
    timeout_s: float = 600.0,
    poll_s: float = 0.05,
    step_timeout_s: float = 120.0,
    prepare: Callable[[datetime], object] | None = None,
) -> JobStatus:
    """Work the queue until job ``job_id`` is done, failed or cancelled; returns where it ended.
    ``prepare``: the worker's planner (:func:`accessctl.lifecycle.plan_pending.pending_planner`),
    for a job committed unplanned.

    A quarantined job returns at once (nothing runs until it is released).  When another worker
    serves a SQLite store, this only watches the job while that worker runs it."""
    stop = asyncio.Event()
    worker_id = f"{socket.gethostname()}:{os.getpid()}:cli"
    worker = asyncio.create_task(
        run_worker(
            engine,
            execute=execute,
            worker_id=worker_id,
            clock=clock.now,
            stop=stop,
            idle_poll_s=poll_s,
            step_timeout_s=step_timeout_s,
            prepare=prepare,
        )
    )
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            status = await asyncio.to_thread(_status, engine, job_id)
            if on_progress is not None:
                on_progress(status)
            if status.state in FINISHED or status.state == JobState.QUARANTINED:
                return status
            if worker.done() and not worker.cancelled():
                error = worker.exception()
                if error is not None and not isinstance(error, WorkerBusy):
                    raise error
            if time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} still {status.state} after {timeout_s:g}s; it stays queued")
            await asyncio.sleep(poll_s)
    finally:
        stop.set()
        with contextlib.suppress(WorkerBusy):
            await asyncio.wait_for(worker, step_timeout_s + 30)
