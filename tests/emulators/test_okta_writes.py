"""The Okta emulator's writes through the official okta SDK: the user state machine, sessions, OAuth
consent grants and refresh tokens, group, app and role assignments, each read back through the
Management API (never the emulator's state endpoint)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.okta import create_app
from tests.emulators.test_okta_emulator import http, sdk_run


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(60, seed=5)


def _with_oauth(org: SyntheticOrg) -> Any:
    return next(a for a in org.okta.accounts if len(a.oauth_grants) == 2)


def _role_type(role: Any) -> str:
    """A role in the SDK's listing is a oneOf wrapper (standard or custom) around the assignment."""
    return str(getattr(role, "actual_instance", role).type)


def _error(outcome: tuple[Any, ...]) -> Any:
    """The SDK returns (result, response, error) or (response, error): the error is last."""
    return outcome[-1]


def test_the_user_state_machine_and_its_errors(serve, tls, org: SyntheticOrg) -> None:
    server, _ = serve(create_app, org.okta)
    account = next(a for a in org.okta.accounts if a.status == "active" and a.person_employee_id)

    async def body(client: Any) -> dict[str, Any]:
        user, _, _ = await client.get_user(account.login)
        uid = user.id

        async def status() -> str:
            fetched, _, err = await client.get_user(uid)
            assert err is None
            return str(fetched.status.value if hasattr(fetched.status, "value") else fetched.status)

        seen: dict[str, Any] = {}
        assert _error(await client.suspend_user(uid)) is None
        seen["suspended"] = await status()
        seen["suspend_again"] = _error(await client.suspend_user(uid))
        seen["deactivate_suspended"] = _error(await client.deactivate_user(uid))
        seen["deactivated"] = await status()
        seen["deactivate_again"] = _error(await client.deactivate_user(uid))
        seen["unsuspend_deprovisioned"] = _error(await client.unsuspend_user(uid))
        token, _, err = await client.activate_user(uid, send_email=False)
        assert err is None
        seen["token"] = token
        seen["activated"] = await status()
        seen["reactivate_active"] = _error(await client.reactivate_user(uid))
        return seen

    seen = sdk_run(server.url, tls, body)
    assert seen["suspended"] == "SUSPENDED" and seen["deactivated"] == "DEPROVISIONED"
    assert seen["activated"] == "ACTIVE"
    assert seen["token"].activation_token and seen["token"].activation_url.endswith(
        seen["token"].activation_token
    )
    for refused, cause in (
        ("suspend_again", "Cannot suspend a user that is not active"),
        ("deactivate_again", "Cannot deactivate a user that is deprovisioned"),
        ("unsuspend_deprovisioned", "Cannot unsuspend a user that is not suspended"),
        ("reactivate_active", "Cannot reactivate a user that is not provisioned"),
    ):
        err = seen[refused]
        assert err is not None and err.status == 400 and err.error_code == "E0000001", refused
        assert cause in str(err), refused
    with http(server.url, tls) as client:
        uid = client.get(f"/api/v1/users/{account.login}").json()["id"]
        bad = client.post(f"/api/v1/users/{uid}/lifecycle/suspend", params={"sendEmail": "maybe"})
        logged = client.get("/api/v1/logs", params={"filter": f'target.id eq "{uid}"'}).json()
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E0000001"
    assert [e["eventType"] for e in logged] == [
        "user.lifecycle.suspend",
        "user.lifecycle.deactivate",
        "user.lifecycle.activate",
    ]


