"""Driving an async connector from a test: run a body and close the connector; drain a paged listing."""

from __future__ import annotations

import asyncio
from typing import Any


def run(connector: Any, body: Any) -> Any:
    async def main() -> Any:
        try:
            return await body(connector)
        finally:
            await connector.aclose()

    return asyncio.run(main())


async def drain(method: Any, *args: Any) -> list[Any]:
    """Every item of a listing, following next_cursor until the end."""
    items: list[Any] = []
    cursor = None
    while True:
        page = await method(*args, cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


async def drain_changes(connector: Any, cursor: str | None) -> Any:
    """Every page of ``changes_since(cursor)`` merged into one ChangeSet, as the sync runner consumes them."""
    from connectors.base import ChangeSet

    merged = ChangeSet(cursor="", requests=0)
    while True:
        page = await connector.changes_since(cursor)
        merged.accounts += page.accounts
        merged.account_ids |= page.account_ids
        merged.removed_account_ids |= page.removed_account_ids
        merged.entitlement_ids |= page.entitlement_ids
        merged.requests += page.requests
        merged.refresh_account_grants = page.refresh_account_grants
        merged.cursor = cursor = page.cursor
        if not page.more:
            return merged
