"""How to reach one Entra tenant through Microsoft Graph."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntraConfig:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str | None = None
    timeout_s: float = 30.0
    page_size: int = 999
    max_connections: int = 16
