"""Bounded concurrency for a pass's per-item work (lookups, grant listings)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


async def for_each(items: Sequence[T], worker: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """Run ``worker`` over ``items`` with at most ``concurrency`` at a time, in bounded memory
    (a fixed set of workers pulls from the sequence; no task per item).  The first failure cancels
    the rest and is raised."""
    iterator = iter(items)

    async def drain() -> None:
        for item in iterator:
            await worker(item)

    await gather_all([drain() for _ in range(max(1, min(concurrency, len(items))))])


async def gather_all(awaitables: Sequence[Awaitable[Any]]) -> None:
    """Run all; if any fails, cancel the rest and raise the first failure."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
