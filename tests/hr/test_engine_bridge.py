"""HR intake → the deprovisioning engine, in process, on the emulators: a future-dated termination
fires its leaver when fire_due runs at its time (and not before), the job carries it out in every
provider (read back through the connectors), a replay changes nothing, a rehire restores; the
engine's safeguards (protected accounts, the blast-radius guard) hold for HR-started leavers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accessctl.hr.intake import event_status
from tests.hr.helpers import encode, event
from tests.hr.world import accounts_of, intake_for, jobs, plan_jobs, send, termination, with_hr_source
from tests.lifecycle.conftest import World, _world
from tests.lifecycle.helpers import direct, finish, live

pytestmark = pytest.mark.timeout(180)
#: the tests' clock starts a day ago, so the jobs it dates are due for the workers' real clock
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for made in _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"):
        yield with_hr_source(made)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The world on SQLite and on PostgreSQL (the intake's transaction differs between them)."""
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    for made in _world(tmp_path, url):
        yield with_hr_source(made)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_a_future_dated_termination_fires_at_its_time_and_a_rehire_restores(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = accounts_of(world, person.id)
    clock = Clock(T0)
    intake = intake_for(world, clock)
    raw = termination(
        person.employee_id, person.email, id_="t-1", occurred_at=T0, effective_at=T0 + timedelta(hours=2)
    )
    accepted = send(intake, raw, webhook_id="msg-1", at=T0)
    assert accepted.status == "scheduled" and jobs(world) == []

    clock.at = T0 + timedelta(hours=1)
    assert intake.fire_due() == 0 and jobs(world) == []
    clock.at = T0 + timedelta(hours=2)
    assert intake.fire_due() == 1
    assert intake.fire_due() == 0  # exactly once
    [job] = jobs(world)
    assert (job.kind, job.state, job.hr_event_id, job.requested_by) == (
        "leaver",
        "planning",  # committed with the event; a worker plans it
        accepted.event_id,
        "hr",
    )
    shown = event_status(world.engine, accepted.event_id)
    assert shown is not None and shown["job"]["state"] == "planning" and shown["job"]["steps"] == []
    assert plan_jobs(world, clock.at) == 1 and plan_jobs(world, clock.at) == 0  # exactly once
    assert jobs(world)[0].state == "pending"

    again = send(intake, raw, webhook_id="msg-1", at=clock.at)  # HR delivers it again
    assert again.replay and again.event_id == accepted.event_id and len(jobs(world)) == 1

    assert finish(world, job.id).state == "done"
    for provider, (record, grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) != "active", provider
        assert direct(grants) == set(), provider
    shown = event_status(world.engine, accepted.event_id)
    assert shown is not None and shown["schedule"]["state"] == "fired" and shown["job"]["state"] == "done"

    clock.at += timedelta(hours=3)
    stamp = clock.at.isoformat().replace("+00:00", "Z")
    rehired = encode(
        event(
            "employee.rehired",
            id_="r-1",
            employee_id=person.employee_id,
            email=person.email,
            occurred_at=stamp,
        )
    )
    send(intake, rehired, webhook_id="msg-2", at=clock.at)
    restore = jobs(world)[-1]
    assert restore.kind == "restore"
    assert finish(world, restore.id).state == "done"
    for provider, (record, _grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) == "active", provider


def test_hr_leavers_keep_the_engines_safeguards(any_world: World) -> None:
    world = any_world
    first, second = world.people_with_accounts()[:2]
    world.reload(
        protected=[accounts_of(world, first.id)["okta"]]
    )  # the default guard: one leaver an hour in a 30-person org
    intake = intake_for(world, Clock(T0))
    for n, person in enumerate((first, second)):
        raw = termination(person.employee_id, person.email, id_=f"t-{n}", occurred_at=T0)
        send(intake, raw, webhook_id=f"msg-{n}", at=T0)
    assert [j.state for j in jobs(world)] == ["planning", "planning"]
    assert plan_jobs(world, T0) == 2  # the safeguards apply as the worker plans them
    made, held = jobs(world)
    assert made.state == "pending" and held.state == "quarantined"
    steps = event_status(world.engine, 1)["job"]["steps"]  # type: ignore[index]
    okta = [s for s in steps if s["provider"] == "okta"]
    assert okta and all(s["state"] == "skipped" for s in okta)
    assert finish(world, made.id).state == "done"
    seen = live(world, accounts_of(world, first.id))
    assert str(seen["okta"][0].status) == "active"  # protected: untouched
    assert str(seen["entra"][0].status) != "active"
    untouched = live(world, accounts_of(world, second.id))
    assert all(str(record.status) == "active" for record, _g, _l in untouched.values())


def test_an_admins_restore_settles_a_rehire_hr_queued_for_review(world: World) -> None:
    from typer.testing import CliRunner

    from accessctl.cli import app

    with_hr_source(world, rehire="review")
    person = world.people_with_accounts()[0]
    clock = Clock(T0)
    intake = intake_for(world, clock)
    send(
        intake,
        termination(person.employee_id, person.email, id_="t-1", occurred_at=T0),
        webhook_id="m1",
        at=T0,
    )
    assert finish(world, jobs(world)[0].id).state == "done"
    clock.at = T0 + timedelta(hours=1)
    stamp = clock.at.isoformat().replace("+00:00", "Z")
    raw = encode(
        event(
            "employee.rehired",
            id_="r-1",
            employee_id=person.employee_id,
            email=person.email,
            occurred_at=stamp,
        )
    )
    rehire = send(intake, raw, webhook_id="m2", at=clock.at)
    assert event_status(world.engine, rehire.event_id)["needs_admin"] and len(jobs(world)) == 1  # type: ignore[index]

    args = ["--config", str(world.config_path), "restore", person.email, "--by", "ann", "--yes", "--no-wait"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    restore = jobs(world)[-1]
    assert restore.kind == "restore"
    assert (
        f"HR event {rehire.event_id} (a rehire queued for an admin): restored by job {restore.id}"
        in result.output
    )
    shown = event_status(world.engine, rehire.event_id)
    assert shown is not None and shown["job"]["id"] == restore.id


def test_an_hr_leaver_never_blocks_a_providers_last_super_admin(world: World) -> None:
    import asyncio

    from accessctl.lifecycle.connections import open_connectors
    from accessctl.sync.service import run_sync
    from tests.lifecycle.test_safeguards import _person

    admin = _person(world, "anna.petrov@example.com")

    async def suspend_the_shared_admin() -> None:  # the other super-admin, suspended by hand
        async with open_connectors(world.settings) as connectors:
            for connector in connectors.values():
                record = await connector.find_account(email="it-admin@example.com")
                await connector.suspend_account(record.external_id)

    asyncio.run(suspend_the_shared_admin())
    run_sync(world.settings, world.engine, full=True, actor="test")
    intake = intake_for(world, Clock(T0))
    raw = termination(admin.employee_id, admin.email, id_="t-admin", occurred_at=T0)
    accepted = send(intake, raw, webhook_id="m-admin", at=T0)
    plan_jobs(world, T0)
    steps = event_status(world.engine, accepted.event_id)["job"]["steps"]  # type: ignore[index]
    refused = {
        s["provider"] for s in steps if (s["result"] or "").startswith("skipped: refused: last active")
    }
    assert refused == {"okta", "entra", "google"}
    assert finish(world, jobs(world)[-1].id).state == "done"
    for provider, (record, grants, _) in live(world, accounts_of(world, admin.id)).items():
        assert record is not None and str(record.status) == "active", provider  # still signs in
        assert any(g.entitlement_kind == "role" for g in grants), provider
