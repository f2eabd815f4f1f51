"""Work queued in the worker's own process (``accessctl serve``) starts at once, not at the next idle poll."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.engine import Engine

from accessctl.jobs import StepOutcome, StepView, run_worker
from accessctl.jobs.worker import wake_workers
from accessctl.sync import clock as real_clock
from tests.jobs.helpers import job, leaver_plan, make_job

IDLE_POLL_S = 30.0  # far longer than the test waits: only a wake-up can start the job in time


async def _started_within(engine: Engine, job_id: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(job, engine, job_id)
        if any(s.started_at for s in status.steps):
            return True
        await asyncio.sleep(0.02)
    return False


def test_an_idle_worker_claims_new_steps_when_woken_and_not_before(engine: Engine) -> None:
    async def execute(step: StepView) -> StepOutcome:
        return StepOutcome("APPLIED", "ok")

    async def main() -> tuple[bool, bool]:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                engine,
                execute=execute,
                worker_id="w1",
                clock=real_clock.now,
                stop=stop,
                idle_poll_s=IDLE_POLL_S,
            )
        )
        try:
            await asyncio.sleep(0.3)  # the worker found nothing and is idle
            quiet = await asyncio.to_thread(make_job, engine, leaver_plan(("okta",)), now=real_clock.now())
            before = await _started_within(engine, quiet, 1.0)
            woken = await asyncio.to_thread(make_job, engine, leaver_plan(("entra",)), now=real_clock.now())
            await asyncio.to_thread(wake_workers)  # as a commit in another thread of the process does
            after = await _started_within(engine, woken, 5.0)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        return before, after

    before, after = asyncio.run(main())
    assert not before, "an idle worker claimed a step before its poll without being woken"
    assert after, "a woken idle worker did not claim the new job's steps"
