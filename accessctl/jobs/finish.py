"""A worker ends a claimed step: done, an attempt failed (retry later, or failed for good), its lease
renewed, or the step given back unrun."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs.backoff import Backoff
from accessctl.jobs.claim import take_step
from accessctl.jobs.derive import lock_job, refresh_job
from accessctl.jobs.events import step_event
from accessctl.jobs.redact import redact_text
from accessctl.jobs.states import SETTLED_OK, JobState, StepState
from accessctl.jobs.tables import STEPS, write_tx
from accessctl.jobs.views import StepView
from accessctl.timestamps import utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """What became of the step (None: the claim was no longer this worker's, nothing changed) and of
    its job."""

    step_state: StepState | None
    job_state: JobState | None = None
    next_attempt_at: datetime | None = None
    #: the chain's next step, now leased to the same worker (``complete(..., then_claim=...)``)
    following: StepView | None = None


LOST = Finished(None)


def _mine(conn: Connection, step: StepView) -> sa.Row | None:
    """The step's row, locked, if ``step``'s claim still holds (same owner and attempt, still running)."""
    query = sa.select(STEPS).where(
        STEPS.c.id == step.step_id,
        STEPS.c.state == StepState.RUNNING.value,
        STEPS.c.lease_owner == step.lease_owner,
        STEPS.c.attempts == step.attempt,
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        log.warning(
            "step %s (job %s) is no longer held by %s (attempt %s): its lease was taken over",
            step.step_id,
            step.job_id,
            step.lease_owner,
            step.attempt,
        )
    return row


def _change(
    conn: Connection,
    row: sa.Row,
    *,
    verb: str,
    at: datetime,
    answer: str | None,
    outcome: str = "success",
    values: dict[str, Any],
    **extra: Any,
) -> JobState:
    update = sa.update(STEPS).where(STEPS.c.id == row.id).values(updated_at=at, **values)
    after = conn.execute(update.returning(*STEPS.c)).one()
    job = lock_job(conn, row.job_id)  # so two steps of one job finishing at once both count
    assert job is not None
    actor = f"worker:{row.lease_owner}"
    step_event(
        conn,
        actor=actor,
        verb=verb,
        step=after,
        job=job,
        before=row.state,
        after=after.state,
        at=at,
        answer=answer,
        outcome=outcome,
        result=after.result,
        next_attempt_at=values.get("next_attempt_at"),
        **extra,
    )
    return refresh_job(conn, row.job_id, actor=actor, at=at, locked=job)


def complete(
    engine: Engine,
    step: StepView,
    *,
    result: str,
    answer: str | None = None,
    now: datetime,
    then_claim: float | None = None,
) -> Finished:
    """The step's action succeeded: ``result`` is APPLIED or ALREADY_DONE.  ``then_claim``: a lease
    (seconds) for the next step of the same job and provider, claimed for this step's worker in the
    same transaction when it is runnable (:attr:`Finished.following`)."""
    at = utc(now)
    answer = redact_text(answer)
    with write_tx(engine) as conn:
        row = _mine(conn, step)
        if row is None:
            return LOST
        job_state = _change(
            conn,
            row,
            verb="done",
            at=at,
            answer=answer,
            values=dict(
                state=StepState.DONE.value,
                result=str(result),
                last_answer=answer,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=at,
            ),
        )
        following = None
        successor = _next_in_chain(conn, row)
        if successor is not None and successor.state == StepState.PENDING.value:
            if utc(successor.next_attempt_at) > at:  # it waited for this one: due now
                conn.execute(sa.update(STEPS).where(STEPS.c.id == successor.id).values(next_attempt_at=at))
            if then_claim is not None and job_state != JobState.FAILED:
                following = take_step(
                    conn, successor.id, worker_id=step.lease_owner, lease_s=then_claim, at=at
                )
    return Finished(StepState.DONE, job_state, following=following)


_LATER = STEPS.alias("later")


def _next_in_chain(conn: Connection, row: sa.Row) -> sa.Row | None:
    """The next step of ``row``'s job and provider that has not settled (past any skipped ones)."""
    query = (
        sa.select(_LATER.c.id, _LATER.c.state, _LATER.c.next_attempt_at)
        .where(
            _LATER.c.job_id == row.job_id,
            _LATER.c.provider == row.provider,
            _LATER.c.seq > row.seq,
            _LATER.c.state.not_in(SETTLED_OK),
        )
        .order_by(_LATER.c.seq)
        .limit(1)
    )
    return conn.execute(query).first()


def fail_attempt(
    engine: Engine,
    step: StepView,
    *,
    error: str,
    retry_after: float | None = None,
    permanent: bool = False,
    backoff: Backoff | None = None,
    now: datetime,
) -> Finished:
    """The attempt failed with ``error`` (the provider's answer).  Transient: the step is pending again
    after a jittered backoff (or ``retry_after`` seconds when the provider asks for longer), unless it
    has used its attempts; then, or when ``permanent``, it is failed and so is its job."""
    at = utc(now)
    error = redact_text(error) or ""
    with write_tx(engine) as conn:
        row = _mine(conn, step)
        if row is None:
            return LOST
        if permanent or row.attempts >= row.max_attempts:
            job_state = _change(
                conn,
                row,
                verb="failed",
                at=at,
                answer=error,
                outcome="failure",
                values=dict(
                    state=StepState.FAILED.value,
                    last_answer=error,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=at,
                ),
            )
            return Finished(StepState.FAILED, job_state)
        wait = (backoff or Backoff()).delay(row.attempts, retry_after)
        due = at + timedelta(seconds=wait)
        job_state = _change(
            conn,
            row,
            verb="retry",
            at=at,
            answer=error,
            outcome="failure",
            values=dict(
                state=StepState.PENDING.value,
                last_answer=error,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=due,
            ),
        )
    return Finished(StepState.PENDING, job_state, due)


def release(engine: Engine, step: StepView, *, why: str, now: datetime) -> Finished:
    """Give the step back unfinished (the worker is stopping): pending again, due at once."""
    at = utc(now)
    with write_tx(engine) as conn:
        row = _mine(conn, step)
        if row is None:
            return LOST
        job_state = _change(
            conn,
            row,
            verb="released",
            at=at,
            answer=None,
            released_because=why,
            values=dict(
                state=StepState.PENDING.value, lease_owner=None, lease_expires_at=None, next_attempt_at=at
            ),
        )
    return Finished(StepState.PENDING, job_state)


def renew_lease(engine: Engine, step: StepView, *, lease_s: float, now: datetime) -> bool:
    """Extend the claim of a long step; False when it is no longer this worker's.  (Not a state
    change, so not audited.)"""
    at = utc(now)
    with write_tx(engine) as conn:
        renewed = conn.execute(
            sa.update(STEPS)
            .where(
                STEPS.c.id == step.step_id,
                STEPS.c.state == StepState.RUNNING.value,
                STEPS.c.lease_owner == step.lease_owner,
                STEPS.c.attempts == step.attempt,
            )
            .values(lease_expires_at=at + timedelta(seconds=lease_s))
        )
        return renewed.rowcount == 1
