"""The service's scheduler stops without cutting off a job already running: APScheduler's asyncio
executor cancels what runs at shutdown and logs it as an error with a traceback (a scheduled job
that fired as `accessctl serve` stopped)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from accessctl.web.service import _scheduler

pytestmark = pytest.mark.timeout(60)


def test_a_job_running_as_the_service_stops_ends_and_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    started, ended = threading.Event(), threading.Event()

    def slow_job() -> None:
        started.set()
        time.sleep(0.3)
        ended.set()

    def schedule(scheduler: Any) -> None:
        scheduler.add_job(slow_job, "date", run_date=datetime.now(UTC), id="slow")

    async def run() -> None:
        async with _scheduler(schedule):
            async with asyncio.timeout(10):
                while not started.is_set():
                    await asyncio.sleep(0.01)
        # the block has ended: the scheduler is shut down

    with caplog.at_level(logging.INFO, logger="apscheduler"):
        asyncio.run(run())
    assert ended.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text
