"""The Okta emulator driven by the official okta SDK (3.x) and by plain HTTP, as other tools use it."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from connectors.emulators.model import SyntheticOrg
from connectors.emulators.okta import OktaCredentials, create_app
from connectors.emulators.server import TlsMaterial


def sdk_run(
    url: str,
    tls: TlsMaterial,
    body: Callable[[Any], Awaitable[Any]],
    token: str = "test-token",
    max_retries: int = 0,
) -> Any:
    """Run ``body(client)`` with an okta SDK client whose HTTP session trusts the emulator's CA."""

    async def main() -> Any:
        import aiohttp
        from okta.client import Client

        client = Client({"orgUrl": url, "token": token, "rateLimit": {"maxRetries": max_retries}})
        context = ssl.create_default_context(cafile=str(tls.ca_path))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            client.get_request_executor().set_session(session)
            return await body(client)

    return asyncio.run(main())


def http(url: str, tls: TlsMaterial, token: str = "test-token") -> httpx.Client:
    return httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": f"SSWS {token}"},
    )


def test_sdk_pages_through_a_1000_person_org(serve, tls, org_1000: SyntheticOrg) -> None:
    server, _ = serve(create_app, org_1000.okta)

    async def body(client: Any) -> tuple[list[str], int]:
        from okta.pagination import PaginationHelper

        ids: list[str] = []
        pages = 0
        cursor = None
        while True:
            users, resp, err = await client.list_users(limit=200, after=cursor)
            assert err is None
            ids += [u.id for u in users]
            pages += 1
            cursor = PaginationHelper.extract_next_cursor(resp.headers)
            if not cursor:
                return ids, pages

    ids, pages = sdk_run(server.url, tls, body)
    expected = [a for a in org_1000.okta.accounts if a.status != "deprovisioned"]
    assert len(ids) == len(set(ids)) == len(expected)
    assert pages == -(-len(expected) // 200)


def test_sdk_reads_groups_factors_apps_roles(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    admin = next(a for a in small_org.okta.accounts if a.key == "shared-it-admin")

    async def body(client: Any) -> dict[str, Any]:
        user, _, err = await client.get_user(admin.login)
        assert err is None
        groups, _, _ = await client.list_groups(filter='type eq "BUILT_IN"')
        members, _, _ = await client.list_group_users(groups[0].id, limit=1000)
        apps, _, _ = await client.list_applications()
        app_users, _, _ = await client.list_application_users(apps[0].id)
        factors, _, _ = await client.list_factors(user.id)
        roles, _, _ = await client.list_assigned_roles_for_user(user.id)
        return {
            "login": user.profile.login,
            "everyone": (groups[0].profile.actual_instance.name, len(members)),
            "apps": len(apps),
            "app_users": len(app_users),
            "factors": factors,
            "roles": sorted(r.actual_instance.type.value for r in roles),
        }

    seen = sdk_run(server.url, tls, body)
    live = [a for a in small_org.okta.accounts if a.status != "deprovisioned"]
    assert seen["login"] == admin.login
    assert seen["everyone"] == ("Everyone", len(live))
    assert seen["apps"] == len(small_org.okta.apps)
    assert seen["app_users"] > 0
    assert seen["factors"] == []  # the shared it-admin account has no MFA: the mess is real
    assert "SUPER_ADMIN" in seen["roles"]


def test_mutations_are_applied_journaled_and_logged(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    account = next(a for a in small_org.okta.accounts if a.status == "active" and a.person_employee_id)

    async def body(client: Any) -> None:
        user, _, _ = await client.get_user(account.login)
        # the SDK returns (result, response, error) or, on some errors, (result, error): the error is last
        assert (await client.suspend_user(user.id))[-1] is None
        err = (await client.suspend_user(user.id))[-1]  # Okta refuses to suspend a suspended user
        assert err is not None and "E0000001" in str(err)
        assert (await client.revoke_user_sessions(user.id, oauth_tokens=True))[-1] is None

    sdk_run(server.url, tls, body)
    with http(server.url, tls) as client:
        uid = client.get(f"/api/v1/users/{account.login}").json()["id"]
        state = client.get(f"/_emulator/state/users/{uid}").json()
        journal = client.get("/_emulator/journal").json()
        events = client.get("/api/v1/logs", params={"filter": 'eventType eq "user.lifecycle.suspend"'}).json()
    assert state["user"]["status"] == "SUSPENDED"
    assert state["sessions_cleared_at"] and state["oauth_tokens_revoked_at"]
    assert [(e["method"], e["status"]) for e in journal] == [("POST", 200), ("POST", 400), ("DELETE", 204)]
    assert journal[2]["path"] == f"/api/v1/users/{uid}/sessions" and journal[2]["query"] == "oauthTokens=true"
    assert [e["target"][0]["id"] for e in events] == [uid]


def test_rate_limit_headers_and_429(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    with http(server.url, tls) as client:
        first = client.get("/api/v1/users", params={"limit": 1})
        assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "date"} <= set(
            first.headers
        )
        client.post("/_emulator/rate", json={"limit": 3, "window_s": 60})
        codes = [client.get("/api/v1/users", params={"limit": 1}).status_code for _ in range(4)]
        throttled = client.get("/api/v1/users", params={"limit": 1})
        groups = client.get("/api/v1/groups", params={"limit": 1})  # another endpoint family, another budget
    assert codes == [200, 200, 200, 429]
    assert throttled.json()["errorCode"] == "E0000047"
    assert throttled.headers["x-rate-limit-remaining"] == "0"
    assert int(throttled.headers["x-rate-limit-reset"]) > 0
    assert groups.status_code == 200

    async def body(client: Any) -> Any:
        return await client.list_users(limit=1)

    err = sdk_run(server.url, tls, body)[-1]
    assert err is not None and "429" in str(err)  # with retries off, the SDK surfaces the 429


def test_5xx_fault_surfaces_as_sdk_error(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    with http(server.url, tls) as client:
        client.post("/_emulator/faults", json={"spec": "page:/api/v1/users:2"})

    async def body(client: Any) -> list[Any]:
        from okta.pagination import PaginationHelper

        _, resp, err = await client.list_users(limit=50)
        assert err is None
        cursor = PaginationHelper.extract_next_cursor(resp.headers)
        _, _, err = await client.list_users(limit=50, after=cursor)
        return [err]

    (err,) = sdk_run(server.url, tls, body)
    assert err is not None and "500" in str(err)


def test_filters_and_search(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    deprovisioned = {a.login for a in small_org.okta.accounts if a.status == "deprovisioned"}
    with http(server.url, tls) as client:
        default = {u["profile"]["login"] for u in client.get("/api/v1/users").json()}
        filtered = client.get("/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'}).json()
        search = client.get("/api/v1/users", params={"search": 'profile.department eq "Engineering"'}).json()
        since = client.get(
            "/api/v1/users", params={"filter": 'lastUpdated gt "2030-01-01T00:00:00.000Z"'}
        ).json()
        bad = client.get("/api/v1/users", params={"filter": 'status eq "ACTIVE" and'})
        okta_groups = client.get("/api/v1/groups", params={"filter": 'type eq "OKTA_GROUP"'}).json()
    assert deprovisioned and not (deprovisioned & default)
    assert {u["profile"]["login"] for u in filtered} == deprovisioned
    assert search and all(u["profile"]["department"] == "Engineering" for u in search)
    assert since == []
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000031"
    assert okta_groups and all(g["type"] == "OKTA_GROUP" for g in okta_groups)


@pytest.mark.parametrize("header", ["SSWS test-token", "SSWStest-token"])
def test_ssws_with_or_without_space_and_strict_auth(serve, tls, small_org: SyntheticOrg, header: str) -> None:
    server, _ = serve(create_app, small_org.okta, strict_auth=True, credentials=OktaCredentials("test-token"))
    with httpx.Client(
        base_url=server.url, verify=ssl.create_default_context(cafile=str(tls.ca_path))
    ) as client:
        assert (
            client.get("/api/v1/users", params={"limit": 1}, headers={"Authorization": header}).status_code
            == 200
        )
        wrong = client.get("/api/v1/users", headers={"Authorization": "SSWS wrong-token"})
    assert (wrong.status_code, wrong.json()["errorCode"]) == (401, "E0000011")


def test_system_log_polls_forward(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    with http(server.url, tls) as client:
        assert client.post("/_emulator/state/churn", json={"share": 0.05, "seed": 2}).status_code == 200
        page = client.get("/api/v1/logs", params={"since": "2020-01-01T00:00:00.000Z", "limit": 5})
        events = page.json()
        following = client.get(page.links["next"]["url"]).json()
        tail = client.get(page.links["next"]["url"].replace("limit=5", "limit=1000")).json()
    assert len(events) == 5 and following
    assert events[0]["published"] <= following[0]["published"]
    assert len(tail) + 5 == len({e["uuid"] for e in events + tail})


@pytest.mark.parametrize(("spec", "status"), [("5xx:1", 503), ("timeout:1", 504), ("429:1", 429)])
def test_fault_responses_carry_rate_limit_headers(
    serve, tls, small_org: SyntheticOrg, spec: str, status: int
) -> None:
    server, control = serve(create_app, small_org.okta)
    control.hang_s = 0.05
    control.set_faults(spec)
    with http(server.url, tls) as client:
        failed = client.get("/api/v1/groups", params={"limit": 1})
    assert failed.status_code == status
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "date"} <= set(
        failed.headers
    )
    assert int(failed.headers["x-rate-limit-reset"]) > 0
    assert failed.json()["errorCode"] == ("E0000047" if status == 429 else "E0000009")


def all_pages(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of an Okta listing, following Link rel="next"; also how many pages it took."""
    response = client.get(path, params=params)
    items, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        items += response.json()
        pages += 1
        if "next" not in response.links:
            return items, pages
        response = client.get(response.links["next"]["url"])


def test_sdk_backs_off_on_429_and_succeeds(serve, tls, small_org: SyntheticOrg) -> None:
    server, control = serve(create_app, small_org.okta)
    with http(server.url, tls) as client:
        client.post("/_emulator/rate", json={"limit": 1, "window_s": 2})
        time.sleep(2 - time.time() % 2 + 0.05)  # start of a window: the spend and the 429 share it
        assert client.get("/api/v1/users", params={"limit": 1}).status_code == 200

    async def body(client: Any) -> tuple[Any, Any, float]:
        started = time.monotonic()
        users, _, err = await client.list_users(limit=2)
        return users, err, time.monotonic() - started

    users, err, waited = sdk_run(server.url, tls, body, max_retries=2)
    assert err is None and len(users) == 2
    assert control.budget.throttled == 1  # the SDK saw one 429 ...
    assert waited >= 1.0  # ... and waited for X-Rate-Limit-Reset (relative to Date) before retrying


def test_users_page_size_is_capped_at_200(serve, tls, org_1000: SyntheticOrg) -> None:
    server, _ = serve(create_app, org_1000.okta)
    with http(server.url, tls) as client:
        page = client.get("/api/v1/users", params={"limit": 500})
    assert len(page.json()) == 200
    assert "limit=200" in page.links["next"]["url"] and "after=" in page.links["next"]["url"]


def test_assignment_and_rule_listings_paginate(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    with http(server.url, tls) as client:
        groups = {g["profile"]["name"]: g["id"] for g in client.get("/api/v1/groups").json()}
        apps = client.get("/api/v1/apps", params={"limit": 200}).json()
        staff_apps, staff_pages = all_pages(client, f"/api/v1/groups/{groups['all-staff']}/apps", limit=1)
        app_groups = [all_pages(client, f"/api/v1/apps/{a['id']}/groups", limit=1)[0] for a in apps]
        rules, rule_pages = all_pages(client, "/api/v1/groups/rules", limit=2)
        searched = client.get("/api/v1/groups/rules", params={"search": "engineering"}).json()
    assert sorted(a["name"] for a in staff_apps) == ["confluence", "slack", "zoom"]
    assert staff_pages == 3
    assert sum(groups["all-staff"] in {g["id"] for g in assigned} for assigned in app_groups) == 3
    dept_groups = {gid for name, gid in groups.items() if name.startswith("dept-")}
    assert {r["actions"]["assignUserToGroups"]["groupIds"][0] for r in rules} == dept_groups
    assert len(rules) == len({r["id"] for r in rules}) and rule_pages == -(-len(rules) // 2)
    assert [r["name"] for r in searched] == ["Department Engineering"]


def test_users_me_is_the_super_admin_owning_the_token(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)

    async def body(client: Any) -> tuple[Any, list[str]]:
        me, _, err = await client.get_user("me")
        assert err is None
        roles, _, _ = await client.list_assigned_roles_for_user(me.id)
        return me, [r.actual_instance.type.value for r in roles]

    me, roles = sdk_run(server.url, tls, body)
    assert me.status.value == "ACTIVE" and "SUPER_ADMIN" in roles


def test_group_owners_user_type_and_schema(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    privileged = next(g for g in small_org.okta.groups if g.owner_keys)
    owner = next(a for a in small_org.okta.accounts if a.key == privileged.owner_keys[0])
    with http(server.url, tls) as client:
        group = client.get("/api/v1/groups", params={"q": privileged.name}).json()[0]
        owners = client.get(f"/api/v1/groups/{group['id']}/owners").json()
        user = client.get(f"/api/v1/users/{owner.login}").json()
        user_type = client.get(user["_links"]["type"]["href"]).json()
        schema = client.get(user["_links"]["schema"]["href"]).json()
        missing_type = client.get("/api/v1/meta/types/user/oty-nope")
    assert [(o["id"], o["type"], o["originType"]) for o in owners] == [(user["id"], "USER", "OKTA_DIRECTORY")]
    assert user_type["id"] == user["type"]["id"] and user_type["default"] is True
    assert set(user["profile"]) - {"mobilePhone"} <= set(schema["definitions"]["base"]["properties"])
    assert missing_type.status_code == 404 and missing_type.json()["errorCode"] == "E0000007"


def test_activate_returns_a_token_without_email_and_deactivate(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    gone = next(a for a in small_org.okta.accounts if a.status == "deprovisioned")
    active = next(a for a in small_org.okta.accounts if a.status == "active" and a.person_employee_id)
    with http(server.url, tls) as client:
        uid = client.get(f"/api/v1/users/{gone.login}").json()["id"]
        activated = client.post(f"/api/v1/users/{uid}/lifecycle/activate", params={"sendEmail": "false"})
        status_after = client.get(f"/api/v1/users/{uid}").json()["status"]
        again = client.post(f"/api/v1/users/{uid}/lifecycle/activate", params={"sendEmail": "true"})
        other = client.get(f"/api/v1/users/{active.login}").json()["id"]
        deactivated = client.post(f"/api/v1/users/{other}/lifecycle/deactivate")
        listed = {u["id"] for u in all_pages(client, "/api/v1/users")[0]}
    assert activated.status_code == 200
    token = activated.json()
    assert token["activationToken"] and token["activationUrl"].endswith(
        f"/welcome/{token['activationToken']}"
    )
    assert status_after == "ACTIVE"
    assert again.status_code == 400  # an active user cannot be activated again
    assert (deactivated.status_code, deactivated.json()) == (200, {})
    assert uid in listed and other not in listed  # deactivated users leave the default listing


def test_sdk_reads_custom_roles_and_roles_held_through_groups(serve, tls, small_org: SyntheticOrg) -> None:
    """The generated org has a custom role ("Access Reviewer") held by one user and HELP_DESK_ADMIN
    assigned to the group helpdesk-admins: the SDK reads both shapes as Okta's."""
    server, _ = serve(create_app, small_org.okta)
    custom = next(r for r in small_org.okta.roles if r.custom)
    reviewer = next(a for a in small_org.okta.accounts if a.key == custom.assigned_keys[0])
    group = next(g for g in small_org.okta.groups if g.key == "helpdesk-admins")
    member = next(a for a in small_org.okta.accounts if a.key == group.member_keys[0])

    async def body(client: Any) -> dict[str, Any]:
        roles, _, err = await client.list_roles()
        assert err is None
        user, _, _ = await client.get_user(reviewer.login)
        held, _, _ = await client.list_assigned_roles_for_user(user.id)
        groups, _, _ = await client.list_groups(q=group.name)
        group_roles, _, _ = await client.list_group_assigned_roles(groups[0].id)
        in_group, _, _ = await client.get_user(member.login)
        member_roles, _, _ = await client.list_assigned_roles_for_user(in_group.id)
        return {
            "custom": [(r.id, r.label) for r in roles.roles],
            "held": [(r.actual_instance.type.value, r.actual_instance.role) for r in held],
            "group": [
                (r.actual_instance.type.value, r.actual_instance.assignment_type.value) for r in group_roles
            ],
            "member": [
                (r.actual_instance.type.value, r.actual_instance.assignment_type.value) for r in member_roles
            ],
            "group_id": groups[0].id,
        }

    seen = sdk_run(server.url, tls, body)
    ((role_id, label),) = seen["custom"]
    assert role_id.startswith("cr0") and label == custom.name
    assert seen["held"] == [("CUSTOM", role_id)]
    assert seen["group"] == [("HELP_DESK_ADMIN", "GROUP")]
    assert ("HELP_DESK_ADMIN", "GROUP") in seen["member"]


def test_roles_held_through_a_group_are_the_groups_to_unassign(serve, tls, small_org: SyntheticOrg) -> None:
    server, _ = serve(create_app, small_org.okta)
    group = next(g for g in small_org.okta.groups if g.key == "helpdesk-admins")
    member = next(a for a in small_org.okta.accounts if a.key == group.member_keys[0])
    with http(server.url, tls) as client:
        gid = client.get("/api/v1/groups", params={"q": group.name}).json()[0]["id"]
        uid = client.get(f"/api/v1/users/{member.login}").json()["id"]
        (held,) = [
            r for r in client.get(f"/api/v1/users/{uid}/roles").json() if r["assignmentType"] == "GROUP"
        ]
        assert held["_links"]["assignee"]["href"].endswith(f"/api/v1/groups/{gid}")
        refused = client.delete(f"/api/v1/users/{uid}/roles/{held['id']}")
        assert refused.status_code == 404 and refused.json()["errorCode"] == "E0000007"
        assert held in client.get(f"/api/v1/users/{uid}/roles").json()
        state = client.get(f"/_emulator/state/users/{uid}").json()
        assert state["roles_through_groups"] == ["HELP_DESK_ADMIN"]

        assert client.delete(f"/api/v1/groups/{gid}/roles/{held['id']}").status_code == 204
        assert client.get(f"/api/v1/groups/{gid}/roles").json() == []
        assert not any(
            r["assignmentType"] == "GROUP" for r in client.get(f"/api/v1/users/{uid}/roles").json()
        )
        events = [e["eventType"] for e in client.get("/api/v1/logs").json()]
        assert events[-1] == "group.privilege.revoke"
        # unassigned already: not found again
        gone = client.delete(f"/api/v1/groups/{gid}/roles/{held['id']}")
        assert gone.status_code == 404


def test_custom_roles_page_with_after_and_limit(serve, tls, small_org: SyntheticOrg) -> None:
    from dataclasses import replace

    from connectors.emulators.model import Role

    extra = [
        Role(key=f"custom-{i}", name=f"Custom {i}", custom=True, assigned_group_keys=["dept-it"])
        for i in range(4)
    ]
    directory = replace(small_org.okta, roles=[*small_org.okta.roles, *extra])
    server, _ = serve(create_app, directory)
    with http(server.url, tls) as client:
        labels, pages, url = [], 0, "/api/v1/iam/roles?limit=2"
        while url:
            body = client.get(url).json()
            labels += [r["label"] for r in body["roles"]]
            pages += 1
            url = (body["_links"].get("next") or {}).get("href")
        assert labels == ["Access Reviewer", "Custom 0", "Custom 1", "Custom 2", "Custom 3"] and pages == 3
        by_label = client.get("/api/v1/iam/roles/Custom 2").json()
        assert client.get(f"/api/v1/iam/roles/{by_label['id']}").json() == by_label
        assert client.get("/api/v1/iam/roles/nope").status_code == 404
        # a custom role assigned to a group: the members' listings show it as CUSTOM, GROUP
        it_member = next(g for g in small_org.okta.groups if g.key == "dept-it").member_keys[0]
        login = next(a.login for a in small_org.okta.accounts if a.key == it_member)
        uid = client.get(f"/api/v1/users/{login}").json()["id"]
        customs = [r for r in client.get(f"/api/v1/users/{uid}/roles").json() if r["type"] == "CUSTOM"]
        assert {(r["label"], r["assignmentType"]) for r in customs} >= {("Custom 0", "GROUP")}
        assert all(r["_links"]["role"]["href"].endswith(r["role"]) and r["resource-set"] for r in customs)
