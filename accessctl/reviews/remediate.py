"""A review item's revoke as a deprovisioning-engine plan (remove that grant, read back), and, once
its job has run, the outcome recorded on the item.

The plan is the lifecycle engine's own (:func:`accessctl.lifecycle.revoke.build_revoke_plan`), so
its safeguards hold: a protected account's step is planned skipped, the last active super-admin's
role is refused.  An item the engine cannot plan (the account is gone, the grant is held only
through a group) gets the engine's one-line reason instead of a plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.jobs import JobStatus, get_job
from accessctl.jobs.states import JobState, StepState
from accessctl.lifecycle import LifecycleError, Plan
from accessctl.lifecycle.accounts import Found, find_live_accounts
from accessctl.lifecycle.connections import Connectors
from accessctl.lifecycle.people import ACCOUNTS, PersonRef
from accessctl.lifecycle.protected import SKIPPED
from accessctl.lifecycle.revoke import EntitlementSpec, build_revoke_plan
from accessctl.reviews.campaigns import ITEMS
from accessctl.settings import Settings
from accessctl.store.models import Entitlement, Person
from connectors.base import ConnectorError

ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]

#: the item's ``status`` column holds at most this many characters
STATUS_WIDTH = 32


@dataclass
class ItemRevoke:
    """What closing does for one revoked item: its plan, or why there is none."""

    item_id: int
    plan: Plan | None
    problem: str | None = None

    @property
    def does(self) -> str:
        """One line: what the job will do (what ``close --dry-run`` prints)."""
        if self.plan is None:
            return f"not possible: {self.problem}"
        skipped = [s.skipped for s in self.plan.steps if s.skipped]
        if skipped and not self.plan.runnable:
            return f"skipped: {skipped[0]}"
        return "remove grant, read back"

    @property
    def planned_status(self) -> str:
        if self.plan is None:
            return "failed: not planned"
        if not self.plan.runnable:
            return _skipped_status([s.skipped or "" for s in self.plan.steps])
        return "revoke queued"


def _skipped_status(reasons: list[str]) -> str:
    if SKIPPED in reasons:
        return "skipped: protected"
    if any(r.startswith("refused") for r in reasons):
        return "skipped: last super-admin"
    return "skipped"


def _item_target(conn: Connection, item_id: int) -> sa.Row[Any]:
    return conn.execute(
        sa.select(
            ITEMS.c.id,
            ITEMS.c.person_id,
            ACCOUNTS.c.provider,
            ACCOUNTS.c.external_id.label("account_external_id"),
            ENTITLEMENTS.c.kind,
            ENTITLEMENTS.c.external_id.label("entitlement_external_id"),
            PEOPLE.c.employee_id,
            PEOPLE.c.email,
            PEOPLE.c.first_name,
            PEOPLE.c.last_name,
            PEOPLE.c.status,
        )
        .join(ACCOUNTS, ACCOUNTS.c.id == ITEMS.c.account_id)
        .join(ENTITLEMENTS, ENTITLEMENTS.c.id == ITEMS.c.entitlement_id)
        .outerjoin(PEOPLE, PEOPLE.c.id == ITEMS.c.person_id)
        .where(ITEMS.c.id == item_id)
    ).one()


async def plan_item_revoke(
    settings: Settings, engine: Engine, connectors: Connectors, item_id: int, *, now: Any
) -> ItemRevoke:
    """The engine's plan removing the item's grant from the item's account, as the provider shows it
    now (read-only)."""
    with engine.connect() as conn:
        t = _item_target(conn, item_id)
    if t.person_id is None:
        return ItemRevoke(item_id, None, "the account is linked to no person; revoke it by hand")
    connector = connectors.get(t.provider)
    if connector is None:
        return ItemRevoke(item_id, None, f"{t.provider} is not configured")
    name = " ".join(p for p in (t.first_name, t.last_name) if p)
    person = PersonRef(t.person_id, t.employee_id, t.email, name, t.status)
    spec = EntitlementSpec(t.provider, t.kind, t.entitlement_external_id)
    try:
        found = await find_live_accounts(settings, engine, person, {t.provider: connector})
        mine = [a for a in found.accounts if a.account_id == t.account_external_id]
        if not mine:
            return ItemRevoke(item_id, None, f"the {t.provider} account no longer exists")
        plan = build_revoke_plan(
            engine, person, Found(mine, found.notes, found.gone), spec, via=None, planned_at=now
        )
    except LifecycleError as exc:
        return ItemRevoke(item_id, None, str(exc))
    except ConnectorError as exc:
        return ItemRevoke(item_id, None, f"{t.provider} did not answer: {exc}")
    return ItemRevoke(item_id, plan)


def outcome_of(job: JobStatus) -> str:
    """The item's outcome, in at most :data:`STATUS_WIDTH` characters, from its job."""
    state = JobState(job.state)
    if state is JobState.DONE:
        removes = [s for s in job.steps if s.action == "remove_grant"]
        if removes and all(s.state == StepState.SKIPPED for s in removes):
            return _skipped_status([(s.result or "").removeprefix("skipped: ") for s in removes])
        return "revoked, verified"
    if state is JobState.FAILED:
        failed = next((s for s in job.steps if s.state == StepState.FAILED), None)
        why = (failed.last_answer or failed.action) if failed else "failed"
        return f"failed: {why}"[:STATUS_WIDTH]
    if state is JobState.CANCELLED:
        return "not revoked: job cancelled"
    if state is JobState.QUARANTINED:
        return "quarantined"
    return "revoke queued"


def record_outcomes(engine: Engine, campaign_id: int) -> dict[int, str]:
    """Write each remediation job's outcome on its item; returns item id -> outcome."""
    out: dict[int, str] = {}
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(ITEMS.c.id, ITEMS.c.job_id, ITEMS.c.status).where(
                ITEMS.c.campaign_id == campaign_id, ITEMS.c.job_id.is_not(None)
            )
        ).all()
        for r in rows:
            job = get_job(conn, r.job_id)
            outcome = outcome_of(job) if job is not None else "failed: job missing"
            out[r.id] = outcome
            if outcome != r.status:
                conn.execute(sa.update(ITEMS).where(ITEMS.c.id == r.id).values(status=outcome))
    return out
