"""One provider's pass in progress: what the full and incremental passes share.

It holds the connector, the store, the options, the counts, the run's identity and checkpoint
state, and the store ids of the provider's accounts and entitlements; it makes every provider call
within the retry budget and audits what a write ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from accessctl.sync import writer
from accessctl.sync.checkpoints import FULL_STREAM, load_parts, save_checkpoint, save_part
from accessctl.sync.clock import now
from accessctl.sync.options import SyncOptions
from accessctl.sync.progress import SyncProgress, Waits
from accessctl.sync.retry import ProviderCaller
from accessctl.sync.store_executor import StoreExecutor
from connectors.base import Connector

T = TypeVar("T")


class IncompleteRun(Exception):
    """A phase could not finish; the run ends incomplete with this reason and sweeps nothing."""


class ProviderPass:
    """The state of one sync pass of one provider, and the plumbing its phases use."""

    def __init__(
        self,
        connector: Connector,
        store: StoreExecutor,
        options: SyncOptions,
        progress: SyncProgress,
    ) -> None:
        self.connector = connector
        self.provider = connector.provider
        self.store = store
        self.options = options
        self.progress = progress
        self.concurrency = options.concurrency.get(self.provider, options.max_concurrency)
        # a call may spend more than one request (Okta details: factors and roles): keep headroom
        self.caller = ProviderCaller(options.retry, reserve=2 * self.concurrency, on_wait=self._report_waits)
        self.accounts = writer.Counts()
        self.entitlements = writer.Counts()
        self.grants = writer.Counts()
        self.mfa_updated = 0
        self.unmatched_grants = 0
        self.run_id = 0
        self.started_at = now()
        self.state: dict[str, Any] = {}
        self.resumed = False
        self.account_ids: dict[str, int] = {}
        self.entitlement_ids: dict[tuple[str, str], int] = {}

    async def call(self, operation: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        # operations that spend the same provider budget share one governor (Okta: per endpoint family)
        bucket = getattr(self.connector, "rate_buckets", {}).get(operation.split(":")[0], operation)
        return await self.caller.call(bucket, fn, *args, **kwargs)

    def waits(self) -> Waits:
        """Wall time spent throttled and in backoff so far, and when the current wait ends."""
        stats = self.caller.stats
        return Waits(stats.throttled_s, stats.backoff_s, stats.meter.resume_at())

    def _report_waits(self) -> None:
        self.progress.waiting(self.provider, self.waits())

    def save_state(self, conn: Connection) -> None:
        """Checkpoint the full pass's state, in the caller's transaction."""
        save_checkpoint(conn, self.provider, FULL_STREAM, self.state)

    def append_part(self, conn: Connection, kind: str, value: Any) -> None:
        """Add a part to the full pass's state and checkpoint, in the caller's transaction."""
        parts: dict[str, int] = self.state.setdefault("parts", {})
        seq = parts.get(kind, 0)
        save_part(conn, self.provider, kind, seq, value)
        parts[kind] = seq + 1
        self.save_state(conn)

    def load_parts(self, conn: Connection, kind: str) -> list[Any]:
        return load_parts(conn, self.provider, kind)

    async def refresh_id_maps(self) -> None:
        """Reload the store ids of the provider's accounts and entitlements, which grants resolve to."""
        self.account_ids = await self.store.run(writer.account_id_map, self.provider)
        self.entitlement_ids = await self.store.run(writer.entitlement_id_map, self.provider)

    def audit_ended(self, conn: Connection, ended: writer.Ended, reason: str) -> None:
        """Count what a write ended and audit it in the same transaction."""
        self.accounts.ended += len(ended.accounts)
        self.entitlements.ended += len(ended.entitlements)
        self.grants.ended += len(ended.grants)
        writer.audit_ended(
            conn, ended, actor=self.options.actor, provider=self.provider, run_id=self.run_id, reason=reason
        )
