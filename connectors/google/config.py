"""How to reach one Google Workspace domain (service account with domain-wide delegation)."""

from __future__ import annotations

from dataclasses import dataclass, field


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


SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.user.security",
    "https://www.googleapis.com/auth/admin.directory.group",
    "https://www.googleapis.com/auth/admin.directory.group.member",
    "https://www.googleapis.com/auth/admin.directory.rolemanagement",
    # the admin audit log (Reports API activities.list): the change feed for groups and admin roles
    "https://www.googleapis.com/auth/admin.reports.audit.readonly",
)
