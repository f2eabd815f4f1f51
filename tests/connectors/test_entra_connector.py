"""The Entra connector against the Entra emulator over HTTPS: msal tokens, Graph pages, actions, errors."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

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
from connectors.emulators.entra import DEFAULT_ROLES, EntraCredentials, create_app
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import ServerThread, TlsMaterial
from connectors.entra import EntraConfig, EntraConnector
from connectors.entra.client import GraphClient
from tests.connectors.helpers import drain, drain_changes, run

CREDS = EntraCredentials(
    "0f3d2c1b-aaaa-4bbb-8ccc-0123456789ab",
    "c1d2e3f4-0000-4111-8222-0123456789ab",
    "connector-secret",
    roles=DEFAULT_ROLES | {"User.ReadWrite.All"},  # the delta tests edit profiles (jobTitle)
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
        changes = await drain_changes(c, start.cursor)
        again = await drain_changes(c, changes.cursor)
        return changes, again

    changes, again = run(connect(url, tls), body)
    assert [a.external_id for a in changes.accounts] == [uid] and changes.accounts[0].title == "Changed"
    assert changes.entitlement_ids == {group}
    assert not again.accounts and not again.entitlement_ids


def test_changes_since_returns_one_page_per_call_and_resumes_after_a_failure(
    entra, tls, org: SyntheticOrg
) -> None:
    url, client = entra
    users = client.get("/v1.0/users", params={"$top": 999, "$select": "id"}).json()["value"]
    patched = [u["id"] for u in users[:230]]  # more than one delta page (the emulator pages by 200)
    person = next(a for a in org.entra.accounts if a.status == "active" and a.person_employee_id)
    uid = client.get(f"/v1.0/users/{person.login}").json()["id"]
    group = client.get(f"/v1.0/users/{uid}/memberOf").json()["value"][0]["id"]

    async def body(c: EntraConnector) -> tuple[list[Any], int]:
        start = await c.changes_since(None)
        for user_id in patched:
            client.patch(f"/v1.0/users/{user_id}", json={"jobTitle": "Renamed"})
        client.delete(f"/v1.0/groups/{group}/members/{uid}/$ref")
        client.post("/_emulator/faults", json={"spec": "page:/v1.0/users/delta:2:503"})
        sets, failures, cursor = [], 0, start.cursor
        while True:
            try:
                change_set = await c.changes_since(cursor)
            except TransientError:
                failures += 1  # the runner retries this one call with the same cursor
                continue
            sets.append(change_set)
            cursor = change_set.cursor
            if not change_set.more:
                return sets, failures

    sets, failures = run(connect(url, tls), body)
    assert failures == 1 and len(sets) >= 3 and all(s.requests == 1 for s in sets)
    seen = [a.external_id for s in sets for a in s.accounts]
    assert sorted(seen) == sorted(patched)  # every change once: the failed page was not preceded by a rerun
    assert {e for s in sets for e in s.entitlement_ids} == {group}
    assert [s.more for s in sets] == [True] * (len(sets) - 1) + [False]


# ------------------------------------------------------------------- roles held through a group
# The generated tenant assigns "Helpdesk Administrator" to the role-assignable group "Helpdesk Admins"
# (one member holds it directly as well): the connector against the emulator first, then replays of
# Graph's documented shapes through an httpx mock transport.


def _helpdesk(client: httpx.Client, org: SyntheticOrg) -> tuple[str, str, dict[str, str]]:
    """(role definition id, group id, account key -> user id of the group's members)."""
    role = next(
        d["id"]
        for d in client.get("/v1.0/roleManagement/directory/roleDefinitions").json()["value"]
        if d["displayName"] == "Helpdesk Administrator"
    )
    group = next(g for g in org.entra.groups if g.key == "helpdesk-admins")
    groups = client.get("/v1.0/groups", params={"$filter": f"displayName eq '{group.name}'"}).json()
    logins = {a.key: a.login for a in org.entra.accounts}
    members = {k: client.get(f"/v1.0/users/{logins[k]}").json()["id"] for k in group.member_keys}
    return role, groups["value"][0]["id"], members


def test_the_emulated_role_assignable_group_holds_its_role(entra, tls, org: SyntheticOrg) -> None:
    url, client = entra
    role_id, gid, members = _helpdesk(client, org)
    group = client.get(f"/v1.0/groups/{gid}").json()
    assert group["isAssignableToRole"] is True
    direct = next(r for r in org.entra.roles if r.name == "Helpdesk Administrator").assigned_keys
    assert direct and set(direct) <= set(members)  # one member holds it directly as well

    grants = run(
        connect(url, tls), lambda c: drain(c.list_grants, EntitlementRef(EntitlementKind.ROLE, role_id))
    )
    held = {(g.account_external_id, g.inherited, g.via) for g in grants}
    assert held == {(members[k], False, None) for k in direct} | {
        (uid, True, gid) for uid in members.values()
    }  # the group itself is not an account holding the role


def test_an_emulated_members_grants_include_its_groups_role(entra, tls, org: SyntheticOrg) -> None:
    url, client = entra
    role_id, gid, members = _helpdesk(client, org)
    direct = set(next(r for r in org.entra.roles if r.name == "Helpdesk Administrator").assigned_keys)
    only_group = next(uid for k, uid in members.items() if k not in direct)
    both = next(uid for k, uid in members.items() if k in direct)

    async def body(c: EntraConnector) -> Any:
        grants = {uid: await c.list_account_grants(uid) for uid in (only_group, both)}
        kept = await c.remove_grant(GrantRecord(only_group, EntitlementKind.ROLE, role_id))
        return grants, kept, await c.list_account_grants(only_group)

    grants, kept, after = run(connect(url, tls), body)

    def roles(records: list[GrantRecord]) -> set[tuple[str, bool, str | None]]:
        return {
            (g.entitlement_external_id, g.inherited, g.via)
            for g in records
            if g.entitlement_kind is EntitlementKind.ROLE
        }

    assert (role_id, True, gid) in roles(grants[only_group])
    assert (role_id, False, None) not in roles(grants[only_group])
    assert {(role_id, True, gid), (role_id, False, None)} <= roles(grants[both])
    # the group's assignment is not the user's to remove: nothing deleted, the role still held
    assert kept is ActionResult.ALREADY_DONE
    assert (role_id, True, gid) in roles(after)
    registration = client.get(
        "/v1.0/reports/authenticationMethods/userRegistrationDetails",
        params={"$filter": f"id eq '{only_group}'"},
    ).json()["value"][0]
    assert registration["isAdmin"] is True


GRAPH = "https://graph.test"
ROLE = "62e90394-69f5-4237-9190-012177145e10"  # Global Administrator's template id
ADMINS_GROUP = "9a1b2c3d-0000-4000-8000-00000000a11a"
USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"


def _graph_replay(routes: dict[str, Any]) -> EntraConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/$batch":
            answers = []
            for item in json.loads(request.content)["requests"]:
                answers.append({"id": item["id"], "status": 200, "body": routes[item["url"]]})
            return httpx.Response(200, json={"responses": answers})
        key = unquote(str(request.url).removeprefix(GRAPH + "/v1.0"))
        return httpx.Response(200, json=routes[key])

    config = EntraConfig(tenant_id="t", client_id="c", client_secret="s", graph_url=GRAPH)
    client = GraphClient(config, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    client._token, client._expires_at = "token", time.time() + 3600  # no msal round trip
    return EntraConnector(config, client=client)


def test_a_role_assigned_to_a_group_is_held_by_its_transitive_members() -> None:
    members_next = f"{GRAPH}/v1.0/groups/{ADMINS_GROUP}/transitiveMembers?$select=id&$top=999&$skiptoken=p2"
    connector = _graph_replay(
        {
            f"/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{ROLE}'"
            "&$expand=principal($select=id)": {
                "value": [
                    {
                        "id": "a1",
                        "principalId": "u-direct",
                        "roleDefinitionId": ROLE,
                        "principal": {"@odata.type": USER, "id": "u-direct"},
                    },
                    {
                        "id": "a2",
                        "principalId": ADMINS_GROUP,
                        "roleDefinitionId": ROLE,
                        "principal": {"@odata.type": GROUP, "id": ADMINS_GROUP},
                    },
                ]
            },
            f"/groups/{ADMINS_GROUP}/transitiveMembers?$select=id&$top=999": {
                "value": [{"@odata.type": USER, "id": "u-1"}, {"@odata.type": USER, "id": "u-2"}],
                "@odata.nextLink": members_next,
            },
            members_next.removeprefix(GRAPH + "/v1.0"): {
                "value": [
                    {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp"},
                    {"@odata.type": USER, "id": "u-3"},
                ],
            },
        }
    )
    grants = run(connector, lambda c: drain(c.list_grants, EntitlementRef(EntitlementKind.ROLE, ROLE)))
    held = {(g.account_external_id, g.inherited, g.via) for g in grants}
    assert held == {
        ("u-direct", False, None),
        ("u-1", True, ADMINS_GROUP),
        ("u-2", True, ADMINS_GROUP),
        ("u-3", True, ADMINS_GROUP),
    }  # the group itself is not an account holding the role


def test_an_accounts_grants_include_roles_of_its_role_assignable_groups() -> None:
    uid = "u-1"
    connector = _graph_replay(
        {
            f"/users/{uid}/memberOf?$select=id,isAssignableToRole&$top=999": {
                "value": [
                    {"@odata.type": GROUP, "id": ADMINS_GROUP, "isAssignableToRole": True},
                    {"@odata.type": GROUP, "id": "g-staff", "isAssignableToRole": False},
                ]
            },
            f"/users/{uid}/transitiveMemberOf?$select=id&$top=999": {
                "value": [{"@odata.type": GROUP, "id": ADMINS_GROUP}, {"@odata.type": GROUP, "id": "g-staff"}]
            },
            f"/users/{uid}/appRoleAssignments?$top=999": {"value": []},
            "/roleManagement/directory/roleAssignments?$filter=" + quote(f"principalId eq '{uid}'"): {
                "value": []
            },
            "/roleManagement/directory/roleAssignments?$filter="
            + quote(f"principalId eq '{ADMINS_GROUP}'"): {
                "value": [{"id": "a2", "principalId": ADMINS_GROUP, "roleDefinitionId": ROLE}]
            },
        }
    )
    grants = run(connector, lambda c: c.list_account_grants(uid))
    roles = [g for g in grants if g.entitlement_kind is EntitlementKind.ROLE]
    assert [(g.entitlement_external_id, g.inherited, g.via) for g in roles] == [(ROLE, True, ADMINS_GROUP)]
