"""Pure functions from Okta's JSON to accessctl's value types (tested on static fixtures)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from connectors.base import (
    AccountRecord,
    AccountStatus,
    EntitlementKind,
    EntitlementRecord,
    GrantRecord,
    MfaRecord,
    MfaState,
    RateInfo,
)

STATUS = {
    "ACTIVE": AccountStatus.ACTIVE,
    "PASSWORD_EXPIRED": AccountStatus.ACTIVE,
    "LOCKED_OUT": AccountStatus.ACTIVE,
    "RECOVERY": AccountStatus.ACTIVE,
    "STAGED": AccountStatus.ACTIVE,
    "PROVISIONED": AccountStatus.ACTIVE,
    "SUSPENDED": AccountStatus.SUSPENDED,
    "DEPROVISIONED": AccountStatus.DEPROVISIONED,
}
#: Okta's standard admin role types and their labels
ROLE_TYPES = {
    "SUPER_ADMIN": "Super Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "APP_ADMIN": "Application Administrator",
    "USER_ADMIN": "Group Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "READ_ONLY_ADMIN": "Read-only Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
    "MOBILE_ADMIN": "Mobile Administrator",
    "REPORT_ADMIN": "Report Administrator",
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
}
NON_HUMAN_USER_TYPES = {"service", "system", "bot"}


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def account_from_user(user: Mapping[str, Any]) -> AccountRecord:
    profile = user.get("profile") or {}
    login = profile["login"]
    manager_id = profile.get("managerId")
    display = profile.get("displayName") or " ".join(
        p for p in (profile.get("firstName"), profile.get("lastName")) if p
    )
    aliases = [a for a in (profile.get("secondEmail"),) if a and a.lower() != login.lower()]
    return AccountRecord(
        external_id=user["id"],
        login=login,
        status=STATUS.get(user["status"], AccountStatus.ACTIVE),
        email=profile.get("email"),
        aliases=aliases,
        display_name=display,
        employee_id=profile.get("employeeNumber") or None,
        manager_external_id=manager_id if manager_id and manager_id.startswith("00u") else None,
        manager_login=profile.get("manager") if manager_id is None else None,
        department=profile.get("department"),
        title=profile.get("title"),
        created_at=parse_time(user.get("created")),
        last_login_at=parse_time(user.get("lastLogin")),
        non_human_hint=str(profile.get("userType") or "").lower() in NON_HUMAN_USER_TYPES,
    )


def mfa_from_factors(user_id: str, factors: Iterable[Mapping[str, Any]]) -> MfaRecord:
    methods = sorted({f["factorType"] for f in factors if f.get("status") == "ACTIVE"})
    return MfaRecord(user_id, MfaState.ENROLLED if methods else MfaState.NOT_ENROLLED, methods)


def entitlement_from_group(group: Mapping[str, Any]) -> EntitlementRecord:
    profile = group.get("profile") or {}
    return EntitlementRecord(
        external_id=group["id"],
        kind=EntitlementKind.GROUP,
        name=profile.get("name") or group["id"],
        description=profile.get("description"),
    )


def entitlement_from_app(app: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        external_id=app["id"],
        kind=EntitlementKind.APP,
        name=app.get("label") or app.get("name") or app["id"],
        description=app.get("name"),
    )


def role_entitlements() -> list[EntitlementRecord]:
    return [
        EntitlementRecord(role, EntitlementKind.ROLE, label, privileged=True, has_members=False)
        for role, label in ROLE_TYPES.items()
    ]


def grant_from_group_member(group_id: str, user: Mapping[str, Any]) -> GrantRecord:
    return GrantRecord(user["id"], EntitlementKind.GROUP, group_id)


def grant_from_app_user(app_id: str, app_user: Mapping[str, Any]) -> GrantRecord:
    inherited = app_user.get("scope") == "GROUP"
    return GrantRecord(app_user["id"], EntitlementKind.APP, app_id, inherited=inherited)


def custom_role_id(role: Mapping[str, Any]) -> str:
    """The custom role (``cr0...``) a CUSTOM assignment grants: its ``role`` field, else the id at the
    end of its ``_links.role`` link, else its label (unique per org)."""
    if role.get("role"):
        return str(role["role"])
    href = (((role.get("_links") or {}).get("role")) or {}).get("href")
    if href:
        return str(href).rstrip("/").rsplit("/", 1)[-1]
    return str(role["label"])


def role_entitlement_id(role: Mapping[str, Any]) -> str:
    """Standard roles are entitlements by type (SUPER_ADMIN ...); custom roles by their own id."""
    return custom_role_id(role) if role["type"] == "CUSTOM" else str(role["type"])


def resource_set_id(role: Mapping[str, Any]) -> str | None:
    """The resource set (``iam...``) a CUSTOM assignment is bound to: its ``resource-set`` field,
    else the id at the end of its ``_links.resource-set`` link; None for a standard role."""
    if role.get("type") != "CUSTOM":
        return None
    if role.get("resource-set"):
        return str(role["resource-set"])
    href = (((role.get("_links") or {}).get("resource-set")) or {}).get("href")
    return str(href).rstrip("/").rsplit("/", 1)[-1] if href else None


def grant_from_role(user_id: str, role: Mapping[str, Any]) -> GrantRecord:
    return GrantRecord(
        user_id,
        EntitlementKind.ROLE,
        role_entitlement_id(role),
        inherited=role.get("assignmentType") == "GROUP",
        scope=resource_set_id(role),
    )


def role_body(role: str, resource_set: str | None) -> dict[str, str]:
    """The body of ``POST /users/{id}/roles`` (assignRoleToUser) giving ``role`` back: a standard role
    by its type, a custom one by its id over its resource set (Okta requires both for CUSTOM)."""
    if role in ROLE_TYPES:
        return {"type": role}
    if not resource_set:
        raise ValueError(
            f"custom admin role {role} can only be assigned over a resource set, and none is known"
        )
    return {"type": "CUSTOM", "role": role, "resource-set": resource_set}


def entitlement_from_custom_role(role: Mapping[str, Any]) -> EntitlementRecord:
    """A custom admin role from /api/v1/iam/roles: privileged, like every admin role."""
    return EntitlementRecord(
        role["id"],
        EntitlementKind.ROLE,
        role.get("label") or role["id"],
        role.get("description"),
        privileged=True,
        has_members=False,
    )


def rate_from_headers(headers: Mapping[str, str], now: float | None = None) -> RateInfo | None:
    """The budget Okta states, with the reset moved onto our clock (Okta's Date header may differ)."""
    try:
        limit = int(headers["X-Rate-Limit-Limit"])
        remaining = int(headers["X-Rate-Limit-Remaining"])
        reset = int(headers["X-Rate-Limit-Reset"])
    except (KeyError, ValueError):
        return None
    now = time.time() if now is None else now
    server_now = now
    if headers.get("Date"):
        try:
            server_now = parsedate_to_datetime(headers["Date"]).timestamp()
        except (TypeError, ValueError):
            server_now = now
    return RateInfo(limit, remaining, now + max(0.0, reset - server_now))


def next_link(link_header: str | None) -> str | None:
    """The rel="next" URL of an Okta Link header."""
    if not link_header:
        return None
    for part in link_header.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


USER_EVENT_PREFIXES = ("user.", "application.user_membership.", "group.user_membership.")


def changes_from_events(events: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """(account ids, entitlement ids) touched by System Log events."""
    accounts: set[str] = set()
    entitlements: set[str] = set()
    for event in events:
        event_type = event.get("eventType", "")
        if (
            not event_type.startswith(USER_EVENT_PREFIXES)
            or (event.get("outcome") or {}).get("result") != "SUCCESS"
        ):
            continue
        for target in event.get("target") or []:
            kind = target.get("type")
            if kind == "User":
                accounts.add(target["id"])
            elif kind in ("UserGroup", "AppInstance"):
                entitlements.add(target["id"])
    return accounts, entitlements
