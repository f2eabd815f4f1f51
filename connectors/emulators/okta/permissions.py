"""Okta API tokens and what their admin role lets them do.

An API token acts with the admin role of the admin who created it.  A token Okta does not know is a
401 E0000011; a write the token's role does not allow is Okta's 403 E0000006 ("You do not have
permission to perform the requested action"), checked before the target is looked up.  Reads are
open to every admin role.  The table follows Okta's "Standard administrator roles and permissions":
a read-only admin changes nothing; a help desk admin may unsuspend, unlock and clear sessions; a
group membership admin manages memberships; an app admin app assignments; an org admin everything
but admin roles; a super admin everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connectors.emulators.okta.records import OktaApiError

SUPER_ADMIN = "SUPER_ADMIN"
READ_ONLY_ADMIN = "READ_ONLY_ADMIN"

_LIFECYCLE = re.compile(r"/api/v1/users/[^/]+/lifecycle/(?P<action>[a-z_]+)")
_SESSIONS_AND_TOKENS = re.compile(r"/api/v1/users/[^/]+/(sessions|grants.*|clients/.*)")
_USER = re.compile(r"/api/v1/users/[^/]+")
_MEMBERSHIP = re.compile(r"/api/v1/groups/[^/]+/users/[^/]+")
_APP_USERS = re.compile(r"/api/v1/apps/[^/]+/users(/[^/]+)?")
_ROLES = re.compile(r"/api/v1/(users|groups)/[^/]+/roles(/.*)?")


def write_kind(path: str) -> str:
    """What a write to ``path`` changes: "roles", "membership", "app_users", "sessions", a
    lifecycle action ("lifecycle:suspend"), or "users"/"other"."""
    if _ROLES.fullmatch(path):
        return "roles"
    if _MEMBERSHIP.fullmatch(path):
        return "membership"
    if _APP_USERS.fullmatch(path):
        return "app_users"
    if _SESSIONS_AND_TOKENS.fullmatch(path):
        return "sessions"
    lifecycle = _LIFECYCLE.fullmatch(path)
    if lifecycle:
        return f"lifecycle:{lifecycle['action']}"
    if _USER.fullmatch(path):
        return "users"
    return "other"


_USER_WRITES = frozenset(
    {"users", "sessions", "membership"}
    | {f"lifecycle:{a}" for a in ("suspend", "unsuspend", "deactivate", "activate", "reactivate", "unlock")}
)
#: role type -> the kinds of write it may make
ALLOWED_WRITES: dict[str, frozenset[str]] = {
    SUPER_ADMIN: frozenset({"*"}),
    "ORG_ADMIN": _USER_WRITES | {"app_users", "other"},
    "USER_ADMIN": _USER_WRITES,
    "HELP_DESK_ADMIN": frozenset({"sessions", "lifecycle:unsuspend", "lifecycle:unlock"}),
    "GROUP_MEMBERSHIP_ADMIN": frozenset({"membership"}),
    "APP_ADMIN": frozenset({"app_users"}),
    READ_ONLY_ADMIN: frozenset(),
    "REPORT_ADMIN": frozenset(),
    "MOBILE_ADMIN": frozenset(),
    "API_ACCESS_MANAGEMENT_ADMIN": frozenset(),
}


def denied() -> OktaApiError:
    return OktaApiError(403, "E0000006", "You do not have permission to perform the requested action")


@dataclass(frozen=True)
class ApiToken:
    """An SSWS API token, the admin role it acts with, and (optionally) the admin who created it,
    as ``/users/me`` shows; None: the org's first active super admin."""

    value: str = field(repr=False)
    role: str = SUPER_ADMIN
    owner: str | None = None

    def check(self, method: str, path: str) -> None:
        """Raise Okta's 403 when this token's role may not make this call."""
        if method in ("GET", "HEAD", "OPTIONS") or not path.startswith("/api/"):
            return
        allowed = ALLOWED_WRITES.get(self.role, frozenset())
        if "*" not in allowed and write_kind(path) not in allowed:
            raise denied()
