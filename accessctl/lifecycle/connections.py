"""The configured connectors, opened once for a use case or a worker and closed after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING

from accessctl.providers import build_connector, enabled_providers
from accessctl.settings import Settings
from connectors.base import ConnectorError

if TYPE_CHECKING:
    from connectors.base import Connector

log = logging.getLogger(__name__)

#: how long closing one connector may take (its sessions and pools; nothing is left to send)
CLOSE_TIMEOUT_S = 10.0

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
        for name, connector in opened.items():
            with contextlib.suppress(ConnectorError, OSError, RuntimeError):  # closing hides nothing
                try:
                    await asyncio.wait_for(connector.aclose(), CLOSE_TIMEOUT_S)
                except TimeoutError:
                    log.warning("%s connector: closing took over %gs; left to exit", name, CLOSE_TIMEOUT_S)
