"""A planned step: what a use case hands to :func:`accessctl.jobs.enqueue`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the longest provider name and action name the store keeps (job_step.provider, job_step.action)
MAX_PROVIDER = 16
MAX_ACTION = 50
DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class PlannedStep:
    """One idempotent action against one provider.  The steps of a provider run in the order they
    are planned; providers run in parallel.  ``skipped`` (e.g. ``"protected"``) plans a step that
    never runs: it is recorded as "skipped: <reason>"."""

    provider: str
    action: str
    target: Mapping[str, Any] = field(default_factory=dict)
    expected_effect: str = ""
    skipped: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def protected(
        cls, provider: str, action: str, target: Mapping[str, Any], expected_effect: str = ""
    ) -> PlannedStep:
        return cls(provider, action, target, expected_effect, skipped="protected")

    def problem(self) -> str | None:
        """Why this step cannot be stored, or None."""
        if not self.provider or len(self.provider) > MAX_PROVIDER:
            return f"provider {self.provider!r} must be 1 to {MAX_PROVIDER} characters"
        if not self.action or len(self.action) > MAX_ACTION:
            return f"action {self.action!r} must be 1 to {MAX_ACTION} characters"
        if self.max_attempts < 1:
            return f"max_attempts must be at least 1 (got {self.max_attempts})"
        return None
