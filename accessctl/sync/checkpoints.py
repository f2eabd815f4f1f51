"""Checkpoints: per provider and stream, where a pass stopped (saved in the transaction of each page).

The full stream holds an interrupted full pass's phase and cursor (small: it is rewritten with every
page); what a full pass accumulates (the entitlements whose grants it must list, those done, the
change-feed cursor it started from, managers it could not resolve yet) goes into append-only *parts*,
each written once, so checkpointing costs the same on the last page as on the first whatever the
org's size.  The changes stream holds the change-feed cursor the next incremental pass starts from.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import SyncCheckpoint
from accessctl.store.upsert import bulk_upsert
from accessctl.sync.clock import now

CHECKPOINTS: sa.Table = SyncCheckpoint.__table__  # type: ignore[attr-defined]
FULL_STREAM = "full"
CHANGES_STREAM = "changes"
PART_PREFIX = "full:"


def load_checkpoint(conn: Connection, provider: str, stream: str) -> dict[str, Any] | None:
    query = sa.select(CHECKPOINTS.c.cursor).where(
        CHECKPOINTS.c.provider == provider, CHECKPOINTS.c.stream == stream
    )
    row = conn.execute(query).first()
    return dict(row[0]) if row else None


def save_checkpoint(conn: Connection, provider: str, stream: str, cursor: dict[str, Any]) -> None:
    bulk_upsert(
        conn,
        CHECKPOINTS,
        [{"provider": provider, "stream": stream, "cursor": cursor, "updated_at": now()}],
        key=["provider", "stream"],
    )


def clear_checkpoint(conn: Connection, provider: str, stream: str) -> None:
    conn.execute(
        CHECKPOINTS.delete().where(CHECKPOINTS.c.provider == provider, CHECKPOINTS.c.stream == stream)
    )


def part_stream(kind: str, seq: int) -> str:
    return f"{PART_PREFIX}{kind}:{seq:09d}"


def save_part(conn: Connection, provider: str, kind: str, seq: int, value: Any) -> None:
    """Write part ``seq`` of ``kind`` (written once; a retried transaction writes the same)."""
    save_checkpoint(conn, provider, part_stream(kind, seq), {"value": value})


def load_parts(conn: Connection, provider: str, kind: str) -> list[Any]:
    """Every part of ``kind``, in the order they were written."""
    prefix = f"{PART_PREFIX}{kind}:"
    query = (
        sa.select(CHECKPOINTS.c.cursor)
        .where(CHECKPOINTS.c.provider == provider, CHECKPOINTS.c.stream.startswith(prefix, autoescape=True))
        .order_by(CHECKPOINTS.c.stream)
    )
    return [row[0]["value"] for row in conn.execute(query)]


def clear_parts(conn: Connection, provider: str) -> None:
    conn.execute(
        CHECKPOINTS.delete().where(
            CHECKPOINTS.c.provider == provider,
            CHECKPOINTS.c.stream.startswith(PART_PREFIX, autoescape=True),
        )
    )
