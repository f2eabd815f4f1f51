"""Make a job from a plan, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs.derive import refresh_job
from accessctl.jobs.events import Db, job_event, step_entry
from accessctl.jobs.plan import PlannedStep
from accessctl.jobs.states import WAITING, JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS
from accessctl.store.prepared import Prepared
from accessctl.sync import clock
from accessctl.timestamps import utc

#: built once (an HR event's request runs it; a statement built per call costs more than it runs)
_INSERT_JOB = Prepared(sa.insert(JOBS).returning(JOBS.c.id))


class PlanError(ValueError):
    """A plan that cannot become a job (nothing is written)."""


def _validate(kind: str, requested_by: str, steps: Sequence[PlannedStep]) -> None:
    for step in steps:
        problem = step.problem()
        if problem:
            raise PlanError(f"cannot enqueue {kind}: {problem}")
    if not requested_by:
        raise PlanError(f"cannot enqueue {kind}: requested_by is required")


def _job_row(
    kind: str,
    person_id: int | None,
    hr_event_id: int | None,
    reason: str,
    requested_by: str,
    state: JobState,
    at: datetime,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "person_id": person_id,
        "hr_event_id": hr_event_id,
        "reason": reason,
        "requested_by": requested_by,
        "state": state.value,
        "dry_run": dry_run,
        "created_at": at,
        "updated_at": at,
    }


def enqueue(
    session: Session,
    *,
    kind: str,
    person_id: int | None,
    reason: str,
    requested_by: str,
    steps: Sequence[PlannedStep],
    dry_run: bool = False,
    quarantined: bool = False,
    hr_event_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Add a job and its steps to ``session``'s transaction and return the job's id; the caller
    commits (so an HR event and its job, or a review decision and its remediation, commit together).

    The steps of one provider run in the order given; providers in parallel.  A step planned as
    skipped is recorded "skipped: <reason>" and never runs.  Each step and the job itself get an
    audit event in the same transaction.  ``quarantined``: nothing runs until the job is released.
    """
    _validate(kind, requested_by, steps)
    at = utc(now or clock.now())
    state = JobState.QUARANTINED if quarantined else JobState.PENDING
    job = _job_row(kind, person_id, hr_event_id, reason, requested_by, state, at, dry_run=dry_run)
    job_id = session.execute(sa.insert(JOBS).values(**job).returning(JOBS.c.id)).scalar_one()
    job["id"] = job_id
    job_event(
        session, actor=requested_by, verb="enqueued", job=job, at=at, steps=len(steps), state=state.value
    )
    _add_steps(session, job, steps, actor=requested_by, quarantined=quarantined, at=at)
    return job_id


def enqueue_unplanned(
    db: Db,
    *,
    kind: str,
    person_id: int | None,
    reason: str,
    requested_by: str,
    hr_event_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Add a job with no steps yet (state ``planning``) to ``db``'s transaction and return its id: a
    worker plans it later (:func:`plan_job`), before any of its steps can run.  What an HR event's
    request commits, so the request does not build the plan."""
    _validate(kind, requested_by, ())
    at = utc(now or clock.now())
    job = _job_row(kind, person_id, hr_event_id, reason, requested_by, JobState.PLANNING, at)
    job["id"] = _INSERT_JOB.scalar(db, job)
    job_event(db, actor=requested_by, verb="enqueued", job=job, at=at, state=JobState.PLANNING.value)
    return int(job["id"])


def plan_job(
    db: Db,
    job: sa.Row,
    steps: Sequence[PlannedStep],
    *,
    actor: str,
    quarantined: bool = False,
    now: datetime | None = None,
) -> JobState:
    """Give a ``planning`` job (``job``: its row, claimed by the caller) its steps in ``db``'s
    transaction, and move it to pending (or quarantined, or done when nothing is left to run).  The
    steps get their audit events as :func:`enqueue` writes them; returns the job's new state."""
    _validate(job.kind, job.requested_by, steps)
    at = utc(now or clock.now())
    state = JobState.QUARANTINED if quarantined else JobState.PENDING
    db.execute(sa.update(JOBS).where(JOBS.c.id == job.id).values(state=state.value, updated_at=at))
    row = {**job._mapping, "state": state.value}
    job_event(db, actor=actor, verb="planned", job=row, at=at, steps=len(steps), state=state.value)
    if _add_steps(db, row, steps, actor=actor, quarantined=quarantined, at=at):
        return JobState.DONE
    return state


def _add_steps(
    db: Db,
    job: dict[str, Any],
    steps: Sequence[PlannedStep],
    *,
    actor: str,
    quarantined: bool,
    at: datetime,
) -> bool:
    """Insert ``job``'s steps and their audit events; True when the job was done at once (nothing
    to run)."""
    job_id = job["id"]
    seqs: dict[str, int] = {}
    waiting: set[str] = set()  # providers whose chain has a step to run before the next one
    rows = []
    for planned in steps:
        seqs[planned.provider] = seqs.get(planned.provider, 0) + 1
        skipped = planned.skipped is not None
        due = WAITING if planned.provider in waiting and not skipped else at
        if not skipped:
            waiting.add(planned.provider)
        rows.append(
            {
                "job_id": job_id,
                "provider": planned.provider,
                "seq": seqs[planned.provider],
                "action": planned.action,
                "target": dict(planned.target),
                "expected_effect": planned.expected_effect,
                "state": StepState.SKIPPED.value if skipped else StepState.PENDING.value,
                "attempts": 0,
                "max_attempts": planned.max_attempts,
                "next_attempt_at": due,
                "result": f"skipped: {planned.skipped}" if skipped else None,
                "finished_at": at if skipped else None,
                "updated_at": at,
            }
        )
    if rows:
        insert = sa.insert(STEPS).returning(STEPS.c.id, sort_by_parameter_order=True)
        for row, step_id in zip(rows, db.execute(insert, rows).scalars(), strict=True):
            row["id"] = step_id
    audit.record_many(  # one event per step, appended together
        db,
        [
            step_entry(
                actor=actor,
                verb="skipped" if row["state"] == StepState.SKIPPED else "planned",
                step=row,
                job=job,
                before=None,
                after=row["state"],
                at=at,
                expected_effect=row["expected_effect"],
                result=row["result"],
            )
            for row in rows
        ],
    )
    if not quarantined and all(row["state"] == StepState.SKIPPED for row in rows):
        refresh_job(db, job_id, actor=actor, at=at)  # nothing to run: done at once
        return True
    return False
