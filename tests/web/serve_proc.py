"""`accessctl serve` / `accessctl worker` for the tests, with a step executor they control in place
of the lifecycle's (everything else is the real command: settings, signals, uvicorn, workers).

    python -m tests.web.serve_proc [accessctl arguments...]

Each step appends "start|end STEP_ID PID ATTEMPT ACTION" to $SERVE_PROC_LOG and takes
$SERVE_PROC_STEP_S seconds; an action named in $SERVE_PROC_HANG_ON hangs on its first attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from accessctl.commands import serve_cmd
from accessctl.jobs import StepOutcome, StepView


def _note(what: str, step: StepView) -> None:
    with open(os.environ["SERVE_PROC_LOG"], "a") as log:
        log.write(f"{what} {step.step_id} {os.getpid()} {step.attempt} {step.action}\n")


@contextlib.asynccontextmanager
async def _executor(settings: object, engine: object) -> AsyncIterator[object]:
    seconds = float(os.environ.get("SERVE_PROC_STEP_S", "0.01"))
    hang_on = os.environ.get("SERVE_PROC_HANG_ON")

    async def execute(step: StepView) -> StepOutcome:
        _note("start", step)
        if step.action == hang_on and step.attempt == 1:
            await asyncio.wait_for(asyncio.Event().wait(), 300)
        await asyncio.sleep(seconds)
        _note("end", step)
        return StepOutcome("APPLIED", f"{step.action} done by {os.getpid()}")

    yield execute


serve_cmd.executor_factory = lambda: _executor  # type: ignore[assignment]

if __name__ == "__main__":
    from accessctl.cli import main

    sys.argv = ["accessctl", *sys.argv[1:]]
    main()
