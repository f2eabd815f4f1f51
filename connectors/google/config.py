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


SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.user.security",
    "https://www.googleapis.com/auth/admin.directory.group",
    "https://www.googleapis.com/auth/admin.directory.group.member",
    "https://www.googleapis.com/auth/admin.directory.rolemanagement",
)
