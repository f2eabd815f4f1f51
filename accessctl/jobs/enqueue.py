"""Make a job from a plan, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs.derive import refresh_job
from accessctl.jobs.events import job_event, step_entry
from accessctl.jobs.plan import PlannedStep
from accessctl.jobs.states import WAITING, JobState, StepState
from accessctl.jobs.tables import JOBS, STEPS
from accessctl.sync import clock
from accessctl.timestamps import utc


class PlanError(ValueError):
    """A plan that cannot become a job (nothing is written)."""


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
    for step in steps:
        problem = step.problem()
        if problem:
            raise PlanError(f"cannot enqueue {kind}: {problem}")
    if not requested_by:
        raise PlanError(f"cannot enqueue {kind}: requested_by is required")
    at = utc(now or clock.now())
    state = JobState.QUARANTINED if quarantined else JobState.PENDING
    job = {
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
    job_id = session.execute(sa.insert(JOBS).values(**job).returning(JOBS.c.id)).scalar_one()
    job["id"] = job_id
    job_event(
        session, actor=requested_by, verb="enqueued", job=job, at=at, steps=len(steps), state=state.value
    )
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
        for row, step_id in zip(rows, session.execute(insert, rows).scalars(), strict=True):
            row["id"] = step_id
    audit.record_many(  # one event per step, appended together
        session,
        [
            step_entry(
                actor=requested_by,
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
        refresh_job(session, job_id, actor=requested_by, at=at)  # nothing to run: done at once
    return job_id
