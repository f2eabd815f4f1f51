"""msgraph-sdk, unmodified, pointed at the Entra emulator: what the Graph tests drive it with."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from azure.identity import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphServiceClient
from msgraph.graph_request_adapter import GraphRequestAdapter, options
from msgraph_core import GraphClientFactory

from connectors.emulators.server import TlsMaterial

T = TypeVar("T")


def graph_client(
    url: str, tls: TlsMaterial, tenant_id: str, client_id: str, secret: str
) -> GraphServiceClient:
    """A GraphServiceClient as an application builds it, with the emulator as authority and Graph host."""
    credential = ClientSecretCredential(
        tenant_id,
        client_id,
        secret,
        authority=urlsplit(url).netloc,
        connection_verify=str(tls.ca_path),
        disable_instance_discovery=True,
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=[urlsplit(url).hostname]
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(tls.ca_path)), timeout=30),
        options=options,
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{url}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def run_with(client: GraphServiceClient, body: Callable[[GraphServiceClient], Awaitable[T]]) -> T:
    """Run ``body`` with the client, two minutes at most."""

    async def main() -> T:
        return await asyncio.wait_for(body(client), timeout=120)

    return asyncio.run(main())
