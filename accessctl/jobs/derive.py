"""A job's state follows from its steps': done when all are done or skipped, failed when any failed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from accessctl.jobs.events import Db, job_event
from accessctl.jobs.states import HELD, SETTLED_OK, JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS


def state_from_steps(steps: list[tuple[str, int]]) -> JobState:
    """From each step's (state, attempts): a job that has started stays running while it waits for a
    retry."""
    if all(state in SETTLED_OK for state, _ in steps):
        return JobState.DONE
    if any(state == StepState.FAILED for state, _ in steps):
        return JobState.FAILED
    if any(state != StepState.PENDING or attempts for state, attempts in steps):
        return JobState.RUNNING
    return JobState.PENDING


def lock_job(db: Db, job_id: int) -> sa.Row | None:
    query = sa.select(JOBS).where(JOBS.c.id == job_id)
    dialect = db.get_bind().dialect.name if hasattr(db, "get_bind") else db.dialect.name
    if dialect != "sqlite":
        query = query.with_for_update()
    return db.execute(query).first()


def refresh_job(db: Db, job_id: int, *, actor: str, at: datetime, locked: sa.Row | None = None) -> JobState:
    """Set the job's state from its steps (a cancelled or quarantined job keeps its state); a change
    is audited in the caller's transaction.  ``locked``: the job's row, already locked by the caller
    (:func:`lock_job`)."""
    job = locked if locked is not None else lock_job(db, job_id)
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    if job.state in HELD or job.state == JobState.PLANNING:  # held, or its steps not yet made
        return JobState(job.state)
    steps = db.execute(sa.select(STEPS.c.state, STEPS.c.attempts).where(STEPS.c.job_id == job_id))
    new = state_from_steps([(state, attempts) for state, attempts in steps])
    if new != job.state:
        finished = at if new in (JobState.DONE, JobState.FAILED) else None
        db.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(state=new.value, updated_at=at, finished_at=finished)
        )
        job_event(db, actor=actor, verb=new.value, job=job, at=at, previous=job.state)
    return new
