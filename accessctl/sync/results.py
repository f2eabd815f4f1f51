"""What one provider's pass did: the result the runner returns and the CLI reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accessctl.sync import writer


@dataclass
class ProviderResult:
    provider: str
    run_id: int
    mode: str
    complete: bool
    reason: str | None
    accounts: writer.Counts
    entitlements: writer.Counts
    grants: writer.Counts
    mfa_updated: int
    requests: int
    throttled: int
    #: wall time paused by the provider (rate-limit windows, Retry-After) and in retry backoff;
    #: overlapping waits of parallel workers count once
    throttled_s: float
    backoff_s: float
    duration_s: float
    resumed: bool = False
    #: the class of the connector error that ended the pass (AuthError, PermissionDeniedError,
    #: TransientError, ...), if any
    failure: str | None = None

    @property
    def items(self) -> int:
        return (
            self.accounts.added
            + self.accounts.changed
            + self.entitlements.added
            + self.entitlements.changed
            + self.grants.added
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "run_id": self.run_id,
            "mode": self.mode,
            "complete": self.complete,
            "reason": self.reason,
            "resumed": self.resumed,
            "failure": self.failure,
            "accounts_added": self.accounts.added,
            "accounts_changed": self.accounts.changed,
            "accounts_ended": self.accounts.ended,
            "entitlements_added": self.entitlements.added,
            "entitlements_changed": self.entitlements.changed,
            "entitlements_ended": self.entitlements.ended,
            "grants_added": self.grants.added,
            "grants_ended": self.grants.ended,
            "mfa_updated": self.mfa_updated,
            "requests": self.requests,
            "throttled": self.throttled,
            "throttled_s": round(self.throttled_s, 2),
            "backoff_s": round(self.backoff_s, 2),
            "duration_s": round(self.duration_s, 2),
        }
