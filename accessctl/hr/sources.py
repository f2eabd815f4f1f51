"""The HR systems allowed to post events, with their decoded secrets."""

from __future__ import annotations

import os

from accessctl.hr.signature import WebhookSecret
from accessctl.hr.vendors.bamboohr import BambooSource
from accessctl.hr.vendors.gusto import GustoSource
from accessctl.hr.vendors.hibob import HibobSource
from accessctl.settings import HrSettings


def source_secrets(hr: HrSettings) -> dict[str, list[WebhookSecret]]:
    """Each Standard Webhooks source's secrets (checked when the settings were loaded)."""
    return {
        name: [WebhookSecret.parse(secret.get_secret_value()) for secret in source.secrets]
        for name, source in hr.sources.items()
        if source.vendor == "standard"
    }


def bamboo_sources(hr: HrSettings) -> dict[str, BambooSource]:
    return {
        name: BambooSource(
            name=name,
            keys=[secret.get_secret_value().encode() for secret in source.secrets],
            api_url=source.api_url,
            company_domain=source.company_domain,
            api_key=os.environ.get(source.api_key_env, "") if source.api_key_env else "",
            timezone=source.timezone,
        )
        for name, source in hr.sources.items()
        if source.vendor == "bamboohr"
    }


def _api_key(env: str) -> str:
    return os.environ.get(env, "") if env else ""


def hibob_sources(hr: HrSettings) -> dict[str, HibobSource]:
    return {
        name: HibobSource(
            name=name,
            keys=[secret.get_secret_value().encode() for secret in source.secrets],
            api_url=source.api_url,
            service_user_id=source.api_user,
            service_user_token=_api_key(source.api_key_env),
            company_id=source.company_id,
            timezone=source.timezone,
        )
        for name, source in hr.sources.items()
        if source.vendor == "hibob"
    }


def gusto_sources(hr: HrSettings) -> dict[str, GustoSource]:
    return {
        name: GustoSource(
            name=name,
            keys=[secret.get_secret_value().encode() for secret in source.secrets],
            api_url=source.api_url,
            api_token=_api_key(source.api_key_env),
            company_uuid=source.company_id,
            timezone=source.timezone,
        )
        for name, source in hr.sources.items()
        if source.vendor == "gusto"
    }
