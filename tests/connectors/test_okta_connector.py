"""The Okta connector against the Okta emulator over HTTPS: listings, MFA, grants, actions, errors."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.base import (
    AccountStatus,
    ActionResult,
    AuthError,
    ConnectorError,
    EntitlementKind,
    EntitlementRef,
    GrantRecord,
    MfaState,
    TransientError,
)
from connectors.emulators.control import EmulatorControl
from connectors.emulators.generate import generate_org
from connectors.emulators.model import Role, SyntheticOrg
from connectors.emulators.okta import OktaCredentials, create_app
from connectors.emulators.server import ServerThread, TlsMaterial
from connectors.okta import OktaConfig, OktaConnector
from connectors.okta.client import OktaResponse
from connectors.okta.mapping import ROLE_TYPES
from tests.connectors.helpers import drain, run

TOKEN = "00-connector-test-token"


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(300, seed=5)


@pytest.fixture
def okta(org: SyntheticOrg, tls: TlsMaterial) -> Iterator[tuple[str, httpx.Client]]:
    server = ServerThread(tls=tls)
    server.app = create_app(
        org.okta, EmulatorControl(), base_url=server.url, strict_auth=True, credentials=OktaCredentials(TOKEN)
    )
    server.start()
    client = httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": f"SSWS {TOKEN}"},
    )
    yield server.url, client
    client.close()
    server.stop()


def connect(url: str, tls: TlsMaterial, token: str = TOKEN, page_size: int = 200) -> OktaConnector:
    return OktaConnector(
        OktaConfig(org_url=url, api_token=token, ca_bundle=str(tls.ca_path), page_size=page_size)
    )


def test_lists_every_account_once_including_deprovisioned(okta, tls, org: SyntheticOrg) -> None:
    url, _ = okta
    accounts = run(connect(url, tls, page_size=50), lambda c: drain(c.list_accounts))
    assert len(accounts) == len({a.external_id for a in accounts}) == len(org.okta.accounts)
    by_login = {a.login: a for a in accounts}
    for source in org.okta.accounts:
        assert by_login[source.login].status == AccountStatus(source.status)
        assert by_login[source.login].employee_id == source.employee_id


def test_entitlements_and_grants(okta, tls, org: SyntheticOrg) -> None:
    url, _ = okta

    async def body(c: OktaConnector) -> tuple[list[Any], dict[str, list[GrantRecord]]]:
        entitlements = await drain(c.list_entitlements)
        grants = {}
        for e in entitlements:
            if e.has_members:
                grants[e.name] = await drain(c.list_grants, EntitlementRef(e.kind, e.external_id))
        return entitlements, grants

    entitlements, grants = run(connect(url, tls), body)
    kinds = {k: sum(1 for e in entitlements if e.kind is k) for k in EntitlementKind}
    assert kinds[EntitlementKind.GROUP] == len(org.okta.groups)
    assert kinds[EntitlementKind.APP] == len(org.okta.apps)
    assert kinds[EntitlementKind.ROLE] >= 4
    source_groups = {g.name: g for g in org.okta.groups}
    for name, members in grants.items():
        if name in source_groups:
            assert len(members) == len(source_groups[name].member_keys)
    slack = grants["Slack"]  # assigned to all-staff: everyone has it through the group
    assert slack and all(g.inherited for g in slack)


def test_mfa_and_roles_per_account(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    admin = next(a for a in org.okta.accounts if a.key == "shared-it-admin")
    enrolled = next(a for a in org.okta.accounts if a.mfa_factors and a.status == "active")
    uid = client.get(f"/api/v1/users/{admin.login}").json()["id"]
    enrolled_id = client.get(f"/api/v1/users/{enrolled.login}").json()["id"]

    async def body(c: OktaConnector) -> Any:
        return await c.get_account_details(uid), await c.get_account_details(enrolled_id)

    admin_details, enrolled_details = run(connect(url, tls), body)
    assert admin_details.mfa.state is MfaState.NOT_ENROLLED
    assert "SUPER_ADMIN" in {g.entitlement_external_id for g in admin_details.grants}
    assert enrolled_details.mfa.state is MfaState.ENROLLED and enrolled_details.mfa.methods


def test_errors_are_classified(okta, tls) -> None:
    url, client = okta
    with pytest.raises(AuthError):
        run(connect(url, tls, token="wrong"), lambda c: c.list_accounts(None))
    assert run(connect(url, tls), lambda c: c.find_account(email="nobody@example.com")) is None

    client.post("/_emulator/rate", json={"limit": 1, "window_s": 60})
    client.get("/api/v1/users", params={"limit": 1})  # spends the users budget

    with pytest.raises(TransientError) as throttled:
        run(connect(url, tls), lambda c: c.list_accounts(None))
    assert throttled.value.status == 429 and throttled.value.throttled
    assert 0 < throttled.value.retry_after <= 61

    client.post("/_emulator/rate", json={"limit": 0})
    client.post("/_emulator/faults", json={"spec": "5xx:1"})
    with pytest.raises(TransientError) as failed:
        run(connect(url, tls), lambda c: c.list_accounts(None))
    assert failed.value.status == 503


def test_a_configuration_the_sdk_refuses_is_a_connector_error_naming_why(okta, tls) -> None:
    url, _ = okta
    with pytest.raises(ConnectorError, match="API token is missing") as refused:
        run(connect(url, tls, token=""), lambda c: c.list_accounts(None))
    assert not isinstance(refused.value, TransientError)
    with pytest.raises(ConnectorError, match="https"):
        run(connect(url.replace("https://", "http://"), tls), lambda c: c.list_accounts(None))


def test_changes_since_follows_the_system_log(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    person = next(a for a in org.okta.accounts if a.status == "active" and a.person_employee_id)
    uid = client.get(f"/api/v1/users/{person.login}").json()["id"]

    async def body(c: OktaConnector) -> Any:
        start = await c.changes_since(None)
        client.post(f"/api/v1/users/{uid}/lifecycle/suspend")
        changes = await c.changes_since(start.cursor)
        again = await c.changes_since(changes.cursor)
        return changes, again

    changes, again = run(connect(url, tls), body)
    assert changes.account_ids == {uid}
    assert again.account_ids == set()  # the cursor moved past what was seen


def _details_with_fault(url: str, client: httpx.Client, tls: TlsMaterial, uid: str, spec: str) -> Any:
    client.post("/_emulator/faults", json={"spec": spec})
    return run(connect(url, tls), lambda c: c.get_account_details(uid))


def test_a_failed_roles_read_keeps_the_factors_and_sweeps_nothing(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    holders = {k for r in org.okta.roles for k in r.assigned_keys}  # listed: their roles are read
    enrolled = next(
        a for a in org.okta.accounts if a.mfa_factors and a.status == "active" and a.key in holders
    )
    uid = client.get(f"/api/v1/users/{enrolled.login}").json()["id"]
    details = _details_with_fault(url, client, tls, uid, f"page:/api/v1/users/{uid}/roles:1:403")
    assert details.mfa.state is MfaState.ENROLLED and details.mfa.methods
    assert details.complete is False and details.grants == []


def test_unreadable_factors_give_unknown_mfa_and_keep_the_roles(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    admin = next(a for a in org.okta.accounts if a.key == "shared-it-admin")
    uid = client.get(f"/api/v1/users/{admin.login}").json()["id"]
    for status in (403, 404):
        details = _details_with_fault(url, client, tls, uid, f"page:/api/v1/users/{uid}/factors:1:{status}")
        assert details.mfa.state is MfaState.UNKNOWN  # never NOT_ENROLLED, which the factors would say
        assert details.complete is True
        assert "SUPER_ADMIN" in {g.entitlement_external_id for g in details.grants}


def test_a_transient_failure_of_either_half_fails_the_lookup(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    admin = next(a for a in org.okta.accounts if a.key == "shared-it-admin")
    uid = client.get(f"/api/v1/users/{admin.login}").json()["id"]
    for endpoint in ("factors", "roles"):
        with pytest.raises(TransientError):
            _details_with_fault(url, client, tls, uid, f"page:/api/v1/users/{uid}/{endpoint}:1:503")


def test_role_listing_completes_without_a_custom_roles_endpoint(okta, tls) -> None:
    url, client = okta
    client.post("/_emulator/faults", json={"spec": "page:/api/v1/iam/roles:1:404"})
    entitlements = run(connect(url, tls), lambda c: drain(c.list_entitlements))
    roles = [e for e in entitlements if e.kind is EntitlementKind.ROLE]
    # an org without /api/v1/iam/roles (404): the standard roles alone, the listing complete
    assert {r.external_id for r in roles} == set(ROLE_TYPES)
    assert all(r.privileged and not r.has_members for r in roles)


# ------------------------------------------------------------- custom roles and roles held through groups


def _uid(client: httpx.Client, org: SyntheticOrg, key: str) -> str:
    login = next(a.login for a in org.okta.accounts if a.key == key)
    return client.get(f"/api/v1/users/{login}").json()["id"]


def test_custom_roles_are_listed_granted_and_removable(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    custom = next(r for r in org.okta.roles if r.custom)
    (holder,) = custom.assigned_keys
    uid = _uid(client, org, holder)
    role_id = client.get("/api/v1/iam/roles").json()["roles"][0]["id"]

    async def body(c: OktaConnector) -> Any:
        entitlements = await drain(c.list_entitlements)
        details = await c.get_account_details(uid)
        grant = GrantRecord(uid, EntitlementKind.ROLE, role_id)
        removed = [await c.remove_grant(grant), await c.remove_grant(grant)]
        return entitlements, details, removed, await c.get_account_details(uid)

    entitlements, details, removed, after = run(connect(url, tls), body)
    customs = [e for e in entitlements if e.kind is EntitlementKind.ROLE and e.external_id not in ROLE_TYPES]
    assert [(e.external_id, e.name, e.privileged, e.has_members) for e in customs] == [
        (role_id, custom.name, True, False)
    ]
    assert (role_id, False) in {(g.entitlement_external_id, g.inherited) for g in details.grants}
    assert removed == [ActionResult.APPLIED, ActionResult.ALREADY_DONE]
    assert role_id not in {g.entitlement_external_id for g in after.grants}
    assert client.get(f"/_emulator/state/users/{uid}").json()["roles"] == []


def test_custom_roles_are_read_page_by_page(tls) -> None:
    """More custom roles than one page of /api/v1/iam/roles holds: the connector follows _links.next."""
    org = generate_org(60, seed=5)
    labels = [f"Reviewer {i:02d}" for i in range(45)]
    org.okta.roles += [Role(key=f"extra-{i}", name=label, custom=True) for i, label in enumerate(labels)]
    server = ServerThread(tls=tls)
    server.app = create_app(org.okta, EmulatorControl(), base_url=server.url)
    server.start()
    try:
        pages = run(connect(server.url, tls), lambda c: _pages(c, "custom|"))
    finally:
        server.stop()
    assert [len(p) for p in pages] == [20, 20, 6]
    assert [e.name for p in pages for e in p] == ["Access Reviewer", *labels]


async def _pages(connector: OktaConnector, cursor: str | None) -> list[list[Any]]:
    pages = []
    while cursor is not None:
        page = await connector.list_entitlements(cursor)
        pages.append(page.items)
        cursor = page.next_cursor
    return pages


def test_a_role_assigned_to_a_group_is_held_by_its_members(okta, tls, org: SyntheticOrg) -> None:
    url, client = okta
    group = next(g for g in org.okta.groups if g.key == "helpdesk-admins")
    role = next(r for r in org.okta.roles if "helpdesk-admins" in r.assigned_group_keys)
    gid = next(g["id"] for g in client.get("/api/v1/groups", params={"q": group.name}).json())
    member = next(k for k in group.member_keys if k not in role.assigned_keys)
    uid = _uid(client, org, member)
    grant = GrantRecord(uid, EntitlementKind.ROLE, role.name)

    async def body(c: OktaConnector) -> Any:
        details = await c.get_account_details(uid)
        grants = await c.list_account_grants(uid)
        kept = await c.remove_grant(grant)  # the user has no assignment of its own to remove
        still = await c.get_account_details(uid)
        await c.remove_grant(GrantRecord(uid, EntitlementKind.GROUP, gid))  # leaving the group ends it
        return details, grants, kept, still, await c.get_account_details(uid)

    details, grants, kept, still, left = run(connect(url, tls), body)
    held = (role.name, True)
    assert held in {(g.entitlement_external_id, g.inherited) for g in details.grants}
    assert held in {(g.entitlement_external_id, g.inherited) for g in grants}
    assert kept is ActionResult.ALREADY_DONE
    assert held in {(g.entitlement_external_id, g.inherited) for g in still.grants}
    assert role.name not in {g.entitlement_external_id for g in left.grants}
    deletes = [e["path"] for e in client.get("/_emulator/journal").json() if e["method"] == "DELETE"]
    assert deletes == [f"/api/v1/groups/{gid}/users/{uid}"]  # never a DELETE of the group's role


class _CustomRolesOkta:
    """Okta's answers for custom roles, replayed from the Roles API reference's examples."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.deleted: list[str] = []

    async def request(self, method: str, path: str, **_: Any) -> OktaResponse:
        if path == "/api/v1/iam/roles":
            role = {"id": "cr0Yq6IJxGIr0ouum0g3", "label": "UserCreator", "description": "Create users"}
            next_link = {"next": {"href": f"{self.base}/api/v1/iam/roles?after=cr0Yq6IJxGIr0ouum0g3"}}
            return OktaResponse(200, {"roles": [role], "_links": next_link}, {})
        if path.startswith(f"{self.base}/api/v1/iam/roles?after="):
            role = {"id": "cr0Fw7HKcWIroo88m3r1", "label": "GroupMembershipManager", "description": "x"}
            return OktaResponse(200, {"roles": [role], "_links": {}}, {})
        if path == "/api/v1/users/00u1/roles" and method == "GET":
            custom = {
                "id": "irb4jlomnnDBuBDwf0g4",
                "label": "UserCreator",
                "type": "CUSTOM",
                "status": "ACTIVE",
                "assignmentType": "USER",
                "resource-set": "iamoJDFKaJxGIr0oamd9",
                "_links": {"role": {"href": f"{self.base}/api/v1/iam/roles/cr0Yq6IJxGIr0ouum0g3"}},
            }
            return OktaResponse(200, [custom], {})
        if method == "DELETE":
            self.deleted.append(path)
            return OktaResponse(204, None, {})
        raise AssertionError(f"unexpected {method} {path}")

    async def aclose(self) -> None:
        return None


def test_custom_roles_in_the_reference_shapes_are_listed_granted_and_removable() -> None:
    base = "https://example.okta.com"
    fake = _CustomRolesOkta(base)
    connector = OktaConnector(OktaConfig(org_url=base, api_token="t"), client=fake)  # type: ignore[arg-type]

    async def body(c: OktaConnector) -> Any:
        pages = []
        cursor: str | None = "custom|"
        while cursor is not None:
            page = await c.list_entitlements(cursor)
            pages.append(page.items)
            cursor = page.next_cursor
        removed = await c.remove_grant(GrantRecord("00u1", EntitlementKind.ROLE, "cr0Yq6IJxGIr0ouum0g3"))
        return pages, removed

    pages, removed = run(connector, body)
    customs = [e for page in pages for e in page]
    assert [(e.external_id, e.name, e.privileged) for e in customs] == [
        ("cr0Yq6IJxGIr0ouum0g3", "UserCreator", True),
        ("cr0Fw7HKcWIroo88m3r1", "GroupMembershipManager", True),
    ]
    assert removed is ActionResult.APPLIED
    assert fake.deleted == ["/api/v1/users/00u1/roles/irb4jlomnnDBuBDwf0g4"]
