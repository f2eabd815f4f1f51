"""A provider that answers too slowly to trip the HTTP library's per-read timeout still cannot hold a
call past its deadline: the call fails as transient, and the pass goes on (or ends incomplete)."""

from __future__ import annotations

import asyncio
import time

import pytest

from connectors.base import TransientError
from connectors.entra.client import CALL_DEADLINE_FACTOR, GraphClient
from connectors.entra.config import EntraConfig

pytestmark = pytest.mark.timeout(30)


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers at once, then one byte of the body every 0.1 s: each read is quick, the whole is not."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    try:
        for _ in range(1000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)
    except ConnectionError:
        pass
    finally:
        writer.close()


def test_a_trickling_graph_response_fails_the_call_at_its_deadline() -> None:
    async def scenario() -> tuple[float, TransientError]:
        server = await asyncio.start_server(_trickle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        config = EntraConfig("tenant", "client", "secret", graph_url=url, timeout_s=0.3)
        client = GraphClient(config)
        client._token, client._expires_at = "token", time.time() + 3600  # no token endpoint here
        started = time.monotonic()
        try:
            with pytest.raises(TransientError) as raised:
                await client.get("/users")
        finally:
            await client.aclose()
            server.close()
        return time.monotonic() - started, raised.value

    took, error = asyncio.run(scenario())
    assert took < CALL_DEADLINE_FACTOR * 0.3 + 1.0
    assert "no answer within 0.9s" in str(error)
