"""The Okta client's pacing: a bucket Okta said is spent holds the next request until its reset,
instead of sending it into a 429 (a mass leaver's storm of them, each retried)."""

from __future__ import annotations

import asyncio

from connectors.base import RateInfo
from connectors.okta.governor import RateGovernor, bucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _governor(time: FakeTime, **kw: float) -> RateGovernor:
    return RateGovernor(clock=time.clock, sleep=time.sleep, **kw)


def test_requests_go_at_once_until_the_bucket_is_spent_then_wait_for_its_reset() -> None:
    time = FakeTime()
    governor = _governor(time)
    users = bucket("GET", "/api/v1/users/00u1")
    governor.observe(users, RateInfo(limit=600, remaining=2, reset_at=time.now + 30))

    async def three() -> None:
        for _ in range(3):
            await governor.turn(users)

    asyncio.run(three())
    assert len(time.slept) == 1 and 30 <= time.slept[0] <= 30.3  # the third waited for the reset
    assert governor.held == 1
    # another bucket was never spent: not held
    asyncio.run(governor.turn(bucket("DELETE", "/api/v1/groups/00g1/users/00u1")))
    assert len(time.slept) == 1


def test_a_429_holds_the_bucket_and_a_new_window_s_answer_frees_it() -> None:
    time = FakeTime()
    governor = _governor(time)
    users = bucket("GET", "/api/v1/users")
    governor.observe(users, RateInfo(limit=600, remaining=40, reset_at=time.now + 20), throttled=True)
    asyncio.run(governor.turn(users))
    assert len(time.slept) == 1 and time.slept[0] >= 20
    # the new window's first answer states its budget: later answers of the old one cannot raise it
    governor.observe(users, RateInfo(limit=600, remaining=599, reset_at=time.now + 60))
    governor.observe(users, RateInfo(limit=600, remaining=700, reset_at=time.now + 60))
    assert governor._budgets[users].remaining == 599
    asyncio.run(governor.turn(users))
    assert len(time.slept) == 1


def test_a_request_is_held_at_most_max_wait_s() -> None:
    time = FakeTime()
    governor = _governor(time, max_wait_s=5)
    users = bucket("GET", "/api/v1/users")
    governor.observe(users, RateInfo(limit=600, remaining=0, reset_at=time.now + 50))
    asyncio.run(governor.turn(users))
    assert sum(time.slept) <= 5.3


def test_buckets_are_the_endpoint_family_and_direction_also_for_link_urls() -> None:
    assert bucket("GET", "/api/v1/users/00u1/groups") == "users:read"
    assert bucket("POST", "/api/v1/users/00u1/lifecycle/suspend") == "users:write"
    assert bucket("GET", "https://acme.okta.com/api/v1/groups?after=x") == "groups:read"
    assert bucket("DELETE", "/api/v1/apps/0oa1/users/00u1") == "apps:write"


def test_a_429_s_own_reset_is_the_wait_not_an_earlier_answer_s_window() -> None:
    """A 429 that says "try again in a second" holds the bucket a second, even when earlier answers
    of the same bucket spoke of a window a minute away (the sync under faults waited that minute)."""
    time = FakeTime()
    governor = _governor(time)
    users = bucket("GET", "/api/v1/users")
    governor.observe(users, RateInfo(limit=600, remaining=500, reset_at=time.now + 60))
    governor.observe(users, RateInfo(limit=600, remaining=0, reset_at=time.now + 1), throttled=True)
    asyncio.run(governor.turn(users))
    assert len(time.slept) == 1 and 1 <= time.slept[0] <= 1.3
