"""The Okta emulator's ``GET /api/v1/iam/assignees/users`` (listUsersWithRoleAssignments): who holds an
admin role, paged as Okta pages it, refused as Okta refuses it, read by the official SDK."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from connectors.emulators.model import SyntheticOrg
from connectors.emulators.okta import create_app
from connectors.emulators.server import TlsMaterial
from tests.emulators.test_okta_emulator import sdk_run
from tests.emulators.test_okta_openapi import validate

PATH = "/api/v1/iam/assignees/users"


@pytest.fixture
def okta(serve: Any, small_org: SyntheticOrg, tls: TlsMaterial) -> tuple[str, httpx.Client]:
    server, _ = serve(create_app, small_org.okta)
    client = httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": "SSWS token"},
    )
    return server.url, client


def holders_by_key(org: SyntheticOrg, client: httpx.Client) -> tuple[set[str], set[str]]:
    """(ids of users holding a role directly, ids of those holding one only through a group)."""
    groups = {g.key: g for g in org.okta.groups}
    direct = {k for r in org.okta.roles for k in r.assigned_keys}
    through = {k for r in org.okta.roles for g in r.assigned_group_keys for k in groups[g].member_keys}
    logins = {a.key: a.login for a in org.okta.accounts}

    def ids(keys: set[str]) -> set[str]:
        return {client.get(f"/api/v1/users/{logins[k]}").json()["id"] for k in keys}

    return ids(direct), ids(through - direct)


def read_all(client: httpx.Client, limit: int) -> tuple[list[str], int]:
    """Every listed user id following the body's _links.next, checking the Link header says the same."""
    ids: list[str] = []
    response = client.get(PATH, params={"limit": limit})
    pages = 1
    while True:
        assert response.status_code == 200
        body = response.json()
        validate(body, "RoleAssignedUsers")
        assert len(body["value"]) <= limit
        ids += [u["id"] for u in body["value"]]
        following = (body["_links"].get("next") or {}).get("href")
        assert response.links.get("next", {}).get("url") == following
        if following is None:
            return ids, pages
        response = client.get(following)
        pages += 1


def test_it_lists_every_role_holder_once_in_pages(
    okta: tuple[str, httpx.Client], small_org: SyntheticOrg
) -> None:
    _, client = okta
    direct, through_a_group = holders_by_key(small_org, client)
    assert direct and through_a_group  # the org has both kinds of admin
    ids, pages = read_all(client, limit=2)
    assert len(ids) == len(set(ids)) == len(direct | through_a_group)
    assert set(ids) == direct | through_a_group  # a role held only through a group is listed too
    assert ids == sorted(ids) and pages == -(-len(ids) // 2)
    # everyone listed holds a role, and the entry links to where it says which
    first = client.get(PATH, params={"limit": 1}).json()["value"][0]
    assert first["_links"]["roles"]["href"].endswith(f"/api/v1/users/{first['id']}/roles")
    assert client.get(first["_links"]["roles"]["href"]).json()
    assert first["orn"].startswith("orn:okta:00o") and first["orn"].endswith(f":users:{first['id']}")


def test_limits_and_a_bad_limit(okta: tuple[str, httpx.Client]) -> None:
    _, client = okta
    everyone, _ = read_all(client, limit=200)
    default = client.get(PATH)
    assert len(default.json()["value"]) == min(100, len(everyone))
    assert "limit=100" in default.headers["link"]
    clamped = client.get(PATH, params={"limit": 5000})
    assert "limit=200" in clamped.headers["link"] and clamped.json()["value"] == default.json()["value"]
    bad = client.get(PATH, params={"limit": "many"})
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
    validate(bad.json(), "Error")
    past_the_end = client.get(PATH, params={"after": everyone[-1]})
    assert past_the_end.json() == {"value": [], "_links": {}}
    for response in (default, bad):
        assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(response.headers)


def test_an_unassigned_role_leaves_the_listing(
    okta: tuple[str, httpx.Client], small_org: SyntheticOrg
) -> None:
    _, client = okta
    direct, through_a_group = holders_by_key(small_org, client)
    only_direct = sorted(direct - through_a_group)
    uid = next(u for u in only_direct if len(client.get(f"/api/v1/users/{u}/roles").json()) == 1)
    (role,) = client.get(f"/api/v1/users/{uid}/roles").json()
    assert client.delete(f"/api/v1/users/{uid}/roles/{role['id']}").status_code == 204
    assert uid not in read_all(client, limit=200)[0]


def test_an_org_that_refuses_it_answers_as_okta_does(okta: tuple[str, httpx.Client]) -> None:
    _, client = okta
    for answer, status, code in (("forbidden", 403, "E0000006"), ("absent", 404, "E0000007")):
        assert client.post("/_emulator/state/role-listing", json={"answer": answer}).status_code == 200
        refused = client.get(PATH)
        assert refused.status_code == status and refused.json()["errorCode"] == code
        validate(refused.json(), "Error")
        assert "x-rate-limit-remaining" in refused.headers
    assert client.post("/_emulator/state/role-listing", json={"answer": "maybe"}).status_code == 400
    client.post("/_emulator/state/role-listing", json={"answer": "ok"})
    assert client.get(PATH).status_code == 200


def test_the_official_sdk_reads_it(okta: tuple[str, httpx.Client], tls: TlsMaterial) -> None:
    url, client = okta
    expected, _ = read_all(client, limit=200)

    async def body(sdk: Any) -> list[str]:
        ids: list[str] = []
        after = None
        while True:
            page, _, error = await sdk.list_users_with_role_assignments(after=after, limit=3)
            assert error is None
            ids += [u.id for u in page.value]
            if page.links is None or page.links.next is None:
                return ids
            after = httpx.URL(page.links.next.href).params["after"]

    assert sdk_run(url, tls, body) == expected
