"""The worker when the store or a step misbehaves (what the 1,000-leaver run met): a step that
raises something no connector error names is retried with what it raised, not left running for its
lease to expire; a renewal or a record refused by a busy store is tried again, so a step waiting
longer than its lease keeps it; a stop with steps in flight ends within its bound."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs import Backoff, PlannedStep, StepOutcome, StepView, claim
from accessctl.jobs import worker as worker_module
from accessctl.jobs.tables import STEPS
from accessctl.sync import clock as real_clock
from accessctl.timestamps import utc
from tests.jobs.helpers import ManualClock, job, make_job, start_worker

DEADLINE_S = 30
#: what a busy store does is the same on both databases: SQLite only, to keep the suite fast
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
LOCKED = sa.exc.OperationalError("UPDATE job_step ...", {}, sqlite3.OperationalError("database is locked"))


async def _until(check, what: str) -> None:
    began = time.monotonic()
    while not await asyncio.to_thread(check):
        assert time.monotonic() - began < DEADLINE_S, what
        await asyncio.sleep(0.02)


def test_a_step_raising_an_unexpected_error_is_retried_with_it_and_fails_with_it_not_a_lost_lease(
    engine: Engine,
) -> None:
    job_id = make_job(
        engine, [PlannedStep("google", "refresh_store", {"account_id": "g1"})], now=real_clock.now()
    )
    calls: list[int] = []

    async def execute(step: StepView) -> StepOutcome:
        calls.append(step.attempt)
        if step.attempt < 3:
            raise LOCKED  # e.g. the store busy while the step wrote the account's rows
        raise RuntimeError("a bug in the connector")

    async def main() -> None:
        stop = asyncio.Event()
        worker = start_worker(engine, execute, stop, backoff=Backoff(base_s=0.01, jitter=0))
        await _until(lambda: job(engine, job_id).state == "failed", "the job never failed")
        stop.set()
        await asyncio.wait_for(worker, DEADLINE_S)

    asyncio.run(main())
    step = job(engine, job_id).steps[0]
    assert calls == [1, 2, 3, 4, 5]  # each attempt recorded at once: no lease waited out
    assert (step.state, step.attempts) == ("failed", 5)
    assert step.last_answer == "unexpected error: RuntimeError: a bug in the connector"


def test_a_step_waiting_on_a_throttled_provider_longer_than_its_lease_keeps_it_through_a_busy_store(
    engine: Engine, monkeypatch
) -> None:
    clock = ManualClock()
    job_id = make_job(engine, [PlannedStep("okta", "suspend", {"account_id": "00u1"})], now=clock())
    refusals = {"renew": 3, "record": 2}
    renew, complete = worker_module.renew_lease, worker_module.complete

    def busy_then(real, key):
        def call(*args, **kwargs):
            if refusals[key] > 0:
                refusals[key] -= 1
                raise LOCKED
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(worker_module, "renew_lease", busy_then(renew, "renew"))
    monkeypatch.setattr(worker_module, "complete", busy_then(complete, "record"))
    throttled = asyncio.Event()

    async def execute(step: StepView) -> StepOutcome:
        await asyncio.wait_for(throttled.wait(), DEADLINE_S)  # waiting out the provider's window
        return StepOutcome("APPLIED")

    def lease_expires() -> datetime:
        with engine.connect() as conn:
            value = conn.execute(sa.select(STEPS.c.lease_expires_at).where(STEPS.c.job_id == job_id))
            return utc(value.scalar_one())

    async def main() -> None:
        stop = asyncio.Event()
        worker = start_worker(engine, execute, stop, clock=clock, renew_s=0.02, lease_s=30)
        await _until(lambda: job(engine, job_id).state == "running", "never claimed")
        first = lease_expires()
        clock.advance(25)
        # three renewals refused by the busy store, then one lands: past the lease it was claimed with
        await _until(lambda: lease_expires() > first, "the lease was never renewed past a busy store")
        assert refusals["renew"] == 0
        clock.advance(25)  # 50 s after the claim: its first lease long gone, the step still running
        assert await asyncio.to_thread(claim, engine, worker_id="w2", lease_s=1, now=clock()) is None
        throttled.set()
        await _until(lambda: job(engine, job_id).state == "done", "its answer was never recorded")
        stop.set()
        await asyncio.wait_for(worker, DEADLINE_S)

    asyncio.run(main())
    step = job(engine, job_id).steps[0]
    assert (step.state, step.result, step.attempts) == ("done", "APPLIED", 1)
    assert refusals["record"] == 0  # recorded on the third try, by the worker that ran it


def test_stop_ends_within_its_bound_with_steps_in_flight_that_ignore_cancellation(engine: Engine) -> None:
    now = real_clock.now()
    for n in range(3):
        make_job(engine, [PlannedStep("entra", "revoke_sessions", {"account_id": f"e{n}"})], now=now)
    started: list[int] = []
    release = asyncio.Event()

    async def execute(step: StepView) -> StepOutcome:
        started.append(step.step_id)
        while not release.is_set():  # an SDK that swallows the cancel and waits on
            try:
                await asyncio.sleep(DEADLINE_S)
            except asyncio.CancelledError:
                continue
        return StepOutcome("APPLIED")

    async def main() -> float:
        stop = asyncio.Event()
        worker = start_worker(engine, execute, stop, stop_grace_s=0.1, store_timeout_s=0.5)
        began = time.monotonic()
        while len(started) < 3:
            assert time.monotonic() - began < DEADLINE_S, "the steps never started"
            await asyncio.sleep(0.02)
        stop.set()
        asked = time.monotonic()
        await asyncio.wait_for(worker, DEADLINE_S)
        took = time.monotonic() - asked
        release.set()  # so the stubborn steps end, and asyncio.run can close the loop
        return took

    took = asyncio.run(main())
    assert took < 3  # grace 0.1 s + the cancelled steps' bounded wait, not the steps' own time
