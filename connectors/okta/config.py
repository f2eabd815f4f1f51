"""How to reach one Okta org."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OktaConfig:
    org_url: str
    api_token: str = field(repr=False)
    ca_bundle: str | None = None
    timeout_s: float = 30.0
    page_size: int = 200
    #: simultaneous connections to the org
    max_connections: int = 16
