"""A use case's plan: every step (provider, account, action, target, expected effect) before anything
runs.  A dry run prints it; the job executes exactly these steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accessctl.jobs import PlannedStep
from accessctl.lifecycle.people import PersonRef


@dataclass
class Plan:
    kind: str  # leaver | lockout | revoke | restore
    person: PersonRef
    steps: list[PlannedStep] = field(default_factory=list)
    #: what the plan found worth saying (an account gone from a provider, no accounts at all)
    notes: list[str] = field(default_factory=list)
    #: what a leaver saves before it acts (see accessctl.lifecycle.snapshot)
    snapshot: list[dict[str, Any]] | None = None
    #: the snapshot a restore gives back
    restores_snapshot: int | None = None

    @property
    def runnable(self) -> list[PlannedStep]:
        return [s for s in self.steps if s.skipped is None]

    def rows(self) -> list[dict[str, Any]]:
        """One row per step, in order: what `--dry-run` prints and the API returns."""
        return [step_row(s) for s in self.steps]


def step_row(step: PlannedStep) -> dict[str, Any]:
    target = dict(step.target)
    return {
        "provider": step.provider,
        "account": target.get("login") or target.get("account_id", ""),
        "step": step.action,
        "target": describe_target(step.action, target),
        "expected_effect": f"skipped: {step.skipped}" if step.skipped else step.expected_effect,
    }


def describe_target(action: str, target: dict[str, Any]) -> str:
    if action in ("remove_grant", "add_grant"):
        return f"{target.get('kind')}:{target.get('name') or target.get('entitlement_id')}"
    if action == "verify":
        checks = []
        if target.get("blocked") is True:
            checks.append("blocked")
        if target.get("blocked") is False:
            checks.append("enabled")
        if target.get("signed_out_since"):
            checks.append("signed out")
        if target.get("absent"):
            checks.append(f"{len(target['absent'])} grants gone")
        if target.get("present"):
            checks.append(f"{len(target['present'])} grants held")
        return ", ".join(checks) or "read back"
    return str(target.get("login") or target.get("account_id", ""))
