"""The audit events of a job's and a step's state changes, written in the change's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accessctl import audit
from accessctl.store.prepared import Db  # a Session or a Connection, re-exported


def step_event(db: Db, **fields: Any) -> None:
    """``job.step.<verb>``: one step went from ``before`` to ``after``; who asked for the job, what
    the step does, and the provider's answer (the arguments are :func:`step_entry`'s)."""
    audit.record_many(db, [step_entry(**fields)])


def step_entry(
    *,
    actor: str,
    verb: str,
    step: sa.Row | dict[str, Any],
    job: sa.Row | dict[str, Any],
    before: str | None,
    after: str,
    at: datetime,
    answer: str | None = None,
    outcome: str = "success",
    **extra: Any,
) -> audit.Entry:
    """The audit event :func:`step_event` appends, for appending several at once."""
    s = step if isinstance(step, dict) else step._mapping
    j = job if isinstance(job, dict) else job._mapping
    details: dict[str, Any] = {
        "job_id": j["id"],
        "job_kind": j["kind"],
        "person_id": j["person_id"],
        "requested_by": j["requested_by"],
        "seq": s["seq"],
        "action": s["action"],
        "target": s["target"],
        "from": before,
        "to": after,
        "attempt": s.get("attempts", 0),
    }
    if answer is not None:
        details["answer"] = answer
    details.update({k: v for k, v in extra.items() if v is not None})
    return audit.Entry(
        actor=actor,
        action=f"job.step.{verb}",
        target_type="job_step",
        target_id=str(s["id"]),
        provider=s["provider"],
        outcome=outcome,
        details=details,
        occurred_at=at,
    )


def job_event(
    db: Db, *, actor: str, verb: str, job: sa.Row | dict[str, Any], at: datetime, **extra: Any
) -> None:
    """``job.<verb>``: a job was made or changed state."""
    j = job if isinstance(job, dict) else job._mapping
    details: dict[str, Any] = {
        "kind": j["kind"],
        "person_id": j["person_id"],
        "requested_by": j["requested_by"],
        "reason": j["reason"],
    }
    details.update({k: v for k, v in extra.items() if v is not None})
    audit.record(
        db,
        actor=actor,
        action=f"job.{verb}",
        target_type="job",
        target_id=str(j["id"]),
        outcome="failure" if verb == "failed" else "success",
        details=details,
        occurred_at=at,
    )
