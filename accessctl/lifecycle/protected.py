"""Protected accounts: automation never suspends or strips them (``lifecycle.protected`` patterns
matched against email, login and provider id, case-insensitively; and the store's ``protected`` flag)."""

from __future__ import annotations

import logging

from accessctl.settings import Settings
from accessctl.sync.patterns import PatternSet

log = logging.getLogger(__name__)

SKIPPED = "protected"


def is_protected(
    settings: Settings, *, email: str | None, login: str | None, external_id: str, flagged: bool
) -> bool:
    return flagged or PatternSet(settings.lifecycle.protected).matches(email, login, external_id)
