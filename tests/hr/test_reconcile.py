"""Nightly HR reconciliation on the emulators: a person HR says is terminated who still has access
gets exactly one leaver job (requested by hr-reconcile), none while it is in flight, none once it
ran; a dry run changes nothing; protected accounts and the blast-radius guard hold; the serve
scheduler runs it on its cron schedule under the store lock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from accessctl.hr.reconcile import LOCK, REQUESTED_BY, Outcome, ReconcileReport, run_reconcile
from accessctl.lifecycle.people import ACCOUNTS, PEOPLE
from accessctl.store.locks import LockBusy, StoreLock
from accessctl.store.models import AuditEvent
from accessctl.web.service import reconcile_hr, schedule_hr_reconcile
from tests.hr.world import accounts_of, jobs, with_hr_source
from tests.lifecycle.conftest import World, _world
from tests.lifecycle.helpers import finish, live

pytestmark = pytest.mark.timeout(180)
AUDIT: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The seeded org (some of whose leavers still have access, as in life), a guard that lets the
    tests' few leavers run (its own test tightens it)."""
    for made in _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"):
        made.reload(guard={"max_per_hour": 100, "max_share": 1.0})
        yield with_hr_source(made)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The world on SQLite and on PostgreSQL (the store lock differs between them)."""
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    for made in _world(tmp_path, url):
        made.reload(guard={"max_per_hour": 100, "max_share": 1.0})
        yield with_hr_source(made)


def _of(report: ReconcileReport, person: sa.Row) -> Outcome | None:
    return next((o for o in report.outcomes if o.employee_id == person.employee_id), None)


def _jobs_of(world: World, person: sa.Row) -> list[sa.Row]:
    return [j for j in jobs(world) if j.person_id == person.id]


def _terminate(world: World, person_id: int) -> None:
    """What a roster import (or SCIM, or an HR event whose leaver was lost) leaves in the store."""
    with world.engine.begin() as conn:
        conn.execute(PEOPLE.update().where(PEOPLE.c.id == person_id).values(status="terminated"))


def _reconcile(world: World, **kwargs: object) -> ReconcileReport:
    return asyncio.run(run_reconcile(world.settings, world.engine, **kwargs))  # type: ignore[arg-type]


def _audit_count(world: World) -> int:
    with world.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(AUDIT)).scalar_one())


def test_a_terminated_person_with_access_gets_one_leaver_then_none(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = accounts_of(world, person.id)
    before = _reconcile(world, dry_run=True)
    assert _of(before, person) is None  # active in HR: not a leaver
    seeded = [o for o in before.outcomes if o.action == "would queue"]
    assert seeded, "the seeded org has leavers whose access was never removed"
    _terminate(world, person.id)

    report = _reconcile(world)
    outcome = _of(report, person)
    assert outcome is not None and outcome.action == "queued", outcome
    assert any("is active" in why for why in outcome.why), outcome.why
    [job] = _jobs_of(world, person)
    assert (job.kind, job.state, job.requested_by, job.id) == (
        "leaver",
        "pending",
        REQUESTED_BY,
        outcome.job_id,
    )
    assert "terminated in HR" in job.reason
    # the seed's forgotten leavers (a lost webhook, say) got theirs too, one each
    assert {o.employee_id for o in seeded} <= {o.employee_id for o in report.outcomes if o.action == "queued"}
    assert len(jobs(world)) == len(seeded) + 1

    again = _reconcile(world)  # its leaver is still to run: left to it
    assert (_of(again, person).action, _of(again, person).job_id) == ("in flight", job.id)  # type: ignore[union-attr]
    assert len(jobs(world)) == len(seeded) + 1

    assert finish(world, job.id).state == "done"
    for provider, (record, _grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) != "active", provider
    after = _reconcile(world)  # deprovisioned: nothing left
    assert _of(after, person) is None
    assert len(_jobs_of(world, person)) == 1


def test_a_dry_run_says_who_and_why_and_changes_nothing(world: World) -> None:
    person = world.people_with_accounts()[0]
    _terminate(world, person.id)
    audited = _audit_count(world)

    report = _reconcile(world, dry_run=True)
    outcome = _of(report, person)
    assert report.dry_run and outcome is not None
    assert outcome.action == "would queue" and outcome.job_id is None and outcome.why
    assert outcome.plan is not None and outcome.plan.runnable
    assert jobs(world) == [] and _audit_count(world) == audited
    assert _of(_reconcile(world, dry_run=True), person).action == "would queue"  # type: ignore[union-attr]


def test_protected_accounts_are_left_alone(world: World) -> None:
    person = world.people_with_accounts()[0]
    _terminate(world, person.id)
    with world.engine.begin() as conn:
        conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.person_id == person.id).values(protected=True))
    assert _of(_reconcile(world), person) is None and _jobs_of(world, person) == []


def test_a_future_termination_date_waits_for_its_own_leaver(world: World) -> None:
    person = world.people_with_accounts()[0]
    _terminate(world, person.id)
    with world.engine.begin() as conn:
        conn.execute(
            PEOPLE.update().where(PEOPLE.c.id == person.id).values(termination_date=datetime(2999, 1, 1))
        )
    assert _of(_reconcile(world), person) is None and _jobs_of(world, person) == []


def test_the_blast_radius_guard_quarantines_a_large_batch(world: World) -> None:
    world.reload(guard={"max_per_hour": 1, "max_share": 1.0})
    first, second = world.people_with_accounts()[:2]
    _terminate(world, first.id)
    _terminate(world, second.id)
    report = _reconcile(world)
    actions = [o.action for o in report.outcomes]
    assert actions.count("queued") == 1 and actions.count("quarantined") == len(actions) - 1 >= 1
    assert sorted(j.state for j in jobs(world)).count("quarantined") == len(actions) - 1


def test_the_scheduler_job_runs_it_under_its_lock(any_world: World) -> None:
    world = any_world
    person = world.people_with_accounts()[0]
    _terminate(world, person.id)

    other = StoreLock(world.engine, LOCK)  # another process's reconciliation, running
    assert other.try_acquire() is None
    try:
        with pytest.raises(LockBusy):
            _reconcile(world)
        assert asyncio.run(reconcile_hr(world.settings, world.engine)) is None
        assert jobs(world) == []
    finally:
        other.release()

    report = asyncio.run(reconcile_hr(world.settings, world.engine))
    assert report is not None and _of(report, person).action == "queued"  # type: ignore[union-attr]
    assert [j.requested_by for j in _jobs_of(world, person)] == [REQUESTED_BY]


def test_serve_schedules_it_on_the_configured_cron_in_its_time_zone(world: World) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def registered() -> datetime | None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        assert schedule_hr_reconcile(scheduler, world.settings, world.engine)
        scheduler.start(paused=True)
        try:
            job = scheduler.get_job("hr.reconcile")
            return job.trigger.get_next_fire_time(None, datetime(2026, 7, 1, 12, tzinfo=UTC))
        finally:
            scheduler.shutdown(wait=False)

    assert asyncio.run(registered()) == datetime(2026, 7, 2, 2, tzinfo=UTC)  # default "0 2 * * *", UTC
    with_hr_source(world, reconcile_schedule="30 1 * * 1-5", reconcile_timezone="Europe/Berlin")
    # Thursday 2 July 01:30 in Berlin (CEST) is 23:30 UTC on the 1st
    assert asyncio.run(registered()) == datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    with_hr_source(world, reconcile_schedule="manual")
    assert not schedule_hr_reconcile(object(), world.settings, world.engine)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ('reconcile_schedule = "every night"', "neither 'manual' nor a five-field cron expression"),
        ('reconcile_schedule = "0 25 * * *"', "is not a valid cron expression"),
        ('reconcile_timezone = "Mars/Olympus"', "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_schedule_is_a_config_error(tmp_path: Path, values: str, message: str) -> None:
    from accessctl.settings import ConfigError, load_settings

    config = tmp_path / "accessctl.toml"
    config.write_text(f"[hr]\n{values}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert message in str(raised.value) and "reconcile_" in str(raised.value)
