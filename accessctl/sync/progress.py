"""How a sync reports progress (the CLI draws rich progress bars; tests and the web app pass nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: set on the log record of a pass that ended incomplete, so a caller that reports the reason itself
#: (the CLI's summary) can drop the record instead of printing the reason twice
INCOMPLETE_LOG_FLAG = "sync_incomplete"


@dataclass(frozen=True)
class Waits:
    """A provider's waits so far, in wall time (overlapping waits of parallel workers count once)."""

    throttled_s: float = 0.0  # paused by the provider: rate-limit windows, Retry-After, 429s
    backoff_s: float = 0.0  # retry backoff after other transient failures (5xx, timeouts, resets)
    resume_at: float | None = None  # epoch seconds the current wait ends; None when nobody waits


class SyncProgress(Protocol):
    def phase(self, provider: str, name: str, total: int | None = None) -> None:
        """``provider`` started phase ``name`` (accounts, mfa, entitlements, grants, details, changes)."""

    def advance(self, provider: str, items: int, pages: int = 1) -> None:
        """``items`` more items in ``pages`` more pages."""

    def waiting(self, provider: str, waits: Waits) -> None:
        """A wait began or ended (throttled by the provider, or backing off before a retry)."""

    def done(self, provider: str, complete: bool, reason: str | None = None) -> None: ...


class NoProgress:
    def phase(self, provider: str, name: str, total: int | None = None) -> None:
        pass

    def advance(self, provider: str, items: int, pages: int = 1) -> None:
        pass

    def waiting(self, provider: str, waits: Waits) -> None:
        pass

    def done(self, provider: str, complete: bool, reason: str | None = None) -> None:
        pass
