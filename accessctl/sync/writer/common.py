"""The store tables the writers write, and what they share: chunked IN lists, comparable values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from accessctl.store.models import Account, Entitlement, Grant

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]

IN_CHUNK = 900  # ids per IN (...) list: under SQLite's parameter limit with room to spare


def naive_utc(value: datetime | None) -> datetime | None:
    """Comparable form of a timestamp whatever the dialect returned (SQLite drops the zone)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size`` (one IN list each)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def comparable(row: Any, fields: Sequence[str]) -> tuple[Any, ...]:
    """The values of ``fields`` in a stored or new row, timestamps made naive UTC, to compare the two."""
    values = []
    for name in fields:
        value = row[name]
        if isinstance(value, datetime):
            value = naive_utc(value)
        values.append(value)
    return tuple(values)
