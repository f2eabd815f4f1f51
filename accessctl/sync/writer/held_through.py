"""What each entitlement is held through: the groups nested in it or assigned to it, as its last
complete listing reported them (``Page.held_through``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync.writer.common import ENTITLEMENTS


@dataclass(frozen=True, slots=True)
class HeldEntitlement:
    """A live entitlement of one provider, and the groups it is held through (None: not known yet)."""

    id: int
    kind: str
    external_id: str
    held_through: tuple[str, ...] | None


def record_held_through(conn: Connection, entitlement_id: int, groups: Sequence[str]) -> None:
    conn.execute(
        ENTITLEMENTS.update()
        .where(ENTITLEMENTS.c.id == entitlement_id)
        .values(held_through=sorted(set(groups)))
    )


def live_entitlements(conn: Connection, provider: str) -> list[HeldEntitlement]:
    query = sa.select(
        ENTITLEMENTS.c.id, ENTITLEMENTS.c.kind, ENTITLEMENTS.c.external_id, ENTITLEMENTS.c.held_through
    ).where(ENTITLEMENTS.c.provider == provider, ENTITLEMENTS.c.ended_at.is_(None))
    return [
        HeldEntitlement(
            row.id, row.kind, row.external_id, None if row.held_through is None else tuple(row.held_through)
        )
        for row in conn.execute(query)
    ]
