"""A claim's cost does not grow with the steps queued behind the chains' heads (1,000 leavers
queued at once are some 36,000 steps; each claim used to look at every one of them, holding the
store's write lock), and a worker leaves slots to the other providers while one provider's
steps wait out its rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs import PlannedStep, StepOutcome, StepView, claim, complete
from accessctl.jobs.claim import claim_steps
from accessctl.sync import clock as real_clock
from tests.jobs.helpers import T0, job, make_job, start_worker

#: what the queue holds is the same on both databases: SQLite only, to keep the suite fast
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
DEADLINE_S = 30


def _queue(engine: Engine, jobs: int, chain: int) -> None:
    for n in range(jobs):
        steps = [
            PlannedStep(provider, "remove_grant", {"account_id": f"{provider}{n}", "group": f"g{i}"})
            for provider in ("okta", "entra", "google")
            for i in range(chain)
        ]
        make_job(engine, steps, now=T0)


def _claim_work(engine: Engine) -> int:
    """SQLite virtual-machine steps of one claim that finds nothing runnable (every head running)."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    def on_checkout(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.set_progress_handler(count, 100)

    sa.event.listen(engine, "checkout", on_checkout)
    try:
        assert claim(engine, worker_id="w", lease_s=600, now=T0) is None
    finally:
        sa.event.remove(engine, "checkout", on_checkout)
        engine.dispose()  # no pooled connection keeps the handler
    return counted[0]


def _take_heads(engine: Engine) -> None:
    while claim(engine, worker_id="w", lease_s=600, now=T0) is not None:
        pass


def test_a_claim_looks_at_the_chains_heads_not_at_every_queued_step(engine: Engine) -> None:
    _queue(engine, jobs=10, chain=2)
    _take_heads(engine)
    short = _claim_work(engine)
    _queue(engine, jobs=10, chain=20)  # ten more jobs, ten times the steps behind each head
    _take_heads(engine)
    long = _claim_work(engine)
    # twice the heads (all running); the 540 steps waiting behind them are never looked at
    assert long < short * 3, (short, long)


def test_the_next_step_past_a_skipped_one_is_due_as_soon_as_the_earlier_one_is_done(engine: Engine) -> None:
    steps = [
        PlannedStep("okta", "suspend", {"account_id": "00u1"}),
        PlannedStep.protected("okta", "remove_grant", {"account_id": "00u1", "group": "admins"}),
        PlannedStep("okta", "verify", {"account_id": "00u1"}),
    ]
    job_id = make_job(engine, steps, now=T0)
    first = claim(engine, worker_id="w", lease_s=60, now=T0)
    assert first is not None and first.action == "suspend"
    assert claim(engine, worker_id="w", lease_s=60, now=T0) is None
    complete(engine, first, result="APPLIED", now=T0)
    last = claim(engine, worker_id="w", lease_s=60, now=T0)
    assert last is not None and last.action == "verify"
    complete(engine, last, result="ALREADY_DONE", now=T0)
    assert job(engine, job_id).state == "done"


def test_a_provider_whose_steps_wait_leaves_slots_to_the_others(engine: Engine) -> None:
    now = real_clock.now()
    for n in range(6):
        make_job(engine, [PlannedStep("okta", "suspend", {"account_id": f"00u{n}"})], now=now)
    entra = make_job(engine, [PlannedStep("entra", "revoke_sessions", {"account_id": "e1"})], now=now)
    okta_running: list[int] = []
    most = [0]
    let_go = asyncio.Event()

    async def execute(step: StepView) -> StepOutcome:
        if step.provider == "okta":  # waiting out Okta's window
            okta_running.append(step.step_id)
            most[0] = max(most[0], len(okta_running))
            await asyncio.wait_for(let_go.wait(), DEADLINE_S)
            okta_running.remove(step.step_id)
        return StepOutcome("APPLIED")

    async def main() -> None:
        stop = asyncio.Event()
        worker = start_worker(engine, execute, stop, concurrency=4)
        began = time.monotonic()
        while (await asyncio.to_thread(job, engine, entra)).state != "done":
            assert time.monotonic() - began < DEADLINE_S, "the entra step never got a slot"
            await asyncio.sleep(0.02)
        let_go.set()
        stop.set()
        await asyncio.wait_for(worker, DEADLINE_S)

    asyncio.run(main())
    assert most[0] == 3  # three quarters of the four slots, at most, for one provider


def test_one_claim_takes_the_first_steps_of_every_provider_within_the_per_provider_cap(
    engine: Engine,
) -> None:
    _queue(engine, jobs=2, chain=2)
    taken = claim_steps(engine, worker_id="w", lease_s=60, now=T0, limit=8, per_provider=1)
    # each provider's head of the first job (its second job's heads wait: one per provider here)
    assert sorted(s.provider for s in taken) == ["entra", "google", "okta"]
    assert {s.job_id for s in taken} == {taken[0].job_id}
    rest = claim_steps(engine, worker_id="w", lease_s=60, now=T0, limit=8)
    assert sorted(s.provider for s in rest) == ["entra", "google", "okta"]  # the second job's
    assert claim_steps(engine, worker_id="w", lease_s=60, now=T0, limit=8) == []
