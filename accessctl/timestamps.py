"""Stored timestamps, one reading: SQLite returns them naive (they were written in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: datetime) -> datetime:
    """``value`` in UTC with its zone; a naive one is taken to be in UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
