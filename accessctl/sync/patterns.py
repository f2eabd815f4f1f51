"""Shell-style name patterns from the config (privileged groups/apps, shared accounts, protected accounts)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable


class PatternSet:
    """Case-insensitive shell-style patterns compiled into one regular expression."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [p for p in patterns if p]
        joined = "|".join(f"(?:{fnmatch.translate(p.lower())})" for p in self.patterns)
        self._regex = re.compile(joined) if joined else None

    def matches(self, *names: str | None) -> bool:
        if self._regex is None:
            return False
        return any(name and self._regex.match(name.lower()) for name in names)
