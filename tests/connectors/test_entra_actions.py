"""The Entra connector's actions against the Entra emulator: each APPLIED then ALREADY_DONE, each read back
through Graph (the connector's verify_locked), a read-only app refused with PermissionDeniedError and
nothing changed, a failing or throttled write a TransientError."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import (
    ActionResult,
    EntitlementKind,
    GrantRecord,
    LockState,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
    VerifiesLockout,
)
from connectors.emulators.control import EmulatorControl
from connectors.emulators.entra import READ_ONLY_ROLES, AppRegistration, EntraCredentials, create_app
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import ServerThread, TlsMaterial
from connectors.entra import EntraConfig, EntraConnector

CREDS = EntraCredentials(
    "2d4f6a8c-1357-4b9d-8e0f-a1b2c3d4e5f6", "8c7b6a59-4837-4261-9504-a3b2c1d0e9f8", "actions~secret"
)
READ_ONLY = AppRegistration("5f4e3d2c-1b0a-4987-8654-3210fedcba98", "read~only", READ_ONLY_ROLES)
APPLIED, DONE = ActionResult.APPLIED, ActionResult.ALREADY_DONE


@dataclass
class Tenant:
    url: str
    control: EmulatorControl
    tls: TlsMaterial

    def connector(self, app: AppRegistration | None = None) -> EntraConnector:
        client_id, secret = (
            (app.client_id, app.client_secret) if app else (CREDS.client_id, CREDS.client_secret)
        )
        return EntraConnector(
            EntraConfig(
                tenant_id=CREDS.tenant_id,
                client_id=client_id,
                client_secret=secret,
                authority_host=self.url,
                graph_url=self.url,
                ca_bundle=str(self.tls.ca_path),
            )
        )

    def run(self, body: Any, app: AppRegistration | None = None) -> Any:
        connector = self.connector(app)

        async def main() -> Any:
            try:
                return await asyncio.wait_for(body(connector), timeout=60)
            finally:
                await connector.aclose()

        return asyncio.run(main())


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(80, seed=5)


@pytest.fixture
def tenant(org: SyntheticOrg, tls: TlsMaterial) -> Iterator[Tenant]:
    control = EmulatorControl()
    server = ServerThread(tls=tls)
    server.app = create_app(
        org.entra, control, base_url=server.url, strict_auth=True, credentials=CREDS, apps=[READ_ONLY]
    )
    server.start()
    yield Tenant(server.url, control, tls)
    server.stop()


def holder(tenant: Tenant) -> tuple[str, list[GrantRecord]]:
    """An enabled account holding a direct group, a direct app and a direct role."""

    async def body(c: EntraConnector) -> tuple[str, list[GrantRecord]]:
        cursor = None
        while True:
            page = await c.list_accounts(cursor)
            for account in page.items:
                if account.status.value != "active":
                    continue
                direct = (await c.verify_locked(account.external_id)).direct_grants
                kinds = {g.entitlement_kind for g in direct}
                if kinds >= {EntitlementKind.GROUP, EntitlementKind.APP, EntitlementKind.ROLE}:
                    return account.external_id, direct
            cursor = page.next_cursor
            if cursor is None:
                raise AssertionError("no account with a direct group, app and role")

    return tenant.run(body)


def pick(grants: list[GrantRecord], kind: EntitlementKind) -> GrantRecord:
    return next(g for g in grants if g.entitlement_kind is kind)


def test_suspend_and_restore_are_idempotent_and_read_back(tenant: Tenant) -> None:
    uid, _ = holder(tenant)

    async def body(c: EntraConnector) -> list[Any]:
        return [
            await c.suspend_account(uid),
            await c.suspend_account(uid),
            (await c.verify_locked(uid)).suspended,
            await c.restore_account(uid),
            await c.restore_account(uid),
            (await c.verify_locked(uid)).suspended,
        ]

    assert tenant.run(body) == [APPLIED, DONE, True, APPLIED, DONE, False]
    patches = [e for e in tenant.control.journal if e.method == "PATCH"]
    assert len(patches) == 2  # ALREADY_DONE sent no write


def test_revoke_sessions_is_verifiable_by_sessions_valid_from(tenant: Tenant) -> None:
    uid, _ = holder(tenant)

    async def body(c: EntraConnector) -> tuple[datetime | None, datetime, Any, datetime | None, bool]:
        before = await c.sessions_valid_from(uid)
        sent = datetime.now(UTC)
        result = await c.revoke_sessions(uid)
        assert isinstance(c, VerifiesLockout)
        state = await c.verify_locked(uid)
        assert isinstance(state, LockState) and not state.sessions_readable and state.open_credentials == []
        return before, sent, result, state.sessions_valid_from, state.sessions_revoked_since(sent)

    before, sent, result, after, revoked = tenant.run(body)
    assert result is APPLIED
    assert before is not None and before < sent
    assert after is not None and after >= sent.replace(microsecond=0) and revoked


def test_remove_grant_each_kind_applied_then_already_done_and_gone_from_graph(tenant: Tenant) -> None:
    uid, direct = holder(tenant)
    targets = [pick(direct, kind) for kind in EntitlementKind]

    async def body(c: EntraConnector) -> tuple[list[ActionResult], list[GrantRecord]]:
        results = []
        for grant in targets:
            results += [await c.remove_grant(grant), await c.remove_grant(grant)]
        return results, (await c.verify_locked(uid)).direct_grants

    results, left = tenant.run(body)
    assert results == [APPLIED, DONE] * len(targets)
    held = {(g.entitlement_kind, g.entitlement_external_id) for g in left}
    assert not held & {(g.entitlement_kind, g.entitlement_external_id) for g in targets}


def test_a_read_only_app_is_refused_every_action_and_nothing_changes(tenant: Tenant) -> None:
    uid, direct = holder(tenant)
    before = tenant.run(lambda c: c.verify_locked(uid))
    actions = [
        lambda c: c.suspend_account(uid),
        lambda c: c.revoke_sessions(uid),
        *(lambda c, g=pick(direct, kind): c.remove_grant(g) for kind in EntitlementKind),
    ]
    for action in actions:
        with pytest.raises(PermissionDeniedError) as refused:
            tenant.run(action, app=READ_ONLY)
        assert refused.value.status == 403 and "Authorization_RequestDenied" in str(refused.value)
    after = tenant.run(lambda c: c.verify_locked(uid))
    assert after == before
    # the read-only app reads it all: what `config check --live` can rely on
    assert tenant.run(lambda c: c.verify_locked(uid), app=READ_ONLY) == before


@pytest.mark.parametrize(("spec", "status"), [("5xx:1", 503), ("429:1", 429)])
def test_a_failing_write_is_transient_and_changes_nothing(tenant: Tenant, spec: str, status: int) -> None:
    uid, direct = holder(tenant)
    group = pick(direct, EntitlementKind.GROUP)
    before = tenant.run(lambda c: c.verify_locked(uid))
    tenant.control.set_faults(spec)
    for action in (lambda c: c.revoke_sessions(uid), lambda c: c.remove_grant(group)):
        with pytest.raises(TransientError) as failed:
            tenant.run(action)
        assert failed.value.status == status and failed.value.retry_after
    tenant.control.set_faults(None)
    writes = [e for e in tenant.control.journal if e.method in ("POST", "DELETE")]
    assert [e.result for e in writes] == ["fault:" + spec.split(":")[0]] * 2
    assert tenant.run(lambda c: c.verify_locked(uid)) == before


def test_actions_on_a_missing_account(tenant: Tenant) -> None:
    missing = "00000000-dead-4bad-8bad-000000000000"
    with pytest.raises(NotFoundError):
        tenant.run(lambda c: c.suspend_account(missing))
    with pytest.raises(NotFoundError):
        tenant.run(lambda c: c.verify_locked(missing))


def test_removed_grants_are_given_back_by_add_grant_and_read_back(tenant: Tenant) -> None:
    uid, direct = holder(tenant)
    targets = [pick(direct, kind) for kind in EntitlementKind]

    async def body(c: EntraConnector) -> tuple[list[ActionResult], set[Any], set[Any]]:
        results = [await c.add_grant(g) for g in targets]  # held: nothing to do
        for grant in targets:
            await c.remove_grant(grant)
        stripped = {
            (g.entitlement_kind, g.entitlement_external_id) for g in (await c.verify_locked(uid)).grants
        }
        for grant in targets:
            results += [await c.add_grant(grant), await c.add_grant(grant)]
        back = {
            (g.entitlement_kind, g.entitlement_external_id)
            for g in (await c.verify_locked(uid)).direct_grants
        }
        return results, stripped, back

    results, stripped, back = tenant.run(body)
    wanted = {(g.entitlement_kind, g.entitlement_external_id) for g in targets}
    assert results == [DONE] * 3 + [APPLIED, DONE] * 3
    assert not wanted & stripped and wanted <= back


def test_a_read_only_app_cannot_give_grants_back(tenant: Tenant) -> None:
    uid, direct = holder(tenant)
    targets = [pick(direct, kind) for kind in EntitlementKind]
    for grant in targets:
        tenant.run(lambda c, g=grant: c.remove_grant(g))
        with pytest.raises(PermissionDeniedError):
            tenant.run(lambda c, g=grant: c.add_grant(g), app=READ_ONLY)
    left = tenant.run(lambda c: c.verify_locked(uid)).direct_grants
    held = {(g.entitlement_kind, g.entitlement_external_id) for g in left}
    assert not held & {(g.entitlement_kind, g.entitlement_external_id) for g in targets}
