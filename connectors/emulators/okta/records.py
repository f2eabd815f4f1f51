"""The Okta org's records (users, groups, apps, role assignments, custom roles), their ids and
errors, and :class:`OktaData`: what the org holds and how it is looked up.  :mod:`.state` adds
loading, rendering, the System Log and the mutations."""

from __future__ import annotations

import hashlib
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_ALPHABET = string.digits + string.ascii_letters
USER_TYPE_ID = "oty1ab2cd3ef4gh5ij6k"
OKTA_STATUS = {"active": "ACTIVE", "suspended": "SUSPENDED", "deprovisioned": "DEPROVISIONED"}
FACTOR_TYPES = {
    "push": ("push", "OKTA"),
    "totp": ("token:software:totp", "GOOGLE"),
    "sms": ("sms", "OKTA"),
    "webauthn": ("webauthn", "FIDO"),
    "email": ("email", "OKTA"),
    "call": ("call", "OKTA"),
}
ROLE_LABELS = {
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


def okta_id(prefix: str, key: str) -> str:
    """A deterministic 20-character Okta-style id: a 3-character type prefix and 17 of base62."""
    number = int.from_bytes(hashlib.sha1(f"{prefix}:{key}".encode()).digest()[:13], "big")
    chars = []
    for _ in range(17):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return prefix + "".join(chars)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(UTC)


class OktaApiError(Exception):
    """Rendered as Okta's error body by the routes."""

    def __init__(self, status: int, code: str, summary: str, causes: list[str] | None = None) -> None:
        super().__init__(summary)
        self.status = status
        self.code = code
        self.summary = summary
        self.causes = causes or []


def not_found(resource_id: str, kind: str) -> OktaApiError:
    return OktaApiError(404, "E0000007", f"Not found: Resource not found: {resource_id} ({kind})")


@dataclass
class User:
    id: str
    status: str
    created: datetime
    activated: datetime | None
    status_changed: datetime | None
    last_login: datetime | None
    last_updated: datetime
    password_changed: datetime | None
    profile: dict[str, Any]
    factors: list[dict[str, Any]] = field(default_factory=list)
    sessions_cleared_at: datetime | None = None
    oauth_tokens_revoked_at: datetime | None = None
    grants_revoked_at: datetime | None = None
    _json: dict[str, Any] | None = None


@dataclass
class Group:
    id: str
    type: str
    name: str
    description: str
    created: datetime
    last_updated: datetime
    last_membership_updated: datetime
    members: dict[str, None] = field(default_factory=dict)  # ordered set of user ids
    owners: list[str] = field(default_factory=list)
    _json: dict[str, Any] | None = None


@dataclass
class App:
    id: str
    name: str
    label: str
    created: datetime
    users: dict[str, str] = field(default_factory=dict)  # user id -> scope USER/GROUP
    groups: list[str] = field(default_factory=list)


@dataclass
class RoleAssignment:
    """A standard role (``type`` SUPER_ADMIN ...) or a custom one (``type`` CUSTOM, with ``role``, the
    custom role's id, and the resource set it is bound to) assigned to a user or to a group."""

    id: str
    type: str
    assignment_type: str  # USER, or GROUP: held through group_id
    created: datetime
    role: str | None = None
    resource_set: str | None = None
    group_id: str | None = None


@dataclass
class CustomRole:
    """A custom admin role (``/api/v1/iam/roles``)."""

    id: str
    label: str
    description: str
    created: datetime


class OktaData:
    """The org's users, groups, apps and admin roles, and their lookups."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.user_order: list[str] = []
        self.user_index: dict[str, int] = {}
        self.by_login: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.group_order: list[str] = []
        self.user_groups: dict[str, dict[str, None]] = {}
        self.apps: dict[str, App] = {}
        self.app_order: list[str] = []
        self.roles: dict[str, list[RoleAssignment]] = {}  # user id -> assignments made to the user
        self.group_roles: dict[str, list[RoleAssignment]] = {}  # group id -> assignments made to the group
        self.custom_roles: dict[str, CustomRole] = {}  # in creation order
        #: the org's resource sets (``iam...`` id -> label), which custom role assignments are bound to
        self.resource_sets: dict[str, str] = {}
        self.logs: list[dict[str, Any]] = []
        #: the org's id (``00o...``), as its ORNs name it
        self.org_id = okta_id("00o", self.base_url)
        #: how /api/v1/iam/assignees/users answers: "ok", "forbidden" (403) or "absent" (404)
        self.assignees_listing = "ok"

    # -- lookups -------------------------------------------------------------------

    def user(self, key: str) -> User:
        uid = key if key in self.users else self.by_login.get(key.lower())
        if uid is None:
            raise not_found(key, "User")
        return self.users[uid]

    def group(self, gid: str) -> Group:
        if gid not in self.groups:
            raise not_found(gid, "UserGroup")
        return self.groups[gid]

    def app(self, aid: str) -> App:
        if aid not in self.apps:
            raise not_found(aid, "AppInstance")
        return self.apps[aid]

    def custom_role(self, key: str) -> CustomRole:
        """A custom role by id or by label, as ``/iam/roles/{roleIdOrLabel}`` takes it."""
        role = self.custom_roles.get(key) or next(
            (r for r in self.custom_roles.values() if r.label == key), None
        )
        if role is None:
            raise not_found(key, "CustomRole")
        return role

    def resource_set(self, rid: str) -> str:
        """A resource set's id, as a custom role assignment's ``resource-set`` names it (404 when unknown)."""
        if rid not in self.resource_sets:
            raise not_found(rid, "ResourceSet")
        return rid

    def user_role_assignments(self, uid: str) -> list[RoleAssignment]:
        """What ``/users/{id}/roles`` lists: the user's own assignments, then those of its groups."""
        held = list(self.roles.get(uid, []))
        for gid in self.user_groups.get(uid, {}):
            held += self.group_roles.get(gid, [])
        return held
