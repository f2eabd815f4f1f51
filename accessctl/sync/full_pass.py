"""The full pass: every account, MFA, entitlement and grant of a provider, phase by phase.

Each page is written with the checkpoint that follows it, so an interrupted pass resumes at its
phase and cursor.  Only a complete full pass sweeps (see the runner's finish).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync import writer
from accessctl.sync.concurrency import for_each
from accessctl.sync.provider_pass import IncompleteRun, ProviderPass
from accessctl.sync.reads import DETAILS_FAILED, each_page, list_grants, list_mfa, lookup_details
from connectors.base import AccountRecord, EntitlementKind, EntitlementRecord, EntitlementRef


async def run_full_pass(sync: ProviderPass) -> None:
    """The phases in order, from the one an interrupted pass stopped in (checkpointed between phases)."""
    phases: list[tuple[str, Callable[[ProviderPass], Awaitable[None]]]] = [
        ("start", _establish_changes_cursor),
        ("accounts", _list_accounts),
        ("mfa", list_mfa),
        ("entitlements", _list_entitlements),
        ("grants", _list_all_grants),
        ("details", _all_details),
    ]
    names = [name for name, _ in phases]
    current = sync.state.get("phase", "start")
    start_index = names.index(current) if current in names else 0
    for index, (name, phase) in enumerate(phases[start_index:], start=start_index):
        if index > start_index:
            sync.state = {**sync.state, "phase": name, "cursor": None}
            await sync.store.run(sync.save_state)
        await phase(sync)
    sync.state["phase"] = "done"


async def _establish_changes_cursor(sync: ProviderPass) -> None:
    """Mark 'now' in the change feed before listing, so the next incremental pass misses nothing.
    A feed without a 'now' (Google: a diff of listings) takes several pages to set its baseline;
    what those pages report is not a change and is ignored."""
    try:
        changes = await sync.call("changes", sync.connector.changes_since, None)
        while changes.more:
            changes = await sync.call("changes", sync.connector.changes_since, changes.cursor)
    except NotImplementedError:
        return
    await sync.store.run(sync.append_part, "changes_cursor", changes.cursor)


async def _list_accounts(sync: ProviderPass) -> None:
    sync.progress.phase(sync.provider, "accounts")

    def write(conn: Connection, items: list[AccountRecord], last: bool) -> writer.Counts:
        managers: dict[str, str] = {}
        counts = writer.write_accounts(
            conn, sync.provider, items, sync.started_at, unresolved_managers=managers
        )
        if managers and not last:
            sync.append_part(conn, "managers", managers)
        else:
            sync.save_state(conn)
        if last:  # managers named by login that were listed after their reports
            for earlier in sync.load_parts(conn, "managers"):
                managers.update(earlier)
            writer.resolve_managers(conn, sync.provider, managers)
        return counts

    def add(counts: writer.Counts) -> None:
        sync.accounts += counts

    await each_page(sync, "accounts", sync.connector.list_accounts, write, add)


async def _list_entitlements(sync: ProviderPass) -> None:
    sync.progress.phase(sync.provider, "entitlements")

    def write(conn: Connection, items: list[EntitlementRecord], last: bool) -> writer.Counts:
        counts = writer.write_entitlements(
            conn,
            sync.provider,
            items,
            sync.started_at,
            privileged_groups=sync.options.privileged_groups,
            privileged_apps=sync.options.privileged_apps,
        )
        members = [[str(r.kind), r.external_id] for r in items if r.has_members]
        if members:  # the entitlements whose grants the grants phase lists
            sync.append_part(conn, "targets", members)
        else:
            sync.save_state(conn)
        return counts

    def add(counts: writer.Counts) -> None:
        sync.entitlements += counts

    await each_page(sync, "entitlements", sync.connector.list_entitlements, write, add)


async def _list_all_grants(sync: ProviderPass) -> None:
    await sync.refresh_id_maps()

    def targets(conn: Connection) -> list[tuple[str, str]]:
        done = {tuple(ref) for ref in sync.load_parts(conn, "grants_done")}
        listed = [tuple(ref) for part in sync.load_parts(conn, "targets") for ref in part]
        return [ref for ref in listed if ref not in done]

    todo = await sync.store.run(targets)
    sync.progress.phase(sync.provider, "grants", total=len(todo))

    async def one(ref: tuple[str, str]) -> None:
        await list_grants(sync, EntitlementRef(EntitlementKind(ref[0]), ref[1]), sweep_after=False)

    await for_each(todo, one, sync.concurrency)


async def _all_details(sync: ProviderPass) -> None:
    if sync.connector.mfa_source != "per_account":
        return
    sync.progress.phase(sync.provider, "details", total=len(sync.account_ids) or None)

    def pending(conn: Connection) -> list[str]:
        query = sa.select(writer.ACCOUNTS.c.external_id).where(
            writer.ACCOUNTS.c.provider == sync.provider,
            writer.ACCOUNTS.c.ended_at.is_(None),
            writer.ACCOUNTS.c.last_seen_at == sync.started_at,
            sa.or_(
                writer.ACCOUNTS.c.mfa_checked_at.is_(None),
                writer.ACCOUNTS.c.mfa_checked_at < sync.started_at,
            ),
        )
        return [row[0] for row in conn.execute(query)]

    ids = await sync.store.run(pending)
    complete = await lookup_details(sync, ids)
    if not complete:
        raise IncompleteRun(DETAILS_FAILED)
