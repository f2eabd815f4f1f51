"""Counting what a run added, changed and ended."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync.writer.common import ACCOUNTS, GRANTS, comparable


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


def differing(
    new: Mapping[Hashable, Mapping[str, Any]],
    stored: Mapping[Hashable, Mapping[str, Any]],
    fields: Sequence[str],
) -> tuple[list[Hashable], list[Hashable]]:
    """The keys of the ``new`` rows not ``stored`` yet, and of those that differ from the stored row
    in ``fields`` or revive an ended one."""
    added: list[Hashable] = []
    changed: list[Hashable] = []
    for key, row in new.items():
        before = stored.get(key)
        if before is None:
            added.append(key)
        elif before["ended_at"] is not None or comparable(before, fields) != comparable(row, fields):
            changed.append(key)
    return added, changed


def count_changes(
    new: Mapping[Hashable, Mapping[str, Any]],
    stored: Mapping[Hashable, Mapping[str, Any]],
    fields: Sequence[str],
) -> Counts:
    """Of the ``new`` rows (by key), how many are not ``stored`` yet, and how many differ (see differing)."""
    added, changed = differing(new, stored, fields)
    return Counts(added=len(added), changed=len(changed))


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
