"""The jobs, newest first, each with its step counts (for `jobs list` and the API's job list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.jobs.states import JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS
from accessctl.store.models import Person
from accessctl.timestamps import utc

PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
STATES = tuple(state.value for state in JobState)


@dataclass(frozen=True)
class JobSummary:
    id: int
    kind: str
    person: str | None  # the person's email, when the job is about one
    state: str
    requested_by: str
    reason: str
    dry_run: bool
    steps: int
    steps_done: int  # done or skipped
    steps_failed: int
    created_at: datetime
    finished_at: datetime | None


def list_jobs(conn: Connection, *, state: str | None = None, limit: int = 50) -> list[JobSummary]:
    """At most ``limit`` jobs, newest first; ``state``: only jobs in that state (one of :data:`STATES`)."""
    if state is not None and state not in STATES:
        raise ValueError(f"state {state!r}: one of {', '.join(STATES)}")

    def count(*states: str) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((STEPS.c.state.in_(states), 1), else_=0)), 0)

    counts = (
        sa.select(
            STEPS.c.job_id,
            sa.func.count().label("steps"),
            count(StepState.DONE, StepState.SKIPPED).label("done"),
            count(StepState.FAILED).label("failed"),
        )
        .group_by(STEPS.c.job_id)
        .subquery()
    )
    query = (
        sa.select(JOBS, PEOPLE.c.email, counts.c.steps, counts.c.done, counts.c.failed)
        .outerjoin(PEOPLE, PEOPLE.c.id == JOBS.c.person_id)
        .outerjoin(counts, counts.c.job_id == JOBS.c.id)
        .order_by(JOBS.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(JOBS.c.state == state)
    return [
        JobSummary(
            id=row.id,
            kind=row.kind,
            person=row.email,
            state=row.state,
            requested_by=row.requested_by,
            reason=row.reason,
            dry_run=row.dry_run,
            steps=row.steps or 0,
            steps_done=row.done or 0,
            steps_failed=row.failed or 0,
            created_at=utc(row.created_at),
            finished_at=None if row.finished_at is None else utc(row.finished_at),
        )
        for row in conn.execute(query)
    ]


def person_email(conn: Connection, person_id: int | None) -> str | None:
    """The email of the person a job is about (None: no person, or one no longer in the store)."""
    if person_id is None:
        return None
    return conn.execute(sa.select(PEOPLE.c.email).where(PEOPLE.c.id == person_id)).scalar_one_or_none()
