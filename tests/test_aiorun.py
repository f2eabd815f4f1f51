"""A process's event loop ends within its bound even when a task left behind ignores its cancel
(the leaver bench's child hung for ever in asyncio.run's cancel-all after its work was done)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from accessctl.aiorun import run


def test_run_returns_main_s_result_within_its_bound_though_a_task_ignores_its_cancel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    let_go = threading.Event()
    left: list[asyncio.Task[None]] = []

    async def stubborn() -> None:
        while not let_go.is_set():  # an SDK that catches the cancel and waits on
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    async def main() -> str:
        left.append(asyncio.create_task(stubborn(), name="stubborn-step"))
        await asyncio.sleep(0)
        return "done"

    began = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="accessctl.aiorun"):
        try:
            assert run(main(), shutdown_s=0.3) == "done"
        finally:
            let_go.set()
    assert time.monotonic() - began < 3
    assert "stubborn-step ignored its cancel" in caplog.text


def test_run_cancels_what_main_left_running_and_raises_what_main_raised() -> None:
    cancelled = []
    left: list[asyncio.Task[None]] = []

    async def waiting() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        left.append(asyncio.create_task(waiting()))
        await asyncio.sleep(0)
        raise LookupError("no such person")

    with pytest.raises(LookupError, match="no such person"):
        run(main(), shutdown_s=5)
    assert cancelled == [True]
