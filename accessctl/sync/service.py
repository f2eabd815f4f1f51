"""The sync use case, shared by the CLI, the scheduler and the demo."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.hr.roster import RosterImport, import_roster
from accessctl.providers import build_connector, enabled_providers
from accessctl.settings import Settings
from accessctl.sync.checkpoints import load_checkpoint, save_checkpoint
from accessctl.sync.clock import now
from accessctl.sync.correlate import CorrelationReport, correlate
from accessctl.sync.patterns import PatternSet
from accessctl.sync.progress import SyncProgress
from accessctl.sync.retry import RetryPolicy
from accessctl.sync.runner import BUSY, LockWait, ProviderResult, SyncOptions, sync_providers

#: (provider, stream) of the checkpoint keeping the patterns the last correlation used
CORRELATION = ("*", "correlation")


@dataclass
class SyncSummary:
    roster: RosterImport | None
    #: the passes that ran
    results: list[ProviderResult]
    correlation: CorrelationReport
    #: the providers skipped because another sync of them was running (their reason names who)
    busy: list[ProviderResult] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every pass that ran was complete (a skipped provider is in ``busy``)."""
        return all(r.complete for r in self.results)


def sync_options(
    settings: Settings, *, full: bool, actor: str, lock_wait_s: float | None = None
) -> SyncOptions:
    sync = settings.sync
    return SyncOptions(
        full=full,
        lock_wait_s=lock_wait_s,
        concurrency={p: getattr(settings, p).max_concurrency for p in ("okta", "entra", "google")},
        retry=RetryPolicy(
            max_attempts=sync.max_attempts,
            backoff_base_s=sync.backoff_base_s,
            backoff_max_s=sync.backoff_max_s,
            max_wait_s=sync.max_wait_s,
        ),
        privileged_groups=PatternSet(sync.privileged_groups),
        privileged_apps=PatternSet(sync.privileged_apps),
        full_pass_every=(
            timedelta(hours=sync.full_pass_every_hours) if sync.full_pass_every_hours > 0 else None
        ),
        actor=actor,
    )


def run_sync(
    settings: Settings,
    engine: Engine,
    *,
    providers: Sequence[str] | None = None,
    full: bool = False,
    progress: SyncProgress | None = None,
    actor: str = "sync",
    lock_wait_s: float | None = None,
    on_lock_wait: LockWait | None = None,
) -> SyncSummary:
    """Import the HR roster (when configured), sync the providers, then correlate identities.

    One sync per provider at a time: a provider another sync is running is skipped (in
    ``SyncSummary.busy``), or waited for up to ``lock_wait_s`` seconds when that is set; the other
    providers run either way."""
    names = enabled_providers(settings, providers)
    roster = None
    if settings.hr.roster_file is not None:
        with engine.begin() as conn:
            roster = import_roster(conn, settings.hr.roster_file, actor=actor, skip_unchanged=True)
    connectors = [build_connector(settings, name) for name in names]

    async def run_all() -> list[ProviderResult]:
        try:
            options = sync_options(settings, full=full, actor=actor, lock_wait_s=lock_wait_s)
            return await sync_providers(engine, connectors, options, progress, on_lock_wait)
        finally:
            for connector in connectors:
                await connector.aclose()

    started = now()
    outcomes = asyncio.run(run_all())
    results = [r for r in outcomes if r.failure != BUSY]
    busy = [r for r in outcomes if r.failure == BUSY]
    with engine.begin() as conn:
        report = _correlate(conn, settings, roster, results, started)
        audit.record(
            conn, actor=actor, action="identity.correlate", target_type="store", details=report.as_dict()
        )
    return SyncSummary(roster, results, report, busy)


def _correlate(
    conn: Connection,
    settings: Settings,
    roster: RosterImport | None,
    results: Sequence[ProviderResult],
    started: datetime,
) -> CorrelationReport:
    """Correlate every live account when anything but some accounts may have changed (a full pass,
    a roster with new or changed people, other patterns than last time); else only the accounts
    this sync wrote."""
    patterns = {
        "shared": sorted(settings.sync.shared_account_patterns),
        "protected": sorted(settings.lifecycle.protected),
    }
    everything = (
        load_checkpoint(conn, *CORRELATION) != patterns
        or any(r.mode == "full" for r in results)  # resumed runs are full passes too
        or (roster is not None and (roster.added or roster.changed))
    )
    report = correlate(
        conn,
        shared_patterns=PatternSet(patterns["shared"]),
        protected_patterns=PatternSet(patterns["protected"]),
        seen_since=None if everything else started,
    )
    save_checkpoint(conn, *CORRELATION, patterns)
    return report
