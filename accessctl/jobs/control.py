"""What an operator does to a job: resume a failed one, cancel one, release one from quarantine."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs.derive import lock_job, refresh_job
from accessctl.jobs.events import job_event, step_event
from accessctl.jobs.states import JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS, write_tx
from accessctl.timestamps import utc


class JobNotFound(LookupError):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id}")


class JobStateError(Exception):
    """The job is not in a state the operation applies to (nothing changed)."""


def _steps_for_update(conn: Connection, job_id: int, state: StepState) -> list[sa.Row]:
    query = (
        sa.select(STEPS).where(STEPS.c.job_id == job_id, STEPS.c.state == state.value).order_by(STEPS.c.id)
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return list(conn.execute(query))


def _job(conn: Connection, job_id: int) -> sa.Row:
    job = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).first()
    if job is None:
        raise JobNotFound(job_id)
    return job


def retry_job(engine: Engine, job_id: int, *, by: str, now: datetime) -> int:
    """Resume a failed job from its failed steps (their attempts start again); returns how many."""
    at = utc(now)
    with write_tx(engine) as conn:
        job = _job(conn, job_id)
        if job.state != JobState.FAILED:
            raise JobStateError(f"job {job_id} is {job.state}: only a failed job can be retried")
        failed = _steps_for_update(conn, job_id, StepState.FAILED)
        for step in failed:
            conn.execute(
                sa.update(STEPS)
                .where(STEPS.c.id == step.id)
                .values(
                    state=StepState.PENDING.value,
                    attempts=0,
                    next_attempt_at=at,
                    finished_at=None,
                    updated_at=at,
                )
            )
            step_event(
                conn,
                actor=by,
                verb="retried",
                step={**step._mapping, "attempts": 0},
                job=job,
                before=step.state,
                after=StepState.PENDING.value,
                at=at,
                answer=step.last_answer,
            )
        refresh_job(conn, job_id, actor=by, at=at)
    return len(failed)


def cancel_job(engine: Engine, job_id: int, *, by: str, reason: str = "", now: datetime) -> int:
    """Cancel a job that has not finished: its pending steps never run (a running step finishes, its
    answer recorded); returns how many steps were cancelled."""
    at = utc(now)
    with write_tx(engine) as conn:
        job = _job(conn, job_id)
        if job.state in (JobState.DONE, JobState.CANCELLED):
            raise JobStateError(f"job {job_id} is {job.state}: nothing to cancel")
        pending = _steps_for_update(conn, job_id, StepState.PENDING)
        for step in pending:
            conn.execute(
                sa.update(STEPS)
                .where(STEPS.c.id == step.id)
                .values(
                    state=StepState.CANCELLED.value,
                    finished_at=at,
                    result=f"cancelled by {by}",
                    updated_at=at,
                )
            )
            step_event(
                conn,
                actor=by,
                verb="cancelled",
                step=step,
                job=job,
                before=step.state,
                after=StepState.CANCELLED.value,
                at=at,
                reason=reason or None,
            )
        locked = lock_job(conn, job_id)
        assert locked is not None
        conn.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(state=JobState.CANCELLED.value, updated_at=at, finished_at=at)
        )
        job_event(
            conn, actor=by, verb="cancelled", job=locked, at=at, previous=locked.state, why=reason or None
        )
    return len(pending)


def release_job(engine: Engine, job_id: int, *, by: str, now: datetime) -> JobState:
    """Let a quarantined job run (who released it is audited)."""
    at = utc(now)
    with write_tx(engine) as conn:
        job = _job(conn, job_id)
        if job.state != JobState.QUARANTINED:
            raise JobStateError(f"job {job_id} is {job.state}: only a quarantined job can be released")
        conn.execute(
            sa.update(JOBS).where(JOBS.c.id == job_id).values(state=JobState.PENDING.value, updated_at=at)
        )
        job_event(conn, actor=by, verb="released", job=job, at=at)
        return refresh_job(conn, job_id, actor=by, at=at)
