"""The durable job engine: a use case's plan becomes a job of idempotent steps that workers run.

Use cases (leaver, lockout, revoke, restore, HR intake, review remediation) call, in a transaction
they own::

    job_id = enqueue(session, kind="leaver", person_id=p.id, reason="terminated", requested_by="hr",
                     steps=[PlannedStep("okta", "suspend", {"account_id": "00u1"}, "sign-in blocked"),
                            PlannedStep.protected("google", "suspend", {"account_id": "42"})])

and workers (`accessctl serve`, `accessctl worker`, the CLI's own run) call :func:`run_worker` with
the ``execute`` that maps a step to a connector action.  Operators :func:`retry_job`,
:func:`cancel_job`, :func:`release_job`; :func:`get_job` shows where a job stands.
"""

from accessctl.jobs.backoff import Backoff
from accessctl.jobs.claim import claim
from accessctl.jobs.control import JobNotFound, JobStateError, cancel_job, release_job, retry_job
from accessctl.jobs.enqueue import PlanError, enqueue
from accessctl.jobs.finish import Finished, complete, fail_attempt, release, renew_lease
from accessctl.jobs.listing import JobSummary, list_jobs
from accessctl.jobs.plan import PlannedStep
from accessctl.jobs.read import JobStatus, StepStatus, get_job
from accessctl.jobs.states import JobState, StepState
from accessctl.jobs.views import StepOutcome, StepView
from accessctl.jobs.worker import WORKER_LOCK, WorkerBusy, run_worker

__all__ = [
    "WORKER_LOCK",
    "Backoff",
    "Finished",
    "JobNotFound",
    "JobState",
    "JobStateError",
    "JobStatus",
    "JobSummary",
    "PlanError",
    "PlannedStep",
    "StepOutcome",
    "StepState",
    "StepStatus",
    "StepView",
    "WorkerBusy",
    "cancel_job",
    "claim",
    "complete",
    "enqueue",
    "fail_attempt",
    "get_job",
    "list_jobs",
    "release",
    "release_job",
    "renew_lease",
    "retry_job",
    "run_worker",
]
