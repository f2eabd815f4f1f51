"""The HR systems allowed to post events, with their decoded secrets."""

from __future__ import annotations

import os

from accessctl.hr.signature import WebhookSecret
from accessctl.hr.vendors.bamboohr import BambooSource
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
