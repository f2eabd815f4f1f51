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


def google_connector(running: Any, **options: Any) -> Any:
    """A Google connector on the emulators ``start_emulators`` runs, with the org's delegation;
    ``options`` are more GoogleConfig settings (``scopes`` narrowing what its token asks for)."""
    from connectors.google import GoogleConfig, GoogleConnector

    provider = running.providers["google"]
    return GoogleConnector(
        GoogleConfig(
            service_account_key_json=provider.credential_files["service_account_key"].read_text(),
            admin_email=running.secrets.google_admin_email,
            customer_id=running.secrets.google_customer_id,
            api_endpoint=provider.url,
            ca_bundle=str(running.ca_path) if running.ca_path else None,
            **options,
        )
    )


def entra_connector(running: Any, client_id: str, secret: str) -> Any:
    """An Entra connector on the emulators ``start_emulators`` runs, as app ``client_id``."""
    from connectors.entra import EntraConfig, EntraConnector

    provider = running.providers["entra"]
    return EntraConnector(
        EntraConfig(
            tenant_id=provider.settings["tenant_id"],
            client_id=client_id,
            client_secret=secret,
            authority_host=provider.url,
            graph_url=provider.url,
            ca_bundle=str(running.ca_path) if running.ca_path else None,
        )
    )


def okta_connector(running: Any, *, read_only: bool = False) -> Any:
    """An Okta connector on the emulators ``start_emulators`` runs, with the org's API token or the
    read-only admin's."""
    from connectors.okta import OktaConfig, OktaConnector

    provider = running.providers["okta"]
    files = provider.read_only_credential_files if read_only else provider.credential_files
    return OktaConnector(
        OktaConfig(
            org_url=provider.url,
            api_token=files["api_token"].read_text().strip(),
            ca_bundle=str(running.ca_path) if running.ca_path else None,
        )
    )
