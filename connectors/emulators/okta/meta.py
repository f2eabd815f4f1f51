"""Pure renderers for Okta objects the org derives rather than stores: the user type and schema,
group rules, app-to-group assignments and activation tokens."""

from __future__ import annotations

import secrets
from typing import Any

from connectors.emulators.okta.state import USER_TYPE_ID, Group, iso

USER_SCHEMA_ID = "osc1ab2cd3ef4gh5ij6k"
ADMIN_ID = "00uadmin000000000000"  # who created the org's built-in objects


def user_type_json(base_url: str) -> dict[str, Any]:
    return {
        "id": USER_TYPE_ID,
        "displayName": "User",
        "name": "user",
        "description": "Okta user profile template with default permission settings",
        "default": True,
        "createdBy": ADMIN_ID,
        "lastUpdatedBy": ADMIN_ID,
        "created": "2024-01-01T00:00:00.000Z",
        "lastUpdated": "2024-01-01T00:00:00.000Z",
        "_links": {
            "self": {"href": f"{base_url}/api/v1/meta/types/user/{USER_TYPE_ID}"},
            "schema": {"href": f"{base_url}/api/v1/meta/schemas/user/{USER_SCHEMA_ID}"},
        },
    }


def _attribute(title: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"title": title, "type": kind, "mutability": "READ_WRITE", "scope": "NONE", **extra}


def user_schema_json(base_url: str, schema_id: str) -> dict[str, Any]:
    return {
        "id": f"{base_url}/meta/schemas/user/{schema_id}",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "name": "user",
        "title": "User",
        "type": "object",
        "created": "2024-01-01T00:00:00.000Z",
        "lastUpdated": "2024-01-01T00:00:00.000Z",
        "definitions": {
            "base": {
                "id": "#base",
                "type": "object",
                "properties": {
                    "login": _attribute("Username", required=True, minLength=5, maxLength=100),
                    "firstName": _attribute("First name"),
                    "lastName": _attribute("Last name"),
                    "email": _attribute("Primary email", format="email", required=True),
                    "secondEmail": _attribute("Secondary email", format="email"),
                    "displayName": _attribute("Display name"),
                    "employeeNumber": _attribute("Employee number"),
                    "department": _attribute("Department"),
                    "title": _attribute("Title"),
                    "manager": _attribute("Manager"),
                    "managerId": _attribute("ManagerId"),
                    "userType": _attribute("User type"),
                },
                "required": ["login", "firstName", "lastName", "email"],
            },
            "custom": {"id": "#custom", "type": "object", "properties": {}, "required": []},
        },
        "properties": {
            "profile": {"allOf": [{"$ref": "#/definitions/base"}, {"$ref": "#/definitions/custom"}]}
        },
    }


def group_rule_id(group: Group) -> str:
    return "0pr" + group.id[3:]


def group_rule_json(group: Group) -> dict[str, Any] | None:
    """The rule that fills a department group (``dept-...``); None for groups no rule fills."""
    if not group.name.startswith("dept-"):
        return None
    department = group.name.removeprefix("dept-").replace("-", " ").title()
    return {
        "id": group_rule_id(group),
        "type": "group_rule",
        "status": "ACTIVE",
        "name": f"Department {department}",
        "created": iso(group.created),
        "lastUpdated": iso(group.created),
        "conditions": {
            "expression": {"type": "urn:okta:expression:1.0", "value": f'user.department=="{department}"'},
            "people": {"users": {"exclude": []}},
        },
        "actions": {"assignUserToGroups": {"groupIds": [group.id]}},
    }


def app_group_json(base_url: str, app_id: str, group: Group, priority: int) -> dict[str, Any]:
    return {
        "id": group.id,
        "lastUpdated": iso(group.created),
        "priority": priority,
        "profile": {},
        "_links": {
            "app": {"href": f"{base_url}/api/v1/apps/{app_id}"},
            "self": {"href": f"{base_url}/api/v1/apps/{app_id}/groups/{group.id}"},
            "group": {"href": f"{base_url}/api/v1/groups/{group.id}"},
        },
    }


def activation_token_json(base_url: str) -> dict[str, Any]:
    """What ``lifecycle/activate?sendEmail=false`` returns: a one-time link to give the user."""
    token = secrets.token_urlsafe(15)[:20]
    return {"activationUrl": f"{base_url}/welcome/{token}", "activationToken": token}
