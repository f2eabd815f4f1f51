"""The worker in one process: providers in parallel and each provider's steps in order, the
connectors' answers mapped to done / retry / failed, timeouts, lease renewal, and a prompt stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs import Backoff, PlannedStep, StepOutcome, StepView, claim, run_worker
from accessctl.jobs.read import JobStatus
from accessctl.jobs.tables import STEPS
from accessctl.sync import clock as real_clock
from accessctl.timestamps import utc
from connectors.base import NotFoundError, PermissionDeniedError, TransientError
from tests.jobs.helpers import ManualClock, job, leaver_plan, make_job, step_events

Execute = Callable[[StepView], Awaitable[StepOutcome]]
DEADLINE_S = 30


async def _until(engine: Engine, job_id: int, done: Callable[[JobStatus], bool]) -> JobStatus:
    """Poll the job (bounded) until ``done`` says so."""
    started = time.monotonic()
    while True:
        status = await asyncio.to_thread(job, engine, job_id)
        if done(status):
            return status
        assert time.monotonic() - started < DEADLINE_S, f"job {job_id} never got there: {status}"
        await asyncio.sleep(0.02)


def _finished(status: JobStatus) -> bool:
    return status.state in ("done", "failed", "cancelled")


async def _with_worker(
    engine: Engine, execute: Execute, body: Callable[[], Awaitable[JobStatus]], **kw: object
):
    stop = asyncio.Event()
    options: dict[str, object] = {"clock": real_clock.now, "idle_poll_s": 0.02, "lease_s": 30, **kw}
    worker = asyncio.create_task(run_worker(engine, execute=execute, worker_id="w1", stop=stop, **options))
    try:
        result = await body()
    finally:
        stop.set()
        ran = await asyncio.wait_for(worker, DEADLINE_S)
    return result, ran


def test_the_worker_runs_providers_in_parallel_and_each_chain_in_order(engine: Engine) -> None:
    job_id = make_job(engine, leaver_plan(("okta", "entra", "google")), now=real_clock.now())
    seen: list[tuple[str, str]] = []
    together = asyncio.Barrier(3)

    async def execute(step: StepView) -> StepOutcome:
        seen.append((step.provider, step.action))
        if step.action == "block_sign_in":  # all three providers' first steps run at the same time
            await asyncio.wait_for(together.wait(), 10)
        return StepOutcome("APPLIED", f"{step.provider} ok")

    async def main() -> tuple[JobStatus, int]:
        return await _with_worker(engine, execute, lambda: _until(engine, job_id, _finished), concurrency=4)

    status, ran = asyncio.run(main())
    assert status.state == "done", status
    assert ran == 9
    for provider in ("okta", "entra", "google"):
        assert [a for p, a in seen if p == provider] == [
            "block_sign_in",
            "revoke_sessions",
            "remove_membership",
        ]
    assert {s.result for s in status.steps} == {"APPLIED"}
    assert status.steps[0].last_answer.endswith(" ok")


def test_a_transient_error_is_retried_after_the_providers_retry_after_on_a_moved_clock(
    engine: Engine,
) -> None:
    clock = ManualClock()
    job_id = make_job(engine, [PlannedStep("okta", "suspend", {"account_id": "00u1"})], now=clock())
    calls: list[int] = []

    async def execute(step: StepView) -> StepOutcome:
        calls.append(step.attempt)
        if step.attempt == 1:
            raise TransientError("429 Too Many Requests", provider="okta", status=429, retry_after=45)
        return StepOutcome("ALREADY_DONE")

    async def body() -> JobStatus:
        waiting = await _until(
            engine, job_id, lambda s: s.steps[0].attempts == 1 and s.steps[0].state == "pending"
        )
        assert (waiting.steps[0].next_attempt_at - clock()).total_seconds() == 45
        assert waiting.state == "running" and "429" in (waiting.steps[0].last_answer or "")
        clock.advance(44)
        await asyncio.sleep(0.2)  # several idle polls: not due yet
        assert calls == [1]
        clock.advance(1)
        return await _until(engine, job_id, _finished)

    status, _ = asyncio.run(_with_worker(engine, execute, body, clock=clock, backoff=Backoff(base_s=1)))
    assert calls == [1, 2]
    assert (status.state, status.steps[0].result, status.steps[0].attempts) == ("done", "ALREADY_DONE", 2)


def test_not_found_or_permission_denied_fail_the_step_at_once_with_the_providers_answer(
    engine: Engine,
) -> None:
    job_id = make_job(
        engine,
        [
            PlannedStep("okta", "suspend", {"account_id": "gone"}),
            PlannedStep("okta", "revoke_sessions", {"account_id": "gone"}),
            PlannedStep("entra", "disable", {"account_id": "e1"}),
        ],
        now=real_clock.now(),
    )

    async def execute(step: StepView) -> StepOutcome:
        if step.provider == "okta":
            raise NotFoundError("Not found: Resource not found: gone (User)", provider="okta", status=404)
        raise PermissionDeniedError("Insufficient privileges", provider="entra", status=403)

    status, _ = asyncio.run(
        _with_worker(engine, execute, lambda: _until(engine, job_id, lambda s: _settled(s)))
    )
    assert status.state == "failed"
    by_action = {s.action: s for s in status.steps}
    assert (by_action["suspend"].state, by_action["suspend"].attempts) == ("failed", 1)
    assert (
        by_action["suspend"].last_answer == "NotFoundError (404): Not found: Resource not found: gone (User)"
    )
    assert by_action["revoke_sessions"].state == "pending"  # its chain stops at the failed step
    assert by_action["disable"].last_answer == "PermissionDeniedError (403): Insufficient privileges"


def _settled(status: JobStatus) -> bool:
    return (
        all(s.state != "running" for s in status.steps)
        and status.state == "failed"
        and all(s.state == "failed" for s in status.steps if s.action in ("suspend", "disable"))
    )


def test_a_step_that_outlasts_its_timeout_is_an_attempt_that_failed(engine: Engine) -> None:
    job_id = make_job(engine, [PlannedStep("google", "sign_out", {"account_id": "g1"})], now=real_clock.now())

    async def execute(step: StepView) -> StepOutcome:
        if step.attempt == 1:
            await asyncio.Event().wait()  # a provider that never answers
        return StepOutcome("APPLIED")

    status, _ = asyncio.run(
        _with_worker(
            engine,
            execute,
            lambda: _until(engine, job_id, _finished),
            step_timeout_s=0.2,
            backoff=Backoff(base_s=0.01),
        )
    )
    assert (status.state, status.steps[0].attempts) == ("done", 2)
    retries = [e.details["answer"] for e in step_events(engine) if e.action == "job.step.retry"]
    assert retries == ["no answer within 0.2s"]


def test_a_long_step_keeps_its_lease_and_stop_gives_an_unfinished_one_back(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(engine, [PlannedStep("entra", "revoke_sessions", {"account_id": "e1"})], now=clock())
    started = asyncio.Event()

    async def execute(step: StepView) -> StepOutcome:
        started.set()
        await asyncio.Event().wait()  # still running when the worker is told to stop
        return StepOutcome("APPLIED")

    async def renewed_past(at: datetime) -> None:
        began = time.monotonic()
        while (await asyncio.to_thread(_lease_expires, engine, job_id)) < at:
            assert time.monotonic() - began < DEADLINE_S, "the lease was never renewed"
            await asyncio.sleep(0.02)

    async def main() -> float:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                engine,
                execute=execute,
                worker_id="w1",
                clock=clock,
                stop=stop,
                lease_s=30,
                renew_s=0.05,
                idle_poll_s=0.02,
                stop_grace_s=0.1,
            )
        )
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        await renewed_past(clock.advance(20) + timedelta(seconds=30))
        clock.advance(20)  # 40 s after the claim: past its first lease, not its renewed one
        assert await asyncio.to_thread(claim, engine, worker_id="w2", lease_s=1, now=clock()) is None
        stop.set()
        asked = time.monotonic()
        await asyncio.wait_for(worker, DEADLINE_S)
        return time.monotonic() - asked

    took = asyncio.run(main())
    assert took < 5
    step = job(engine, job_id).steps[0]
    assert (step.state, step.attempts) == ("pending", 1)
    assert [e.details.get("released_because") for e in step_events(engine)][-1] == "worker stopping"
    again = claim(engine, worker_id="w2", lease_s=1, now=clock())
    assert again is not None and again.attempt == 2


def _lease_expires(engine: Engine, job_id: int) -> datetime:
    with engine.connect() as conn:
        value = conn.execute(sa.select(STEPS.c.lease_expires_at).where(STEPS.c.job_id == job_id)).scalar_one()
    return utc(value)


def test_stop_lets_a_step_that_ends_within_the_grace_period_finish(engine: Engine) -> None:
    job_id = make_job(engine, [PlannedStep("okta", "suspend", {"account_id": "00u1"})], now=real_clock.now())
    started, answer = asyncio.Event(), asyncio.Event()

    async def execute(step: StepView) -> StepOutcome:
        started.set()
        await asyncio.wait_for(answer.wait(), DEADLINE_S)  # the provider answers after the stop
        return StepOutcome("APPLIED")

    async def main() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                engine,
                execute=execute,
                worker_id="w1",
                clock=real_clock.now,
                stop=stop,
                idle_poll_s=0.02,
                stop_grace_s=DEADLINE_S,
            )
        )
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        stop.set()
        await asyncio.sleep(0.1)
        assert not worker.done()  # waiting for its in-flight step
        answer.set()
        assert await asyncio.wait_for(worker, DEADLINE_S) == 1

    asyncio.run(main())
    status = job(engine, job_id)
    assert (status.state, status.steps[0].result, status.steps[0].attempts) == ("done", "APPLIED", 1)
