"""The sync runner: drives connectors page by page into the store.

Per provider, a full pass lists accounts, MFA, entitlements and every entitlement's grants (and,
where the provider needs it, a lookup per account), checkpointing after each page in the same
transaction as the page, so an interrupted run resumes where it stopped.  Only a complete full pass
sweeps: what it did not see is ended, never deleted.  An incremental pass follows the provider's
change feed and refreshes just what changed.  Providers run concurrently; each keeps its calls
within its own concurrency limit and request budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.store.models import SyncCheckpoint, SyncRun
from accessctl.store.upsert import bulk_upsert
from accessctl.sync import writer
from accessctl.sync.patterns import PatternSet
from accessctl.sync.progress import NoProgress, SyncProgress
from accessctl.sync.retry import ProviderCaller, RetryPolicy
from connectors.base import (
    AccountDetails,
    AccountRecord,
    ChangeSet,
    Connector,
    ConnectorError,
    EntitlementKind,
    EntitlementRef,
    GrantRecord,
    MfaRecord,
    MfaState,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
CHECKPOINTS: sa.Table = SyncCheckpoint.__table__  # type: ignore[attr-defined]
FULL_STREAM = "full"
CHANGES_STREAM = "changes"


@dataclass(frozen=True)
class SyncOptions:
    full: bool = False
    max_concurrency: int = 8
    #: per-provider concurrency, overriding max_concurrency
    concurrency: dict[str, int] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    privileged_groups: PatternSet = field(default_factory=lambda: PatternSet([]))
    privileged_apps: PatternSet = field(default_factory=lambda: PatternSet([]))
    #: per-account lookups (Okta factors, roles) refreshed per incremental pass beyond the changed ones
    stale_details_per_run: int = 200
    #: an interrupted full pass younger than this resumes; an older one starts over
    resume_within: timedelta = timedelta(hours=24)
    #: an incremental request becomes a full pass when the last complete full pass of the provider
    #: finished longer ago than this (None: only when asked for, or when there is no change cursor)
    full_pass_every: timedelta | None = None
    actor: str = "sync"


@dataclass
class ProviderResult:
    provider: str
    run_id: int
    mode: str
    complete: bool
    reason: str | None
    accounts: writer.Counts
    entitlements: writer.Counts
    grants: writer.Counts
    mfa_updated: int
    requests: int
    throttled: int
    waited_s: float
    duration_s: float
    resumed: bool = False
    #: the class of the connector error that ended the pass (AuthError, PermissionDeniedError,
    #: TransientError, ...), if any
    failure: str | None = None

    @property
    def items(self) -> int:
        return (
            self.accounts.added
            + self.accounts.changed
            + self.entitlements.added
            + self.entitlements.changed
            + self.grants.added
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "run_id": self.run_id,
            "mode": self.mode,
            "complete": self.complete,
            "reason": self.reason,
            "resumed": self.resumed,
            "failure": self.failure,
            "accounts_added": self.accounts.added,
            "accounts_changed": self.accounts.changed,
            "accounts_ended": self.accounts.ended,
            "entitlements_added": self.entitlements.added,
            "entitlements_changed": self.entitlements.changed,
            "entitlements_ended": self.entitlements.ended,
            "grants_added": self.grants.added,
            "grants_ended": self.grants.ended,
            "mfa_updated": self.mfa_updated,
            "requests": self.requests,
            "throttled": self.throttled,
            "waited_s": round(self.waited_s, 2),
            "duration_s": round(self.duration_s, 2),
        }


class StoreExecutor:
    """Runs store work in a worker thread, one transaction at a time (SQLite has one writer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(self._transaction, fn, *args, **kwargs))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # the transaction runs on in its thread: keep the lock until it commits, so the
                # next one (e.g. recording the interruption) never overlaps it
                await asyncio.wait([work])
                raise

    def _transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.engine.begin() as conn:
            return fn(conn, *args, **kwargs)


class IncompleteRun(Exception):
    """A phase could not finish; the run ends incomplete with this reason and sweeps nothing."""


DETAILS_FAILED = "details: some per-account lookups failed (their MFA UNKNOWN or their grants not swept)"
#: what sync_run.incomplete_reason can hold
REASON_MAX = RUNS.c.incomplete_reason.type.length or 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _clip(reason: str | None) -> str | None:
    if reason is None or len(reason) <= REASON_MAX:
        return reason
    return reason[: REASON_MAX - 1] + "…"


