"""The words a job and its steps are in."""

from __future__ import annotations

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
