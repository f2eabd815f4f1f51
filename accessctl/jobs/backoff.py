"""When a step that failed for a transient reason runs again: jittered exponential backoff, or the
provider's Retry-After when it asks for longer; both capped."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Attempt n waits ``base_s * factor**(n-1)`` (at most ``cap_s``), less up to ``jitter`` of it
    at random, so the steps of a mass leaver throttled together do not return together."""

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 600.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        exponential = min(self.cap_s, self.base_s * self.factor ** max(attempt - 1, 0))
        wait = exponential * (1 - self.jitter * self.rng.random())
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        return min(wait, self.cap_s)
