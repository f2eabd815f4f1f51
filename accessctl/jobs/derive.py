"""A job's state follows from its steps': done when all are done or skipped, failed when any failed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from accessctl.jobs.events import Db, job_event
from accessctl.jobs.states import HELD, SETTLED_OK, JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS


def state_from_steps(states: list[str]) -> JobState:
    if all(s in SETTLED_OK for s in states):
        return JobState.DONE
    if any(s == StepState.FAILED for s in states):
        return JobState.FAILED
    if any(s != StepState.PENDING for s in states):
        return JobState.RUNNING
    return JobState.PENDING


def lock_job(db: Db, job_id: int) -> sa.Row | None:
    query = sa.select(JOBS).where(JOBS.c.id == job_id)
    dialect = db.get_bind().dialect.name if hasattr(db, "get_bind") else db.dialect.name
    if dialect != "sqlite":
        query = query.with_for_update()
    return db.execute(query).first()


def refresh_job(db: Db, job_id: int, *, actor: str, at: datetime) -> JobState:
    """Set the job's state from its steps (a cancelled or quarantined job keeps its state); a change
    is audited in the caller's transaction."""
    job = lock_job(db, job_id)
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    if job.state in HELD:
        return JobState(job.state)
    states = list(db.execute(sa.select(STEPS.c.state).where(STEPS.c.job_id == job_id)).scalars())
    new = state_from_steps(states)
    if new != job.state:
        finished = at if new in (JobState.DONE, JobState.FAILED) else None
        db.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(state=new.value, updated_at=at, finished_at=finished)
        )
        job_event(db, actor=actor, verb=new.value, job=job, at=at, previous=job.state)
    return new
