"""Pure functions from Microsoft Graph's JSON to accessctl's value types."""

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

USER_FIELDS = (
    "id,userPrincipalName,mail,otherMails,proxyAddresses,displayName,givenName,surname,accountEnabled,"
    "employeeId,department,jobTitle,createdDateTime,userType,signInActivity"
)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _aliases(user: Mapping[str, Any], primary: set[str]) -> list[str]:
    found: list[str] = []
    for address in [*(user.get("otherMails") or []), *(user.get("proxyAddresses") or [])]:
        value = address.split(":", 1)[1] if address.lower().startswith("smtp:") else address
        if value.lower() not in primary and value not in found:
            found.append(value)
    return found


def account_from_user(user: Mapping[str, Any]) -> AccountRecord:
    upn = user["userPrincipalName"]
    mail = user.get("mail")
    activity = user.get("signInActivity") or {}
    sign_ins = [
        parse_time(activity.get(k)) for k in ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")
    ]
    known = [s for s in sign_ins if s is not None]
    display = user.get("displayName") or " ".join(
        p for p in (user.get("givenName"), user.get("surname")) if p
    )
    return AccountRecord(
        external_id=user["id"],
        login=upn,
        status=AccountStatus.ACTIVE if user.get("accountEnabled", True) else AccountStatus.SUSPENDED,
        email=mail,
        aliases=_aliases(user, {upn.lower(), (mail or "").lower()}),
        display_name=display or upn,
        employee_id=user.get("employeeId") or None,
        manager_external_id=(user.get("manager") or {}).get("id"),
        department=user.get("department"),
        title=user.get("jobTitle"),
        created_at=parse_time(user.get("createdDateTime")),
        last_login_at=max(known) if known else None,
    )


def mfa_from_registration(details: Mapping[str, Any]) -> MfaRecord:
    methods = sorted(details.get("methodsRegistered") or [])
    registered = details.get("isMfaRegistered")
    if registered is None:
        state = MfaState.UNKNOWN
    else:
        state = MfaState.ENROLLED if registered else MfaState.NOT_ENROLLED
    return MfaRecord(details["id"], state, methods)


def entitlement_from_group(group: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        group["id"], EntitlementKind.GROUP, group.get("displayName") or group["id"], group.get("description")
    )


def entitlement_from_service_principal(sp: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        sp["id"], EntitlementKind.APP, sp.get("displayName") or sp["id"], sp.get("appId")
    )


def entitlement_from_role(role: Mapping[str, Any]) -> EntitlementRecord:
    return EntitlementRecord(
        role["id"],
        EntitlementKind.ROLE,
        role.get("displayName") or role["id"],
        role.get("description"),
        privileged=True,
    )


def is_user(member: Mapping[str, Any]) -> bool:
    return member.get("@odata.type", "#microsoft.graph.user") == "#microsoft.graph.user"


def is_group(member: Mapping[str, Any]) -> bool:
    return member.get("@odata.type") == "#microsoft.graph.group"


def grant(account_id: str, kind: EntitlementKind, entitlement_id: str, via: str | None = None) -> GrantRecord:
    return GrantRecord(account_id, kind, entitlement_id, inherited=via is not None, via=via)
