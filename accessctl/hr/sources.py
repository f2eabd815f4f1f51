"""The HR systems allowed to post events, with their decoded Standard Webhooks secrets."""

from __future__ import annotations

from accessctl.hr.signature import WebhookSecret
from accessctl.settings import HrSettings


def source_secrets(hr: HrSettings) -> dict[str, list[WebhookSecret]]:
    """Each configured source's secrets (checked when the settings were loaded)."""
    return {
        name: [WebhookSecret.parse(secret.get_secret_value()) for secret in source.secrets]
        for name, source in hr.sources.items()
    }
