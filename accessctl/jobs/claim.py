"""Take the next runnable step: several workers on PostgreSQL (SKIP LOCKED), one on SQLite."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs.derive import lock_job, refresh_job
from accessctl.jobs.events import step_event
from accessctl.jobs.states import HELD, SETTLED_OK, JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS, write_tx
from accessctl.jobs.views import StepView
from accessctl.timestamps import utc

#: open steps: the condition of the partial index ix_job_step_runnable
OPEN = sa.text("job_step.state IN ('pending', 'running')")
#: candidates looked at per claim (a reclaimed step past its attempts is failed, and the next tried)
_BATCH = 8


_EARLIER = STEPS.alias("earlier")
#: an earlier step of the same job and provider has not settled: the step must wait for it
_BLOCKED = (
    sa.select(_EARLIER.c.id)
    .where(
        _EARLIER.c.job_id == STEPS.c.job_id,
        _EARLIER.c.provider == STEPS.c.provider,
        _EARLIER.c.seq < STEPS.c.seq,
        _EARLIER.c.state.not_in(SETTLED_OK),
    )
    .exists()
)


def _runnable(
    now: datetime, running: frozenset[int] = frozenset(), full: frozenset[str] = frozenset()
) -> sa.Select:
    lease_gone = sa.and_(STEPS.c.state == StepState.RUNNING.value, STEPS.c.lease_expires_at <= now)
    if running:  # the claiming worker's own steps still in flight: late renewing, not dead
        lease_gone = sa.and_(lease_gone, STEPS.c.id.not_in(sorted(running)))
    query = (
        sa.select(STEPS, JOBS.c.state.label("job_state"))
        .join(JOBS, JOBS.c.id == STEPS.c.job_id)
        .where(
            OPEN,  # the runnable index's own condition, word for word, so SQLite uses it too
            sa.or_(STEPS.c.state == StepState.PENDING.value, lease_gone),
            STEPS.c.next_attempt_at <= now,
            JOBS.c.state.not_in(HELD),
            ~_BLOCKED,
        )
        .order_by(STEPS.c.next_attempt_at, STEPS.c.id)
        .limit(1)
    )
    if full:  # providers the claiming worker already runs its most steps of at once
        query = query.where(STEPS.c.provider.not_in(sorted(full)))
    return query


def claim(
    engine: Engine,
    *,
    worker_id: str,
    lease_s: float,
    now: datetime,
    running: frozenset[int] = frozenset(),
    full: frozenset[str] = frozenset(),
) -> StepView | None:
    """The next runnable step, now leased to ``worker_id`` for ``lease_s`` seconds, or None.

    Runnable: pending (or running on a lease that has expired: its worker died), due
    (``next_attempt_at`` <= now), its job neither cancelled nor quarantined, and every earlier step of
    the same job and provider done or skipped.  On PostgreSQL the step is taken ``FOR UPDATE SKIP
    LOCKED``, so workers never wait for each other's candidates.  The claim, its audit event and the
    job's move to running commit together.  A reclaimed step that has used all its attempts is failed
    instead, and the next runnable one taken.  ``running``: ids of the steps the claiming worker is
    still running; their leases may have expired (its event loop was held up past a renewal), but
    taking them again would run the same step twice at once.  ``full``: providers whose steps the
    worker takes none of now (it runs as many of theirs at once as it lets one provider have).
    """
    taken = claim_steps(
        engine, worker_id=worker_id, lease_s=lease_s, now=now, running=running, full=full, limit=1
    )
    return taken[0] if taken else None


def claim_steps(
    engine: Engine,
    *,
    worker_id: str,
    lease_s: float,
    now: datetime,
    limit: int,
    running: frozenset[int] = frozenset(),
    full: frozenset[str] = frozenset(),
    per_provider: int | None = None,
    held: Counter[str] | None = None,
) -> list[StepView]:
    """Up to ``limit`` runnable steps (see :func:`claim`), leased in one transaction: the first steps
    of a new job's providers start together.  ``per_provider``: at most this many steps of one
    provider counting ``held``, the worker's own in flight (a provider at it joins ``full``)."""
    at = utc(now)
    counts = Counter(held or ())
    taken: list[StepView] = []
    with write_tx(engine) as conn:
        query = None
        for _ in range(limit + _BATCH):
            if len(taken) >= limit:
                break
            if query is None:
                query = _runnable(at, running, full)
                if conn.dialect.name != "sqlite":
                    query = query.with_for_update(skip_locked=True, of=STEPS)
            step = conn.execute(query).first()
            if step is None:
                break
            view = _take(conn, step, worker_id=worker_id, lease_s=lease_s, at=at)
            if view is None:
                continue
            taken.append(view)
            counts[view.provider] += 1
            if per_provider is not None and counts[view.provider] >= per_provider:
                full, query = full | {view.provider}, None
    return taken


def take_step(
    conn: Connection, step_id: int, *, worker_id: str, lease_s: float, at: datetime
) -> StepView | None:
    """In the caller's write transaction: step ``step_id``, leased to ``worker_id``, if it is
    pending and its job not held; the caller knows every earlier step of its chain has settled (the
    worker that finished the step before it goes on with the chain, without a claim of its own)."""
    query = (
        sa.select(STEPS, JOBS.c.state.label("job_state"))
        .join(JOBS, JOBS.c.id == STEPS.c.job_id)
        .where(STEPS.c.id == step_id, STEPS.c.state == StepState.PENDING.value, JOBS.c.state.not_in(HELD))
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True, of=STEPS)
    step = conn.execute(query).first()
    return None if step is None else _take(conn, step, worker_id=worker_id, lease_s=lease_s, at=at)


def _take(conn: Connection, step: sa.Row, *, worker_id: str, lease_s: float, at: datetime) -> StepView | None:
    actor = f"worker:{worker_id}"
    reclaimed = step.state == StepState.RUNNING.value
    if reclaimed and step.attempts >= step.max_attempts:
        job = lock_job(conn, step.job_id)
        answer = f"attempt {step.attempts} of {step.max_attempts} never finished (its worker's lease expired)"
        conn.execute(
            sa.update(STEPS)
            .where(STEPS.c.id == step.id)
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
        refresh_job(conn, step.job_id, actor=actor, at=at, locked=job)
        return None
    claimed = conn.execute(
        sa.update(STEPS)
        .where(STEPS.c.id == step.id)
        .values(
            state=StepState.RUNNING.value,
            attempts=STEPS.c.attempts + 1,
            lease_owner=worker_id,
            lease_expires_at=at + timedelta(seconds=lease_s),
            started_at=sa.func.coalesce(STEPS.c.started_at, at),
            updated_at=at,
        )
        .returning(*STEPS.c)
    ).one()
    # the job's row is locked only when the claim moves it (pending -> running): claims of one
    # running job's steps by several workers do not queue on it
    job = lock_job(conn, step.job_id) if step.job_state == JobState.PENDING else _job(conn, step.job_id)
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
    if job.state == JobState.PENDING:
        refresh_job(conn, step.job_id, actor=actor, at=at, locked=job)
    return StepView.from_rows(claimed, job)


def _job(conn: Connection, job_id: int) -> sa.Row:
    return conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()
