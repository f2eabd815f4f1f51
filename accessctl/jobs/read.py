"""A job and its steps as they stand (for `jobs show`, the API and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from accessctl.jobs.tables import JOBS, STEPS
from accessctl.timestamps import utc


def _ts(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@dataclass(frozen=True)
class StepStatus:
    id: int
    provider: str
    seq: int
    action: str
    target: dict[str, Any]
    expected_effect: str
    state: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    last_answer: str | None
    result: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobStatus:
    id: int
    kind: str
    person_id: int | None
    reason: str
    requested_by: str
    state: str
    dry_run: bool
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepStatus]


def get_job(db: Session | Connection, job_id: int) -> JobStatus | None:
    job = db.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).first()
    if job is None:
        return None
    rows = db.execute(
        sa.select(STEPS).where(STEPS.c.job_id == job_id).order_by(STEPS.c.provider, STEPS.c.seq)
    )
    steps = [
        StepStatus(
            id=r.id,
            provider=r.provider,
            seq=r.seq,
            action=r.action,
            target=dict(r.target or {}),
            expected_effect=r.expected_effect,
            state=r.state,
            attempts=r.attempts,
            max_attempts=r.max_attempts,
            next_attempt_at=utc(r.next_attempt_at),
            last_answer=r.last_answer,
            result=r.result,
            started_at=_ts(r.started_at),
            finished_at=_ts(r.finished_at),
        )
        for r in rows
    ]
    return JobStatus(
        id=job.id,
        kind=job.kind,
        person_id=job.person_id,
        reason=job.reason,
        requested_by=job.requested_by,
        state=job.state,
        dry_run=job.dry_run,
        created_at=utc(job.created_at),
        finished_at=_ts(job.finished_at),
        steps=steps,
    )
