"""The Entra connector against the Entra emulator over HTTPS: msal tokens, Graph pages, actions, errors."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import (
    AccountStatus,
    ActionResult,
    AuthError,
    EntitlementKind,
    EntitlementRef,
    GrantRecord,
    MfaState,
    TransientError,
)
from connectors.emulators.control import EmulatorControl
from connectors.emulators.entra import EntraCredentials, create_app
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import ServerThread, TlsMaterial
from connectors.entra import EntraConfig, EntraConnector
from tests.connectors.helpers import drain, run

CREDS = EntraCredentials(
    "0f3d2c1b-aaaa-4bbb-8ccc-0123456789ab", "c1d2e3f4-0000-4111-8222-0123456789ab", "connector-secret"
)


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(250, seed=6)


@pytest.fixture
def entra(org: SyntheticOrg, tls: TlsMaterial) -> Iterator[tuple[str, httpx.Client]]:
    server = ServerThread(tls=tls)
    server.app = create_app(
        org.entra, EmulatorControl(), base_url=server.url, strict_auth=True, credentials=CREDS
    )
    server.start()
    connector = connect(server.url, tls)
    token = asyncio.run(_token(connector))
    client = httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": f"Bearer {token}"},
    )
    yield server.url, client
    client.close()
    server.stop()


async def _token(connector: EntraConnector) -> str:
    try:
        return await connector.client.token()
    finally:
        await connector.aclose()


def connect(
    url: str, tls: TlsMaterial, secret: str = CREDS.client_secret, page_size: int = 999
) -> EntraConnector:
    return EntraConnector(
        EntraConfig(
            tenant_id=CREDS.tenant_id,
            client_id=CREDS.client_id,
            client_secret=secret,
            authority_host=url,
            graph_url=url,
            ca_bundle=str(tls.ca_path),
            page_size=page_size,
        )
    )


def test_accounts_and_mfa(entra, tls, org: SyntheticOrg) -> None:
    url, _ = entra

    async def body(c: EntraConnector) -> tuple[list[Any], list[Any]]:
        return await drain(c.list_accounts), await drain(c.list_mfa)

    accounts, mfa = run(connect(url, tls, page_size=100), body)
    assert len(accounts) == len({a.external_id for a in accounts}) == len(org.entra.accounts)
    by_login = {a.login: a for a in accounts}
    for source in org.entra.accounts:
        account = by_login[source.login]
        assert account.status == (
            AccountStatus.ACTIVE if source.status == "active" else AccountStatus.SUSPENDED
        )
        assert account.employee_id == source.employee_id
    assert sum(1 for a in accounts if a.manager_external_id) == sum(
        1 for a in org.entra.accounts if a.manager_key
    )
    enrolled = sum(1 for m in mfa if m.state is MfaState.ENROLLED)
    assert enrolled == sum(1 for a in org.entra.accounts if a.mfa_factors)


def test_grants_direct_nested_and_through_groups(entra, tls, org: SyntheticOrg) -> None:
    url, _ = entra

    async def body(c: EntraConnector) -> dict[str, list[GrantRecord]]:
        entitlements = await drain(c.list_entitlements)
        return {
            f"{e.kind}:{e.name}": await drain(c.list_grants, EntitlementRef(e.kind, e.external_id))
            for e in entitlements
        }

    grants = run(connect(url, tls), body)
    all_staff = grants["group:all-staff"]
    people = {k for g in org.entra.groups if g.key.startswith("dept-") for k in g.member_keys}
    assert len(all_staff) == len(people) and all(g.inherited and g.via for g in all_staff)
    dept = grants["group:dept-engineering"]
    assert dept and not any(g.inherited for g in dept)
    slack = grants["app:Slack"]  # assigned to all-staff, which nests the departments
    assert len({g.account_external_id for g in slack}) == len(people)
    admins = grants["role:Global Administrator"]
    assert len(admins) == len(
        next(r for r in org.entra.roles if r.name == "Global Administrator").assigned_keys
    )


def test_actions_are_idempotent_and_visible(entra, tls, org: SyntheticOrg) -> None:
    url, client = entra
    person = next(a for a in org.entra.accounts if a.status == "active" and a.person_employee_id)
    uid = client.get(f"/v1.0/users/{person.login}").json()["id"]
    group = client.get(f"/v1.0/users/{uid}/memberOf").json()["value"][0]["id"]
    app = client.get(f"/v1.0/users/{uid}/appRoleAssignments").json()["value"]

    async def body(c: EntraConnector) -> list[ActionResult]:
        results = [
            await c.suspend_account(uid),
            await c.suspend_account(uid),
            await c.revoke_sessions(uid),
            await c.remove_grant(GrantRecord(uid, EntitlementKind.GROUP, group)),
            await c.remove_grant(GrantRecord(uid, EntitlementKind.GROUP, group)),
        ]
        if app:
            grant = GrantRecord(uid, EntitlementKind.APP, app[0]["resourceId"])
            results += [await c.remove_grant(grant), await c.remove_grant(grant)]
        results += [await c.restore_account(uid), await c.restore_account(uid)]
        return results

    results = run(connect(url, tls), body)
    applied, done = ActionResult.APPLIED, ActionResult.ALREADY_DONE
    expected = [applied, done, applied, applied, done] + ([applied, done] if app else []) + [applied, done]
    assert results == expected
    state = client.get(f"/_emulator/state/users/{uid}").json()
    assert state["sessions_revoked_at"] and state["user"]["accountEnabled"] is True
    methods = [e["method"] for e in client.get("/_emulator/journal").json()]
    assert methods.count("PATCH") == 2 and methods.count("POST") == 1


def test_errors_are_classified(entra, tls) -> None:
    url, client = entra
    with pytest.raises(AuthError):
        run(connect(url, tls, secret="wrong"), lambda c: c.list_accounts(None))
    assert run(connect(url, tls), lambda c: c.find_account(email="nobody@example.com")) is None
    client.post("/_emulator/rate", json={"limit": 1, "window_s": 60})
    client.get("/v1.0/users?$top=1")
    with pytest.raises(TransientError) as throttled:
        run(connect(url, tls), lambda c: c.list_accounts(None))
    assert throttled.value.status == 429 and throttled.value.retry_after >= 1
    with pytest.raises(TransientError) as in_batch:  # a throttled item inside $batch raises too
        run(connect(url, tls), lambda c: c.list_account_grants("anyone"))
    assert in_batch.value.status == 429
    client.post("/_emulator/rate", json={"limit": 0})
    client.post("/_emulator/faults", json={"spec": "5xx:1"})
    with pytest.raises(TransientError) as failed:
        run(connect(url, tls), lambda c: c.list_accounts(None))
    assert failed.value.status == 503


def test_changes_since_follows_delta_queries(entra, tls, org: SyntheticOrg) -> None:
    url, client = entra
    person = next(a for a in org.entra.accounts if a.status == "active" and a.person_employee_id)
    uid = client.get(f"/v1.0/users/{person.login}").json()["id"]
    group = client.get(f"/v1.0/users/{uid}/memberOf").json()["value"][0]["id"]

    async def body(c: EntraConnector) -> Any:
        start = await c.changes_since(None)
        client.patch(f"/v1.0/users/{uid}", json={"jobTitle": "Changed"})
        client.delete(f"/v1.0/groups/{group}/members/{uid}/$ref")
        changes = await c.changes_since(start.cursor)
        again = await c.changes_since(changes.cursor)
        return changes, again

    changes, again = run(connect(url, tls), body)
    assert [a.external_id for a in changes.accounts] == [uid] and changes.accounts[0].title == "Changed"
    assert changes.entitlement_ids == {group}
    assert not again.accounts and not again.entitlement_ids
