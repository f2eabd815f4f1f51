"""Bring one account's rows in the store up to what the provider shows now (after a job acted on it)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.jobs.tables import write_tx
from accessctl.sync import writer
from accessctl.sync.clock import now
from connectors.base import Connector


async def refresh_account(engine: Engine, connector: Connector, account_id: str, *, actor: str) -> str:
    """Re-read the account and its grants and write them; an account gone from the provider is ended.
    Returns what was done, in words."""
    provider = connector.provider
    record = await connector.find_account(external_id=account_id)
    grants = [] if record is None else await connector.list_account_grants(account_id)
    seen_at = now()

    def write() -> str:
        # in the process's queue of write transactions, as the worker's own are: a plain
        # engine.begin() raced them through SQLite's busy handler, lost for its whole timeout,
        # and the step ended "database is locked"
        with write_tx(engine) as conn:
            if record is None:
                reason = f"removed in {provider} (seen by {actor})"
                ended = writer.end_accounts(conn, provider, [account_id], ended_at=seen_at, reason=reason)
                audit.record(
                    conn,
                    actor=actor,
                    action="store.account_refreshed",
                    target_type="account",
                    target_id=account_id,
                    provider=provider,
                    details={
                        "gone": True,
                        "ended_accounts": len(ended.accounts),
                        "ended_grants": len(ended.grants),
                    },
                )
                return f"account gone from {provider}: ended in the store"
            writer.write_accounts(conn, provider, [record], seen_at)
            ids = _account_ids(conn, provider, account_id)
            entitlements = writer.entitlement_id_map(conn, provider)
            batch = writer.resolve_grants(grants, ids, entitlements, seen_at)
            writer.write_grants(conn, batch, seen_at)
            ended = writer.end_unseen_grants(
                conn,
                seen_at=seen_at,
                ended_at=seen_at,
                reason=f"no longer held (refreshed by {actor})",
                account_ids=list(ids.values()),
            )
            details: dict[str, Any] = {"status": str(record.status), "grants": len(batch.rows)}
            details["ended_grants"] = len(ended)
            audit.record(
                conn,
                actor=actor,
                action="store.account_refreshed",
                target_type="account",
                target_id=account_id,
                provider=provider,
                details=details,
            )
            return f"store refreshed: {record.status}, {len(batch.rows)} grants, {len(ended)} ended"

    return await asyncio.to_thread(write)


def _account_ids(conn: sa.Connection, provider: str, account_id: str) -> dict[str, int]:
    query = sa.select(writer.ACCOUNTS.c.external_id, writer.ACCOUNTS.c.id).where(
        writer.ACCOUNTS.c.provider == provider, writer.ACCOUNTS.c.external_id == account_id
    )
    return {external_id: row_id for external_id, row_id in conn.execute(query)}
