"""Safeguards, each with its documented outcome: protected accounts are skipped (only an explicit
lockout touches one), the last active super-admin is never blocked, the blast-radius guard
quarantines and a second person releases, a gone account ends ALREADY_DONE."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from accessctl.lifecycle import (
    HeldThroughGroup,
    SafeguardRefused,
    deprovision,
    list_quarantined,
    lockout,
    reject,
    release,
    revoke,
)
from accessctl.lifecycle.connections import open_connectors
from accessctl.lifecycle.usecases import find_person
from accessctl.store.models import Account, AuditEvent, Person
from accessctl.sync.service import run_sync
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import direct, finish, live, run

ACCOUNTS = Account.__table__


def _accounts(world: World, person_id: int) -> dict[str, str]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ACCOUNTS.c.provider, ACCOUNTS.c.external_id).where(
                ACCOUNTS.c.person_id == person_id, ACCOUNTS.c.ended_at.is_(None)
            )
        )
        return dict(rows.all())


def _person(world: World, email: str) -> sa.Row:
    with world.engine.connect() as conn:
        return conn.execute(sa.select(Person.__table__).where(Person.__table__.c.email == email)).one()


def test_a_protected_account_is_skipped_and_only_an_explicit_lockout_touches_it(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = _accounts(world, person.id)
    world.reload(protected=[person.email.replace(person.email.split("@")[0], "*" + person.email[1:4] + "*")])
    submitted = run(world, deprovision, person=person.email, requested_by="admin:ann")
    skipped = [s for s in submitted.plan.steps if s.skipped == "protected"]
    assert {s.provider for s in skipped} == set(accounts)
    assert all(r["expected_effect"] == "skipped: protected" for r in submitted.plan.rows())
    assert submitted.state == "done"  # nothing to run
    assert {str(r.status) for r, _, _ in live(world, accounts).values()} == {"active"}

    plain = run(world, lockout, person=person.email, requested_by="admin:ann")
    assert all(s.skipped == "protected" for s in plain.plan.steps)
    forced = run(world, lockout, person=person.email, requested_by="admin:ann", include_protected=True)
    assert not [s for s in forced.plan.steps if s.skipped]
    assert finish(world, forced.job_id).state == "done"
    assert {str(r.status) for r, _, _ in live(world, accounts).values()} == {"suspended"}


def test_the_last_active_super_admin_is_never_blocked(world: World) -> None:
    admin = _person(world, "anna.petrov@example.com")

    async def suspend_the_shared_admin() -> None:  # the other super-admin, suspended by hand
        async with open_connectors(world.settings) as connectors:
            for connector in connectors.values():
                record = await connector.find_account(email="it-admin@example.com")
                await connector.suspend_account(record.external_id)

    asyncio.run(suspend_the_shared_admin())
    run_sync(world.settings, world.engine, full=True, actor="test")
    submitted = run(world, deprovision, person=admin.email, requested_by="admin:ann")
    refused = {s.provider: s for s in submitted.plan.steps if s.skipped and s.skipped.startswith("refused")}
    assert set(refused) == {"okta", "entra", "google"}
    assert refused["okta"].skipped == "refused: last active SUPER_ADMIN of okta"
    assert refused["entra"].skipped == "refused: last active Global Administrator of entra"
    assert finish(world, submitted.job_id).state == "done"
    for provider, (record, grants, _) in live(world, _accounts(world, admin.id)).items():
        assert str(record.status) == "active", provider  # still signs in, still super-admin
        assert any(g.entitlement_kind == "role" for g in grants), provider


def test_the_guard_quarantines_and_a_second_person_releases(world: World) -> None:
    world.reload(guard={"max_per_hour": 1, "max_share": 1.0, "two_person": True})
    first, second = world.people_with_accounts()[:2]
    ok = run(world, deprovision, person=first.email, requested_by="admin:ann")
    held = run(world, deprovision, person=second.email, requested_by="admin:ann")
    assert ok.state == "pending"
    assert held.state == "quarantined" and "max_per_hour = 1" in held.quarantine_reason
    assert [q.id for q in list_quarantined(world.engine)] == [held.job_id]
    assert finish(world, held.job_id).state == "quarantined"  # nothing runs
    assert {str(r.status) for r, _, _ in live(world, _accounts(world, second.id)).values()} == {"active"}

    with pytest.raises(SafeguardRefused, match="two_person"):
        release(world.settings, world.engine, held.job_id, by="admin:ann")
    assert release(world.settings, world.engine, held.job_id, by="admin:bob") == "pending"
    assert finish(world, held.job_id).state == "done"
    assert {str(r.status) for r, _, _ in live(world, _accounts(world, second.id)).values()} == {"suspended"}
    with world.engine.connect() as conn:
        events = AuditEvent.__table__
        released = conn.execute(
            sa.select(events.c.actor).where(
                events.c.action == "job.released", events.c.target_id == str(held.job_id)
            )
        ).scalars()
        assert list(released) == ["admin:bob"]


def test_a_rejected_quarantined_job_never_runs(world: World) -> None:
    world.reload(guard={"max_per_hour": 1, "max_share": 1.0})
    first, second = world.people_with_accounts()[:2]
    run(world, deprovision, person=first.email, requested_by="hr")
    held = run(world, deprovision, person=second.email, requested_by="hr")
    assert reject(world.engine, held.job_id, by="admin:bob") > 0
    assert finish(world, held.job_id).state == "cancelled"
    assert {str(r.status) for r, _, _ in live(world, _accounts(world, second.id)).values()} == {"active"}


def test_an_account_deleted_in_the_provider_meanwhile_ends_already_done(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = _accounts(world, person.id)
    submitted = run(world, deprovision, person=person.email, requested_by="admin:ann")

    async def delete_in_okta() -> None:  # an Okta admin deletes the user before the job runs
        async with open_connectors(world.settings, ["okta"]) as connectors:
            client = connectors["okta"].client
            await client.request("POST", f"/api/v1/users/{accounts['okta']}/lifecycle/deactivate")
            await client.request("DELETE", f"/api/v1/users/{accounts['okta']}")

    asyncio.run(delete_in_okta())
    status = finish(world, submitted.job_id)
    assert status.state == "done", [(s.provider, s.action, s.last_answer) for s in status.steps]
    okta = [s for s in status.steps if s.provider == "okta" and s.action != "refresh_store"]
    assert {s.result for s in okta} == {"ALREADY_DONE"}
    assert "account gone from okta" in okta[0].last_answer, okta[0]  # the suspend
    with world.engine.connect() as conn:
        ended = conn.execute(
            sa.select(ACCOUNTS.c.ended_at).where(ACCOUNTS.c.external_id == accounts["okta"])
        ).scalar_one()
    assert ended is not None


def test_a_grant_held_through_a_group_names_the_group_and_via_removes_that_membership(world: World) -> None:
    person = find_person(world.engine, "smeyer1@example.com")  # a login linked to the person
    with pytest.raises(HeldThroughGroup, match=r"only through dept-engineering.*--via GROUP"):
        run(
            world, revoke, person=person.email, entitlement="google:group:all-staff", requested_by="admin:ann"
        )
    submitted = run(
        world,
        revoke,
        person=person.email,
        entitlement="google:group:all-staff",
        via="dept-engineering",
        requested_by="admin:ann",
    )
    assert next((r["step"], r["target"]) for r in submitted.plan.rows()) == (
        "remove_grant",
        "group:dept-engineering",
    )
    assert finish(world, submitted.job_id).state == "done"
    (record, grants, _) = live(world, {"google": _accounts(world, person.id)["google"]})["google"]
    names = {g.entitlement_external_id for g in grants}
    assert str(record.status) == "active"
    assert len(direct(grants)) >= 1 and not any(n for n in names if n == "35874521477360773")
