"""A plan's live reads wait out a provider's rate limit instead of failing the use case.

    record = await patiently(connector.find_account, external_id=account_id)

A ``TransientError`` (429, 5xx, a timeout) is tried again after the provider's ``Retry-After`` (or
a short jittered backoff), up to ``TRIES`` times; each wait is capped at ``MAX_WAIT_S``, so a plan
waits at most about ``TRIES * MAX_WAIT_S`` before the last error propagates.  Reads only: they
repeat nothing a provider could see twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from connectors.base import TransientError

T = TypeVar("T")

TRIES = 8
MAX_WAIT_S = 65.0  # Okta's windows are a minute; a wait past the reset is never needed
_FIRST_WAIT_S = 0.25


async def patiently(call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """``await call(*args, **kwargs)``, tried again on transient errors (see the module's text)."""
    for attempt in range(TRIES - 1):
        try:
            return await call(*args, **kwargs)
        except TransientError as exc:
            wait = exc.retry_after if exc.retry_after is not None else _FIRST_WAIT_S * 2**attempt
            await asyncio.sleep(min(max(wait, 0.05), MAX_WAIT_S) * (1 + random.random() / 10))
    return await call(*args, **kwargs)
