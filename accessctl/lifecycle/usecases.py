"""The use cases, one function each, shared by the CLI, the web API, HR intake and review remediation.

Each resolves the person (an email or an employee id), builds its plan from the store and the
providers' live answers, and queues it as a job (or, on a dry run, only returns the plan).  Errors
(:mod:`accessctl.lifecycle.errors`) mean nothing was queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accessctl.jobs.tables import write_tx
from accessctl.jobs.worker import wake_workers
from accessctl.lifecycle.accounts import find_live_accounts
from accessctl.lifecycle.connections import Connectors, open_connectors
from accessctl.lifecycle.leaver import build_plan
from accessctl.lifecycle.people import PersonRef, resolve_person
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.revoke import build_revoke_plan, parse_entitlement
from accessctl.lifecycle.snapshot import build_restore_plan
from accessctl.lifecycle.submit import Submitted, submit
from accessctl.settings import Settings
from accessctl.sync import clock


@contextlib.asynccontextmanager
async def _connectors(settings: Settings, given: Connectors | None) -> AsyncIterator[Connectors]:
    if given is not None:
        yield given
        return
    async with open_connectors(settings) as opened:
        yield opened


def find_person(engine: Engine, person: str) -> PersonRef:
    with engine.connect() as conn:
        return resolve_person(conn, person)


async def plan_leaver(
    settings: Settings,
    engine: Engine,
    *,
    person: str,
    kind: str = "leaver",
    include_protected: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> Plan:
    """The leaver (or lockout) plan for ``person``, nothing queued."""
    ref = find_person(engine, person)
    async with _connectors(settings, connectors) as open_:
        found = await find_live_accounts(settings, engine, ref, open_, grants=True)
    return build_plan(
        settings,
        engine,
        ref,
        found,
        kind=kind,
        planned_at=now or clock.now(),
        include_protected=include_protected,
    )


async def plan_revoke(
    settings: Settings,
    engine: Engine,
    connectors: Connectors,
    *,
    person: str,
    entitlement: str,
    via: str | None = None,
    now: datetime | None = None,
) -> Plan:
    """The plan removing one grant, nothing queued."""
    ref = find_person(engine, person)
    spec = parse_entitlement(entitlement, list(connectors))
    found = await find_live_accounts(settings, engine, ref, {spec.provider: connectors[spec.provider]})
    return build_revoke_plan(engine, ref, found, spec, via=via, planned_at=now or clock.now())


async def plan_restore(
    settings: Settings, engine: Engine, *, person: str, connectors: Connectors | None = None
) -> Plan:
    """The plan restoring the person's latest leaver snapshot, nothing queued."""
    ref = find_person(engine, person)
    async with _connectors(settings, connectors) as open_:
        return await build_restore_plan(engine, ref, open_)


def _queue_now(engine: Engine, plan: Plan, settings: Settings, **kwargs: object) -> Submitted:
    # in the process's queue of write transactions (on SQLite, the write lock first): a writer
    # racing SQLite's busy handler can wait out its whole timeout
    with write_tx(engine) as conn, Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        submitted = submit(session, plan, settings=settings, **kwargs)  # type: ignore[arg-type]
        session.commit()
    if submitted.job_id is not None:
        wake_workers()  # committed now (the session's own commit only released its savepoint)
    return submitted


async def _queue(engine: Engine, plan: Plan, settings: Settings, **kwargs: object) -> Submitted:
    """Queue ``plan`` in a thread: the caller's event loop (the workers' in `serve`) runs on."""
    return await asyncio.to_thread(_queue_now, engine, plan, settings, **kwargs)


async def deprovision(
    settings: Settings,
    engine: Engine,
    *,
    person: str,
    requested_by: str,
    reason: str = "",
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Leaver: block sign-in, revoke sessions and tokens, remove direct grants, verify, refresh the
    store, in every provider where the person has an account; the snapshot restore uses is saved."""
    plan = await plan_leaver(settings, engine, person=person, connectors=connectors, now=now)
    return await _queue(
        engine, plan, settings, requested_by=requested_by, reason=reason, dry_run=dry_run, now=now
    )


async def lockout(
    settings: Settings,
    engine: Engine,
    *,
    person: str,
    requested_by: str,
    reason: str = "",
    include_protected: bool = False,
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Incident response: block sign-in, revoke sessions, verify; no grant removal.  Only with
    ``include_protected`` does it touch a protected account."""
    plan = await plan_leaver(
        settings,
        engine,
        person=person,
        kind="lockout",
        include_protected=include_protected,
        connectors=connectors,
        now=now,
    )
    return await _queue(
        engine, plan, settings, requested_by=requested_by, reason=reason, dry_run=dry_run, now=now
    )


async def revoke(
    settings: Settings,
    engine: Engine,
    *,
    person: str,
    entitlement: str,
    requested_by: str,
    via: str | None = None,
    reason: str = "",
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Remove one grant (``provider:kind:name-or-id``); one held through a group only with ``via``."""
    async with _connectors(settings, connectors) as open_:
        plan = await plan_revoke(
            settings, engine, open_, person=person, entitlement=entitlement, via=via, now=now
        )
    return await _queue(
        engine, plan, settings, requested_by=requested_by, reason=reason, dry_run=dry_run, now=now
    )


async def restore(
    settings: Settings,
    engine: Engine,
    *,
    person: str,
    approved_by: str,
    reason: str = "",
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> Submitted:
    """Re-enable the accounts and re-add the grants of the person's latest leaver snapshot; who
    approved it is the job's requester and is audited."""
    plan = await plan_restore(settings, engine, person=person, connectors=connectors)
    return await _queue(
        engine, plan, settings, requested_by=approved_by, reason=reason, dry_run=dry_run, now=now
    )
