"""The sync's clock: timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from accessctl.timestamps import utc


def now() -> datetime:
    return datetime.now(UTC)


#: a stored timestamp with its zone (SQLite returns them naive, in UTC)
aware = utc
