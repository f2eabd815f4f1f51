"""The Entra emulator driven by msal (client credentials over HTTPS) and by plain HTTP calls to Graph."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import msal
import pytest
import requests

from connectors.emulators.entra import EntraCredentials, create_app
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import TlsMaterial

CREDS = EntraCredentials(
    "8e4f0c2a-1b2c-4d5e-8f90-123456789abc", "5a1f0c2a-0000-4d5e-8f90-123456789abc", "s3cret~value"
)
SCOPE = ["https://graph.microsoft.com/.default"]


class CaSession(requests.Session):
    """Trust one CA bundle, whatever REQUESTS_CA_BUNDLE says (requests lets the environment win otherwise)."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self.ca_bundle)
        return super().request(method, url, **kwargs)


def msal_app(
    url: str, tls: TlsMaterial, secret: str = CREDS.client_secret
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CREDS.client_id,
        client_credential=secret,
        authority=f"{url}/{CREDS.tenant_id}",
        http_client=CaSession(str(tls.ca_path)),
        instance_discovery=False,
    )


def graph(url: str, tls: TlsMaterial) -> httpx.Client:
    token = msal_app(url, tls).acquire_token_for_client(scopes=SCOPE)["access_token"]
    return httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": f"Bearer {token}"},
    )


def all_pages(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        body = client.get(next_url).json()
        items += body["value"]
        pages += 1
        next_url = body.get("@odata.nextLink")
    return items


@pytest.fixture
def entra(serve, small_org: SyntheticOrg):
    server, control = serve(create_app, small_org.entra, strict_auth=True, credentials=CREDS)
    return server.url, control


def test_msal_gets_a_token_and_a_wrong_secret_gets_aadsts(entra, tls) -> None:
    url, _ = entra
    result = msal_app(url, tls).acquire_token_for_client(scopes=SCOPE)
    assert result["token_type"] == "Bearer" and result["access_token"]
    wrong = msal_app(url, tls, secret="nope").acquire_token_for_client(scopes=SCOPE)
    assert wrong["error"] == "invalid_client" and 7000215 in wrong["error_codes"]
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(tls.ca_path))) as anonymous:
        denied = anonymous.get("/v1.0/users", headers={"Authorization": "Bearer forged"})
    assert (denied.status_code, denied.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


@pytest.mark.parametrize("top", [999, 200])
def test_pages_through_a_1000_person_org(serve, tls, org_1000: SyntheticOrg, top: int) -> None:
    server, _ = serve(create_app, org_1000.entra, credentials=CREDS)
    with graph(server.url, tls) as client:
        users = all_pages(client, f"/v1.0/users?$top={top}&$select=id,userPrincipalName")
        too_big = client.get("/v1.0/users", params={"$top": 1000})
    assert len(users) == len({u["id"] for u in users}) == len(org_1000.entra.accounts)
    assert too_big.status_code == 400 and "999" in too_big.json()["error"]["message"]


def test_select_expand_filter_and_count(entra, tls, small_org: SyntheticOrg) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        default = client.get("/v1.0/users", params={"$top": 1}).json()["value"][0]
        selected = client.get(
            "/v1.0/users",
            params={
                "$top": 999,
                "$select": "id,accountEnabled,signInActivity,employeeId",
                "$expand": "manager($select=id)",
            },
        ).json()["value"]
        disabled = client.get(
            "/v1.0/users",
            params={"$filter": "accountEnabled eq false", "$count": "true"},
            headers={"ConsistencyLevel": "eventual"},
        ).json()
        starts = client.get(
            "/v1.0/users", params={"$filter": "startswith(userPrincipalName,'it-admin')"}
        ).json()
        bad = client.get("/v1.0/users", params={"$filter": "accountEnabled eq"})
    assert (
        "signInActivity" not in default and "accountEnabled" not in default
    )  # only when selected, as in Graph
    assert all("signInActivity" in u and "accountEnabled" in u for u in selected)
    assert sum(1 for u in selected if "manager" in u) == sum(
        1 for a in small_org.entra.accounts if a.manager_key
    )
    assert disabled["@odata.count"] == sum(1 for a in small_org.entra.accounts if a.status != "active")
    assert [u["userPrincipalName"] for u in starts["value"]] == [f"it-admin@{small_org.domain}"]
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BadRequest"


def test_delta_round_trip_after_a_patch(entra, tls, small_org: SyntheticOrg) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        initial = client.get("/v1.0/users/delta", params={"$select": "id,accountEnabled"}).json()
        seen = list(initial["value"])
        while "@odata.nextLink" in initial:
            initial = client.get(initial["@odata.nextLink"]).json()
            seen += initial["value"]
        delta_link = initial["@odata.deltaLink"]
        victim = seen[3]["id"]
        assert client.patch(f"/v1.0/users/{victim}", json={"accountEnabled": False}).status_code == 204
        changed = client.get(delta_link).json()
        quiet = client.get(changed["@odata.deltaLink"]).json()
        latest = client.get("/v1.0/users/delta", params={"$deltatoken": "latest"}).json()
    assert len(seen) == len(small_org.entra.accounts)
    assert changed["value"] == [{"id": victim, "accountEnabled": False}]
    assert quiet["value"] == []
    assert latest["value"] == [] and "@odata.deltaLink" in latest


def test_transitive_members_through_nesting(entra, tls, small_org: SyntheticOrg) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        groups = all_pages(client, "/v1.0/groups?$select=id,displayName")
        all_staff = next(g for g in groups if g["displayName"] == "all-staff")
        direct = all_pages(client, f"/v1.0/groups/{all_staff['id']}/members")
        transitive = all_pages(client, f"/v1.0/groups/{all_staff['id']}/transitiveMembers?$top=999")
    assert direct and all(m["@odata.type"] == "#microsoft.graph.group" for m in direct)
    users = [m for m in transitive if m["@odata.type"] == "#microsoft.graph.user"]
    expected = {k for g in small_org.entra.groups if g.key.startswith("dept-") for k in g.member_keys}
    assert len(users) == len(expected)


def test_throttling_top_level_and_inside_batch(entra, tls) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        client.post("/_emulator/rate", json={"limit": 3, "window_s": 60})
        batch = client.post(
            "/v1.0/$batch",
            json={"requests": [{"id": str(i), "method": "GET", "url": "/users?$top=1"} for i in range(5)]},
        )
        top_level = client.get("/v1.0/users")
        too_many = client.post(
            "/v1.0/$batch",
            json={"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]},
        )
    assert batch.status_code == 200
    statuses = [r["status"] for r in batch.json()["responses"]]
    assert statuses == [200, 200, 200, 429, 429]
    assert int(batch.json()["responses"][3]["headers"]["Retry-After"]) >= 1
    assert top_level.status_code == 429 and int(top_level.headers["Retry-After"]) >= 1
    assert top_level.json()["error"]["code"] == "TooManyRequests"
    assert too_many.status_code == 400


def test_5xx_fault_and_mutations_in_journal_and_state(entra, tls, small_org: SyntheticOrg) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        client.post("/_emulator/faults", json={"spec": "5xx:1"})
        failed = client.get("/v1.0/users")
        client.post("/_emulator/faults", json={"spec": ""})
        user = client.get(f"/v1.0/users/{small_org.entra.accounts[5].login}").json()
        group = client.get(f"/v1.0/users/{user['id']}/memberOf").json()["value"][0]
        assert client.patch(f"/v1.0/users/{user['id']}", json={"accountEnabled": False}).status_code == 204
        assert client.post(f"/v1.0/users/{user['id']}/revokeSignInSessions").json()["value"] is True
        assert client.delete(f"/v1.0/groups/{group['id']}/members/{user['id']}/$ref").status_code == 204
        again = client.delete(f"/v1.0/groups/{group['id']}/members/{user['id']}/$ref")
        state = client.get(f"/_emulator/state/users/{user['id']}").json()
        journal = client.get("/_emulator/journal").json()
    assert failed.status_code == 503 and failed.headers["Retry-After"]
    assert again.status_code == 404 and again.json()["error"]["code"] == "Request_ResourceNotFound"
    assert state["user"]["accountEnabled"] is False and state["sessions_revoked_at"]
    assert group["displayName"] not in state["groups"]
    assert [(e["method"], e["status"]) for e in journal] == [
        ("PATCH", 204),
        ("POST", 200),
        ("DELETE", 204),
        ("DELETE", 404),
    ]


def test_group_owners(entra, tls, small_org: SyntheticOrg) -> None:
    url, _ = entra
    owned = next(g for g in small_org.entra.groups if g.owner_keys)
    owner = next(a for a in small_org.entra.accounts if a.key == owned.owner_keys[0])
    with graph(url, tls) as client:
        group = client.get("/v1.0/groups", params={"$filter": f"displayName eq '{owned.name}'"}).json()
        owners = all_pages(client, f"/v1.0/groups/{group['value'][0]['id']}/owners")
    assert [(o["@odata.type"], o["userPrincipalName"]) for o in owners] == [
        ("#microsoft.graph.user", owner.login)
    ]


def test_unknown_paths_answer_with_graph_errors(entra, tls) -> None:
    url, _ = entra
    with graph(url, tls) as client:
        segment = client.get("/v1.0/nonsense")
        outside = client.get("/v2/users")
        method = client.put("/v1.0/users")
    assert (segment.status_code, segment.json()["error"]["code"]) == (400, "BadRequest")
    assert "'nonsense'" in segment.json()["error"]["message"]
    assert (outside.status_code, outside.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert method.status_code == 405 and method.json()["error"]["message"]


def test_a_directory_role_held_by_a_role_assignable_group(entra, tls, small_org: SyntheticOrg) -> None:
    """The requests the Entra connector sends for roles, answered as Graph does when a role-assignable
    group is the principal: ``$expand=principal($select=id)`` names it a #microsoft.graph.group."""
    url, _ = entra
    group = next(g for g in small_org.entra.groups if g.key == "helpdesk-admins")
    with graph(url, tls) as client:
        definitions = client.get("/v1.0/roleManagement/directory/roleDefinitions").json()["value"]
        role_id = next(d["id"] for d in definitions if d["displayName"] == "Helpdesk Administrator")
        gid = client.get("/v1.0/groups", params={"$filter": f"displayName eq '{group.name}'"}).json()[
            "value"
        ][0]["id"]
        assert client.get(f"/v1.0/groups/{gid}", params={"$select": "id,isAssignableToRole"}).json() == {
            "id": gid,
            "isAssignableToRole": True,
        }
        assignments = client.get(
            "/v1.0/roleManagement/directory/roleAssignments",
            params={"$filter": f"roleDefinitionId eq '{role_id}'", "$expand": "principal($select=id)"},
        ).json()["value"]
        principals = sorted((a["principal"]["@odata.type"], a["principal"]) for a in assignments)
        kinds = [kind for kind, _ in principals]
        assert kinds == ["#microsoft.graph.group", "#microsoft.graph.user"]  # the group, one direct holder
        assert principals[0][1] == {"@odata.type": "#microsoft.graph.group", "id": gid}
        assert set(principals[1][1]) == {"@odata.type", "id"}
        full = client.get(
            "/v1.0/roleManagement/directory/roleAssignments",
            params={"$filter": f"principalId eq '{gid}'", "$expand": "principal"},
        ).json()["value"]
        assert [(a["roleDefinitionId"], a["principal"]["displayName"]) for a in full] == [
            (role_id, group.name)
        ]
        members = all_pages(client, f"/v1.0/groups/{gid}/transitiveMembers?$select=id&$top=999")
        assert len(members) == len(group.member_keys)
        assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members)
        role_members = client.get(f"/v1.0/directoryRoles/{role_id}/members").json()["value"]
        assert "#microsoft.graph.group" in {m["@odata.type"] for m in role_members}
        member_of = client.get(
            f"/v1.0/users/{members[0]['id']}/memberOf", params={"$select": "id,isAssignableToRole"}
        ).json()["value"]
        assert {"@odata.type": "#microsoft.graph.group", "id": gid, "isAssignableToRole": True} in member_of
        state = client.get(f"/_emulator/state/users/{members[0]['id']}").json()
        assert "Helpdesk Administrator" in state["roles_through_groups"]
