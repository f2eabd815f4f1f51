"""Take the next runnable step: several workers on PostgreSQL (SKIP LOCKED), one on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs.derive import refresh_job
from accessctl.jobs.events import step_event
from accessctl.jobs.states import HELD, SETTLED_OK, StepState
from accessctl.jobs.tables import JOBS, STEPS, utc, write_tx
from accessctl.jobs.views import StepView

#: candidates looked at per claim (a reclaimed step past its attempts is failed, and the next tried)
_BATCH = 8


def _runnable(now: datetime) -> sa.Select:
    earlier = STEPS.alias("earlier")
    blocked = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.job_id == STEPS.c.job_id,
            earlier.c.provider == STEPS.c.provider,
            earlier.c.seq < STEPS.c.seq,
            earlier.c.state.not_in(SETTLED_OK),
        )
        .exists()
    )
    lease_gone = sa.and_(STEPS.c.state == StepState.RUNNING.value, STEPS.c.lease_expires_at <= now)
    return (
        sa.select(STEPS.c.id)
        .join(JOBS, JOBS.c.id == STEPS.c.job_id)
        .where(
            sa.or_(STEPS.c.state == StepState.PENDING.value, lease_gone),
            STEPS.c.next_attempt_at <= now,
            JOBS.c.state.not_in(HELD),
            ~blocked,
        )
        .order_by(STEPS.c.next_attempt_at, STEPS.c.id)
    )


def claim(engine: Engine, *, worker_id: str, lease_s: float, now: datetime) -> StepView | None:
    """The next runnable step, now leased to ``worker_id`` for ``lease_s`` seconds, or None.

    Runnable: pending (or running on a lease that has expired: its worker died), due
    (``next_attempt_at`` <= now), its job neither cancelled nor quarantined, and every earlier step of
    the same job and provider done or skipped.  The claim, its audit event and the job's move to
    running commit together.  A reclaimed step that has used all its attempts is failed instead.
    """
    at = utc(now)
    with write_tx(engine) as conn:
        query = _runnable(at).limit(_BATCH)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True, of=STEPS)
        for step_id in conn.execute(query).scalars().all():
            view = _take(conn, step_id, worker_id=worker_id, lease_s=lease_s, at=at)
            if view is not None:
                return view
    return None


def _take(conn: Connection, step_id: int, *, worker_id: str, lease_s: float, at: datetime) -> StepView | None:
    step = conn.execute(sa.select(STEPS).where(STEPS.c.id == step_id)).one()
    job = conn.execute(sa.select(JOBS).where(JOBS.c.id == step.job_id)).one()
    actor = f"worker:{worker_id}"
    reclaimed = step.state == StepState.RUNNING.value
    if reclaimed and step.attempts >= step.max_attempts:
        answer = f"attempt {step.attempts} of {step.max_attempts} never finished (its worker's lease expired)"
        conn.execute(
            sa.update(STEPS)
            .where(STEPS.c.id == step_id)
            .values(
                state=StepState.FAILED.value,
                last_answer=answer,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=at,
                updated_at=at,
            )
        )
        step_event(
            conn,
            actor=actor,
            verb="failed",
            step=step,
            job=job,
            before=step.state,
            after=StepState.FAILED.value,
            at=at,
            answer=answer,
            outcome="failure",
        )
        refresh_job(conn, job.id, actor=actor, at=at)
        return None
    conn.execute(
        sa.update(STEPS)
        .where(STEPS.c.id == step_id)
        .values(
            state=StepState.RUNNING.value,
            attempts=STEPS.c.attempts + 1,
            lease_owner=worker_id,
            lease_expires_at=at + timedelta(seconds=lease_s),
            started_at=sa.func.coalesce(STEPS.c.started_at, at),
            updated_at=at,
        )
    )
    claimed = conn.execute(sa.select(STEPS).where(STEPS.c.id == step_id)).one()
    step_event(
        conn,
        actor=actor,
        verb="reclaimed" if reclaimed else "claimed",
        step=claimed,
        job=job,
        before=step.state,
        after=StepState.RUNNING.value,
        at=at,
        previous_owner=step.lease_owner if reclaimed else None,
    )
    refresh_job(conn, job.id, actor=actor, at=at)
    return StepView.from_rows(claimed, job)
