"""The incremental pass: follow the provider's change feed and refresh just what changed.

New entitlements are upserted from the listing; changed accounts are re-read (or ended when gone),
their grants and the grants of changed entitlements re-listed, the inherited grants of what is held
through those derived from the store (:mod:`accessctl.sync.inherited`), and MFA refreshed.  The
change cursor moves only when all of that succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync import writer
from accessctl.sync.checkpoints import CHANGES_STREAM, save_checkpoint
from accessctl.sync.clock import now
from accessctl.sync.concurrency import for_each, gather_all
from accessctl.sync.inherited import InheritedVia, derive_inherited, plan_derivation, relist_first
from accessctl.sync.provider_pass import IncompleteRun, ProviderPass
from accessctl.sync.reads import DETAILS_FAILED, list_grants, list_mfa, lookup_details
from accessctl.sync.writer import HeldEntitlement
from connectors.base import ChangeSet, EntitlementKind, EntitlementRef


async def run_incremental_pass(sync: ProviderPass, changes: dict[str, Any]) -> None:
    """From the change cursor in ``changes`` to the end of the feed; saves the new cursor last."""
    sync.progress.phase(sync.provider, "changes")
    cursor = changes.get("cursor")
    changed_accounts: set[str] = set()
    changed_entitlements: set[str] = set()
    refresh_account_grants = True

    async def follow_the_feed() -> None:
        nonlocal cursor, changed_accounts, changed_entitlements, refresh_account_grants
        # accounts the feed names without their record are looked up once it ends, all at once:
        # looking them up page by page would hold the next page back
        to_look_up: set[str] = set()
        while True:
            change_set: ChangeSet = await sync.call("changes", sync.connector.changes_since, cursor)
            cursor = change_set.cursor
            to_look_up |= change_set.account_ids - change_set.removed_account_ids
            to_look_up -= {r.external_id for r in change_set.accounts}
            changed_accounts |= await _apply_account_changes(sync, replace(change_set, account_ids=set()))
            changed_entitlements |= change_set.entitlement_ids
            refresh_account_grants = refresh_account_grants and change_set.refresh_account_grants
            if not change_set.more:
                break
        looked_up = ChangeSet(cursor=change_set.cursor, account_ids=to_look_up)
        changed_accounts |= await _apply_account_changes(sync, looked_up)

    # accounts and entitlements are written apart: the feed and the listing of new entitlements
    # overlap; grants, which need both, are refreshed once both are done
    await gather_all([_incremental_entitlements(sync), follow_the_feed()])
    await sync.refresh_id_maps()
    if refresh_account_grants:
        await _refresh_account_grants(sync, sorted(changed_accounts))
    if sync.connector.mfa_source == "bulk":
        # one report read page after page: it overlaps the grant refresh at the cost of one
        # request in flight beside it (per-account lookups would double the concurrency)
        await gather_all(
            [
                _refresh_entitlements_and_dependents(sync, changed_entitlements),
                _refresh_mfa(sync, changed_accounts),
            ]
        )
    else:
        await _refresh_entitlements_and_dependents(sync, changed_entitlements)
        # the changed accounts' grants were just read whole (roles too): their lookup reads MFA only
        await _refresh_mfa(sync, changed_accounts, grants_read=refresh_account_grants)
    await sync.store.run(save_checkpoint, sync.provider, CHANGES_STREAM, {"cursor": cursor})


async def _incremental_entitlements(sync: ProviderPass) -> None:
    """New groups/apps appear in the listing, not the change feed: upsert them (no sweep)."""
    cursor: str | None = None
    while True:
        page = await sync.call("entitlements", sync.connector.list_entitlements, cursor)
        sync.entitlements += await sync.store.run(
            writer.write_entitlements,
            sync.provider,
            page.items,
            sync.started_at,
            privileged_groups=sync.options.privileged_groups,
            privileged_apps=sync.options.privileged_apps,
            changes_only=True,
        )
        cursor = page.next_cursor
        if cursor is None:
            return


async def _apply_account_changes(sync: ProviderPass, change_set: ChangeSet) -> set[str]:
    records = list(change_set.accounts)
    have = {r.external_id for r in records}
    to_fetch = sorted(change_set.account_ids - have - change_set.removed_account_ids)
    gone: set[str] = set(change_set.removed_account_ids)

    async def fetch(external_id: str) -> None:
        record = await sync.call("accounts", sync.connector.find_account, external_id=external_id)
        if record is None:
            gone.add(external_id)
        else:
            records.append(record)

    await for_each(to_fetch, fetch, sync.concurrency)
    if records:
        sync.accounts += await sync.store.run(writer.write_accounts, sync.provider, records, sync.started_at)
        sync.progress.advance(sync.provider, len(records))
    if gone:
        reason = f"removed in {sync.provider} (incremental sync run {sync.run_id})"

        def end(conn: Connection) -> None:
            ended = writer.end_accounts(conn, sync.provider, sorted(gone), ended_at=now(), reason=reason)
            sync.audit_ended(conn, ended, reason)

        await sync.store.run(end)
    return {r.external_id for r in records}


async def _refresh_account_grants(sync: ProviderPass, external_ids: Sequence[str]) -> None:
    async def one(external_id: str) -> None:
        grants = await sync.call("account_grants", sync.connector.list_account_grants, external_id)
        account_id = sync.account_ids.get(external_id)
        batch = writer.resolve_grants(grants, sync.account_ids, sync.entitlement_ids, sync.started_at)

        def write(conn: Connection) -> None:
            writer.write_grants(conn, batch, sync.started_at)
            if account_id is None:
                return
            reason = f"no longer held (incremental sync run {sync.run_id})"
            ended = writer.end_unseen_grants(
                conn, seen_at=sync.started_at, ended_at=now(), reason=reason, account_ids=[account_id]
            )
            sync.audit_ended(conn, writer.Ended(grants=ended), reason)

        await sync.store.run(write)

    await for_each(list(external_ids), one, sync.concurrency)


async def _refresh_entitlements_and_dependents(sync: ProviderPass, changed: set[str]) -> None:
    """List the changed entitlements again, then bring what is held through them up to date:
    derived from the store where it can say, listed again where it cannot."""
    inherited_via = sync.connector.inherited_via
    relisted = await sync.store.run(relist_first, sync.provider, changed, inherited_via)
    await _refresh_entitlement_grants(sync, relisted)
    plan = await sync.store.run(plan_derivation, sync.provider, changed, relisted, inherited_via)
    await _refresh_entitlement_grants(sync, plan.relist)
    if plan.derive:
        underived = await sync.store.run(_derive_all, sync, plan.derive, inherited_via)
        await _refresh_entitlement_grants(sync, {e.external_id for e in underived})


def _derive_all(
    conn: Connection, sync: ProviderPass, ordered: list[HeldEntitlement], inherited_via: InheritedVia
) -> list[HeldEntitlement]:
    """Derive, children first, the inherited grants of what is held through the changed groups.
    Returns what could not be derived, from the first such on (each later one may hold it): those
    are listed again instead."""
    groups = {e.external_id: e for e in writer.live_entitlements(conn, sync.provider) if e.kind == "group"}
    reason = f"no longer held through a group (incremental sync run {sync.run_id})"
    ended: list[int] = []
    for position, entitlement in enumerate(ordered):
        ended_here = derive_inherited(
            conn, entitlement, groups, inherited_via, seen_at=sync.started_at, ended_at=now(), reason=reason
        )
        if ended_here is None:
            sync.audit_ended(conn, writer.Ended(grants=ended), reason)
            return ordered[position:]
        ended += ended_here
    sync.audit_ended(conn, writer.Ended(grants=ended), reason)
    return []


async def _refresh_entitlement_grants(sync: ProviderPass, external_ids: set[str]) -> None:
    refs = [
        EntitlementRef(EntitlementKind(kind), external_id)
        for kind, external_id in sync.entitlement_ids
        if external_id in external_ids
    ]

    async def one(ref: EntitlementRef) -> None:
        await list_grants(sync, ref, sweep_after=True)

    await for_each(refs, one, sync.concurrency)


async def _refresh_mfa(sync: ProviderPass, changed: set[str], *, grants_read: bool = False) -> None:
    source = sync.connector.mfa_source
    if source == "bulk":
        await list_mfa(sync)
    elif source == "per_account":

        def stalest(conn: Connection) -> list[str]:
            live = conn.execute(
                sa.select(sa.func.count())
                .select_from(writer.ACCOUNTS)
                .where(writer.ACCOUNTS.c.provider == sync.provider, writer.ACCOUNTS.c.ended_at.is_(None))
            ).scalar_one()
            # a twentieth of the accounts per pass, within the configured ceiling
            limit = min(sync.options.stale_details_per_run, max(10, live // 20))
            query = (
                sa.select(writer.ACCOUNTS.c.external_id)
                .where(writer.ACCOUNTS.c.provider == sync.provider, writer.ACCOUNTS.c.ended_at.is_(None))
                .order_by(writer.ACCOUNTS.c.mfa_checked_at.asc().nulls_first())
                .limit(limit)
            )
            return [row[0] for row in conn.execute(query)]

        extra = await sync.store.run(stalest)
        ids = sorted(changed) + [e for e in extra if e not in changed]
        if not await lookup_details(sync, ids, mfa_only=changed if grants_read else ()):
            # the change cursor stays where it was: the next pass looks these accounts up again
            raise IncompleteRun(DETAILS_FAILED)
