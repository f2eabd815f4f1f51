"""Calling a provider politely: stay inside its request budget, honour its retry signals, retry
transient failures with jittered exponential backoff, and never wait without a deadline.

One :class:`RateGovernor` per provider operation (Okta keeps a separate budget per endpoint family,
and each connector operation maps onto one family).  It reads the budget the provider states
(``RateInfo`` from Okta's ``X-Rate-Limit-*``) and waits for the window to reset *before* the budget
is gone, so no request is sent that would be refused.  Providers that state no budget (Graph,
Google) are throttled reactively: a 429's ``Retry-After`` pauses every caller of that operation.

No wait is longer than the policy's ``max_wait_s``: a provider that asks for more (a Retry-After of
an hour, a budget that resets tomorrow) fails the call with a :class:`TransientError` that says so,
and the pass ends incomplete with that reason instead of sleeping on.

The governor holds no lock: its state changes between awaits, on the event loop's one thread, and
waiters sleep on an event with a timeout, so cancelling a waiter (Ctrl-C) cannot strand anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors.base import RateInfo, TransientError

T = TypeVar("T")

#: the kinds of wait a :class:`WaitMeter` measures
THROTTLED = "throttled"  # paused by the provider: budget window, Retry-After, a 429
BACKOFF = "backoff"  # retry backoff after a failure that was not throttling (5xx, timeout, reset)


class WaitMeter:
    """Wall time during which at least one caller waited, per kind.

    Waits of parallel callers overlap; what is measured is the union of their intervals, so ten
    workers paused together for 30 s count 30 s, not 300 s.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.on_change = on_change
        self._total: dict[str, float] = {THROTTLED: 0.0, BACKOFF: 0.0}
        self._since: dict[str, float] = {}
        self._active: dict[str, dict[int, float]] = {THROTTLED: {}, BACKOFF: {}}
        self._ids = itertools.count()

    @contextlib.contextmanager
    def waiting(self, kind: str, until: float | None = None) -> Iterator[None]:
        """Measure a wait of ``kind`` for its duration; ``until`` is when it is expected to end (epoch)."""
        token = next(self._ids)
        active = self._active[kind]
        if not active:
            self._since[kind] = time.monotonic()
        active[token] = until if until is not None else 0.0
        self._changed()
        try:
            yield
        finally:
            del active[token]
            if not active:
                self._total[kind] += time.monotonic() - self._since.pop(kind)
            self._changed()

    def seconds(self, kind: str) -> float:
        """Wall seconds with at least one wait of ``kind`` under way, up to now."""
        running = time.monotonic() - self._since[kind] if kind in self._since else 0.0
        return self._total[kind] + running

    def resume_at(self) -> float | None:
        """When the longest wait under way is expected to end (epoch), or None when nobody waits."""
        ends = [u for waits in self._active.values() for u in waits.values() if u]
        return max(ends) if ends else None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


@dataclass
class CallStats:
    """What calling a provider cost, for the sync run record and the benchmarks."""

    requests: int = 0
    throttled: int = 0  # 429 / rateLimitExceeded responses received
    retries: int = 0
    meter: WaitMeter = field(default_factory=WaitMeter)

    @property
    def throttled_s(self) -> float:
        """Wall time spent paused by the provider (budget windows, Retry-After, 429s)."""
        return self.meter.seconds(THROTTLED)

    @property
    def backoff_s(self) -> float:
        """Wall time spent in retry backoff after other transient failures."""
        return self.meter.seconds(BACKOFF)


class WaitTooLong(TransientError):
    """The provider asked us to wait longer than the policy allows: the call fails instead."""


def _too_long(what: str, wait: float, max_wait_s: float, cause: TransientError | None = None) -> WaitTooLong:
    message = f"{what}: the provider asked to wait {wait:.1f}s, more than sync.max_wait_s ({max_wait_s:g}s)"
    provider = cause.provider if cause is not None else ""
    status = cause.status if cause is not None else 429
    return WaitTooLong(message, provider=provider, status=status, retry_after=wait)


