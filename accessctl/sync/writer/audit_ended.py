"""Auditing what a write ended, in its transaction: one event per kind of row and chunk."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.sync.writer.common import ACCOUNTS, ENTITLEMENTS, GRANTS, chunks
from accessctl.sync.writer.ending import Ended

AUDIT_CHUNK = 1000  # ended rows listed per audit event (bounded event size)


def audit_ended(
    conn: Connection,
    ended: Ended,
    *,
    actor: str,
    provider: str,
    run_id: int,
    reason: str,
) -> None:
    """Audit what one write ended, in its transaction: one event per kind of row (per chunk),
    naming every row.  (Per-row events cost 0.8 ms each on SQLite and 2.2 ms on PostgreSQL:
    20+ s inside the write for a 10,000-grant sweep.)"""
    if ended.accounts:
        rows = _described(
            conn,
            sa.select(ACCOUNTS.c.id, ACCOUNTS.c.external_id, ACCOUNTS.c.login),
            ACCOUNTS.c.id,
            ended.accounts,
        )
        _record_ended(conn, "account", rows, actor=actor, provider=provider, run_id=run_id, reason=reason)
    if ended.entitlements:
        rows = _described(
            conn,
            sa.select(
                ENTITLEMENTS.c.id,
                ENTITLEMENTS.c.kind,
                ENTITLEMENTS.c.external_id,
                ENTITLEMENTS.c.name,
            ),
            ENTITLEMENTS.c.id,
            ended.entitlements,
        )
        _record_ended(conn, "entitlement", rows, actor=actor, provider=provider, run_id=run_id, reason=reason)
    if ended.grants:
        query = sa.select(
            GRANTS.c.id,
            ACCOUNTS.c.login.label("account"),
            ENTITLEMENTS.c.kind,
            ENTITLEMENTS.c.name.label("entitlement"),
            GRANTS.c.inherited,
        ).select_from(
            GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id).join(
                ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id
            )
        )
        rows = _described(conn, query, GRANTS.c.id, ended.grants)
        _record_ended(conn, "grant", rows, actor=actor, provider=provider, run_id=run_id, reason=reason)


def _described(conn: Connection, query: Any, id_column: Any, ids: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunks(sorted(set(ids))):
        rows += [dict(r) for r in conn.execute(query.where(id_column.in_(chunk))).mappings()]
    rows.sort(key=lambda r: r["id"])
    return rows


def _record_ended(
    conn: Connection,
    kind: str,
    rows: list[dict[str, Any]],
    *,
    actor: str,
    provider: str,
    run_id: int,
    reason: str,
) -> None:
    for chunk in chunks(rows, AUDIT_CHUNK):
        audit.record(
            conn,
            actor=actor,
            action=f"sync.{kind}_ended",
            target_type=kind,
            # one row: its id, as a per-row event would name it; more: the ids are in the details
            target_id=str(chunk[0]["id"]) if len(chunk) == 1 else None,
            provider=provider,
            details={"sync_run_id": run_id, "reason": reason, "count": len(chunk), "ended": list(chunk)},
        )
