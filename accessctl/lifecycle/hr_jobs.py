"""HR-started leavers and restores: :class:`accessctl.hr.store.Lifecycle` over the engine.

    intake = HrIntake.from_settings(settings, engine, HrLifecycle(settings))

Both calls run inside the HR intake's write transaction, so an event and its job commit together
(the 202 follows the job's commit).  A leaver's job is committed unplanned (state ``planning``) and
a worker builds its steps before it claims any (:mod:`accessctl.lifecycle.plan_pending`), so the
request costs a row, not a plan; a restore is planned at once.  The plan never waits on a provider:
it is made from the store, the person's accounts and direct grants as the last sync saw them.  The
job's own steps then act and confirm live (an account gone meanwhile is "already done"; ``verify``
reads every account back).  The engine's safeguards are the same as for an admin's leaver: protected
accounts are skipped, the blast-radius guard quarantines, a provider's last super-admin is never
blocked.  An account created after the last sync is not in the plan: the next sync links it and a
review finds it (the plan's notes say when the store has no account at all).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from accessctl.hr.decide import StartLeaver, StartRestore
from accessctl.hr.rejections import Rejected
from accessctl.jobs.enqueue import enqueue_unplanned
from accessctl.jobs.worker import wake_workers
from accessctl.lifecycle.accounts import ENTITLEMENTS, Found, LiveAccount
from accessctl.lifecycle.errors import NothingToRestore, SafeguardRefused
from accessctl.lifecycle.leaver import build_plan
from accessctl.lifecycle.people import ACCOUNTS, PEOPLE, PersonRef
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.protected import is_protected
from accessctl.lifecycle.snapshot import latest_snapshot, restore_plan
from accessctl.lifecycle.submit import submit
from accessctl.providers import PROVIDERS
from accessctl.settings import Settings
from accessctl.store.models import Grant
from accessctl.sync import clock
from connectors.base import AccountStatus, EntitlementKind, GrantRecord

GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]
REQUESTED_BY = "hr"


def _person(conn: Connection, person_id: int) -> PersonRef:
    row = conn.execute(sa.select(PEOPLE).where(PEOPLE.c.id == person_id)).one()
    name = " ".join(p for p in (row.first_name, row.last_name) if p)
    return PersonRef(row.id, row.employee_id, row.email, name, row.status)


def _status(value: str) -> AccountStatus:
    try:
        return AccountStatus(value)
    except ValueError:
        return AccountStatus.ACTIVE  # unknown: plan to block it (blocking twice is already done)


def stored_accounts(conn: Connection, settings: Settings, person: PersonRef) -> Found:
    """The person's live accounts and their grants in the configured providers, as the store has
    them (what :func:`accessctl.lifecycle.accounts.find_live_accounts` confirms live)."""
    providers = [name for name in PROVIDERS if getattr(settings, name).enabled]
    rows = conn.execute(
        sa.select(ACCOUNTS)
        .where(
            ACCOUNTS.c.person_id == person.id,
            ACCOUNTS.c.ended_at.is_(None),
            ACCOUNTS.c.provider.in_(providers),
        )
        .order_by(ACCOUNTS.c.provider, ACCOUNTS.c.login)
    ).all()
    accounts = []
    for row in rows:
        held = conn.execute(
            sa.select(
                ENTITLEMENTS.c.kind,
                ENTITLEMENTS.c.external_id,
                ENTITLEMENTS.c.name,
                ENTITLEMENTS.c.privileged,
                GRANTS.c.inherited,
                GRANTS.c.via,
                GRANTS.c.scopes,
            )
            .join(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id)
            .where(GRANTS.c.account_id == row.id, GRANTS.c.ended_at.is_(None))
        ).all()
        accounts.append(
            LiveAccount(
                provider=row.provider,
                account_id=row.external_id,
                login=row.login,
                status=_status(row.status),
                protected=is_protected(
                    settings,
                    email=row.email,
                    login=row.login,
                    external_id=row.external_id,
                    flagged=bool(row.protected),
                ),
                grants=[  # one per scope: an Okta custom role is held, and given back, per resource set
                    GrantRecord(
                        row.external_id,
                        EntitlementKind(g.kind),
                        g.external_id,
                        bool(g.inherited),
                        g.via,
                        scope,
                    )
                    for g in held
                    for scope in (g.scopes or [None])
                ],
                names={(g.kind, g.external_id): (g.name, bool(g.privileged)) for g in held},
            )
        )
    return Found(accounts, [], [])


class HrLifecycle:
    """Where the HR intake's leavers and restores become jobs, in the intake's transaction."""

    def __init__(self, settings: Settings, *, now: Callable[[], datetime] = clock.now) -> None:
        self.settings = settings
        self.now = now

    def _queue(self, conn: Connection, plan: Plan, *, reason: str, hr_event_id: int, now: datetime) -> int:
        # a savepoint in the intake's transaction: the session's commit releases it, the intake commits
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            submitted = submit(
                session,
                plan,
                settings=self.settings,
                requested_by=REQUESTED_BY,
                reason=reason,
                hr_event_id=hr_event_id,
                now=now,
            )
            session.commit()
        assert submitted.job_id is not None  # not a dry run
        return submitted.job_id

    def leaver_plan(self, conn: Connection, person_id: int, *, now: datetime) -> Plan:
        person = _person(conn, person_id)
        found = stored_accounts(conn, self.settings, person)
        return build_plan(self.settings, conn, person, found, kind="leaver", planned_at=now)

    def start_leaver(self, conn: Connection, decision: StartLeaver) -> int:
        """The leaver's job, committed unplanned with the event: a worker builds its steps
        (:mod:`accessctl.lifecycle.plan_pending`), so the request never waits on the plan."""
        return enqueue_unplanned(
            conn,
            kind="leaver",
            person_id=decision.person_id,
            reason=decision.reason,
            requested_by=REQUESTED_BY,
            hr_event_id=decision.hr_event_id,
            now=self.now(),
        )

    def start_restore(self, conn: Connection, decision: StartRestore) -> int:
        person = _person(conn, decision.person_id)
        try:
            snapshot = latest_snapshot(conn, person)
        except NothingToRestore as nothing:  # the leaver took nothing: a restore with nothing to do
            plan = Plan(kind="restore", person=person, notes=[str(nothing)])
        except SafeguardRefused as running:  # nothing stored: HR delivers it again once it ended
            raise Rejected("leaver_running", f"{running}; retry later", status=409) from None
        else:
            providers = [name for name in PROVIDERS if getattr(self.settings, name).enabled]
            # every connector adds grants; an account gone meanwhile fails its step, which says so
            plan = restore_plan(snapshot, person, configured=providers, addable=lambda _provider: True)
        now = self.now()
        return self._queue(conn, plan, reason=decision.reason, hr_event_id=decision.hr_event_id, now=now)


def rematch_hr_events(settings: Settings, engine: Engine, *, now: datetime | None = None) -> int:
    """After a roster import or a sync: match the HR events no person matched again and do what
    they mean (a termination's leaver, a rehire's restore); returns how many now have a person."""
    from accessctl.hr.store import rematch_unmatched
    from accessctl.jobs.tables import write_tx

    at = now or clock.now()
    lifecycle = HrLifecycle(settings, now=lambda: at)
    with write_tx(engine) as conn:
        matched = rematch_unmatched(conn, now=at, rehire=settings.hr.rehire, lifecycle=lifecycle)
    wake_workers()
    return matched
