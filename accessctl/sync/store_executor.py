"""Store work for the async runner: one transaction at a time, in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")


class StoreExecutor:
    """Runs store work in a worker thread, one transaction at a time (SQLite has one writer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(self._transaction, fn, *args, **kwargs))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # the transaction runs on in its thread: keep the lock until it commits, so the
                # next one (e.g. recording the interruption) never overlaps it
                await asyncio.wait([work])
                raise

    def _transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.engine.begin() as conn:
            return fn(conn, *args, **kwargs)
