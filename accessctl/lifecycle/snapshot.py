"""The snapshot a leaver saves before it acts (each account's status and the direct grants it
removes, each with its scope where it has one: the resource set of an Okta custom role), and the
restore plan made from it: each grant added back (over its scope), then read back."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from accessctl.jobs import PlannedStep
from accessctl.jobs.states import JobState
from accessctl.jobs.tables import JOBS
from accessctl.lifecycle.connections import Connectors
from accessctl.lifecycle.errors import NothingToRestore, SafeguardRefused
from accessctl.lifecycle.patience import patiently
from accessctl.lifecycle.people import PersonRef
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.readback import grant_key
from accessctl.store.models import LifecycleSnapshot

SNAPSHOTS: sa.Table = LifecycleSnapshot.__table__  # type: ignore[attr-defined]


def save_snapshot(
    db: Session | Connection,
    *,
    person_id: int,
    job_id: int,
    accounts: list[dict[str, Any]],
    by: str,
    at: datetime,
) -> int:
    return db.execute(
        sa.insert(SNAPSHOTS)
        .values(person_id=person_id, job_id=job_id, taken_at=at, taken_by=by, accounts=accounts)
        .returning(SNAPSHOTS.c.id)
    ).scalar_one()


def latest_snapshot(conn: Connection, person: PersonRef) -> sa.Row:
    """The person's latest snapshot not yet restored, whose leaver job was not cancelled.  A leaver
    still being planned has saved no snapshot yet: restoring now would give back an older one."""
    planning = conn.execute(
        sa.select(JOBS.c.id)
        .where(
            JOBS.c.person_id == person.id,
            JOBS.c.kind == "leaver",
            JOBS.c.state == JobState.PLANNING.value,
        )
        .limit(1)
    ).scalar()
    if planning is not None:
        raise SafeguardRefused(f"leaver job {planning} of {person} is still planning: wait, or cancel it")
    row = conn.execute(
        sa.select(SNAPSHOTS, JOBS.c.state.label("job_state"))
        .join(JOBS, JOBS.c.id == SNAPSHOTS.c.job_id)
        .where(
            SNAPSHOTS.c.person_id == person.id,
            SNAPSHOTS.c.restored_at.is_(None),
            JOBS.c.state != JobState.CANCELLED.value,
        )
        .order_by(SNAPSHOTS.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NothingToRestore(f"{person} has no leaver snapshot to restore (no deprovision saved one)")
    if row.job_state in (JobState.PENDING, JobState.RUNNING, JobState.QUARANTINED):
        raise SafeguardRefused(
            f"leaver job {row.job_id} of {person} is still {row.job_state}: wait, or cancel it"
        )
    return row


def mark_restored(db: Session | Connection, snapshot_id: int, *, by: str, job_id: int, at: datetime) -> None:
    db.execute(
        sa.update(SNAPSHOTS)
        .where(SNAPSHOTS.c.id == snapshot_id)
        .values(restored_at=at, restored_by=by, restore_job_id=job_id)
    )


def restore_plan(
    snapshot: sa.Row,
    person: PersonRef,
    *,
    configured: Collection[str],
    addable: Callable[[str], bool],
    gone: Collection[tuple[str, str]] = (),
) -> Plan:
    """The restore plan of ``snapshot``: ``configured`` providers, those whose connector can add
    grants (``addable``), and the accounts known to be ``gone`` ((provider, account id))."""
    plan = Plan(kind="restore", person=person, restores_snapshot=snapshot.id)
    plan.notes.append(
        f"from snapshot {snapshot.id}, taken by {snapshot.taken_by} before leaver job {snapshot.job_id}"
    )
    for saved in snapshot.accounts:
        provider, account_id = saved["provider"], saved["account_id"]
        if provider not in configured:
            plan.notes.append(f"{provider}: not configured here, {saved['login']} left as it is")
            continue
        if (provider, account_id) in gone:
            plan.notes.append(f"{provider}: {saved['login']} no longer exists: cannot be restored")
            continue
        base = {"account_id": account_id, "login": saved["login"]}
        was_active = saved["status"] == "active"
        if was_active:
            plan.steps.append(PlannedStep(provider, "restore_account", base, "sign-in enabled again"))
        can_add = addable(provider)
        unsupported = None if can_add else f"the {provider} connector cannot add grants"
        for grant in saved["grants"]:
            effect = f"holds {grant['kind']} {grant['name']} again"
            if grant.get("scope"):
                effect += f" over {grant['scope']}"
            plan.steps.append(
                PlannedStep(provider, "add_grant", {**base, **grant}, effect, skipped=unsupported)
            )
        present = [grant_key(g) for g in saved["grants"]] if can_add else []
        verify: dict[str, Any] = {**base, "present": present}
        if was_active:
            verify["blocked"] = False
        plan.steps.append(PlannedStep(provider, "verify", verify, "as in the snapshot, read back"))
        plan.steps.append(PlannedStep(provider, "refresh_store", base, "store matches the provider"))
    if not plan.steps:
        plan.notes.append("nothing in the snapshot can be restored")
    return plan


async def build_restore_plan(engine: Engine, person: PersonRef, connectors: Connectors) -> Plan:
    with engine.connect() as conn:
        snapshot = latest_snapshot(conn, person)
    gone = set()
    for saved in snapshot.accounts:
        connector = connectors.get(saved["provider"])
        if connector is None:
            continue
        account_id = saved["account_id"]
        if await patiently(connector.find_account, external_id=account_id) is None:
            gone.add((saved["provider"], saved["account_id"]))
    return restore_plan(
        snapshot,
        person,
        configured=list(connectors),
        addable=lambda provider: hasattr(connectors[provider], "add_grant"),
        gone=gone,
    )
