"""Nightly HR reconciliation: people HR says are terminated who still have access get a leaver.

    report = await reconcile(settings, engine, dry_run=False)

It catches what the event path can miss: a webhook that never arrived, a leaver whose step failed,
an account created (or a grant added) after the leaver ran.  Who is terminated comes from the
store's HR state (the roster import, SCIM, HR events all set ``person.status``); what they still
hold comes from the last sync.  For each such person the leaver plan is made from the store first
(:meth:`HrLifecycle.leaver_plan`: the same steps an HR leaver would run, protected accounts and a
provider's last super-admin skipped), and what is left is "residue": an account still active whose
block is not skipped, or a grant the leaver would remove.  A person with residue and no leaver job
in flight (pending, running or quarantined) then gets the lifecycle's own live plan
(:func:`accessctl.lifecycle.usecases.plan_leaver`: every account confirmed by ``find_account``);
when that plan still shows residue it is queued as a leaver job, requested by ``hr-reconcile``,
through :func:`accessctl.lifecycle.submit.submit` (so the blast-radius guard may quarantine it).
A dry run does the same reads and queues nothing.

One run at a time across processes: :func:`run_reconcile` holds the store lock :data:`LOCK` (the
scheduler and `accessctl hr reconcile` both take it).  An error for one person (a provider down) is
recorded for that person and the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs.states import JobState
from accessctl.jobs.tables import JOBS
from accessctl.lifecycle.connections import Connectors, open_connectors
from accessctl.lifecycle.errors import LifecycleError
from accessctl.lifecycle.hr_jobs import HrLifecycle
from accessctl.lifecycle.people import ACCOUNTS, PEOPLE, PersonRef
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.submit import submit
from accessctl.lifecycle.usecases import plan_leaver
from accessctl.providers import PROVIDERS
from accessctl.settings import Settings
from accessctl.store.locks import async_store_lock
from accessctl.sync import clock
from connectors.base import ConnectorError

REQUESTED_BY = "hr-reconcile"
LOCK = "scheduler:hr-reconcile"
#: a leaver job in one of these is still to do its work: the person is left to it
IN_FLIGHT = (
    JobState.PLANNING.value,
    JobState.PENDING.value,
    JobState.RUNNING.value,
    JobState.QUARANTINED.value,
)
BLOCK_ACTIONS = ("suspend", "deactivate")


@dataclass(frozen=True)
class Residue:
    """What one account still has that a leaver takes: it is active (and its block is not skipped),
    and the grants the leaver would remove."""

    provider: str
    login: str
    active: bool
    grants: list[str]

    def __str__(self) -> str:
        what = ["is active"] if self.active else []
        if self.grants:
            shown = ", ".join(self.grants[:3]) + (f" +{len(self.grants) - 3}" if len(self.grants) > 3 else "")
            what.append(f"holds {len(self.grants)} grant{'s' if len(self.grants) > 1 else ''} ({shown})")
        return f"{self.provider}: {self.login} {' and '.join(what)}"


@dataclass
class Outcome:
    """What reconciliation found for one terminated person, and what it did."""

    employee_id: str
    email: str
    #: what they still hold, one item per account
    items: list[Residue]
    #: queued | quarantined | would queue | in flight | nothing left | error
    action: str
    job_id: int | None = None
    detail: str = ""
    plan: Plan | None = None

    @property
    def why(self) -> list[str]:
        """One line per account ("okta: ada@example.com is active")."""
        return [str(item) for item in self.items]

    def row(self) -> dict[str, object]:
        return {
            "employee_id": self.employee_id,
            "email": self.email,
            "action": self.action,
            "job": self.job_id,
            "why": "; ".join(self.why),
            "detail": self.detail,
            "accounts": [asdict(item) for item in self.items],
        }


@dataclass
class ReconcileReport:
    dry_run: bool
    #: terminated people with an open account in a configured provider, looked at
    checked: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(o.action == action for o in self.outcomes)


def residue_of(plan: Plan) -> list[Residue]:
    """What the leaver ``plan`` would still take, per account: an active account whose block is not
    skipped, a grant it would remove (the project's own test for a leaver with nothing left to do,
    :func:`submit`'s, minus what a safeguard skips)."""
    blocked = {
        (s.provider, s.target.get("account_id"))
        for s in plan.steps
        if s.action in BLOCK_ACTIONS and s.skipped is None
    }
    items = []
    for account in plan.snapshot or []:
        active = account["status"] == "active" and (account["provider"], account["account_id"]) in blocked
        grants = [g["name"] for g in account["grants"]]
        if active or grants:
            items.append(Residue(account["provider"], account["login"], active, grants))
    return items


def _terminated_with_accounts(conn: Connection, settings: Settings, *, now: datetime) -> list[PersonRef]:
    providers = [name for name in PROVIDERS if getattr(settings, name).enabled]
    with_account = (
        sa.select(ACCOUNTS.c.person_id)
        .where(ACCOUNTS.c.ended_at.is_(None), ACCOUNTS.c.provider.in_(providers))
        .distinct()
    )
    rows = conn.execute(
        sa.select(PEOPLE)
        .where(
            PEOPLE.c.status == "terminated",
            # HR said terminated, effective later: its own leaver fires then
            sa.or_(PEOPLE.c.termination_date.is_(None), PEOPLE.c.termination_date <= now.date()),
            PEOPLE.c.id.in_(with_account),
        )
        .order_by(PEOPLE.c.employee_id)
    ).all()
    refs = []
    for r in rows:
        name = " ".join(p for p in (r.first_name, r.last_name) if p)
        refs.append(PersonRef(r.id, r.employee_id, r.email, name, r.status))
    return refs


def leaver_in_flight(conn: Connection | Session, person_id: int) -> int | None:
    """The id of a leaver job of this person still to do its work, or None."""
    return conn.execute(
        sa.select(JOBS.c.id)
        .where(
            JOBS.c.person_id == person_id,
            JOBS.c.kind == "leaver",
            JOBS.c.dry_run.is_(False),
            JOBS.c.state.in_(IN_FLIGHT),
        )
        .order_by(JOBS.c.id)
        .limit(1)
    ).scalar()


def find_leftovers(conn: Connection, settings: Settings, *, now: datetime) -> tuple[int, list[Outcome]]:
    """From the store: the terminated people looked at, and those with residue (``action`` is
    "in flight" when a leaver job of theirs is still to run, else "to check")."""
    lifecycle = HrLifecycle(settings, now=lambda: now)
    people = _terminated_with_accounts(conn, settings, now=now)
    found = []
    for person in people:
        why = residue_of(lifecycle.leaver_plan(conn, person.id, now=now))
        if not why:
            continue
        job = leaver_in_flight(conn, person.id)
        action = "in flight" if job is not None else "to check"
        detail = f"leaver job {job} is still to run" if job is not None else ""
        found.append(Outcome(person.employee_id, person.email, why, action, job, detail))
    return len(people), found


@contextlib.asynccontextmanager
async def _connectors(settings: Settings, given: Connectors | None) -> AsyncIterator[Connectors]:
    if given is not None:
        yield given
        return
    async with open_connectors(settings) as opened:
        yield opened


def _reason(why: list[str]) -> str:
    return ("HR reconciliation: terminated in HR, still has access: " + "; ".join(why))[:2000]


def _queue(settings: Settings, engine: Engine, plan: Plan, outcome: Outcome, *, now: datetime) -> None:
    with Session(engine) as session:
        running = leaver_in_flight(session, plan.person.id)  # one queued since we looked
        if running is not None:
            outcome.action, outcome.job_id = "in flight", running
            outcome.detail = f"leaver job {running} is still to run"
            return
        submitted = submit(
            session, plan, settings=settings, requested_by=REQUESTED_BY, reason=_reason(outcome.why), now=now
        )
        audit.record(
            session,
            actor=REQUESTED_BY,
            action="hr.reconcile.leaver",
            target_type="person",
            target_id=plan.person.employee_id,
            details={"job_id": submitted.job_id, "residue": outcome.why},
            occurred_at=now,
        )
        session.commit()
    outcome.job_id = submitted.job_id
    if submitted.state == JobState.QUARANTINED.value:
        outcome.action, outcome.detail = "quarantined", submitted.quarantine_reason or ""
    else:
        outcome.action = "queued"


async def reconcile(
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """One reconciliation pass (see the module's docstring); the caller holds :data:`LOCK` (or uses
    :func:`run_reconcile`)."""
    at = now or clock.now()

    def read() -> tuple[int, list[Outcome]]:
        with engine.connect() as conn:
            return find_leftovers(conn, settings, now=at)

    checked, outcomes = await asyncio.to_thread(read)
    report = ReconcileReport(dry_run=dry_run, checked=checked, outcomes=outcomes)
    to_check = [o for o in outcomes if o.action == "to check"]
    if to_check:
        await _check_live(settings, engine, to_check, dry_run=dry_run, connectors=connectors, now=at)
    if not dry_run:
        await asyncio.to_thread(_audit_run, engine, report, now=at)
    return report


def _audit_run(engine: Engine, report: ReconcileReport, *, now: datetime) -> None:
    """The run's evidence: how many were checked, and what was done."""
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=REQUESTED_BY,
            action="hr.reconcile.ran",
            target_type="hr",
            target_id="reconcile",
            details={
                "checked": report.checked,
                **{
                    a: report.count(a)
                    for a in ("queued", "quarantined", "in flight", "nothing left", "error")
                },
            },
            occurred_at=now,
        )


async def _check_live(
    settings: Settings,
    engine: Engine,
    to_check: list[Outcome],
    *,
    dry_run: bool,
    connectors: Connectors | None,
    now: datetime,
) -> None:
    at = now
    async with _connectors(settings, connectors) as opened:
        for outcome in to_check:
            try:
                plan = await plan_leaver(
                    settings, engine, person=outcome.employee_id, connectors=opened, now=at
                )
            except (ConnectorError, LifecycleError) as exc:  # this person only; the others go on
                outcome.action, outcome.detail = "error", f"{type(exc).__name__}: {exc}"
                continue
            live = residue_of(plan)
            if not live:
                outcome.action = "nothing left"
                outcome.detail = "the providers show nothing left (the next sync updates the store)"
                continue
            outcome.items, outcome.plan = live, plan
            if dry_run:
                outcome.action = "would queue"
                outcome.detail = f"a leaver of {len(plan.runnable)} steps"
                continue
            await asyncio.to_thread(_queue, settings, engine, plan, outcome, now=at)


async def run_reconcile(
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    connectors: Connectors | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """:func:`reconcile` holding :data:`LOCK` (a dry run needs none); raises
    :class:`accessctl.store.locks.LockBusy` when another run holds it."""
    if dry_run:
        return await reconcile(settings, engine, dry_run=True, connectors=connectors, now=now)
    async with async_store_lock(engine, LOCK):
        return await reconcile(settings, engine, connectors=connectors, now=now)
