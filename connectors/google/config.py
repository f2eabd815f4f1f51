"""How to reach one Google Workspace domain (service account with domain-wide delegation)."""

from __future__ import annotations

from dataclasses import dataclass, field

_AUTH = "https://www.googleapis.com/auth/"

#: what the service account is delegated (domain-wide delegation), and what each scope is for
SCOPES = (
    # users.list/get (sync); users.patch suspended (suspend_account, restore_account)
    _AUTH + "admin.directory.user",
    # users.signOut, tokens.list/delete, asps.list/delete, verificationCodes.list/invalidate
    # (revoke_sessions, verify_locked)
    _AUTH + "admin.directory.user.security",
    # groups.list/get (sync)
    _AUTH + "admin.directory.group",
    # members.list (sync); members.delete (remove_grant of a group)
    _AUTH + "admin.directory.group.member",
    # roles.list, roleAssignments.list (sync); roleAssignments.delete (remove_grant of an admin role)
    _AUTH + "admin.directory.rolemanagement",
    # the admin audit log (Reports API activities.list): the change feed for groups and admin roles
    _AUTH + "admin.reports.audit.readonly",
)
#: enough to sync, not to act (an inventory-only deployment): every action is refused with 403
READ_ONLY_SCOPES = (
    _AUTH + "admin.directory.user.readonly",
    _AUTH + "admin.directory.group.readonly",
    _AUTH + "admin.directory.group.member.readonly",
    _AUTH + "admin.directory.rolemanagement.readonly",
    _AUTH + "admin.reports.audit.readonly",
)


@dataclass(frozen=True)
class GoogleConfig:
    service_account_key_json: str = field(repr=False)
    admin_email: str
    customer_id: str = "my_customer"
    api_endpoint: str = "https://admin.googleapis.com"
    ca_bundle: str | None = None
    timeout_s: float = 30.0
    page_size: int = 500
    max_workers: int = 8
    #: how far back each read of the Reports API's admin log reaches before the previous read's
    #: start: events that reach the log this late (Google: "near real time", rarely later) are
    #: still seen by the next incremental pass
    reports_lag_s: float = 3600.0
    #: activities per Reports page (the API's maximum is 1000)
    reports_page_size: int = 1000
    #: the scopes the service account's token asks for (each must be delegated to it)
    scopes: tuple[str, ...] = SCOPES
