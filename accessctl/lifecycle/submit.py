"""A plan becomes a job, in the caller's transaction: the guard decides quarantine, a leaver's
snapshot is saved, a restore's approval is audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs import enqueue
from accessctl.jobs.states import JobState
from accessctl.jobs.worker import wake_workers
from accessctl.lifecycle.guard import LEAVER, quarantine_reason
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.protected import SKIPPED
from accessctl.lifecycle.snapshot import mark_restored, save_snapshot
from accessctl.settings import Settings
from accessctl.sync import clock

log = logging.getLogger(__name__)


@dataclass
class Submitted:
    """What a use case did: its plan, and (not on a dry run) the job it queued."""

    plan: Plan
    job_id: int | None = None
    #: the job's state when queued: pending, quarantined, or done (nothing to run)
    state: str | None = None
    quarantine_reason: str | None = None
    dry_run: bool = False


def submit(
    session: Session,
    plan: Plan,
    *,
    settings: Settings,
    requested_by: str,
    reason: str = "",
    dry_run: bool = False,
    hr_event_id: int | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Queue ``plan`` as a job in ``session``'s transaction (the caller commits); a dry run queues
    nothing and returns the plan."""
    if dry_run:
        return Submitted(plan, dry_run=True)
    at = now or clock.now()
    why = quarantine_reason(session, settings.lifecycle.guard, now=at) if plan.kind == LEAVER else None
    job_id = enqueue(
        session,
        kind=plan.kind,
        person_id=plan.person.id,
        reason=reason,
        requested_by=requested_by,
        steps=plan.steps,
        quarantined=why is not None,
        hr_event_id=hr_event_id,
        now=at,
    )
    # once the caller commits, a worker in this process (serve) claims the steps at once
    event.listen(session, "after_commit", lambda _session: wake_workers(), once=True)
    state = settle(session, plan, job_id=job_id, why=why, requested_by=requested_by, at=at)
    return Submitted(plan, job_id, state, why)


def settle(
    db: Session | Connection,
    plan: Plan,
    *,
    job_id: int,
    why: str | None,
    requested_by: str,
    at: datetime,
) -> str:
    """What follows a plan's steps being queued as job ``job_id``, in ``db``'s transaction: a
    leaver's snapshot saved, a restore's approval audited, a quarantine audited; returns the job's
    state (pending, quarantined, or done: nothing to run)."""
    if plan.snapshot and any(a["status"] == "active" or a["grants"] for a in plan.snapshot):
        # a repeated leaver (nothing left to take) saves none: restore keeps the one that matters
        save_snapshot(
            db, person_id=plan.person.id, job_id=job_id, accounts=plan.snapshot, by=requested_by, at=at
        )
    if plan.restores_snapshot is not None:
        mark_restored(db, plan.restores_snapshot, by=requested_by, job_id=job_id, at=at)
        audit.record(
            db,
            actor=requested_by,
            action="lifecycle.restore_approved",
            target_type="person",
            target_id=plan.person.employee_id,
            details={"job_id": job_id, "snapshot_id": plan.restores_snapshot, "approved_by": requested_by},
            occurred_at=at,
        )
    if why is not None:
        audit.record(
            db,
            actor=requested_by,
            action="lifecycle.quarantined",
            target_type="job",
            target_id=str(job_id),
            outcome="quarantined",
            details={"reason": why, "person": plan.person.employee_id},
            occurred_at=at,
        )
    protected = [s for s in plan.steps if s.skipped == SKIPPED]
    if protected:
        log.warning(
            "job %s (%s of %s): %d steps skipped on protected accounts",
            job_id,
            plan.kind,
            plan.person.employee_id,
            len(protected),
        )
    if why is not None:
        return JobState.QUARANTINED.value
    if plan.runnable:
        return JobState.PENDING.value
    return JobState.DONE.value
