"""A leaver queued through the use case, in a process whose worker is idle (``accessctl serve``),
starts as soon as its enqueue commits, not at the worker's next idle poll."""

from __future__ import annotations

import asyncio
import time

from accessctl.jobs import get_job, run_worker
from accessctl.lifecycle import deprovision, step_executor
from accessctl.sync import clock
from tests.lifecycle.conftest import World

IDLE_POLL_S = 60.0  # only the commit's wake-up can start the job within the test's wait


def test_a_queued_leaver_starts_without_waiting_for_the_idle_poll(world: World) -> None:
    person = world.people_with_accounts()[0]

    def first_started(job_id: int) -> bool:
        with world.engine.connect() as conn:
            status = get_job(conn, job_id)
        return status is not None and any(s.started_at for s in status.steps)

    async def main() -> float:
        stop = asyncio.Event()
        async with step_executor(world.settings, engine=world.engine) as execute:
            worker = asyncio.create_task(
                run_worker(
                    world.engine,
                    execute=execute,
                    worker_id="serve",
                    clock=clock.now,
                    stop=stop,
                    idle_poll_s=IDLE_POLL_S,
                )
            )
            try:
                await asyncio.sleep(0.3)  # idle: nothing queued yet
                submitted = await deprovision(
                    world.settings, world.engine, person=person.email, requested_by="admin:test"
                )
                queued = time.monotonic()
                while not await asyncio.to_thread(first_started, submitted.job_id):
                    assert time.monotonic() - queued < 10, "the job did not start after its commit"
                    await asyncio.sleep(0.02)
                return time.monotonic() - queued
            finally:
                stop.set()
                await asyncio.wait_for(worker, 60)

    waited = asyncio.run(main())
    assert waited < 10