def test_sessions_with_oauth_tokens_end_the_tokens_and_grants_go_separately(
    serve, tls, org: SyntheticOrg
) -> None:
    server, _ = serve(create_app, org.okta)
    account = _with_oauth(org)

    async def body(client: Any) -> dict[str, Any]:
        user, _, _ = await client.get_user(account.login)
        uid = user.id
        seen: dict[str, Any] = {}
        clients, _, err = await client.list_user_clients(uid)
        assert err is None
        seen["clients"] = [c.client_id for c in clients]
        first = seen["clients"][0]
        tokens, _, err = await client.list_refresh_tokens_for_user_and_client(uid, first)
        assert err is None
        seen["tokens_before"] = [t.id for t in tokens]
        grants, _, err = await client.list_user_grants(uid, expand="scope")
        assert err is None
        seen["grants_before"] = {(g.client_id, g.scope_id) for g in grants}
        assert _error(await client.revoke_user_sessions(uid, oauth_tokens=True)) is None
        tokens, _, _ = await client.list_refresh_tokens_for_user_and_client(uid, first)
        seen["tokens_after_sessions"] = tokens
        grants, _, _ = await client.list_user_grants(uid)
        seen["grants_after_sessions"] = len(grants)
        one = grants[0]
        assert _error(await client.revoke_user_grant(uid, one.id)) is None
        _, _, seen["gone_grant"] = await client.get_user_grant(uid, one.id)
        seen["revoke_gone_grant"] = _error(await client.revoke_user_grant(uid, one.id))
        assert _error(await client.revoke_grants_for_user_and_client(uid, seen["clients"][1])) is None
        grants, _, _ = await client.list_user_grants(uid)
        seen["clients_left"] = {g.client_id for g in grants}
        assert _error(await client.revoke_user_grants(uid)) is None
        grants, _, _ = await client.list_user_grants(uid)
        clients, _, _ = await client.list_user_clients(uid)
        seen["grants_at_end"], seen["clients_at_end"] = grants, clients
        return seen

    seen = sdk_run(server.url, tls, body)
    assert set(seen["clients"]) == {g.client_id for g in account.oauth_grants}
    assert len(seen["tokens_before"]) == 1 and seen["tokens_after_sessions"] == []
    expected = {(g.client_id, s) for g in account.oauth_grants for s in g.scopes}
    assert seen["grants_before"] == expected
    assert seen["grants_after_sessions"] == len(expected)  # oauthTokens ends tokens, not consent grants
    assert seen["gone_grant"].status == 404 and seen["gone_grant"].error_code == "E0000007"
    assert seen["revoke_gone_grant"].status == 404
    assert seen["clients_left"] == {seen["clients"][0]}
    assert seen["grants_at_end"] == [] and seen["clients_at_end"] == []


def test_one_refresh_token_and_a_clients_tokens_are_revoked_and_listings_page(
    serve, tls, org: SyntheticOrg
) -> None:
    server, _ = serve(create_app, org.okta)
    account = _with_oauth(org)
    with http(server.url, tls) as client:
        uid = client.get(f"/api/v1/users/{account.login}").json()["id"]
        first, second = (g.client_id for g in account.oauth_grants)
        page = client.get(f"/api/v1/users/{uid}/grants", params={"limit": 1})
        following = page.headers["Link"].split(", ")[1].split(";")[0].strip("<>")
        rest = client.get(following)
        narrowed = client.get(f"/api/v1/users/{uid}/grants", params={"scopeId": "openid"}).json()
        token = client.get(f"/api/v1/users/{uid}/clients/{first}/tokens").json()[0]
        one = client.get(f"/api/v1/users/{uid}/clients/{first}/tokens/{token['id']}")
        wrong_client = client.get(f"/api/v1/users/{uid}/clients/{second}/tokens/{token['id']}")
        revoked = client.delete(f"/api/v1/users/{uid}/clients/{first}/tokens/{token['id']}")
        after = client.get(f"/api/v1/users/{uid}/clients/{first}/tokens").json()
        all_of_second = client.delete(f"/api/v1/users/{uid}/clients/{second}/tokens")
        second_after = client.get(f"/api/v1/users/{uid}/clients/{second}/tokens").json()
        unknown_client = client.get(f"/api/v1/users/{uid}/clients/0oanosuchclient00000/tokens")
        headers = client.get(f"/api/v1/users/{uid}/clients").headers
    assert page.status_code == 200 and len(page.json()) == 1 and 'rel="next"' in page.headers["Link"]
    assert rest.json() and rest.json()[0]["id"] != page.json()[0]["id"]
    assert narrowed and {g["scopeId"] for g in narrowed} == {"openid"}
    assert one.status_code == 200 and one.json()["clientId"] == first
    assert wrong_client.status_code == 404 and wrong_client.json()["errorCode"] == "E0000007"
    assert revoked.status_code == 204 and after == []
    assert all_of_second.status_code == 204 and second_after == []
    assert unknown_client.status_code == 404
    assert "X-Rate-Limit-Remaining" in headers


