"""Calling a provider politely: stay inside its request budget, honour its retry signals, retry
transient failures with jittered exponential backoff.

One :class:`RateGovernor` per provider operation (Okta keeps a separate budget per endpoint family,
and each connector operation maps onto one family).  It reads the budget the provider states
(``RateInfo`` from Okta's ``X-Rate-Limit-*``) and waits for the window to reset *before* the budget
is gone, so no request is sent that would be refused.  Providers that state no budget (Graph,
Google) are throttled reactively: a 429's ``Retry-After`` pauses every caller of that provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors.base import RateInfo, TransientError

T = TypeVar("T")


@dataclass
class CallStats:
    """What calling a provider cost, for the sync run record and the benchmarks."""

    requests: int = 0
    throttled: int = 0  # 429 / rateLimitExceeded responses received
    retries: int = 0
    waited_s: float = 0.0  # time spent waiting for a budget window or a Retry-After


@dataclass
class RateGovernor:
    """Admits requests while the stated budget lasts; otherwise waits for the window to reset."""

    reserve: int = 0
    rate: RateInfo | None = None
    in_flight: int = 0
    paused_until: float = 0.0
    _cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    def _wait_s(self, now: float) -> float:
        if self.paused_until > now:
            return self.paused_until - now
        rate = self.rate
        if rate is None or rate.reset_at <= now:
            return 0.0
        if rate.remaining - self.in_flight <= self.reserve:
            return rate.reset_at - now + 0.05  # the window turns over at reset_at
        return 0.0

    async def acquire(self, stats: CallStats) -> None:
        async with self._cond:
            while True:
                now = time.time()
                wait = self._wait_s(now)
                if wait <= 0:
                    if self.rate is not None and self.rate.reset_at <= now:
                        self.rate = None  # a new window: the next response states the new budget
                    self.in_flight += 1
                    return
                stats.waited_s += wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), timeout=wait)

    async def release(self, rate: RateInfo | None) -> None:
        async with self._cond:
            self.in_flight -= 1
            if rate is not None:
                current = self.rate
                if current is None or rate.reset_at > current.reset_at + 1.0:
                    self.rate = rate  # a new window
                elif rate.reset_at > current.reset_at - 1.0:
                    # the same window (reset times carry a second of jitter from the Date header);
                    # responses arrive out of order, so the smallest remaining is the truth
                    current.remaining = min(current.remaining, rate.remaining)
                    current.reset_at = max(current.reset_at, rate.reset_at)
            self._cond.notify_all()

    async def pause(self, seconds: float) -> None:
        async with self._cond:
            self.paused_until = max(self.paused_until, time.time() + seconds)
            self._cond.notify_all()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2**attempt)))


class ProviderCaller:
    """Runs connector calls for one provider under its governors and the retry policy."""

    def __init__(self, policy: RetryPolicy, *, reserve: int = 0, seed: int | None = None) -> None:
        self.policy = policy
        self.reserve = reserve
        self.stats = CallStats()
        self._governors: dict[str, RateGovernor] = {}
        self._rng = random.Random(seed)

    def governor(self, operation: str) -> RateGovernor:
        if operation not in self._governors:
            self._governors[operation] = RateGovernor(reserve=self.reserve)
        return self._governors[operation]

    async def call(self, operation: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` and return its result; re-raise the last error once retries are spent.

        A page's ``requests`` and ``rate`` (when the result has them) feed the stats and governor.
        """
        governor = self.governor(operation)
        attempt = 0
        while True:
            await governor.acquire(self.stats)
            try:
                result = await fn(*args, **kwargs)
            except TransientError as exc:
                await governor.release(None)
                self.stats.requests += 1
                attempt += 1
                if exc.throttled:
                    self.stats.throttled += 1
                if attempt >= self.policy.max_attempts:
                    raise
                self.stats.retries += 1
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else self.policy.backoff(attempt, self._rng)
                )
                if exc.throttled:
                    # everyone calling this operation waits: the budget is shared
                    await governor.pause(delay)
                else:
                    self.stats.waited_s += delay
                    await asyncio.sleep(delay)
                continue
            except BaseException:
                await governor.release(None)
                self.stats.requests += 1
                raise
            await governor.release(getattr(result, "rate", None))
            self.stats.requests += getattr(result, "requests", 1)
            return result
