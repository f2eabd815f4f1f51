"""Application permissions as Graph checks them: the app registrations of the emulated tenant, the
``roles`` each one's client-credentials token carries, and the permissions each route needs.

A request whose token holds none of the permissions its route accepts gets Graph's own 403
``Authorization_RequestDenied`` ("Insufficient privileges to complete the operation."), checked before
the target is looked up, as Graph does.  The table follows the "Permissions" section of each API's
v1.0 reference page (application permissions, least to most privileged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from connectors.emulators.entra.state import GraphError

# what sync and the deprovisioning engine need: the default app registration holds exactly these
SYNC_READ = frozenset(
    {
        "User.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
        "Application.Read.All",
        "RoleManagement.Read.Directory",
        "AuditLog.Read.All",
        "UserAuthenticationMethod.Read.All",
    }
)
DEPROVISION_WRITE = frozenset(
    {
        "User.EnableDisableAccount.All",
        "User.RevokeSessions.All",
        "GroupMember.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
        "RoleManagement.ReadWrite.Directory",
    }
)
DEFAULT_ROLES = SYNC_READ | DEPROVISION_WRITE
READ_ONLY_ROLES = SYNC_READ

_DIR_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})
_USER_READ = _DIR_READ | {"User.Read.All", "User.ReadWrite.All", "User.ReadBasic.All"}
_GROUP_READ = _DIR_READ | {
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
}
_APP_READ = _DIR_READ | {
    "Application.Read.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
}
_ROLE_READ = _DIR_READ | {
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
}
_REPORT_READ = frozenset({"AuditLog.Read.All", "UserAuthenticationMethod.Read.All"})

ENABLE_DISABLE = frozenset({"User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All"})
USER_WRITE = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
REVOKE_SESSIONS = frozenset({"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"})
GROUP_MEMBER_WRITE = frozenset(
    {"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)
APP_ROLE_ASSIGNMENT_WRITE = frozenset({"AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"})
ROLE_WRITE = frozenset({"RoleManagement.ReadWrite.Directory"})

# (method, path pattern) -> the permissions any one of which lets the call through; first match wins
_ROUTES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (method, re.compile(pattern), needed)
    for method, pattern, needed in (
        ("PATCH", r"/v1\.0/users/[^/]+", ENABLE_DISABLE),  # the body narrows it: see user_patch()
        ("POST", r"/v1\.0/users/[^/]+/revokeSignInSessions", REVOKE_SESSIONS),
        ("DELETE", r"/v1\.0/users/[^/]+/appRoleAssignments/[^/]+", APP_ROLE_ASSIGNMENT_WRITE),
        ("POST", r"/v1\.0/users/[^/]+/appRoleAssignments", APP_ROLE_ASSIGNMENT_WRITE),
        ("GET", r"/v1\.0/users/[^/]+/appRoleAssignments", _USER_READ | APP_ROLE_ASSIGNMENT_WRITE),
        ("GET", r"/v1\.0/users.*", _USER_READ),
        ("GET", r"/v1\.0/reports/authenticationMethods/.*", _REPORT_READ),
        ("DELETE", r"/v1\.0/groups/[^/]+/members/[^/]+/\$ref", GROUP_MEMBER_WRITE),
        ("POST", r"/v1\.0/groups/[^/]+/members/\$ref", GROUP_MEMBER_WRITE),
        ("GET", r"/v1\.0/groups.*", _GROUP_READ),
        ("DELETE", r"/v1\.0/servicePrincipals/[^/]+/appRoleAssignedTo/[^/]+", APP_ROLE_ASSIGNMENT_WRITE),
        ("POST", r"/v1\.0/servicePrincipals/[^/]+/appRoleAssignedTo", APP_ROLE_ASSIGNMENT_WRITE),
        ("GET", r"/v1\.0/servicePrincipals.*", _APP_READ),
        ("DELETE", r"/v1\.0/roleManagement/directory/roleAssignments/[^/]+", ROLE_WRITE),
        ("POST", r"/v1\.0/roleManagement/directory/roleAssignments", ROLE_WRITE),
        ("GET", r"/v1\.0/roleManagement/.*", _ROLE_READ),
        ("DELETE", r"/v1\.0/directoryRoles/[^/]+/members/[^/]+/\$ref", ROLE_WRITE),
        ("POST", r"/v1\.0/directoryRoles/[^/]+/members/\$ref", ROLE_WRITE),
        ("GET", r"/v1\.0/directoryRoles.*", _ROLE_READ),
    )
)


def denied() -> GraphError:
    return GraphError(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def route_permissions(method: str, path: str) -> frozenset[str] | None:
    """The permissions any one of which the route accepts; None for a route that needs none ($batch,
    whose requests are each checked)."""
    for route_method, pattern, needed in _ROUTES:
        if route_method == method and pattern.fullmatch(path):
            return needed
    return None


def user_patch(changes: set[str]) -> frozenset[str]:
    """``PATCH /users/{id}``: accountEnabled alone needs User.EnableDisableAccount.All (or more); any
    other property needs User.ReadWrite.All."""
    return ENABLE_DISABLE if changes <= {"accountEnabled"} else USER_WRITE


def require(roles: frozenset[str], any_of: frozenset[str]) -> None:
    if not roles & any_of:
        raise denied()


@dataclass(frozen=True)
class AppRegistration:
    """An app registration of the tenant and the application permissions admin-consented to it."""

    client_id: str
    client_secret: str = field(repr=False)
    roles: frozenset[str] = DEFAULT_ROLES
    display_name: str = "accessctl"

    def as_public(self) -> dict[str, object]:
        return {"client_id": self.client_id, "display_name": self.display_name, "roles": sorted(self.roles)}