def test_group_app_and_role_assignments_are_removed_and_added_back(serve, tls, org: SyntheticOrg) -> None:
    server, _ = serve(create_app, org.okta)
    super_admins = next(r for r in org.okta.roles if r.name == "SUPER_ADMIN").assigned_keys
    direct = next(k for app in org.okta.apps for k in app.assigned_keys if k in super_admins)
    login = next(a.login for a in org.okta.accounts if a.key == direct)
    with http(server.url, tls) as plain:
        uid = plain.get(f"/api/v1/users/{login}").json()["id"]
        group = next(g for g in plain.get(f"/api/v1/users/{uid}/groups").json() if g["type"] == "OKTA_GROUP")
        apps = plain.get("/api/v1/apps", params={"filter": f'user.id eq "{uid}"'}).json()
        app = next(a for a in apps if a["_embedded"]["user"]["scope"] == "USER")
        role = next(r for r in plain.get(f"/api/v1/users/{uid}/roles").json() if r["type"] == "SUPER_ADMIN")

    async def body(client: Any) -> dict[str, Any]:
        from okta.models.app_user_assign_request import AppUserAssignRequest
        from okta.models.assign_role_to_user_request import AssignRoleToUserRequest
        from okta.models.standard_role_assignment_schema import StandardRoleAssignmentSchema

        def super_admin() -> Any:
            return AssignRoleToUserRequest(StandardRoleAssignmentSchema(type="SUPER_ADMIN"))

        seen: dict[str, Any] = {}
        assert _error(await client.unassign_user_from_group(group["id"], uid)) is None
        assert _error(await client.unassign_user_from_application(app["id"], uid)) is None
        assert _error(await client.unassign_role_from_user(uid, role["id"])) is None
        seen["unassign_again"] = _error(await client.unassign_role_from_user(uid, role["id"]))
        groups, _, _ = await client.list_user_groups(uid)
        roles, _, _ = await client.list_assigned_roles_for_user(uid)
        _, _, seen["app_user_gone"] = await client.get_application_user(app["id"], uid)
        seen["removed"] = (group["id"] in {g.id for g in groups}, {_role_type(r) for r in roles})
        assert _error(await client.assign_user_to_group(group["id"], uid)) is None
        assigned, _, err = await client.assign_user_to_application(
            app["id"], AppUserAssignRequest(id=uid, scope="USER")
        )
        assert err is None and assigned.id == uid
        made, _, err = await client.assign_role_to_user(uid, super_admin())
        assert err is None and _role_type(made).endswith("SUPER_ADMIN")
        seen["duplicate"] = _error(await client.assign_role_to_user(uid, super_admin()))
        groups, _, _ = await client.list_user_groups(uid)
        roles, _, _ = await client.list_assigned_roles_for_user(uid)
        app_user, _, err = await client.get_application_user(app["id"], uid)
        assert err is None, err
        seen["restored"] = (
            group["id"] in {g.id for g in groups},
            {_role_type(r) for r in roles},
            app_user.scope,
        )
        return seen

    seen = sdk_run(server.url, tls, body)
    assert seen["removed"][0] is False and not any("SUPER_ADMIN" in t for t in seen["removed"][1])
    assert seen["app_user_gone"].status == 404
    assert seen["unassign_again"].status == 404 and seen["unassign_again"].error_code == "E0000007"
    in_group, roles, scope = seen["restored"]
    assert in_group and any("SUPER_ADMIN" in t for t in roles) and scope == "USER"
    assert seen["duplicate"].status == 409 and seen["duplicate"].error_code == "E0000090"


def test_faults_and_latency_apply_to_writes_and_change_nothing(serve, tls, org: SyntheticOrg) -> None:
    server, control = serve(create_app, org.okta)
    account = next(a for a in org.okta.accounts if a.status == "active" and a.person_employee_id)
    with http(server.url, tls) as client:
        uid = client.get(f"/api/v1/users/{account.login}").json()["id"]
        control.set_faults("5xx:1")
        failed = client.post(f"/api/v1/users/{uid}/lifecycle/suspend")
        control.set_faults(None)
        control.latency_ms = 150
        import time

        started = time.monotonic()
        client.post(f"/api/v1/users/{uid}/lifecycle/suspend")
        slow = time.monotonic() - started
        control.latency_ms = 0
        status = client.get(f"/api/v1/users/{uid}").json()["status"]
    assert failed.status_code >= 500 and failed.json()["errorCode"] == "E0000009"
    assert "X-Rate-Limit-Limit" in failed.headers
    assert slow >= 0.15 and status == "SUSPENDED"


def test_a_custom_role_is_assigned_only_with_its_resource_set(serve, tls, org: SyntheticOrg) -> None:
    """Okta's CustomRoleAssignmentSchema requires ``role`` and ``resource-set``: a CUSTOM body
    without either is a 400 E0000001, an unknown role or resource set a 404 E0000007, and neither
    assigns anything; the full body gives the assignment back over the same resource set."""
    from tests.emulators.test_okta_openapi import validate

    server, _ = serve(create_app, org.okta)
    custom = next(r for r in org.okta.roles if r.custom)
    login = next(a.login for a in org.okta.accounts if a.key == custom.assigned_keys[0])
    with http(server.url, tls) as plain:
        uid = plain.get(f"/api/v1/users/{login}").json()["id"]
        roles = f"/api/v1/users/{uid}/roles"
        held = next(r for r in plain.get(roles).json() if r["type"] == "CUSTOM")
        role_id, resource_set = held["role"], held["resource-set"]
        assert plain.delete(f"{roles}/{held['id']}").status_code == 204

        def customs() -> list[tuple[str, str]]:
            return [(r["role"], r["resource-set"]) for r in plain.get(roles).json() if r["type"] == "CUSTOM"]

        no_set = plain.post(roles, json={"type": "CUSTOM", "role": role_id})
        assert no_set.status_code == 400
        validate(no_set.json(), "Error")
        assert no_set.json()["errorCode"] == "E0000001"
        assert no_set.json()["errorSummary"] == "Api validation failed: resource-set"
        assert no_set.json()["errorCauses"] == [
            {"errorSummary": "Resource set id required for a CUSTOM assignment"}
        ]
        no_role = plain.post(roles, json={"type": "CUSTOM", "resource-set": resource_set})
        assert (no_role.status_code, no_role.json()["errorSummary"]) == (400, "Api validation failed: role")
        unknown_set = plain.post(
            roles, json={"type": "CUSTOM", "role": role_id, "resource-set": "iamNoSuchSet"}
        )
        assert unknown_set.status_code == 404 and unknown_set.json()["errorCode"] == "E0000007"
        unknown_role = plain.post(
            roles, json={"type": "CUSTOM", "role": "cr0Nope", "resource-set": resource_set}
        )
        assert unknown_role.status_code == 404 and unknown_role.json()["errorCode"] == "E0000007"
        assert customs() == []

        body = {"type": "CUSTOM", "role": role_id, "resource-set": resource_set}
        made = plain.post(roles, json=body)
        assert made.status_code == 201 and (made.json()["role"], made.json()["resource-set"]) == (
            role_id,
            resource_set,
        )
        assert made.json()["_links"]["resource-set"]["href"].endswith(
            f"/api/v1/iam/resource-sets/{resource_set}"
        )
        assert plain.post(roles, json=body).status_code == 409
        assert customs() == [(role_id, resource_set)]
        types = {r["type"] for r in plain.get(roles).json()}
        kind = next(t for t in ("REPORT_ADMIN", "MOBILE_ADMIN", "READ_ONLY_ADMIN") if t not in types)
        standard = plain.post(roles, json={"type": kind})  # a standard role needs no resource set
        assert standard.status_code == 201 and "resource-set" not in standard.json()