# ----------------------------------------------------------------------------- checkpoints


def load_checkpoint(conn: Connection, provider: str, stream: str) -> dict[str, Any] | None:
    query = sa.select(CHECKPOINTS.c.cursor).where(
        CHECKPOINTS.c.provider == provider, CHECKPOINTS.c.stream == stream
    )
    row = conn.execute(query).first()
    return dict(row[0]) if row else None


def save_checkpoint(conn: Connection, provider: str, stream: str, cursor: dict[str, Any]) -> None:
    bulk_upsert(
        conn,
        CHECKPOINTS,
        [{"provider": provider, "stream": stream, "cursor": cursor, "updated_at": _now()}],
        key=["provider", "stream"],
    )


def clear_checkpoint(conn: Connection, provider: str, stream: str) -> None:
    conn.execute(
        CHECKPOINTS.delete().where(CHECKPOINTS.c.provider == provider, CHECKPOINTS.c.stream == stream)
    )


# ----------------------------------------------------------------------------- one provider


class ProviderSync:
    """One sync pass of one provider."""

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
        self.caller = ProviderCaller(options.retry, reserve=2 * self.concurrency)
        self.accounts = writer.Counts()
        self.entitlements = writer.Counts()
        self.grants = writer.Counts()
        self.mfa_updated = 0
        self.unmatched_grants = 0
        self.run_id = 0
        self.started_at = _now()
        self.state: dict[str, Any] = {}
        self.resumed = False
        self._account_ids: dict[str, int] = {}
        self._entitlement_ids: dict[tuple[str, str], int] = {}

    # -- plumbing

    async def call(self, operation: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        waited = self.caller.stats.waited_s
        # operations that spend the same provider budget share one governor (Okta: per endpoint family)
        bucket = getattr(self.connector, "rate_buckets", {}).get(operation.split(":")[0], operation)
        try:
            return await self.caller.call(bucket, fn, *args, **kwargs)
        finally:
            if self.caller.stats.waited_s > waited:
                self.progress.waiting(self.provider, self.caller.stats.waited_s - waited)

    def _save_state(self, conn: Connection) -> None:
        save_checkpoint(conn, self.provider, FULL_STREAM, self.state)

    async def _refresh_id_maps(self) -> None:
        self._account_ids = await self.store.run(writer.account_id_map, self.provider)
        self._entitlement_ids = await self.store.run(writer.entitlement_id_map, self.provider)

    def _audit_ended(self, conn: Connection, ended: writer.Ended, reason: str) -> None:
        """Count what a write ended and audit it in the same transaction."""
        self.accounts.ended += len(ended.accounts)
        self.entitlements.ended += len(ended.entitlements)
        self.grants.ended += len(ended.grants)
        writer.audit_ended(
            conn, ended, actor=self.options.actor, provider=self.provider, run_id=self.run_id, reason=reason
        )

    # -- entry

    async def run(self) -> ProviderResult:
        """One pass, always ended on record: a connector failure or an incomplete phase ends it
        incomplete with its reason; a crash (a bug, Ctrl-C, cancellation) too, and is then re-raised."""
        clock = time.monotonic()
        mode, changes = await self.store.run(self._choose_mode)
        await self.store.run(self._begin, mode)
        reason: str | None = None
        failure: str | None = None
        try:
            if mode == "full":
                await self._full()
            else:
                await self._incremental(changes or {})
        except (IncompleteRun, ConnectorError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, ConnectorError):
                failure = type(exc).__name__
                reason = f"{failure}: {reason}"
            log.warning("%s sync incomplete: %s", self.provider, reason)
        except GeneratorExit:
            raise
        except BaseException as exc:
            # Anything else (a bug in a connector, KeyboardInterrupt, cancellation) must still end
            # this run on record, incomplete with its reason, before it propagates.
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                reason = "interrupted"
            else:
                reason = f"internal error: {type(exc).__name__}: {exc}"
                log.exception("%s sync crashed", self.provider)
            # shielded: a second cancellation must not lose the record (the write runs on in its thread)
            await asyncio.shield(self.store.run(self._finish, mode, reason))
            self.progress.done(self.provider, False, reason)
            raise
        await self.store.run(self._finish, mode, reason)
        self.progress.done(self.provider, reason is None, reason)
        stats = self.caller.stats
        return ProviderResult(
            provider=self.provider,
            run_id=self.run_id,
            mode=mode,
            complete=reason is None,
            reason=_clip(reason),
            accounts=self.accounts,
            entitlements=self.entitlements,
            grants=self.grants,
            mfa_updated=self.mfa_updated,
            requests=stats.requests,
            throttled=stats.throttled,
            waited_s=stats.waited_s,
            duration_s=time.monotonic() - clock,
            resumed=self.resumed,
            failure=failure,
        )

    def _choose_mode(self, conn: Connection) -> tuple[str, dict[str, Any] | None]:
        """Full when asked, when there is no change cursor yet, or when the last complete full pass
        is older than ``full_pass_every``; otherwise incremental from the change cursor."""
        changes = load_checkpoint(conn, self.provider, CHANGES_STREAM)
        if self.options.full or not changes:
            return "full", None
        every = self.options.full_pass_every
        if every is not None:
            last = conn.execute(
                sa.select(sa.func.max(RUNS.c.finished_at)).where(
                    RUNS.c.provider == self.provider, RUNS.c.mode == "full", RUNS.c.complete.is_(True)
                )
            ).scalar()
            if last is None or _now() - _aware(last) >= every:
                log.info(
                    "%s: last complete full pass %s; running a full pass", self.provider, last or "never"
                )
                return "full", None
        return "incremental", changes

    def _begin(self, conn: Connection, mode: str) -> None:
        """Start a run, or resume the interrupted full run this provider left behind."""
        if mode == "full":
            state = load_checkpoint(conn, self.provider, FULL_STREAM)
            if state and state.get("run_id"):
                run = conn.execute(sa.select(RUNS).where(RUNS.c.id == state["run_id"])).first()
                if run is not None and not run.complete:
                    started = _aware(run.started_at)
                    if _now() - started < self.options.resume_within:
                        self.run_id, self.started_at, self.state, self.resumed = run.id, started, state, True
                        conn.execute(
                            RUNS.update()
                            .where(RUNS.c.id == run.id)
                            .values(finished_at=None, incomplete_reason=None)
                        )
                        return
        self.started_at = _now()
        self.run_id = conn.execute(
            RUNS.insert().values(provider=self.provider, mode=mode, started_at=self.started_at, cursor={})
        ).inserted_primary_key[0]
        if mode == "full":
            self.state = {"run_id": self.run_id, "phase": "start"}
            self._save_state(conn)

    def _finish(self, conn: Connection, mode: str, reason: str | None) -> None:
        ended_at = _now()
        if reason is None and mode == "full":
            sweep_reason = f"not seen by complete full sync run {self.run_id}"
            ended = writer.sweep(conn, self.provider, self.started_at, reason=sweep_reason, ended_at=ended_at)
            self._audit_ended(conn, ended, sweep_reason)
            if self.state.get("changes_cursor") is not None:
                save_checkpoint(conn, self.provider, CHANGES_STREAM, {"cursor": self.state["changes_cursor"]})
            clear_checkpoint(conn, self.provider, FULL_STREAM)
        self.accounts.added = writer.count_added_since(conn, writer.ACCOUNTS, self.provider, self.started_at)
        self.entitlements.added = writer.count_added_since(
            conn, writer.ENTITLEMENTS, self.provider, self.started_at
        )
        self.grants.added = writer.count_added_since(conn, writer.GRANTS, self.provider, self.started_at)
        stats = self.caller.stats
        conn.execute(
            RUNS.update()
            .where(RUNS.c.id == self.run_id)
            .values(
                finished_at=ended_at,
                complete=reason is None,
                incomplete_reason=_clip(reason),
                added=self.accounts.added + self.entitlements.added + self.grants.added,
                changed=self.accounts.changed + self.entitlements.changed,
                ended=self.accounts.ended + self.entitlements.ended + self.grants.ended,
                requests=RUNS.c.requests + stats.requests,
                throttled=RUNS.c.throttled + stats.throttled,
                cursor={"phase": self.state.get("phase")} if mode == "full" else {},
            )
        )
        audit.record(
            conn,
            actor=self.options.actor,
            action="sync.run",
            target_type="sync_run",
            target_id=str(self.run_id),
            provider=self.provider,
            outcome="complete" if reason is None else "incomplete",
            details={
                "mode": mode,
                "reason": _clip(reason),
                "accounts": vars(self.accounts),
                "entitlements": vars(self.entitlements),
                "grants": vars(self.grants),
                "unmatched_grants": self.unmatched_grants,
                "requests": stats.requests,
                "throttled": stats.throttled,
            },
        )

    # -- full pass

    async def _full(self) -> None:
        phases: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("start", self._establish_changes_cursor),
            ("accounts", self._list_accounts),
            ("mfa", self._list_mfa),
            ("entitlements", self._list_entitlements),
            ("grants", self._list_all_grants),
            ("details", self._all_details),
        ]
        names = [name for name, _ in phases]
        current = self.state.get("phase", "start")
        start_index = names.index(current) if current in names else 0
        for index, (name, phase) in enumerate(phases[start_index:], start=start_index):
            if index > start_index:
                self.state = {**self.state, "phase": name, "cursor": None}
                await self.store.run(self._save_state)
            await phase()
        self.state["phase"] = "done"

    async def _establish_changes_cursor(self) -> None:
        """Mark 'now' in the change feed before listing, so the next incremental pass misses nothing.
        A feed without a 'now' (Google: a diff of listings) takes several pages to set its baseline;
        what those pages report is not a change and is ignored."""
        try:
            changes = await self.call("changes", self.connector.changes_since, None)
            while changes.more:
                changes = await self.call("changes", self.connector.changes_since, changes.cursor)
        except NotImplementedError:
            return
        self.state["changes_cursor"] = changes.cursor
        await self.store.run(self._save_state)

    async def _list_accounts(self) -> None:
        self.progress.phase(self.provider, "accounts")
        cursor = self.state.get("cursor")
        while True:
            page = await self.call("accounts", self.connector.list_accounts, cursor)
            cursor = page.next_cursor
            self.state["cursor"] = cursor

            def write(
                conn: Connection, items: list[AccountRecord] = page.items, last: bool = cursor is None
            ) -> writer.Counts:
                managers = self.state.setdefault("managers", {})
                counts = writer.write_accounts(
                    conn, self.provider, items, self.started_at, unresolved_managers=managers
                )
                if last:  # managers named by login that were listed after their reports
                    writer.resolve_managers(conn, self.provider, self.state.pop("managers"))
                self._save_state(conn)
                return counts

            self.accounts += await self.store.run(write)
            self.progress.advance(self.provider, len(page.items))
            if cursor is None:
                return

    async def _list_mfa(self) -> None:
        if self.connector.mfa_source != "bulk":
            return
        self.progress.phase(self.provider, "mfa")
        cursor = self.state.get("cursor")
        while True:
            page = await self.call("mfa", self.connector.list_mfa, cursor)
            cursor = page.next_cursor
            self.state["cursor"] = cursor

            def write(
                conn: Connection, items: list[MfaRecord] = page.items, last: bool = cursor is None
            ) -> int:
                updated = writer.write_mfa(conn, self.provider, items, self.started_at)
                if last:  # the report is complete: whom it did not list, we know nothing about
                    updated += writer.mark_unreported_mfa_unknown(conn, self.provider, self.started_at)
                self._save_state(conn)
                return updated

            self.mfa_updated += await self.store.run(write)
            self.progress.advance(self.provider, len(page.items))
            if cursor is None:
                return

    async def _list_entitlements(self) -> None:
        self.progress.phase(self.provider, "entitlements")
        cursor = self.state.get("cursor")
        while True:
            page = await self.call("entitlements", self.connector.list_entitlements, cursor)
            cursor = page.next_cursor
            self.state["cursor"] = cursor
            members = [[str(r.kind), r.external_id] for r in page.items if r.has_members]

            def write(
                conn: Connection, items: list[Any] = page.items, members: list[list[str]] = members
            ) -> writer.Counts:
                counts = writer.write_entitlements(
                    conn,
                    self.provider,
                    items,
                    self.started_at,
                    privileged_groups=self.options.privileged_groups,
                    privileged_apps=self.options.privileged_apps,
                )
                self.state.setdefault("to_list", []).extend(members)
                self._save_state(conn)
                return counts

            self.entitlements += await self.store.run(write)
            self.progress.advance(self.provider, len(page.items))
            if cursor is None:
                return

    async def _list_all_grants(self) -> None:
        await self._refresh_id_maps()
        done = {tuple(ref) for ref in self.state.get("grants_done", [])}
        todo = [tuple(ref) for ref in self.state.get("to_list", []) if tuple(ref) not in done]
        self.progress.phase(self.provider, "grants", total=len(todo))

        async def one(ref: tuple[str, str]) -> None:
            await self._list_grants(EntitlementRef(EntitlementKind(ref[0]), ref[1]), sweep_after=False)

        await _for_each(todo, one, self.concurrency)

    async def _list_grants(self, ref: EntitlementRef, *, sweep_after: bool) -> None:
        """Every page of one entitlement's grants; marks it done in the checkpoint with its last page."""
        cursor: str | None = None
        key = [str(ref.kind), ref.external_id]
        while True:
            page = await self.call(f"grants:{ref.kind}", self.connector.list_grants, ref, cursor)
            cursor = page.next_cursor
            batch = writer.resolve_grants(
                page.items, self._account_ids, self._entitlement_ids, self.started_at
            )
            self.unmatched_grants += batch.unmatched
            last = cursor is None

            def write(conn: Connection, batch: writer.GrantBatch = batch, last: bool = last) -> None:
                writer.write_grants(conn, batch, self.started_at)
                if last and sweep_after:
                    entitlement_id = self._entitlement_ids.get((key[0], key[1]))
                    if entitlement_id is not None:
                        reason = f"no longer listed (incremental sync run {self.run_id})"
                        ended = writer.end_unseen_grants(
                            conn,
                            seen_at=self.started_at,
                            ended_at=_now(),
                            reason=reason,
                            entitlement_id=entitlement_id,
                        )
                        self._audit_ended(conn, writer.Ended(grants=ended), reason)
                if last and not sweep_after:
                    self.state.setdefault("grants_done", []).append(key)
                    self._save_state(conn)

            await self.store.run(write)
            self.progress.advance(self.provider, len(page.items), pages=1)
            if last:
                return

    async def _all_details(self) -> None:
        if self.connector.mfa_source != "per_account":
            return
        self.progress.phase(self.provider, "details", total=len(self._account_ids) or None)

        def pending(conn: Connection) -> list[str]:
            query = sa.select(writer.ACCOUNTS.c.external_id).where(
                writer.ACCOUNTS.c.provider == self.provider,
                writer.ACCOUNTS.c.ended_at.is_(None),
                writer.ACCOUNTS.c.last_seen_at == self.started_at,
                sa.or_(
                    writer.ACCOUNTS.c.mfa_checked_at.is_(None),
                    writer.ACCOUNTS.c.mfa_checked_at < self.started_at,
                ),
            )
            return [row[0] for row in conn.execute(query)]

        ids = await self.store.run(pending)
        complete = await self._details(ids)
        if not complete:
            raise IncompleteRun(DETAILS_FAILED)

    async def _details(self, external_ids: Sequence[str]) -> bool:
        """Per-account lookups, concurrently within the budget; written in batches. All complete?"""
        if not external_ids:
            return True
        if not self._account_ids:
            await self._refresh_id_maps()
        all_complete = True
        batch: list[AccountDetails] = []
        lock = asyncio.Lock()

        async def flush() -> None:
            nonlocal batch
            if not batch:
                return
            taken, batch = batch, []
            await self.store.run(self._write_details, taken)
            self.progress.advance(self.provider, len(taken), pages=len(taken))

        async def one(external_id: str) -> None:
            nonlocal all_complete
            try:
                details = await self.call("details", self.connector.get_account_details, external_id)
            except ConnectorError as exc:
                log.warning("%s: lookup of %s failed: %s", self.provider, external_id, exc)
                details = AccountDetails(
                    external_id, MfaRecord(external_id, MfaState.UNKNOWN), complete=False
                )
            async with lock:
                if not details.complete:
                    all_complete = False
                batch.append(details)
                if len(batch) >= 200:
                    await flush()

        await _for_each(list(external_ids), one, self.concurrency)
        async with lock:
            await flush()
        return all_complete

    def _write_details(self, conn: Connection, details: list[AccountDetails]) -> None:
        self.mfa_updated += writer.write_mfa(conn, self.provider, [d.mfa for d in details], self.started_at)
        grants: list[GrantRecord] = [g for d in details if d.complete for g in d.grants]
        batch = writer.resolve_grants(grants, self._account_ids, self._entitlement_ids, self.started_at)
        self.unmatched_grants += batch.unmatched
        writer.write_grants(conn, batch, self.started_at)
        kinds = sorted({str(g.entitlement_kind) for g in grants}) or [str(EntitlementKind.ROLE)]
        reason = f"no longer held (sync run {self.run_id})"
        ended = writer.Ended()
        for item in details:
            account_id = self._account_ids.get(item.account_external_id)
            if item.complete and account_id is not None:
                ended.grants += writer.end_unseen_grants(
                    conn,
                    seen_at=self.started_at,
                    ended_at=_now(),
                    reason=reason,
                    account_id=account_id,
                    kinds=kinds,
                )
        self._audit_ended(conn, ended, reason)

    # -- incremental pass

    async def _incremental(self, changes: dict[str, Any]) -> None:
        self.progress.phase(self.provider, "changes")
        cursor = changes.get("cursor")
        await self._incremental_entitlements()
        await self._refresh_id_maps()
        changed_accounts: set[str] = set()
        changed_entitlements: set[str] = set()
        refresh_account_grants = True
        while True:
            change_set: ChangeSet = await self.call("changes", self.connector.changes_since, cursor)
            cursor = change_set.cursor
            changed_accounts |= await self._apply_account_changes(change_set)
            changed_entitlements |= change_set.entitlement_ids
            refresh_account_grants = refresh_account_grants and change_set.refresh_account_grants
            if not change_set.more:
                break
        await self._refresh_id_maps()
        if refresh_account_grants:
            await self._refresh_account_grants(sorted(changed_accounts))
        if changed_entitlements:
            changed_entitlements = await self.store.run(self._with_dependents, changed_entitlements)
        await self._refresh_entitlement_grants(changed_entitlements)
        await self._refresh_mfa(changed_accounts)
        await self.store.run(save_checkpoint, self.provider, CHANGES_STREAM, {"cursor": cursor})

    def _with_dependents(self, conn: Connection, external_ids: set[str]) -> set[str]:
        """The changed groups and every entitlement held through them (a parent group, an app
        assigned to the group), transitively: their inherited grants changed too."""
        result, frontier = set(external_ids), sorted(external_ids)
        while frontier:
            found: set[str] = set()
            for start in range(0, len(frontier), 900):
                query = (
                    sa.select(writer.ENTITLEMENTS.c.external_id)
                    .distinct()
                    .select_from(
                        writer.GRANTS.join(
                            writer.ENTITLEMENTS, writer.ENTITLEMENTS.c.id == writer.GRANTS.c.entitlement_id
                        )
                    )
                    .where(
                        writer.ENTITLEMENTS.c.provider == self.provider,
                        writer.GRANTS.c.ended_at.is_(None),
                        writer.GRANTS.c.via.in_(frontier[start : start + 900]),
                    )
                )
                found.update(conn.execute(query).scalars())
            frontier = sorted(found - result)
            result |= found
        return result

    async def _incremental_entitlements(self) -> None:
        """New groups/apps appear in the listing, not the change feed: upsert them (no sweep)."""
        cursor: str | None = None
        while True:
            page = await self.call("entitlements", self.connector.list_entitlements, cursor)
            self.entitlements += await self.store.run(
                writer.write_entitlements,
                self.provider,
                page.items,
                self.started_at,
                privileged_groups=self.options.privileged_groups,
                privileged_apps=self.options.privileged_apps,
            )
            cursor = page.next_cursor
            if cursor is None:
                return

    async def _apply_account_changes(self, change_set: ChangeSet) -> set[str]:
        records = list(change_set.accounts)
        have = {r.external_id for r in records}
        to_fetch = sorted(change_set.account_ids - have - change_set.removed_account_ids)
        gone: set[str] = set(change_set.removed_account_ids)

        async def fetch(external_id: str) -> None:
            record = await self.call("accounts", self.connector.find_account, external_id=external_id)
            if record is None:
                gone.add(external_id)
            else:
                records.append(record)

        await _for_each(to_fetch, fetch, self.concurrency)
        if records:
            self.accounts += await self.store.run(
                writer.write_accounts, self.provider, records, self.started_at
            )
            self.progress.advance(self.provider, len(records))
        if gone:
            reason = f"removed in {self.provider} (incremental sync run {self.run_id})"

            def end(conn: Connection) -> None:
                ended = writer.end_accounts(conn, self.provider, sorted(gone), ended_at=_now(), reason=reason)
                self._audit_ended(conn, ended, reason)

            await self.store.run(end)
        return {r.external_id for r in records}

    async def _refresh_account_grants(self, external_ids: Sequence[str]) -> None:
        async def one(external_id: str) -> None:
            grants = await self.call("account_grants", self.connector.list_account_grants, external_id)
            account_id = self._account_ids.get(external_id)
            batch = writer.resolve_grants(grants, self._account_ids, self._entitlement_ids, self.started_at)

            def write(conn: Connection) -> None:
                writer.write_grants(conn, batch, self.started_at)
                if account_id is None:
                    return
                reason = f"no longer held (incremental sync run {self.run_id})"
                ended = writer.end_unseen_grants(
                    conn, seen_at=self.started_at, ended_at=_now(), reason=reason, account_id=account_id
                )
                self._audit_ended(conn, writer.Ended(grants=ended), reason)

            await self.store.run(write)

        await _for_each(list(external_ids), one, self.concurrency)

    async def _refresh_entitlement_grants(self, external_ids: set[str]) -> None:
        refs = [
            EntitlementRef(EntitlementKind(kind), external_id)
            for kind, external_id in self._entitlement_ids
            if external_id in external_ids
        ]

        async def one(ref: EntitlementRef) -> None:
            await self._list_grants(ref, sweep_after=True)

        await _for_each(refs, one, self.concurrency)

    async def _refresh_mfa(self, changed: set[str]) -> None:
        source = self.connector.mfa_source
        if source == "bulk":
            await self._list_mfa()
        elif source == "per_account":

            def stalest(conn: Connection) -> list[str]:
                live = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(writer.ACCOUNTS)
                    .where(writer.ACCOUNTS.c.provider == self.provider, writer.ACCOUNTS.c.ended_at.is_(None))
                ).scalar_one()
                # a twentieth of the accounts per pass, within the configured ceiling
                limit = min(self.options.stale_details_per_run, max(10, live // 20))
                query = (
                    sa.select(writer.ACCOUNTS.c.external_id)
                    .where(writer.ACCOUNTS.c.provider == self.provider, writer.ACCOUNTS.c.ended_at.is_(None))
                    .order_by(writer.ACCOUNTS.c.mfa_checked_at.asc().nulls_first())
                    .limit(limit)
                )
                return [row[0] for row in conn.execute(query)]

            extra = await self.store.run(stalest)
            if not await self._details(sorted(changed) + [e for e in extra if e not in changed]):
                # the change cursor stays where it was: the next pass looks these accounts up again
                raise IncompleteRun(DETAILS_FAILED)


async def _for_each(items: Sequence[T], worker: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """Run ``worker`` over ``items`` with at most ``concurrency`` at a time, in bounded memory
    (a fixed set of workers pulls from the sequence; no task per item).  The first failure cancels
    the rest and is raised."""
    iterator = iter(items)

    async def drain() -> None:
        for item in iterator:
            await worker(item)

    await _gather_all([drain() for _ in range(max(1, min(concurrency, len(items))))])


async def _gather_all(awaitables: Sequence[Awaitable[Any]]) -> None:
    """Run all; if any fails, cancel the rest and raise the first failure."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if not tasks:
        return
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# ----------------------------------------------------------------------------- all providers


async def sync_providers(
    engine: Engine,
    connectors: Sequence[Connector],
    options: SyncOptions,
    progress: SyncProgress | None = None,
) -> list[ProviderResult]:
    """Sync every connector concurrently; each provider's result says whether its pass was complete.

    One provider's crash does not stop the others: they finish their passes, then the first crash
    (in connector order) is re-raised, with a note of how every provider ended.  An interruption
    (cancellation, Ctrl-C) stops them all; each records its run as interrupted first.
    """
    store = StoreExecutor(engine)
    progress = progress or NoProgress()
    syncs = [ProviderSync(connector, store, options, progress) for connector in connectors]
    tasks = [asyncio.ensure_future(s.run()) for s in syncs]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(task.cancelled() for task in done):
                raise asyncio.CancelledError  # a provider was interrupted: so is the whole sync
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)  # each provider records its run as interrupted
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("a provider sync crashed before the interruption: %r", task.exception())
        raise
    crashes = [exc for task in tasks if (exc := task.exception()) is not None]
    if crashes:
        for sync, task in zip(syncs, tasks, strict=True):
            exc = task.exception()
            if exc is None:
                outcome = task.result().reason or "complete"
            else:
                outcome = f"crashed ({type(exc).__name__})"
            crashes[0].add_note(f"{sync.provider}: run {sync.run_id}: {outcome}")
        raise crashes[0]
    return [task.result() for task in tasks]
