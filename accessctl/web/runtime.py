"""What the service runs beside the web app, as /readyz sees it: its job workers and its scheduler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Liveness:
    """``workers``: how many worker loops the service should have running (0: the API alone)."""

    workers: int = 0
    worker_tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    scheduler: Any = None  # an APScheduler scheduler, when the service runs one

    def problems(self) -> dict[str, str]:
        """What is not as it should be, by check; empty when ready."""
        found: dict[str, str] = {}
        alive = sum(1 for task in self.worker_tasks if not task.done())
        if alive < self.workers:
            found["workers"] = f"{alive} of {self.workers} job worker(s) running"
        if self.scheduler is not None and not self.scheduler.running:
            found["scheduler"] = "the scheduler is not running"
        return found
