"""``asyncio.run`` with a bounded end: the tasks left when the main coroutine returns are cancelled
and waited for at most ``shutdown_s``, not for ever.

    ran = run(main(), shutdown_s=30)

``asyncio.run`` cancels what is left and then waits for all of it with no deadline: one task that
ignores its cancel (an SDK that catches it and retries, a connector waiting on a socket) keeps the
process from exiting after its work is done.  Here such a task is named in the log and left behind;
the default executor's threads are likewise waited for at most ``shutdown_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

SHUTDOWN_S = 30.0


def run(
    main: Coroutine[Any, Any, T],
    *,
    shutdown_s: float = SHUTDOWN_S,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> T:
    """Run ``main`` in a new event loop (made by ``loop_factory``) and return its result (or raise
    what it raised)."""
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_left(loop, shutdown_s)
            loop.run_until_complete(_bounded(loop.shutdown_asyncgens(), shutdown_s, "async generators"))
            loop.run_until_complete(_bounded(loop.shutdown_default_executor(), shutdown_s, "worker threads"))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _bounded(closing: Coroutine[Any, Any, None], shutdown_s: float, what: str) -> None:
    try:
        await asyncio.wait_for(closing, shutdown_s)
    except TimeoutError:
        log.warning("exit: %s still busy after %gs; not waited for", what, shutdown_s)


def _cancel_left(loop: asyncio.AbstractEventLoop, shutdown_s: float) -> None:
    left = asyncio.all_tasks(loop)
    if not left:
        return
    for task in left:
        task.cancel()
    _, stuck = loop.run_until_complete(asyncio.wait(left, timeout=shutdown_s))
    for task in stuck:
        log.error("exit: task %s ignored its cancel for %gs; left behind", task.get_name(), shutdown_s)
    for task in left - stuck:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            loop.call_exception_handler({"message": "task failed at exit", "exception": error, "task": task})


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop where it is installed (uvicorn's ``standard`` extra brings it on Linux and
    macOS), else asyncio's: the service's loop, which does less work per request on uvloop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop
