"""The Okta emulator's responses validate against Okta's official management OpenAPI spec."""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from connectors.emulators.model import SyntheticOrg
from connectors.emulators.okta import create_app

SPEC_CANDIDATES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "okta-management-openapi.yaml",
    Path("/work/shared/reference/okta-management-openapi.yaml"),
)


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` becomes a null type; vendor keys go."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if not k.startswith("x-") and k != "discriminator"}
    if node.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out:
            return {"anyOf": [{"type": "null"}, {k: v for k, v in out.items() if k in ("$ref", "allOf")}]}
    return out


@cache
def spec() -> dict[str, Any]:
    for path in SPEC_CANDIDATES:
        if path.exists():
            with path.open() as handle:
                return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    pytest.fail(f"the Okta OpenAPI spec is missing (looked in {', '.join(map(str, SPEC_CANDIDATES))})")


@cache
def components() -> dict[str, Any]:
    return {"schemas": _to_json_schema(spec()["components"]["schemas"])}


def validate(instance: dict[str, Any], schema_name: str) -> None:
    """Validate against the named schema, or the subtype its discriminator names."""
    raw = spec()["components"]["schemas"][schema_name]
    discriminator = raw.get("discriminator")
    if discriminator and instance.get(discriminator["propertyName"]) in discriminator.get("mapping", {}):
        schema_name = discriminator["mapping"][instance[discriminator["propertyName"]]].split("/")[-1]
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components()}
    jsonschema.Draft7Validator(schema).validate(instance)


@pytest.fixture(scope="module")
def okta(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> httpx.Client:
    from connectors.emulators.control import EmulatorControl
    from connectors.emulators.generate import generate_org
    from connectors.emulators.server import ServerThread, make_tls

    org: SyntheticOrg = generate_org(150, seed=11)
    tls = make_tls(Path(tmp_path_factory.mktemp("okta-tls")))
    server = ServerThread(tls=tls)
    server.app = create_app(org.okta, EmulatorControl(), base_url=server.url)
    server.start()
    request.addfinalizer(server.stop)
    client = httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(tls.ca_path)),
        headers={"Authorization": "SSWS token"},
    )
    request.addfinalizer(client.close)
    return client


def test_users_validate(okta: httpx.Client) -> None:
    users = okta.get("/api/v1/users", params={"limit": 200}).json()
    users += okta.get("/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'}).json()
    assert len(users) > 100
    for user in users:
        validate(user, "User")
    validate(okta.get(f"/api/v1/users/{users[0]['id']}").json(), "User")


def test_groups_and_group_users_validate(okta: httpx.Client) -> None:
    groups = okta.get("/api/v1/groups").json()
    assert {g["type"] for g in groups} == {"OKTA_GROUP", "BUILT_IN"}
    for group in groups:
        validate(group, "Group")
    for member in okta.get(f"/api/v1/groups/{groups[0]['id']}/users").json():
        validate(member, "User")


def test_factors_validate(okta: httpx.Client) -> None:
    kinds = set()
    for user in okta.get("/api/v1/users", params={"limit": 60}).json():
        for factor in okta.get(f"/api/v1/users/{user['id']}/factors").json():
            validate(factor, "UserFactor")
            kinds.add(factor["factorType"])
    assert len(kinds) >= 3  # several factor types were checked, each against its own schema


def test_apps_and_app_users_validate(okta: httpx.Client) -> None:
    apps = okta.get("/api/v1/apps", params={"limit": 200}).json()
    assert apps
    for app in apps:
        validate(app, "Application")
    for app_user in okta.get(f"/api/v1/apps/{apps[0]['id']}/users").json():
        validate(app_user, "AppUser")


def test_errors_validate(okta: httpx.Client) -> None:
    validate(okta.get("/api/v1/users/does-not-exist").json(), "Error")


def test_validation_can_fail() -> None:
    """The check is real: objects Okta would never send are rejected."""
    with pytest.raises(jsonschema.ValidationError):
        validate({"id": "00u1", "status": "HAPPY", "profile": {"login": "a@example.com"}}, "User")
    with pytest.raises(jsonschema.ValidationError):
        validate({"id": "00g1", "type": "PARTY_GROUP", "profile": {"name": "x"}}, "Group")
    with pytest.raises(jsonschema.ValidationError):
        validate(
            {
                "created": "x",
                "lastUpdated": "x",
                "scope": "EVERYONE",
                "status": "ACTIVE",
                "statusChanged": "x",
                "_links": {},
            },
            "AppUser",
        )


def test_app_and_group_assignment_listings_validate(okta: httpx.Client) -> None:
    apps = okta.get("/api/v1/apps", params={"limit": 200}).json()
    assigned = [g for app in apps for g in okta.get(f"/api/v1/apps/{app['id']}/groups").json()]
    assert assigned
    for assignment in assigned:
        validate(assignment, "ApplicationGroupAssignment")
    group_apps = okta.get(f"/api/v1/groups/{assigned[0]['id']}/apps").json()
    assert group_apps
    for app in group_apps:
        validate(app, "Application")


def test_group_rules_me_and_empty_listings_validate(okta: httpx.Client) -> None:
    rules = okta.get("/api/v1/groups/rules").json()
    assert rules
    for rule in rules:
        validate(rule, "GroupRule")
    validate(okta.get("/api/v1/users/me").json(), "User")
    group = okta.get("/api/v1/groups", params={"limit": 1}).json()[0]
    assert okta.get(f"/api/v1/groups/{group['id']}/roles").json() == []
    assert okta.get("/api/v1/trustedOrigins").json() == []


def test_unknown_paths_and_methods_answer_with_okta_errors(okta: httpx.Client) -> None:
    missing = okta.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "E0000007"
    assert missing.json()["errorSummary"].startswith("Not found: Resource not found: /api/v1/no-such-thing")
    validate(missing.json(), "Error")
    wrong_method = okta.patch("/api/v1/groups")
    assert wrong_method.status_code == 405 and wrong_method.json()["errorCode"] == "E0000022"
    validate(wrong_method.json(), "Error")
    assert "x-rate-limit-remaining" in missing.headers


def test_custom_roles_and_role_assignments_validate(okta: httpx.Client) -> None:
    """Custom roles (IamRoles), a user's custom role assignment, a group's role assignment and the
    same assignment as its members' listings show it (assignmentType GROUP) are all Okta's shapes."""
    listing = okta.get("/api/v1/iam/roles").json()
    validate(listing, "IamRoles")
    (custom,) = listing["roles"]
    validate(custom, "IamRole")
    validate(okta.get(f"/api/v1/iam/roles/{custom['id']}").json(), "IamRole")
    assert okta.get("/api/v1/iam/roles", params={"after": custom["id"]}).json() == {"roles": [], "_links": {}}

    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for user in okta.get("/api/v1/users", params={"limit": 200}).json():
        for role in okta.get(f"/api/v1/users/{user['id']}/roles").json():
            validate(role, "Role")
            seen.setdefault((role["type"], role["assignmentType"]), role)
    assert {("SUPER_ADMIN", "USER"), ("CUSTOM", "USER"), ("HELP_DESK_ADMIN", "GROUP")} <= set(seen)
    assigned = seen[("CUSTOM", "USER")]
    assert assigned["role"] == custom["id"] and assigned["label"] == custom["label"]
    assert assigned["_links"]["role"]["href"].endswith(f"/api/v1/iam/roles/{custom['id']}")
    assert assigned["resource-set"].startswith("iam")

    group_id = seen[("HELP_DESK_ADMIN", "GROUP")]["_links"]["assignee"]["href"].rsplit("/", 1)[-1]
    group_roles = okta.get(f"/api/v1/groups/{group_id}/roles").json()
    for role in group_roles:
        validate(role, "Role")
    assert [(r["type"], r["assignmentType"], r["id"]) for r in group_roles] == [
        ("HELP_DESK_ADMIN", "GROUP", seen[("HELP_DESK_ADMIN", "GROUP")]["id"])
    ]


def test_role_validation_can_fail() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate({"id": "ra1", "type": "CUSTOM", "assignmentType": "EVERYONE"}, "Role")
    with pytest.raises(jsonschema.ValidationError):
        validate({"roles": [{"id": "cr0", "label": "x"}]}, "IamRoles")  # IamRole needs a description


def test_role_holder_listing_validates(okta: httpx.Client) -> None:
    """listUsersWithRoleAssignments: RoleAssignedUsers on every page, Okta's Error when refused."""
    page = okta.get("/api/v1/iam/assignees/users", params={"limit": 1}).json()
    validate(page, "RoleAssignedUsers")
    assert len(page["value"]) == 1 and page["_links"]["next"]["href"]
    validate(okta.get(page["_links"]["next"]["href"]).json(), "RoleAssignedUsers")
    validate(okta.get("/api/v1/iam/assignees/users", params={"limit": "x"}).json(), "Error")
    with pytest.raises(jsonschema.ValidationError):
        validate({"value": [{"id": 7}], "_links": {}}, "RoleAssignedUsers")


def test_oauth_grants_clients_and_refresh_tokens_validate(okta: httpx.Client) -> None:
    checked = {"grants": 0, "tokens": 0, "clients": 0}
    for user in okta.get("/api/v1/users", params={"limit": 40}).json():
        uid = user["id"]
        for grant in okta.get(f"/api/v1/users/{uid}/grants", params={"expand": "scope"}).json():
            validate(grant, "OAuth2ScopeConsentGrant")
            checked["grants"] += 1
        for client in okta.get(f"/api/v1/users/{uid}/clients").json():
            validate(client, "OAuth2Client")
            checked["clients"] += 1
            for token in okta.get(f"/api/v1/users/{uid}/clients/{client['client_id']}/tokens").json():
                validate(token, "OAuth2RefreshToken")
                checked["tokens"] += 1
    assert all(checked.values()), checked


def test_write_errors_validate(okta: httpx.Client) -> None:
    suspended = okta.get("/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'}).json()[0]
    refused = okta.post(f"/api/v1/users/{suspended['id']}/lifecycle/suspend")
    assert refused.status_code == 400
    validate(refused.json(), "Error")
    missing = okta.delete(f"/api/v1/users/{suspended['id']}/grants/oagnosuchgrant000000")
    assert missing.status_code == 404
    validate(missing.json(), "Error")
