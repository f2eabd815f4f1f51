"""Transient failures come back after a jittered backoff or the provider's Retry-After (under a moved
clock); a step past its attempts fails its job, which retry_job resumes; cancel; leases that expire."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.jobs import (
    Backoff,
    JobStateError,
    PlannedStep,
    cancel_job,
    claim,
    complete,
    fail_attempt,
    retry_job,
)
from tests.jobs.helpers import ManualClock, job, leaver_plan, make_job, step_events

ONE = [PlannedStep("okta", "block_sign_in", {"account_id": "00u1"}, "sign-in blocked", max_attempts=3)]


def test_a_transient_failure_waits_its_backoff_under_a_moved_clock(engine: Engine) -> None:
    clock = ManualClock()
    make_job(engine, ONE, now=clock())
    step = claim(engine, worker_id="w", lease_s=60, now=clock())
    assert step is not None
    backoff = Backoff(base_s=10, factor=2, jitter=0.5, rng=random.Random(7))
    expected = Backoff(base_s=10, factor=2, jitter=0.5, rng=random.Random(7)).delay(1)
    finished = fail_attempt(engine, step, error="503 Service Unavailable", backoff=backoff, now=clock())
    assert finished.step_state == "pending"
    assert finished.next_attempt_at is not None
    waited = (finished.next_attempt_at - clock()).total_seconds()
    assert waited == pytest.approx(expected) and 5 <= waited <= 10
    assert claim(engine, worker_id="w", lease_s=60, now=clock.advance(waited - 0.5)) is None
    again = claim(engine, worker_id="w", lease_s=60, now=clock.advance(0.5))
    assert again is not None and again.attempt == 2
    second = fail_attempt(engine, again, error="503", backoff=backoff, now=clock())
    assert second.next_attempt_at is not None
    assert 10 <= (second.next_attempt_at - clock()).total_seconds() <= 20  # doubled
    assert job(engine, step.job_id).steps[0].last_answer == "503"


def test_the_providers_retry_after_is_honoured_when_longer_and_capped(engine: Engine) -> None:
    clock = ManualClock()
    make_job(engine, ONE, now=clock())
    step = claim(engine, worker_id="w", lease_s=60, now=clock())
    assert step is not None
    backoff = Backoff(base_s=1, cap_s=300)
    start = clock()
    finished = fail_attempt(
        engine, step, error="429 Too Many Requests", retry_after=120, backoff=backoff, now=start
    )
    assert finished.next_attempt_at == start + timedelta(seconds=120)
    assert claim(engine, worker_id="w", lease_s=60, now=clock.advance(119)) is None
    again = claim(engine, worker_id="w", lease_s=60, now=clock.advance(1))
    assert again is not None
    capped = fail_attempt(engine, again, error="429", retry_after=86400, backoff=backoff, now=clock())
    assert capped.next_attempt_at is not None
    assert (capped.next_attempt_at - clock()).total_seconds() == 300


def test_a_step_past_its_attempts_fails_its_job_and_retry_job_completes_it(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(
        engine, [*ONE, PlannedStep("google", "block_sign_in", {"account_id": "g1"})], now=clock()
    )
    google = claim(engine, worker_id="g", lease_s=60, now=clock())
    assert (
        google is not None and google.provider == "okta"
    )  # the older step first: the same due time, lower id
    fail_attempt(engine, google, error="HTTP 500 (attempt 1)", now=clock())
    other = claim(engine, worker_id="g", lease_s=60, now=clock())
    assert other is not None and other.provider == "google"
    complete(engine, other, result="APPLIED", now=clock())
    for attempt in (2, 3):
        step = claim(engine, worker_id="w", lease_s=60, now=clock.advance(3600))
        assert step is not None and step.attempt == attempt
        finished = fail_attempt(engine, step, error=f"HTTP 500 (attempt {attempt})", now=clock())
    assert finished.step_state == "failed" and finished.job_state == "failed"
    status = job(engine, job_id)
    assert status.state == "failed" and status.finished_at == clock()
    okta = next(s for s in status.steps if s.provider == "okta")
    assert (okta.state, okta.attempts, okta.last_answer) == ("failed", 3, "HTTP 500 (attempt 3)")
    assert claim(engine, worker_id="w", lease_s=60, now=clock.advance(3600)) is None
    with pytest.raises(JobStateError, match="only a failed job"):
        retry_job(engine, make_job(engine, ONE, now=clock()), by="ops", now=clock())
    assert retry_job(engine, job_id, by="ops@example.com", now=clock()) == 1
    assert job(engine, job_id).state == "running"  # google's step is done, okta's pending again
    step = claim(engine, worker_id="w", lease_s=60, now=clock())
    assert step is not None and step.job_id == job_id and step.attempt == 1
    assert complete(engine, step, result="APPLIED", now=clock()).job_state == "done"
    assert job(engine, job_id).state == "done"


def test_a_permanent_failure_fails_at_once_and_the_rest_of_the_chain_waits(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(engine, leaver_plan(("okta",)), now=clock())
    step = claim(engine, worker_id="w", lease_s=60, now=clock())
    assert step is not None
    finished = fail_attempt(
        engine, step, error="NotFoundError (404): no user 00u1", permanent=True, now=clock()
    )
    assert (finished.step_state, finished.job_state) == ("failed", "failed")
    assert claim(engine, worker_id="w", lease_s=60, now=clock.advance(3600)) is None
    assert [s.state for s in job(engine, job_id).steps] == ["failed", "pending", "pending"]


def test_cancel_stops_pending_steps_and_lets_a_running_one_finish(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(engine, leaver_plan(("okta", "google")), now=clock())
    running = claim(engine, worker_id="w", lease_s=60, now=clock())
    assert running is not None
    assert cancel_job(engine, job_id, by="ops@example.com", reason="wrong person", now=clock()) == 5
    assert claim(engine, worker_id="w", lease_s=60, now=clock()) is None
    assert complete(engine, running, result="APPLIED", now=clock()).job_state == "cancelled"
    status = job(engine, job_id)
    assert status.state == "cancelled"
    assert sorted(s.state for s in status.steps) == ["cancelled"] * 5 + ["done"]
    with pytest.raises(JobStateError, match="nothing to cancel"):
        cancel_job(engine, job_id, by="ops", now=clock())


def test_an_expired_lease_is_run_again_and_the_old_holder_cannot_finish_it(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(engine, ONE, now=clock())
    first = claim(engine, worker_id="crashed", lease_s=30, now=clock())
    assert first is not None
    assert claim(engine, worker_id="w2", lease_s=30, now=clock.advance(29)) is None
    second = claim(engine, worker_id="w2", lease_s=30, now=clock.advance(1))
    assert second is not None and second.step_id == first.step_id and second.attempt == 2
    assert complete(engine, first, result="APPLIED", now=clock()).step_state is None  # not its claim any more
    assert complete(engine, second, result="ALREADY_DONE", now=clock()).job_state == "done"
    assert job(engine, job_id).steps[0].result == "ALREADY_DONE"
    reclaimed = [e for e in step_events(engine) if e.action == "job.step.reclaimed"]
    assert len(reclaimed) == 1 and reclaimed[0].details["previous_owner"] == "crashed"


def test_a_step_whose_every_attempt_died_with_its_worker_fails(engine: Engine) -> None:
    clock = ManualClock()
    job_id = make_job(engine, ONE, now=clock())
    for _ in range(3):
        assert claim(engine, worker_id="dies", lease_s=30, now=clock.advance(31)) is not None
    assert claim(engine, worker_id="w", lease_s=30, now=clock.advance(31)) is None
    status = job(engine, job_id)
    assert status.state == "failed"
    assert "never finished" in (status.steps[0].last_answer or "")


def test_each_step_change_is_one_audit_event_and_the_chain_verifies(engine: Engine) -> None:
    clock = ManualClock()
    make_job(
        engine, [*ONE, PlannedStep.protected("google", "block_sign_in", {"account_id": "g"})], now=clock()
    )
    step = claim(engine, worker_id="w1", lease_s=60, now=clock())  # pending -> running
    assert step is not None
    fail_attempt(
        engine, step, error="429 rate limited; Authorization: Bearer s3cr3t", retry_after=5, now=clock()
    )
    step = claim(engine, worker_id="w1", lease_s=60, now=clock.advance(5))
    assert step is not None
    complete(engine, step, result="APPLIED", answer='{"status": "SUSPENDED"}', now=clock())
    events = step_events(engine)
    assert [(e.action, e.details["from"], e.details["to"]) for e in events] == [
        ("job.step.planned", None, "pending"),
        ("job.step.skipped", None, "skipped"),
        ("job.step.claimed", "pending", "running"),
        ("job.step.retry", "running", "pending"),
        ("job.step.claimed", "pending", "running"),
        ("job.step.done", "running", "done"),
    ]
    assert [e.actor for e in events[2:]] == ["worker:w1"] * 4
    assert all(e.details["requested_by"] == "alice@example.com" for e in events)
    assert events[3].outcome == "failure" and events[3].details["answer"].startswith("429 rate limited")
    assert "s3cr3t" not in events[3].details["answer"]
    assert (
        events[5].details["answer"] == '{"status": "SUSPENDED"}' and events[5].details["result"] == "APPLIED"
    )
    with engine.connect() as conn:
        assert audit.verify(conn).ok
        jobs = conn.execute(sa.text("SELECT action FROM audit_event WHERE target_type = 'job' ORDER BY seq"))
        assert [a for (a,) in jobs] == ["job.enqueued", "job.running", "job.done"]
