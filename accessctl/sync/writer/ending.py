"""Ending what a provider no longer has: the sweep of a complete full pass, removed accounts, and
the grants a complete listing of one account or entitlement did not return.  Rows are ended, never
deleted; each function returns the ids it ended, so the same transaction can audit them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync.writer.common import ACCOUNTS, ENTITLEMENTS, GRANTS, chunks


@dataclass
class Ended:
    """Store ids of the rows one write ended (so the same transaction can audit them)."""

    accounts: list[int] = field(default_factory=list)
    entitlements: list[int] = field(default_factory=list)
    grants: list[int] = field(default_factory=list)


def _ended_ids(conn: Connection, stmt: Any, table: sa.Table) -> list[int]:
    return [row[0] for row in conn.execute(stmt.returning(table.c.id))]


def _provider_accounts(provider: str) -> Any:
    return sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.provider == provider).scalar_subquery()


def sweep(conn: Connection, provider: str, seen_at: datetime, *, reason: str, ended_at: datetime) -> Ended:
    """End every account, entitlement and grant of ``provider`` not seen since ``seen_at``."""
    ended = Ended()
    end = {"ended_at": ended_at, "ended_reason": reason}
    ended.grants += _ended_ids(
        conn,
        GRANTS.update()
        .where(
            GRANTS.c.ended_at.is_(None),
            GRANTS.c.last_seen_at < seen_at,
            GRANTS.c.account_id.in_(_provider_accounts(provider)),
        )
        .values(**end, ended_by="sync"),
        GRANTS,
    )
    for ids, table in ((ended.accounts, ACCOUNTS), (ended.entitlements, ENTITLEMENTS)):
        ids += _ended_ids(
            conn,
            table.update()
            .where(table.c.provider == provider, table.c.ended_at.is_(None), table.c.last_seen_at < seen_at)
            .values(**end),
            table,
        )
    # grants of anything ended here end too (e.g. a deleted account's memberships)
    ended.grants += _ended_ids(
        conn,
        GRANTS.update()
        .where(
            GRANTS.c.ended_at.is_(None),
            sa.or_(
                GRANTS.c.account_id.in_(
                    sa.select(ACCOUNTS.c.id).where(
                        ACCOUNTS.c.provider == provider, ACCOUNTS.c.ended_at.is_not(None)
                    )
                ),
                GRANTS.c.entitlement_id.in_(
                    sa.select(ENTITLEMENTS.c.id).where(
                        ENTITLEMENTS.c.provider == provider, ENTITLEMENTS.c.ended_at.is_not(None)
                    )
                ),
            ),
        )
        .values(**end, ended_by="sync"),
        GRANTS,
    )
    return ended


def end_unseen_grants(
    conn: Connection,
    *,
    seen_at: datetime,
    ended_at: datetime,
    reason: str,
    account_ids: Sequence[int] | None = None,
    entitlement_id: int | None = None,
    entitlement_ids: Sequence[int] | None = None,
) -> list[int]:
    """End the grants of some accounts, or of one entitlement, that a complete listing of them did
    not return (of ``entitlement_ids`` only, when given); returns the ids of the grants it ended."""
    conditions = [GRANTS.c.ended_at.is_(None), GRANTS.c.last_seen_at < seen_at]
    if entitlement_id is not None:
        conditions.append(GRANTS.c.entitlement_id == entitlement_id)
    if entitlement_ids is not None:
        if not entitlement_ids:
            return []
        conditions.append(GRANTS.c.entitlement_id.in_(list(entitlement_ids)))
    if account_ids is None:
        return _end_where(conn, conditions, ended_at=ended_at, reason=reason)
    ended: list[int] = []
    for chunk in chunks(list(account_ids)):
        ended += _end_where(
            conn, [*conditions, GRANTS.c.account_id.in_(chunk)], ended_at=ended_at, reason=reason
        )
    return ended


def _end_where(conn: Connection, conditions: list[Any], *, ended_at: datetime, reason: str) -> list[int]:
    return _ended_ids(
        conn,
        GRANTS.update().where(*conditions).values(ended_at=ended_at, ended_reason=reason, ended_by="sync"),
        GRANTS,
    )


def end_accounts(
    conn: Connection, provider: str, external_ids: Iterable[str], *, ended_at: datetime, reason: str
) -> Ended:
    """End accounts the provider says are gone, and their grants."""
    ids = list(external_ids)
    ended = Ended()
    for chunk in chunks(ids):
        selected = sa.select(ACCOUNTS.c.id).where(
            ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk), ACCOUNTS.c.ended_at.is_(None)
        )
        account_ids = [row[0] for row in conn.execute(selected)]
        if not account_ids:
            continue
        ended.grants += _ended_ids(
            conn,
            GRANTS.update()
            .where(GRANTS.c.account_id.in_(account_ids), GRANTS.c.ended_at.is_(None))
            .values(ended_at=ended_at, ended_reason=reason, ended_by="sync"),
            GRANTS,
        )
        ended.accounts += _ended_ids(
            conn,
            ACCOUNTS.update()
            .where(ACCOUNTS.c.id.in_(account_ids))
            .values(ended_at=ended_at, ended_reason=reason),
            ACCOUNTS,
        )
    return ended


def end_grants(conn: Connection, grant_ids: Sequence[int], *, ended_at: datetime, reason: str) -> list[int]:
    """End these grants (those still live); returns the ids it ended."""
    ended: list[int] = []
    for chunk in chunks(list(grant_ids)):
        ended += _ended_ids(
            conn,
            GRANTS.update()
            .where(GRANTS.c.id.in_(chunk), GRANTS.c.ended_at.is_(None))
            .values(ended_at=ended_at, ended_reason=reason, ended_by="sync"),
            GRANTS,
        )
    return ended
