"""Reads both passes make, each page written as it arrives: one entitlement's grants, the bulk MFA
report, and the per-account lookups (Okta factors and roles)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TypeVar

from sqlalchemy.engine import Connection

from accessctl.sync import writer
from accessctl.sync.clock import now
from accessctl.sync.concurrency import for_each
from accessctl.sync.provider_pass import ProviderPass
from connectors.base import (
    AccountDetails,
    ConnectorError,
    EntitlementKind,
    EntitlementRef,
    GrantRecord,
    MfaRecord,
    MfaState,
    Page,
)

# the runner's logger, as before the split: log filters and JSON logs name it
log = logging.getLogger("accessctl.sync.runner")

T = TypeVar("T")
R = TypeVar("R")

DETAILS_FAILED = "details: some per-account lookups failed (their MFA UNKNOWN or their grants not swept)"


async def list_grants(sync: ProviderPass, ref: EntitlementRef, *, sweep_after: bool) -> None:
    """Every page of one entitlement's grants; with its last page, what it is held through is
    recorded and it is marked done in the checkpoint (or, ``sweep_after``, what it no longer lists ends)."""
    cursor: str | None = None
    key = [str(ref.kind), ref.external_id]
    while True:
        page = await sync.call(f"grants:{ref.kind}", sync.connector.list_grants, ref, cursor)
        cursor = page.next_cursor
        batch = writer.resolve_grants(page.items, sync.account_ids, sync.entitlement_ids, sync.started_at)
        sync.unmatched_grants += batch.unmatched
        last = cursor is None
        held_through = page.held_through

        def write(
            conn: Connection,
            batch: writer.GrantBatch = batch,
            last: bool = last,
            held_through: list[str] | None = held_through,
        ) -> None:
            writer.write_grants(conn, batch, sync.started_at)
            entitlement_id = sync.entitlement_ids.get((key[0], key[1]))
            if last and held_through is not None and entitlement_id is not None:
                writer.record_held_through(conn, entitlement_id, held_through)
            if last and sweep_after and entitlement_id is not None:
                reason = f"no longer listed (incremental sync run {sync.run_id})"
                ended = writer.end_unseen_grants(
                    conn,
                    seen_at=sync.started_at,
                    ended_at=now(),
                    reason=reason,
                    entitlement_id=entitlement_id,
                )
                sync.audit_ended(conn, writer.Ended(grants=ended), reason)
            if last and not sweep_after:
                sync.append_part(conn, "grants_done", key)

        await sync.store.run(write)
        sync.progress.advance(sync.provider, len(page.items), pages=1)
        if last:
            return


async def list_mfa(sync: ProviderPass) -> None:
    """The bulk MFA report, page by page; once complete, whom it did not list is UNKNOWN."""
    if sync.connector.mfa_source != "bulk":
        return
    sync.progress.phase(sync.provider, "mfa")

    def write(conn: Connection, items: list[MfaRecord], last: bool) -> int:
        updated = writer.write_mfa(conn, sync.provider, items, sync.started_at)
        if last:  # the report is complete: whom it did not list, we know nothing about
            updated += writer.mark_unreported_mfa_unknown(conn, sync.provider, sync.started_at)
        sync.save_state(conn)
        return updated

    def add(updated: int) -> None:
        sync.mfa_updated += updated

    await each_page(sync, "mfa", sync.connector.list_mfa, write, add)


async def each_page(
    sync: ProviderPass,
    operation: str,
    fetch: Callable[[str | None], Awaitable[Page[T]]],
    write: Callable[[Connection, list[T], bool], R],
    add: Callable[[R], None],
) -> None:
    """A listing page by page from the checkpointed cursor: each page is written, with the
    checkpoint, by ``write(conn, items, last)`` in one transaction, and its result passed to ``add``."""
    cursor = sync.state.get("cursor")
    while True:
        page = await sync.call(operation, fetch, cursor)
        cursor = page.next_cursor
        sync.state["cursor"] = cursor
        add(await sync.store.run(write, page.items, cursor is None))
        sync.progress.advance(sync.provider, len(page.items))
        if cursor is None:
            return


async def lookup_details(
    sync: ProviderPass, external_ids: Sequence[str], *, mfa_only: Collection[str] = ()
) -> bool:
    """Per-account lookups, concurrently within the budget; written in batches. All complete?

    The accounts in ``mfa_only`` are looked up for their MFA alone (``grants=False``): the caller
    has just read and written their grants whole in this pass."""
    if not external_ids:
        return True
    if not sync.account_ids:
        await sync.refresh_id_maps()
    all_complete = True
    batch: list[AccountDetails] = []
    lock = asyncio.Lock()

    async def flush() -> None:
        nonlocal batch
        if not batch:
            return
        taken, batch = batch, []
        await sync.store.run(_write_details, sync, taken)
        sync.progress.advance(sync.provider, len(taken), pages=len(taken))

    async def one(external_id: str) -> None:
        nonlocal all_complete
        try:
            if external_id in mfa_only:
                details = await sync.call(
                    "details", sync.connector.get_account_details, external_id, grants=False
                )
            else:
                details = await sync.call("details", sync.connector.get_account_details, external_id)
        except ConnectorError as exc:
            log.warning("%s: lookup of %s failed: %s", sync.provider, external_id, exc)
            details = AccountDetails(external_id, MfaRecord(external_id, MfaState.UNKNOWN), complete=False)
        async with lock:
            if not details.complete:
                all_complete = False
            batch.append(details)
            if len(batch) >= 200:
                await flush()

    await for_each(list(external_ids), one, sync.concurrency)
    async with lock:
        await flush()
    return all_complete


def _write_details(conn: Connection, sync: ProviderPass, details: list[AccountDetails]) -> None:
    """One batch of lookups: their MFA, and each complete one's grants (ending those no longer held)."""
    sync.mfa_updated += writer.write_mfa(conn, sync.provider, [d.mfa for d in details], sync.started_at)
    grants: list[GrantRecord] = [g for d in details if d.complete for g in d.grants]
    batch = writer.resolve_grants(grants, sync.account_ids, sync.entitlement_ids, sync.started_at)
    sync.unmatched_grants += batch.unmatched
    writer.write_grants(conn, batch, sync.started_at)
    # the lookups read these kinds whole (Okta: admin roles), so only their grants are swept
    kinds = {str(g.entitlement_kind) for g in grants} or {str(EntitlementKind.ROLE)}
    reason = f"no longer held (sync run {sync.run_id})"
    complete = [sync.account_ids.get(d.account_external_id) for d in details if d.complete]
    ended = writer.end_unseen_grants(
        conn,
        seen_at=sync.started_at,
        ended_at=now(),
        reason=reason,
        account_ids=[i for i in complete if i is not None],
        entitlement_ids=[i for (kind, _), i in sync.entitlement_ids.items() if kind in kinds],
    )
    sync.audit_ended(conn, writer.Ended(grants=ended), reason)
