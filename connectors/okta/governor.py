"""This process's requests to Okta paced by the budgets Okta states on every answer, so a mass of
leavers waits for a bucket's next window instead of being answered 429 (and retrying into it).

    governor = RateGovernor()   # one per client
    await governor.turn(bucket("GET", "/api/v1/users/00u1"))   # waits while that bucket is spent
    governor.observe(bucket(...), rate_from_headers(headers), throttled=status == 429)

Okta keeps a fixed-window budget per endpoint family and says on each answer how much of it is
left (``X-Rate-Limit-Remaining``) and when it resets.  The governor keeps each bucket's remaining
count, less the requests sent since (answers arrive out of order: the lower count wins), and holds
a request back only when it knows the bucket is spent, until the reset (at most ``max_wait_s``).
A bucket not yet seen, or past its reset, is not held: its next answer says where it stands.
Buckets are keyed by family and direction (``users:read``, ``groups:write``), at least as coarse as
Okta's own, so the count is on the safe side.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.base import RateInfo

#: longest a request is held back (Okta's windows are a minute)
MAX_WAIT_S = 65.0
#: spread of the waiters' start after a reset, so they do not all arrive in the same instant
_SPREAD_S = 0.25


def bucket(method: str, path: str) -> str:
    """The budget a request spends: its endpoint family (``/api/v1/<family>/...``) and direction."""
    if path.startswith("http"):
        path = urlsplit(path).path
    parts = path.strip("/").split("/")
    family = parts[2] if len(parts) > 2 and parts[:2] == ["api", "v1"] else "default"
    return f"{family}:{'read' if method.upper() == 'GET' else 'write'}"


@dataclass
class _Budget:
    remaining: int
    reset_at: float


class RateGovernor:
    def __init__(
        self,
        *,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.sleep = sleep
        self._budgets: dict[str, _Budget] = {}
        #: requests held back, and for how long in all (seconds): what the pacing cost
        self.held = 0
        self.held_s = 0.0

    async def turn(self, key: str) -> None:
        """Return when a request in ``key`` may be sent (at once unless the bucket is known spent)."""
        waited = 0.0
        while True:
            budget = self._budgets.get(key)
            now = self.clock()
            if budget is None or now >= budget.reset_at:
                return
            if budget.remaining > 0:
                budget.remaining -= 1
                return
            wait = min(budget.reset_at - now, self.max_wait_s - waited)
            if wait <= 0:
                return  # waited the most it may: sent, and Okta says (a 429 at worst)
            if not waited:
                self.held += 1
            wait += random.random() * _SPREAD_S
            waited += wait
            self.held_s += wait
            await self.sleep(wait)

    def observe(self, key: str, rate: RateInfo | None, *, throttled: bool = False) -> None:
        """What an answer in ``key`` said of its budget."""
        if rate is None:
            return
        budget = self._budgets.get(key)
        if throttled:  # a 429 says when this bucket may be tried again: that reset, not an earlier answer's
            self._budgets[key] = _Budget(0, rate.reset_at)
        elif budget is None or rate.reset_at > budget.reset_at + 0.5:  # a new window
            self._budgets[key] = _Budget(rate.remaining, rate.reset_at)
        else:
            budget.remaining = min(budget.remaining, rate.remaining)