@dataclass
class RateGovernor:
    """Admits requests while the stated budget lasts; otherwise waits for the window to reset."""

    reserve: int = 0
    rate: RateInfo | None = None
    in_flight: int = 0
    paused_until: float = 0.0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wait_s(self, now: float) -> float:
        """How long a new request must wait before it may be sent (0: now)."""
        if self.paused_until > now:
            return self.paused_until - now
        rate = self.rate
        if rate is None or rate.reset_at <= now:
            return 0.0
        if rate.remaining - self.in_flight <= self.reserve:
            return rate.reset_at - now + 0.05  # the window turns over at reset_at
        return 0.0

    async def acquire(self, stats: CallStats, max_wait_s: float, operation: str = "") -> None:
        """Wait (at most ``max_wait_s`` at a time) until a request may be sent, then count it in flight.

        Raises :class:`WaitTooLong` when the budget or a pause would keep it waiting longer.
        """
        wait = self.wait_s(time.time())
        if wait > 0:
            with stats.meter.waiting(THROTTLED, until=time.time() + wait):
                while wait > 0:
                    if wait > max_wait_s:
                        raise _too_long(operation or "request budget", wait, max_wait_s)
                    changed = self._changed
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await changed.wait()  # a new window or pause may change the wait
                    wait = self.wait_s(time.time())
        if self.rate is not None and self.rate.reset_at <= time.time():
            self.rate = None  # a new window: the next response states the new budget
        self.in_flight += 1

    def release(self, rate: RateInfo | None) -> None:
        """A request admitted by :meth:`acquire` finished; ``rate`` is the budget its response stated."""
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
        self._notify()

    def pause(self, seconds: float) -> None:
        """Every caller of this operation waits ``seconds`` (the provider throttled one of them)."""
        self.paused_until = max(self.paused_until, time.time() + seconds)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    #: the longest a call waits for the provider (Retry-After, a budget window) before failing instead
    max_wait_s: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * (2**attempt)))


class ProviderCaller:
    """Runs connector calls for one provider under its governors and the retry policy."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        reserve: int = 0,
        seed: int | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.policy = policy
        self.reserve = reserve
        self.stats = CallStats(meter=WaitMeter(on_wait))
        self._governors: dict[str, RateGovernor] = {}
        self._rng = random.Random(seed)

    def governor(self, operation: str) -> RateGovernor:
        if operation not in self._governors:
            self._governors[operation] = RateGovernor(reserve=self.reserve)
        return self._governors[operation]

    async def call(self, operation: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` and return its result; re-raise the last error once retries are spent.

        A page's ``requests`` and ``rate`` (when the result has them) feed the stats and governor.
        A provider that asks for a wait longer than the policy's ``max_wait_s`` fails the call
        (:class:`WaitTooLong`) without waiting.
        """
        governor = self.governor(operation)
        policy = self.policy
        attempt = 0
        while True:
            await governor.acquire(self.stats, policy.max_wait_s, operation)
            try:
                result = await fn(*args, **kwargs)
            except TransientError as exc:
                governor.release(None)
                self.stats.requests += 1
                attempt += 1
                if exc.throttled:
                    self.stats.throttled += 1
                if exc.retry_after is not None and exc.retry_after > policy.max_wait_s:
                    raise _too_long(str(exc), exc.retry_after, policy.max_wait_s, exc) from exc
                if attempt >= policy.max_attempts:
                    raise
                self.stats.retries += 1
                delay = exc.retry_after if exc.retry_after is not None else policy.backoff(attempt, self._rng)
                if exc.throttled:
                    governor.pause(delay)  # everyone calling this operation waits: the budget is shared
                else:
                    with self.stats.meter.waiting(BACKOFF, until=time.time() + delay):
                        await asyncio.sleep(delay)
                continue
            except BaseException:
                governor.release(None)
                self.stats.requests += 1
                raise
            governor.release(getattr(result, "rate", None))
            self.stats.requests += getattr(result, "requests", 1)
            return result
