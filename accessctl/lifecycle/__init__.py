"""The lifecycle use cases: leaver, lockout, revoke one grant, restore; a plan first, then a job.

CLI, web, HR intake and review remediation call the same functions::

    submitted = await deprovision(settings, engine, person="ada@example.com", requested_by="admin:ann")
    submitted.plan.rows()   # what will run (a dry run returns only this)
    submitted.job_id        # the queued job; run by `accessctl worker`, or in-process with run_job

Workers run the steps with :func:`step_executor`.  Errors (:class:`LifecycleError` and its kinds)
mean nothing was queued; each carries ``exit_code`` and ``http_status``.
"""

from accessctl.lifecycle.errors import (
    AmbiguousEntitlement,
    AmbiguousPerson,
    EntitlementNotFound,
    HeldThroughGroup,
    LifecycleError,
    NothingToRestore,
    NotQuarantined,
    PersonNotFound,
    SafeguardRefused,
)
from accessctl.lifecycle.execute import ACTIONS, UnknownAction, executor_for, step_executor
from accessctl.lifecycle.people import PersonRef, resolve_person
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.quarantine import QuarantinedJob, list_quarantined, reject, release
from accessctl.lifecycle.readback import VerificationFailed
from accessctl.lifecycle.run import JobTimeout, run_job
from accessctl.lifecycle.submit import Submitted, submit
from accessctl.lifecycle.usecases import (
    deprovision,
    find_person,
    lockout,
    plan_leaver,
    plan_restore,
    plan_revoke,
    restore,
    revoke,
)

__all__ = [
    "ACTIONS",
    "AmbiguousEntitlement",
    "AmbiguousPerson",
    "EntitlementNotFound",
    "HeldThroughGroup",
    "JobTimeout",
    "LifecycleError",
    "NotQuarantined",
    "NothingToRestore",
    "PersonNotFound",
    "PersonRef",
    "Plan",
    "QuarantinedJob",
    "SafeguardRefused",
    "Submitted",
    "UnknownAction",
    "VerificationFailed",
    "deprovision",
    "executor_for",
    "find_person",
    "list_quarantined",
    "lockout",
    "plan_leaver",
    "plan_restore",
    "plan_revoke",
    "reject",
    "release",
    "resolve_person",
    "restore",
    "revoke",
    "run_job",
    "step_executor",
    "submit",
]
