"""Building provider connectors from settings (the only place accessctl names connector classes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accessctl.settings import ConfigError, Problem, Settings

if TYPE_CHECKING:
    from connectors.base import Connector

PROVIDERS = ("okta", "entra", "google")


def enabled_providers(settings: Settings, only: Sequence[str] | None = None) -> list[str]:
    """The providers to act on: the enabled ones, narrowed to ``only`` (which must be enabled).
    Refuses (ConfigError, naming each) when one of them lacks a setting it needs."""
    enabled = [name for name in PROVIDERS if getattr(settings, name).enabled]
    chosen = [name for name in PROVIDERS if name in only] if only else enabled
    problems = [
        Problem(str(settings.config_path or "config"), f"{name}.enabled", f"{name} is not enabled")
        for name in only or ()
        if name not in enabled
    ]
    problems += [p for p in settings.missing if p.key.split(".")[0] in chosen]
    if problems:
        raise ConfigError(problems)
    return chosen


def _secret(value: object) -> str:
    return value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]


def build_connector(settings: Settings, provider: str) -> Connector:
    """A connector for ``provider`` (imports its SDK only now)."""
    if provider == "okta":
        from connectors.okta import OktaConfig, OktaConnector

        s = settings.okta
        return OktaConnector(
            OktaConfig(
                org_url=s.org_url,
                api_token=_secret(s.api_token),
                ca_bundle=str(s.ca_bundle) if s.ca_bundle else None,
                timeout_s=s.timeout_s,
                page_size=s.page_size,
            )
        )
    if provider == "entra":
        from connectors.entra import EntraConfig, EntraConnector

        e = settings.entra
        return EntraConnector(
            EntraConfig(
                tenant_id=e.tenant_id,
                client_id=e.client_id,
                client_secret=_secret(e.client_secret),
                authority_host=e.authority_host,
                graph_url=e.graph_url,
                ca_bundle=str(e.ca_bundle) if e.ca_bundle else None,
                timeout_s=e.timeout_s,
                page_size=e.page_size,
            )
        )
    if provider == "google":
        from connectors.google import GoogleConfig, GoogleConnector

        g = settings.google
        return GoogleConnector(
            GoogleConfig(
                service_account_key_json=_secret(g.service_account_key),
                admin_email=g.admin_email,
                customer_id=g.customer_id,
                api_endpoint=g.api_endpoint,
                ca_bundle=str(g.ca_bundle) if g.ca_bundle else None,
                timeout_s=g.timeout_s,
                page_size=g.page_size,
                reports_lag_s=g.reports_lag_minutes * 60,
                reports_page_size=g.reports_page_size,
            )
        )
    raise ValueError(f"unknown provider {provider!r}")
