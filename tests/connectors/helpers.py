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
