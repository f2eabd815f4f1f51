"""Which OAuth scopes each emulated Admin SDK method accepts, as Google's discovery documents list
them (admin directory_v1 and reports_v1, the ones google-api-python-client ships): a token needs one
of the method's scopes, else Google answers 403 insufficientPermissions with an ErrorInfo of reason
ACCESS_TOKEN_SCOPE_INSUFFICIENT.  A ``.readonly`` scope reads; every write needs the full scope
(users.patch admin.directory.user; signOut, tokens, ASPs and backup codes admin.directory.user.security;
members.delete admin.directory.group or .group.member; roleAssignments.delete
admin.directory.rolemanagement)."""

from __future__ import annotations

_AUTH = "https://www.googleapis.com/auth/"


def _scopes(*names: str) -> frozenset[str]:
    return frozenset(_AUTH + n for n in names)


USER_READ = _scopes("admin.directory.user", "admin.directory.user.readonly", "cloud-platform")
USER_GET = _scopes("admin.directory.user", "admin.directory.user.readonly")
USER_WRITE = _scopes("admin.directory.user")
USER_SECURITY = _scopes("admin.directory.user.security")
GROUP_READ = _scopes("admin.directory.group", "admin.directory.group.readonly")
GROUP_WRITE = _scopes("admin.directory.group")
MEMBER_READ = _scopes(
    "admin.directory.group",
    "admin.directory.group.member",
    "admin.directory.group.member.readonly",
    "admin.directory.group.readonly",
)
MEMBER_WRITE = _scopes("admin.directory.group", "admin.directory.group.member")
ROLE_READ = _scopes("admin.directory.rolemanagement", "admin.directory.rolemanagement.readonly")
ROLE_WRITE = _scopes("admin.directory.rolemanagement")
REPORTS_AUDIT = _scopes("admin.reports.audit.readonly")

#: the discovery document's method id -> the scopes it accepts
METHODS: dict[str, frozenset[str]] = {
    "directory.users.list": USER_READ,
    "directory.users.get": USER_GET,
    "directory.users.patch": USER_WRITE,
    "directory.users.update": USER_WRITE,
    "directory.users.makeAdmin": USER_WRITE,
    "directory.users.signOut": USER_SECURITY,
    "directory.tokens.list": USER_SECURITY,
    "directory.tokens.get": USER_SECURITY,
    "directory.tokens.delete": USER_SECURITY,
    "directory.asps.list": USER_SECURITY,
    "directory.asps.get": USER_SECURITY,
    "directory.asps.delete": USER_SECURITY,
    "directory.verificationCodes.list": USER_SECURITY,
    "directory.verificationCodes.invalidate": USER_SECURITY,
    "directory.groups.list": GROUP_READ,
    "directory.groups.get": GROUP_READ,
    "directory.groups.insert": GROUP_WRITE,
    "directory.groups.delete": GROUP_WRITE,
    "directory.members.list": MEMBER_READ,
    "directory.members.insert": MEMBER_WRITE,
    "directory.members.delete": MEMBER_WRITE,
    "directory.roles.list": ROLE_READ,
    "directory.roleAssignments.list": ROLE_READ,
    "directory.roleAssignments.insert": ROLE_WRITE,
    "directory.roleAssignments.delete": ROLE_WRITE,
    "reports.activities.list": REPORTS_AUDIT,
}

#: the RPC name Google's ErrorInfo metadata gives for a method (``metadata.method``)
_RPC = {
    "directory": "ccc.hosted.frontend.directory.v1.Directory{resource}.{verb}",
    "reports": "ccc.hosted.frontend.reports.v1.ActivitiesService.{verb}",
}


def rpc_name(method_id: str) -> str:
    api, resource, verb = method_id.split(".")
    resource = resource[0].upper() + resource[1:]
    return _RPC[api].format(resource=resource, verb=verb[0].upper() + verb[1:])
