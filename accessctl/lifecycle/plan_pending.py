"""Plan the jobs committed without their steps (state ``planning``): an HR leaver's request commits
the event and an unplanned job, and a worker builds its steps here, before it claims any.

    plan = pending_planner(settings, engine)
    await run_worker(engine, execute=..., prepare=plan, ...)   # plan(now) before each claim

Each job is planned in one write transaction of its own, exactly once: the job's row is taken
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two workers never plan one job; neither waits for the
other), under SQLite's write lock there; it leaves ``planning`` in the transaction that writes its
steps, so a crash part-way leaves it unplanned, for the next worker.  The plan is the one the
request used to build: the person's accounts and grants as the store has them, with the same
safeguards (protected accounts skipped, the last super-admin kept, the blast-radius guard judging the
job as of its creation; see :func:`accessctl.lifecycle.guard.quarantine_reason`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs.enqueue import PlanError, plan_job
from accessctl.jobs.events import job_event
from accessctl.jobs.states import JobState
from accessctl.jobs.tables import JOBS, write_tx
from accessctl.lifecycle.guard import LEAVER, quarantine_reason
from accessctl.lifecycle.hr_jobs import HrLifecycle
from accessctl.lifecycle.submit import settle
from accessctl.settings import Settings
from accessctl.timestamps import utc

log = logging.getLogger(__name__)

#: jobs planned per call, so a flood of leavers does not hold a worker's claims up for long
BATCH = 16


def _waiting(engine: Engine) -> bool:
    """Whether any job waits to be planned (a read: no write lock taken while there is none)."""
    with engine.connect() as conn:
        query = sa.select(JOBS.c.id).where(JOBS.c.state == JobState.PLANNING.value).limit(1)
        return conn.execute(query).first() is not None


def _take(conn: Connection) -> sa.Row | None:
    query = sa.select(JOBS).where(JOBS.c.state == JobState.PLANNING.value).order_by(JOBS.c.id).limit(1)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).first()


def plan_one(conn: Connection, settings: Settings, job: sa.Row, *, now: datetime) -> str:
    """Build and write the steps of ``job`` (a leaver in ``planning``, its row locked by the caller)
    in ``conn``'s transaction; returns its new state."""
    at = utc(now)
    if job.kind != LEAVER or job.person_id is None:
        raise PlanError(f"job {job.id}: only an HR leaver is planned later (this is a {job.kind})")
    plan = HrLifecycle(settings).leaver_plan(conn, job.person_id, now=at)
    why = quarantine_reason(conn, settings.lifecycle.guard, now=at, job=job)
    state = plan_job(conn, job, plan.steps, actor=job.requested_by, quarantined=why is not None, now=at)
    settle(conn, plan, job_id=job.id, why=why, requested_by=job.requested_by, at=at)
    return state.value


def _fail(conn: Connection, job: sa.Row, problem: str, at: datetime) -> None:
    conn.execute(
        sa.update(JOBS)
        .where(JOBS.c.id == job.id)
        .values(state=JobState.FAILED.value, updated_at=at, finished_at=at)
    )
    job_event(conn, actor=job.requested_by, verb="failed", job=job, at=at, previous=job.state, why=problem)


def plan_pending(settings: Settings, engine: Engine, *, now: datetime, limit: int = BATCH) -> int:
    """Plan up to ``limit`` waiting jobs, oldest first, each in its own transaction; returns how
    many were planned.  A job that cannot be planned (a plan the engine refuses) fails, said why."""
    planned = 0
    while planned < limit and _waiting(engine):
        with write_tx(engine) as conn:
            job = _take(conn)
            if job is None:  # taken by another worker meanwhile
                return planned
            try:
                with conn.begin_nested():
                    state = plan_one(conn, settings, job, now=now)
            except PlanError as refused:
                _fail(conn, job, str(refused), utc(now))
                state = JobState.FAILED.value
                log.error("job %s could not be planned: %s", job.id, refused)
        planned += 1
        log.info("job %s (%s) planned: %s", job.id, job.kind, state)
    return planned


def pending_planner(settings: Settings, engine: Engine) -> Callable[[datetime], int]:
    """What a worker calls before it claims (``run_worker(prepare=...)``)."""

    def prepare(now: datetime) -> int:
        return plan_pending(settings, engine, now=now)

    return prepare
