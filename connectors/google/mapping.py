"""Pure functions from the Directory API's JSON to accessctl's value types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    AccountRecord,
    AccountStatus,
    EntitlementKind,
    EntitlementRecord,
    GrantRecord,
    MfaRecord,
    MfaState,
)

NEVER = "1970-01-01T00:00:00.000Z"


def parse_time(value: str | None) -> datetime | None:
    if not value or value == NEVER:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def mfa_from_user(user: Mapping[str, Any]) -> MfaRecord:
    """2-step verification from the user listing.  The Directory API says whether the user is enrolled
    and whether 2SV is enforced for them, not which methods they use: an enrolled user has the one
    method "2sv"; enforcement goes in ``enforced`` (enforced but not enrolled stays NOT_ENROLLED)."""
    enrolled = user.get("isEnrolledIn2Sv")
    enforced = user.get("isEnforcedIn2Sv")
    enforced = enforced if isinstance(enforced, bool) else None
    if enrolled is None:
        return MfaRecord(user["id"], MfaState.UNKNOWN, [], enforced=enforced)
    return MfaRecord(
        user["id"],
        MfaState.ENROLLED if enrolled else MfaState.NOT_ENROLLED,
        ["2sv"] if enrolled else [],
        enforced=enforced,
    )


def account_from_user(user: Mapping[str, Any]) -> AccountRecord:
    primary = user["primaryEmail"]
    aliases: list[str] = []
    for address in [*(user.get("aliases") or []), *(e.get("address") for e in user.get("emails") or [])]:
        if address and address.lower() != primary.lower() and address not in aliases:
            aliases.append(address)
    employee_id = next(
        (e.get("value") for e in user.get("externalIds") or [] if e.get("type") == "organization"), None
    )
    manager = next((r.get("value") for r in user.get("relations") or [] if r.get("type") == "manager"), None)
    organizations = user.get("organizations") or []
    organization = next(
        (o for o in organizations if o.get("primary")), organizations[0] if organizations else {}
    )
    name = user.get("name") or {}
    return AccountRecord(
        external_id=user["id"],
        login=primary,
        status=AccountStatus.SUSPENDED
        if user.get("suspended") or user.get("archived")
        else AccountStatus.ACTIVE,
        email=primary,
        aliases=aliases,
        display_name=name.get("fullName")
        or " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p),
        employee_id=employee_id or None,
        manager_login=manager,
        department=organization.get("department"),
        title=organization.get("title"),
        created_at=parse_time(user.get("creationTime")),
        last_login_at=parse_time(user.get("lastLoginTime")),
        mfa=mfa_from_user(user),
    )


def entitlement_from_group(group: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        group["id"], EntitlementKind.GROUP, group.get("name") or group["email"], group.get("description")
    )


def is_group_assignment(assignment: Mapping[str, Any]) -> bool:
    """A role assigned to a group (every member holds it) rather than to a user."""
    return str(assignment.get("assigneeType", "user")).lower() == "group"


def grant_from_role_assignment(account_id: str, assignment: Mapping[str, Any]) -> GrantRecord:
    """``account_id``'s role from ``assignment``: inherited, via the group, when assigned to a group."""
    via = assignment["assignedTo"] if is_group_assignment(assignment) else None
    return GrantRecord(
        account_id, EntitlementKind.ROLE, str(assignment["roleId"]), inherited=via is not None, via=via
    )


def entitlement_from_role(role: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        str(role["roleId"]),
        EntitlementKind.ROLE,
        role.get("roleName") or str(role["roleId"]),
        role.get("roleDescription"),
        privileged=True,
    )
