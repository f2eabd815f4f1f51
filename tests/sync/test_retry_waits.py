"""Waiting on a provider: every wait has a deadline, an interruption never strands a waiter, and the
time spent waiting is reported as wall time, throttling apart from retry backoff."""

from __future__ import annotations

import asyncio
import time

import pytest

from accessctl.sync.concurrency import for_each
from accessctl.sync.retry import ProviderCaller, RetryPolicy, WaitTooLong
from connectors.base import RateInfo, TransientError

pytestmark = pytest.mark.timeout(30)


def _throttled(retry_after: float | None) -> TransientError:
    return TransientError("HTTP 429 E0000047", provider="okta", status=429, retry_after=retry_after)


async def _ok() -> str:
    return "ok"


def test_an_interrupted_throttled_sync_leaves_no_task_behind() -> None:
    """The hang of issue 9: workers waiting out a 429's reset were interrupted (Ctrl-C cancels the
    pass, and the pass cancels its workers); the governor's condition lock was left held by an
    orphaned wait, so the interrupted process never exited ("Task was destroyed but it is pending!
    coro=<Condition.wait>" on the second Ctrl-C)."""

    async def scenario() -> tuple[float, list[asyncio.Task[object]], str]:
        caller = ProviderCaller(RetryPolicy(max_attempts=3, max_wait_s=120))
        first = True

        async def lookup(_: int) -> None:
            nonlocal first

            async def fetch() -> str:
                nonlocal first
                if first:  # the first response is a 429 whose window resets in 30 s: everyone waits
                    first = False
                    raise _throttled(30.0)
                return "ok"

            await caller.call("users", fetch)

        work = asyncio.ensure_future(for_each(list(range(20)), lookup, 4))
        while caller.governor("users").paused_until == 0.0:  # until the 429 has paused the others
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        work.cancel()  # Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await work
        took = time.monotonic() - started
        for _ in range(20):  # what asyncio.run would wait for before the process can exit
            await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        # and the governor still admits callers once the pause is over
        caller.governor("users").paused_until = 0.0
        after = await asyncio.wait_for(caller.call("users", _ok), timeout=2)
        return took, left, after

    took, left, after = asyncio.run(scenario())
    assert took < 1.0
    assert left == []
    assert after == "ok"


def test_a_provider_asking_for_a_longer_wait_than_allowed_fails_the_call_at_once() -> None:
    async def scenario() -> tuple[float, WaitTooLong]:
        caller = ProviderCaller(RetryPolicy(max_attempts=6, max_wait_s=5))

        async def fetch() -> str:
            raise _throttled(3600.0)  # a bogus reset an hour away

        started = time.monotonic()
        with pytest.raises(WaitTooLong) as raised:
            await caller.call("users", fetch)
        return time.monotonic() - started, raised.value

    took, error = asyncio.run(scenario())
    assert took < 1.0
    assert "asked to wait 3600.0s, more than sync.max_wait_s (5s)" in str(error)
    assert error.throttled  # a transient failure: the pass ends incomplete, the next run retries


def test_a_budget_that_resets_later_than_allowed_fails_instead_of_waiting() -> None:
    async def scenario() -> float:
        caller = ProviderCaller(RetryPolicy(max_wait_s=5))
        governor = caller.governor("users")
        await governor.acquire(caller.stats, 5)
        governor.release(RateInfo(limit=600, remaining=0, reset_at=time.time() + 86_400))
        started = time.monotonic()
        with pytest.raises(WaitTooLong, match=r"more than sync\.max_wait_s"):
            await caller.call("users", _ok)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_waits_are_wall_time_throttling_apart_from_backoff() -> None:
    """Eight workers throttled together for 0.3 s waited 0.3 s, not 2.4 s; a 503's retry waits are
    backoff, not rate-limit waits."""

    async def scenario(error: TransientError) -> tuple[float, float, float]:
        caller = ProviderCaller(RetryPolicy(max_attempts=3))
        failed: set[int] = set()

        async def lookup(i: int) -> None:
            async def fetch() -> str:
                await asyncio.sleep(0.01)  # in flight together
                if i not in failed:
                    failed.add(i)
                    raise error
                return "ok"

            await caller.call("users", fetch)

        started = time.monotonic()
        await for_each(list(range(8)), lookup, 8)
        return caller.stats.throttled_s, caller.stats.backoff_s, time.monotonic() - started

    throttled_s, backoff_s, elapsed = asyncio.run(scenario(_throttled(0.3)))
    assert 0.25 <= throttled_s <= min(elapsed, 0.8)
    assert backoff_s == 0.0

    unavailable = TransientError("HTTP 503", provider="entra", status=503, retry_after=0.3)
    throttled_s, backoff_s, elapsed = asyncio.run(scenario(unavailable))
    assert throttled_s == 0.0
    assert 0.25 <= backoff_s <= min(elapsed, 0.8)


def test_a_timeout_is_backoff_whatever_its_message_says() -> None:
    """A connection retry was counted as a rate-limit wait when its message contained "rate"."""
    error = TransientError("GET /api/v1/users?filter=generated: timed out", provider="okta")
    assert not error.throttled


def test_fault_specs_state_the_wait_of_injected_throttles_and_the_hang_of_timeouts() -> None:
    from connectors.emulators.control import FaultPlan, FaultSpecError

    assert FaultPlan.parse("429:0.05").throttle_wait_s == 1.0  # a momentary throttle
    assert FaultPlan.parse("429:0.05:3").throttle_wait_s == 3.0
    assert FaultPlan.parse("429:0.05:window").throttle_wait_s is None  # until the minute ends
    assert FaultPlan.parse("timeout:0.02,hang:2").hang_s == 2.0
    with pytest.raises(FaultSpecError, match="hang:x"):
        FaultPlan.parse("hang:x")
