"""Quarantined jobs: list them, release one (the two-person rule when configured), reject one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs import JobNotFound, JobStateError, cancel_job, release_job
from accessctl.jobs.states import JobState
from accessctl.jobs.tables import JOBS
from accessctl.lifecycle.errors import NotQuarantined, SafeguardRefused
from accessctl.lifecycle.people import PEOPLE
from accessctl.settings import Settings
from accessctl.sync import clock


@dataclass(frozen=True)
class QuarantinedJob:
    id: int
    kind: str
    person: str | None
    requested_by: str
    reason: str
    created_at: datetime


def list_quarantined(engine: Engine) -> list[QuarantinedJob]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(JOBS, PEOPLE.c.email)
            .outerjoin(PEOPLE, PEOPLE.c.id == JOBS.c.person_id)
            .where(JOBS.c.state == JobState.QUARANTINED.value)
            .order_by(JOBS.c.id)
        )
        return [QuarantinedJob(r.id, r.kind, r.email, r.requested_by, r.reason, r.created_at) for r in rows]


def _quarantined(engine: Engine, job_id: int) -> sa.Row:
    with engine.connect() as conn:
        job = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).first()
    if job is None:
        raise NotQuarantined(f"no job {job_id}")
    if job.state != JobState.QUARANTINED:
        raise NotQuarantined(f"job {job_id} is {job.state}, not quarantined")
    return job


def release(settings: Settings, engine: Engine, job_id: int, *, by: str, now: datetime | None = None) -> str:
    """Let a quarantined job run; returns its new state.  With ``guard.two_person`` the releaser
    must differ from the requester."""
    if not by.strip():
        raise SafeguardRefused("say who releases it (--by NAME)")
    job = _quarantined(engine, job_id)
    if settings.lifecycle.guard.two_person and by.strip().lower() == job.requested_by.strip().lower():
        raise SafeguardRefused(
            f"job {job_id} was requested by {job.requested_by}: two_person needs someone else to release it"
        )
    try:
        return str(release_job(engine, job_id, by=by, now=now or clock.now()))
    except (JobNotFound, JobStateError) as exc:  # changed meanwhile
        raise NotQuarantined(str(exc)) from None


def reject(engine: Engine, job_id: int, *, by: str, reason: str = "", now: datetime | None = None) -> int:
    """Cancel a quarantined job: none of its steps run (audited as rejected by ``by``)."""
    if not by.strip():
        raise SafeguardRefused("say who rejects it (--by NAME)")
    _quarantined(engine, job_id)
    try:
        return cancel_job(
            engine, job_id, by=by, reason=reason or "rejected from quarantine", now=now or clock.now()
        )
    except (JobNotFound, JobStateError) as exc:
        raise NotQuarantined(str(exc)) from None
