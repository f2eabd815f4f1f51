"""What a worker is handed (:class:`StepView`) and what its ``execute`` answers (:class:`StepOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accessctl.timestamps import utc


@dataclass(frozen=True)
class StepView:
    """One claimed step, with its job's context.  ``attempt`` (1 for the first run) with
    ``lease_owner`` is the claim: finishing a step needs both, so a worker whose lease was taken
    over cannot finish the step its successor runs."""

    step_id: int
    job_id: int
    job_kind: str
    person_id: int | None
    requested_by: str
    reason: str
    dry_run: bool
    provider: str
    seq: int
    action: str
    target: dict[str, Any]
    expected_effect: str
    attempt: int
    max_attempts: int
    lease_owner: str
    lease_expires_at: datetime

    @classmethod
    def from_rows(cls, step: sa.Row, job: sa.Row) -> StepView:
        return cls(
            step_id=step.id,
            job_id=job.id,
            job_kind=job.kind,
            person_id=job.person_id,
            requested_by=job.requested_by,
            reason=job.reason,
            dry_run=job.dry_run,
            provider=step.provider,
            seq=step.seq,
            action=step.action,
            target=dict(step.target or {}),
            expected_effect=step.expected_effect,
            attempt=step.attempts,
            max_attempts=step.max_attempts,
            lease_owner=step.lease_owner,
            lease_expires_at=utc(step.lease_expires_at),
        )


@dataclass(frozen=True)
class StepOutcome:
    """A step that succeeded: ``result`` is the connector's ActionResult (APPLIED or ALREADY_DONE);
    ``answer`` what the provider said, kept (redacted) with the step and in its audit event."""

    result: str
    answer: str | None = None
