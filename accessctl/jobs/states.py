"""The words a job and its steps are in."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class JobState(StrEnum):
    #: committed without its steps (an HR leaver): a worker plans it before any step runs
    PLANNING = "planning"
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    QUARANTINED = "quarantined"


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: a step in one of these lets the next step of its provider's chain run
SETTLED_OK = (StepState.DONE.value, StepState.SKIPPED.value)
#: a job in one of these has no step claimed (an operator holds it)
HELD = (JobState.CANCELLED.value, JobState.QUARANTINED.value)
#: the due time of a pending step whose chain has an earlier step still to finish: the claim's scan
#: of due steps (``next_attempt_at <= now``, in the runnable index's order) never reaches it, so a
#: claim looks at the chains' heads only, not at every queued step; finishing the earlier step makes
#: it due (:func:`accessctl.jobs.finish.complete`)
WAITING = datetime(9999, 1, 1, tzinfo=UTC)
