"""Grants: provider ids resolved to store ids, then upserted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.upsert import bulk_upsert
from accessctl.sync.writer.common import GRANTS
from connectors.base import GrantRecord


@dataclass
class GrantBatch:
    """Grant rows resolved to store ids, ready to upsert; ``unmatched`` members we hold no account for."""

    rows: list[dict[str, Any]]
    unmatched: int = 0


def resolve_grants(
    records: Iterable[GrantRecord],
    accounts: dict[str, int],
    entitlements: dict[tuple[str, str], int],
    seen_at: datetime,
) -> GrantBatch:
    """Map provider ids to store ids; a direct grant wins over an inherited one for the same pair.
    The scopes of a pair's records of the same kind (an Okta custom role held directly over two
    resource sets) are kept together, sorted."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    unmatched = 0
    for record in records:
        account_id = accounts.get(record.account_external_id)
        entitlement_id = entitlements.get((str(record.entitlement_kind), record.entitlement_external_id))
        if account_id is None or entitlement_id is None:
            unmatched += 1
            continue
        key = (account_id, entitlement_id)
        previous = rows.get(key)
        if previous is not None and not previous["inherited"]:
            if not record.inherited and record.scope is not None:
                previous["scopes"] = sorted({*(previous["scopes"] or ()), record.scope})
            continue
        scopes = [record.scope] if record.scope is not None else None
        if previous is not None and record.inherited and record.scope is not None:
            scopes = sorted({*(previous["scopes"] or ()), record.scope})
        rows[key] = grant_row(
            account_id,
            entitlement_id,
            inherited=record.inherited,
            via=record.via,
            seen_at=seen_at,
            scopes=scopes,
        )
    return GrantBatch(list(rows.values()), unmatched)


def grant_row(
    account_id: int,
    entitlement_id: int,
    *,
    inherited: bool,
    via: str | None,
    seen_at: datetime,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """A live grant seen at ``seen_at``, as write_grants upserts it."""
    return {
        "account_id": account_id,
        "entitlement_id": entitlement_id,
        "inherited": inherited,
        "via": via,
        "scopes": scopes,
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "ended_at": None,
        "ended_by": None,
        "ended_reason": None,
    }


def write_grants(conn: Connection, batch: GrantBatch, seen_at: datetime) -> None:
    """Upsert grants (rows made by :func:`grant_row` with ``seen_at``); a grant already seen
    directly in this run stays direct.

    "Seen in this run" compares the stored ``last_seen_at`` with the row's own (which is
    ``seen_at``) rather than with a bound ``seen_at``: the statement then binds nothing but the
    rows, and takes the bulk upsert's fast path."""
    if not batch.rows:
        return

    def inherited(excluded: Any) -> Any:
        return sa.case(
            (
                GRANTS.c.last_seen_at == excluded.last_seen_at,
                sa.and_(GRANTS.c.inherited, excluded.inherited),
            ),
            else_=excluded.inherited,
        )

    def kept(column: str) -> Callable[[Any], Any]:
        """The stored value where the grant was already seen directly in this run, else the row's."""

        def expression(excluded: Any) -> Any:
            return sa.case(
                (
                    sa.and_(GRANTS.c.last_seen_at == excluded.last_seen_at, sa.not_(GRANTS.c.inherited)),
                    GRANTS.c[column],
                ),
                else_=excluded[column],
            )

        return expression

    bulk_upsert(
        conn,
        GRANTS,
        batch.rows,
        key=["account_id", "entitlement_id"],
        update=["last_seen_at", "ended_at", "ended_by", "ended_reason"],
        expressions={"inherited": inherited, "via": kept("via"), "scopes": kept("scopes")},
    )
