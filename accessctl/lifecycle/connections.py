"""The configured connectors, opened once for a use case or a worker and closed after."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

from accessctl.providers import build_connector, enabled_providers
from accessctl.settings import Settings
from connectors.base import ConnectorError

if TYPE_CHECKING:
    from connectors.base import Connector

#: provider name -> its open connector
Connectors = Mapping[str, "Connector"]


@contextlib.asynccontextmanager
async def open_connectors(
    settings: Settings, providers: Sequence[str] | None = None
) -> AsyncIterator[dict[str, Connector]]:
    """A connector for each enabled provider (or each of ``providers``), closed on exit."""
    opened: dict[str, Connector] = {}
    try:
        for name in enabled_providers(settings, providers):
            opened[name] = build_connector(settings, name)
        yield opened
    finally:
        for connector in opened.values():
            with contextlib.suppress(ConnectorError, OSError, RuntimeError):  # closing hides nothing
                await connector.aclose()
