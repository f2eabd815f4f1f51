"""The sync's clock: timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A stored timestamp with its zone (SQLite returns them naive, in UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
