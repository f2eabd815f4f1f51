"""How a sync reports progress (the CLI draws rich progress bars; tests and the web app pass nothing)."""

from __future__ import annotations

from typing import Protocol


class SyncProgress(Protocol):
    def phase(self, provider: str, name: str, total: int | None = None) -> None:
        """``provider`` started phase ``name`` (accounts, mfa, entitlements, grants, details, changes)."""

    def advance(self, provider: str, items: int, pages: int = 1) -> None:
        """``items`` more items in ``pages`` more pages."""

    def waiting(self, provider: str, seconds: float) -> None:
        """Waiting for the provider's rate-limit window or Retry-After."""

    def done(self, provider: str, complete: bool, reason: str | None = None) -> None: ...


class NoProgress:
    def phase(self, provider: str, name: str, total: int | None = None) -> None:
        pass

    def advance(self, provider: str, items: int, pages: int = 1) -> None:
        pass

    def waiting(self, provider: str, seconds: float) -> None:
        pass

    def done(self, provider: str, complete: bool, reason: str | None = None) -> None:
        pass
