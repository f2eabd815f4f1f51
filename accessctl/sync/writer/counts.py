"""Counting what a run added, changed and ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync.writer.common import ACCOUNTS, GRANTS


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    ended: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.added += other.added
        self.changed += other.changed
        self.ended += other.ended
        return self


def count_added_since(conn: Connection, table: sa.Table, provider: str, seen_at: datetime) -> int:
    """Rows first seen at ``seen_at`` (grants are counted through their account's provider)."""
    if table is GRANTS:
        query = (
            sa.select(sa.func.count())
            .select_from(GRANTS.join(ACCOUNTS, GRANTS.c.account_id == ACCOUNTS.c.id))
            .where(ACCOUNTS.c.provider == provider, GRANTS.c.first_seen_at == seen_at)
        )
    else:
        query = (
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.provider == provider, table.c.first_seen_at == seen_at)
        )
    return int(conn.execute(query).scalar_one())
