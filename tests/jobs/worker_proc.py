"""A job worker process for the tests: executes each step by appending "step_id worker attempt" to a
log file (so a test counts executions), optionally hanging in one action (to be SIGKILLed there).

    python -m tests.jobs.worker_proc URL WORKER_ID LOG [--hang-on ACTION] [--until-idle] [--lease S]

SIGTERM stops it gracefully.  A second worker on a SQLite store exits 3 with the worker's error.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import sqlalchemy as sa

from accessctl.jobs import StepOutcome, StepView, WorkerBusy, run_worker
from accessctl.jobs.tables import STEPS
from accessctl.store.engine import make_engine
from accessctl.sync import clock


def _open_steps(engine: sa.engine.Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(STEPS).where(STEPS.c.state.in_(("pending", "running")))
        return conn.execute(query).scalar_one()


async def main(args: argparse.Namespace) -> int:
    engine = make_engine(args.url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def execute(step: StepView) -> StepOutcome:
        with open(args.log, "a") as log:
            log.write(f"{step.step_id} {args.worker_id} {step.attempt} {step.action}\n")
        if step.action == args.hang_on:
            await asyncio.wait_for(asyncio.Event().wait(), 120)
        await asyncio.sleep(0.001)  # a provider's round trip
        return StepOutcome("APPLIED")

    async def until_idle() -> None:
        while not stop.is_set():
            if await asyncio.to_thread(_open_steps, engine) == 0:
                stop.set()
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(until_idle()) if args.until_idle else None
    try:
        await run_worker(
            engine,
            execute=execute,
            worker_id=args.worker_id,
            clock=clock.now,
            stop=stop,
            concurrency=4,
            lease_s=args.lease,
            idle_poll_s=0.02,
            step_timeout_s=150,
        )
    except WorkerBusy as busy:
        print(f"accessctl worker: {busy}", file=sys.stderr)
        return 3
    finally:
        if watcher is not None:
            watcher.cancel()
        engine.dispose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("log")
    parser.add_argument("--hang-on", default=None)
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--lease", type=float, default=30.0)
    sys.exit(asyncio.run(main(parser.parse_args())))
