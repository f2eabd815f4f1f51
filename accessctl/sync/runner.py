"""The sync runner: drives connectors page by page into the store.

Per provider, a full pass lists accounts, MFA, entitlements and every entitlement's grants (and,
where the provider needs it, a lookup per account), checkpointing after each page in the same
transaction as the page, so an interrupted run resumes where it stopped.  Only a complete full pass
sweeps: what it did not see is ended, never deleted.  An incremental pass follows the provider's
change feed and refreshes just what changed.  Providers run concurrently; each keeps its calls
within its own concurrency limit and request budget.

This module starts and ends each provider's run (choosing its mode, resuming, sweeping, recording
it) and runs the providers together; the passes themselves are in :mod:`full_pass` and
:mod:`incremental_pass`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.store.engine import store_failure
from accessctl.store.locks import LockBusy, LockHolder, StoreLock, async_store_lock
from accessctl.store.models import SyncRun
from accessctl.sync import writer
from accessctl.sync.checkpoints import (
    CHANGES_STREAM,
    CHECKPOINTS,
    FULL_STREAM,
    clear_checkpoint,
    clear_parts,
    load_checkpoint,
    save_checkpoint,
)
from accessctl.sync.clock import aware, now
from accessctl.sync.full_pass import run_full_pass
from accessctl.sync.incremental_pass import run_incremental_pass
from accessctl.sync.options import SyncOptions
from accessctl.sync.progress import INCOMPLETE_LOG_FLAG, NoProgress, SyncProgress
from accessctl.sync.provider_pass import IncompleteRun, ProviderPass
from accessctl.sync.reads import DETAILS_FAILED
from accessctl.sync.results import ProviderResult
from accessctl.sync.store_executor import StoreExecutor
from connectors.base import Connector, ConnectorError

__all__ = [
    "BUSY",
    "CHANGES_STREAM",
    "CHECKPOINTS",
    "DETAILS_FAILED",
    "FULL_STREAM",
    "REASON_MAX",
    "RUNS",
    "IncompleteRun",
    "ProviderResult",
    "ProviderSync",
    "StoreExecutor",
    "SyncOptions",
    "clear_checkpoint",
    "load_checkpoint",
    "lock_name",
    "save_checkpoint",
    "sync_providers",
]

log = logging.getLogger(__name__)

RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
#: what sync_run.incomplete_reason can hold
REASON_MAX = RUNS.c.incomplete_reason.type.length or 2000


#: ProviderResult.failure of a provider skipped because another sync of it holds its lock
BUSY = "SyncBusy"

#: called with (provider, holder) when a pass starts waiting for another sync of its provider
LockWait = Callable[[str, LockHolder | None], None]


def lock_name(provider: str) -> str:
    """The store lock one sync of ``provider`` holds for its pass."""
    return f"sync:{provider}"


def _clip(reason: str | None) -> str | None:
    if reason is None or len(reason) <= REASON_MAX:
        return reason
    return reason[: REASON_MAX - 1] + "…"


# ----------------------------------------------------------------------------- one provider


class ProviderSync(ProviderPass):
    """One sync pass of one provider: takes the provider's lock, chooses its mode, begins (or
    resumes) and finishes its run."""

    on_lock_wait: LockWait | None = None
    lock: StoreLock | None = None

    async def run(self) -> ProviderResult:
        """The pass under the provider's store lock; a provider another sync holds is skipped (after
        waiting for it up to ``options.lock_wait_s``) with a :data:`BUSY` result and no run."""
        clock = time.monotonic()
        wait = self.options.lock_wait_s

        def waiting(holder: LockHolder | None) -> None:
            if self.on_lock_wait is not None:
                self.on_lock_wait(self.provider, holder)

        try:
            async with async_store_lock(
                self.store.engine,
                lock_name(self.provider),
                wait=wait is not None,
                timeout=wait,
                on_wait=waiting,
                lease=self.options.lock_lease,
            ) as lock:
                self.lock = lock
                return await self._run()
        except LockBusy as exc:
            return self._busy(exc, time.monotonic() - clock)

    def _busy(self, exc: LockBusy, duration: float) -> ProviderResult:
        who = str(exc.holder) if exc.holder else "another process"
        gave_up = f"; gave up waiting after {exc.waited_s:.0f}s" if exc.waited_s is not None else ""
        reason = f"another sync of {self.provider} is running ({who}){gave_up}"
        log.debug("%s sync skipped: %s", self.provider, reason)  # the result says it to the caller
        return ProviderResult(
            provider=self.provider,
            run_id=0,
            mode="skipped",
            complete=False,
            reason=reason,
            accounts=self.accounts,
            entitlements=self.entitlements,
            grants=self.grants,
            mfa_updated=0,
            requests=0,
            throttled=0,
            throttled_s=0.0,
            backoff_s=0.0,
            duration_s=duration,
            failure=BUSY,
        )

    async def _run(self) -> ProviderResult:
        """One pass, always ended on record: a connector failure or an incomplete phase ends it
        incomplete with its reason; a crash (a bug, Ctrl-C, cancellation) too, and is then re-raised."""
        clock = time.monotonic()
        mode, changes = await self.store.run(self._choose_mode)
        await self.store.run(self._begin, mode)
        reason: str | None = None
        failure: str | None = None
        try:
            if mode == "full":
                await run_full_pass(self)
            else:
                await run_incremental_pass(self, changes or {})
        except (IncompleteRun, ConnectorError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, ConnectorError):
                failure = type(exc).__name__
                reason = f"{failure}: {reason}"
            flag = {INCOMPLETE_LOG_FLAG: True}  # the CLI reports the reason itself, and drops this record
            log.warning("%s sync incomplete: %s", self.provider, reason, extra=flag)
        except GeneratorExit:
            raise
        except BaseException as exc:
            # Anything else (a bug in a connector, KeyboardInterrupt, cancellation) must still end
            # this run on record, incomplete with its reason, before it propagates.
            # One line in the log: the error propagates with its traceback to whoever reports it.
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                reason = "interrupted"
            elif (refused := store_failure(exc)) is not None:  # disk full, locked, gone: not a bug
                reason = f"store error: {refused}"
                log.error("%s sync stopped: the store refused: %s", self.provider, refused)
            else:
                reason = f"internal error: {type(exc).__name__}: {exc}"
                log.error("%s sync crashed: %s", self.provider, reason)
            # shielded: a second cancellation must not lose the record (the write runs on in its thread)
            await asyncio.shield(self.store.run(self._finish, mode, reason))
            self.progress.done(self.provider, False, reason)
            raise
        if reason is None and self.lock is not None and self.lock.lost.is_set():
            # another sync may have taken over: its pass, not this one, may sweep
            reason = "the provider's sync lock was lost during the pass (taken over, or its session ended)"
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
            throttled_s=stats.throttled_s,
            backoff_s=stats.backoff_s,
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
            if last is None or now() - aware(last) >= every:
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
                    started = aware(run.started_at)
                    if now() - started < self.options.resume_within:
                        self.run_id, self.started_at, self.state, self.resumed = run.id, started, state, True
                        conn.execute(
                            RUNS.update()
                            .where(RUNS.c.id == run.id)
                            .values(finished_at=None, incomplete_reason=None)
                        )
                        return
        self.started_at = now()
        self.run_id = conn.execute(
            RUNS.insert().values(provider=self.provider, mode=mode, started_at=self.started_at, cursor={})
        ).inserted_primary_key[0]
        if mode == "full":
            clear_parts(conn, self.provider)  # of a full pass abandoned too long ago to resume
            self.state = {"run_id": self.run_id, "phase": "start"}
            self.save_state(conn)

    def _finish(self, conn: Connection, mode: str, reason: str | None) -> None:
        ended_at = now()
        if reason is None and mode == "full":
            sweep_reason = f"not seen by complete full sync run {self.run_id}"
            ended = writer.sweep(conn, self.provider, self.started_at, reason=sweep_reason, ended_at=ended_at)
            self.audit_ended(conn, ended, sweep_reason)
            changes_cursors = self.load_parts(conn, "changes_cursor")
            if changes_cursors and changes_cursors[-1] is not None:
                save_checkpoint(conn, self.provider, CHANGES_STREAM, {"cursor": changes_cursors[-1]})
            clear_checkpoint(conn, self.provider, FULL_STREAM)
            clear_parts(conn, self.provider)
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


# ----------------------------------------------------------------------------- all providers


async def sync_providers(
    engine: Engine,
    connectors: Sequence[Connector],
    options: SyncOptions,
    progress: SyncProgress | None = None,
    on_lock_wait: LockWait | None = None,
) -> list[ProviderResult]:
    """Sync every connector concurrently; each provider's result says whether its pass was complete.

    Each pass holds its provider's store lock: a provider another sync is running is skipped with
    a :data:`BUSY` result (after waiting ``options.lock_wait_s`` for it, when set; ``on_lock_wait``
    hears when a wait begins); the others run.

    One provider's crash does not stop the others: they finish their passes, then the first crash
    (in connector order) is re-raised, with a note of how every provider ended.  An interruption
    (cancellation, Ctrl-C) stops them all; each records its run as interrupted first.
    """
    store = StoreExecutor(engine)
    progress = progress or NoProgress()
    syncs = [ProviderSync(connector, store, options, progress) for connector in connectors]
    for sync in syncs:
        sync.on_lock_wait = on_lock_wait
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
