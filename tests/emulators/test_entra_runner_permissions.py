"""The emulators as `accessctl emulate` starts them: the Entra org app holds what sync and deprovisioning
need, an app registered with fewer permissions (as `config check --live` tests need) is refused writes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import ActionResult, PermissionDeniedError
from connectors.emulators.entra import READ_ONLY_ROLES
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.entra import EntraConnector
from tests.connectors.helpers import entra_connector


def connector(running: RunningEmulators, client_id: str, secret: str) -> EntraConnector:
    return entra_connector(running, client_id, secret)


def run(c: EntraConnector, body: Any) -> Any:
    async def main() -> Any:
        try:
            return await asyncio.wait_for(body(c), timeout=60)
        finally:
            await c.aclose()

    return asyncio.run(main())


def test_the_org_app_deprovisions_and_a_read_only_app_is_refused(tmp_path: Path) -> None:
    org = generate_org(30, seed=2)
    with start_emulators(org, workdir=tmp_path, strict_auth=True, providers=("entra",)) as running:
        entra = running.providers["entra"]
        secret = entra.credential_files["client_secret"].read_text()
        own = (entra.settings["client_id"], secret)
        with httpx.Client(base_url=entra.url, verify=str(running.ca_path)) as plain:
            registered = plain.post(
                "/_emulator/state/apps",
                json={
                    "client_id": "read-only-app",
                    "client_secret": "ro~secret",
                    "roles": sorted(READ_ONLY_ROLES),
                },
            )
            assert registered.status_code == 200
            listed = {a["client_id"]: a["roles"] for a in plain.get("/_emulator/state/apps").json()["apps"]}
        assert (
            "User.EnableDisableAccount.All" in listed[own[0]] and "User.ReadWrite.All" not in listed[own[0]]
        )

        accounts = run(connector(running, *own), lambda c: c.list_accounts(None)).items
        first = next(a.external_id for a in accounts if a.status.value == "active")
        with pytest.raises(PermissionDeniedError):
            run(connector(running, "read-only-app", "ro~secret"), lambda c: c.suspend_account(first))
        assert run(connector(running, *own), lambda c: c.verify_locked(first)).suspended is False
        assert run(connector(running, *own), lambda c: c.suspend_account(first)) is ActionResult.APPLIED
        assert run(
            connector(running, "read-only-app", "ro~secret"), lambda c: c.verify_locked(first)
        ).suspended
