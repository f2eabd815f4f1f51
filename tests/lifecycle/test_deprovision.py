"""The issue's done-when: a leaver leaves the person suspended, signed out and stripped in all three
emulators, verified and audited; restore brings back exactly the snapshot.  And a dry run prints the
plan and changes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from accessctl.lifecycle import deprovision, restore
from accessctl.store.models import Account, AuditEvent, LifecycleSnapshot
from accessctl.sync.clock import now
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import direct, finish, live, run


def _accounts(world: World, person_id: int) -> dict[str, str]:
    table = Account.__table__
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.provider, table.c.external_id).where(
                table.c.person_id == person_id, table.c.ended_at.is_(None)
            )
        )
        return dict(rows.all())


def _someone_with_grants(world: World):
    """A person with accounts everywhere and at least one direct grant in each provider."""
    for person in world.people_with_accounts():
        accounts = _accounts(world, person.id)
        seen = live(world, accounts)
        if all(direct(grants) for _, grants, _ in seen.values()):
            return person, accounts, seen
    raise AssertionError("the generated org has nobody with direct grants in all three providers")


def test_deprovision_suspends_signs_out_strips_verifies_audits_and_restore_gives_it_back(
    world: World,
) -> None:
    _deprovision_and_restore(world)


def test_deprovision_and_restore_on_postgresql(pg_world: World) -> None:
    _deprovision_and_restore(pg_world)


def _deprovision_and_restore(world: World) -> None:
    person, accounts, before = _someone_with_grants(world)
    started = now()
    submitted = run(world, deprovision, person=person.email, requested_by="admin:ann", reason="left")
    assert submitted.state == "pending" and submitted.job_id is not None
    status = finish(world, submitted.job_id)
    assert status.state == "done", [(s.provider, s.action, s.state, s.last_answer) for s in status.steps]

    after = live(world, accounts)
    for provider, (record, grants, lock) in after.items():
        assert record is not None and str(record.status) == "suspended", provider
        assert direct(grants) == set(), (provider, direct(grants))
        assert lock.suspended, provider
        assert getattr(lock, "open_credentials", []) == [], (
            provider
        )  # OAuth tokens/grants, app passwords, backup codes
        if provider == "entra":  # the one provider that shows when sessions were revoked
            assert lock.sessions_valid_from >= started.replace(microsecond=0)
    verified = {s.provider for s in status.steps if s.action == "verify" and s.state == "done"}
    assert verified == {"okta", "entra", "google"}

    events = AuditEvent.__table__
    with world.engine.connect() as conn:
        done = conn.execute(
            sa.select(sa.func.count()).where(
                events.c.action == "job.step.done", events.c.target_id.is_not(None)
            )
        ).scalar_one()
        stored = set(
            conn.execute(
                sa.select(Account.__table__.c.status).where(Account.__table__.c.person_id == person.id)
            ).scalars()
        )
    assert done >= len([s for s in status.steps if s.state == "done"])
    assert stored == {"suspended"}

    restored = run(world, restore, person=person.employee_id, approved_by="admin:bob")
    assert finish(world, restored.job_id).state == "done"
    back = live(world, accounts)
    unsupported = {s.provider for s in restored.plan.steps if s.skipped and "cannot add grants" in s.skipped}
    for provider, (record, grants, _) in back.items():
        assert str(record.status) == "active", provider
        if provider in unsupported:  # the Google connector has no add_grant yet
            continue
        assert direct(grants) == direct(before[provider][1]), provider
    assert unsupported <= {"google"}
    with world.engine.connect() as conn:
        snap = conn.execute(sa.select(LifecycleSnapshot.__table__)).one()
        approved = conn.execute(
            sa.select(events.c.actor, events.c.details).where(events.c.action == "lifecycle.restore_approved")
        ).one()
    assert snap.restored_by == "admin:bob" and snap.restore_job_id == restored.job_id
    assert approved.actor == "admin:bob"


def test_a_dry_run_returns_exactly_the_plan_and_changes_nothing(world: World) -> None:
    person, accounts, before = _someone_with_grants(world)
    submitted = run(world, deprovision, person=person.email, requested_by="admin:ann", dry_run=True)
    assert submitted.job_id is None and submitted.dry_run
    rows = submitted.plan.rows()
    for provider in ("okta", "entra", "google"):
        steps = [r["step"] for r in rows if r["provider"] == provider]
        assert steps[:2] == ["suspend", "revoke_sessions"]
        assert steps[-2:] == ["verify", "refresh_store"]
        assert steps.count("remove_grant") == len(direct(before[provider][1]))
    after = live(world, accounts)
    for provider in accounts:
        assert str(after[provider][0].status) == "active"
        assert direct(after[provider][1]) == direct(before[provider][1])
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from job")).scalar_one() == 0


def test_okta_deactivate_and_privileged_only_as_configured_and_restore_reactivates(world: World) -> None:
    world.reload(okta_leaver_action="deactivate", remove="privileged")
    person, accounts, before = _someone_with_grants(world)
    submitted = run(world, deprovision, person=person.email, requested_by="admin:ann")
    okta = [s for s in submitted.plan.steps if s.provider == "okta"]
    assert okta[0].action == "deactivate"
    removed = [s.target for s in submitted.plan.steps if s.action == "remove_grant"]
    with world.engine.connect() as conn:
        privileged = {
            (k, e)
            for k, e in conn.execute(
                sa.text("select kind, external_id from entitlement where privileged or kind = 'role'")
            )
        }
    assert removed and all((t["kind"], t["entitlement_id"]) in privileged for t in removed)
    assert finish(world, submitted.job_id).state == "done"
    (record, _, _) = live(world, {"okta": accounts["okta"]})["okta"]
    assert str(record.status) == "deprovisioned"
    restored = run(world, restore, person=person.email, approved_by="admin:bob")
    assert finish(world, restored.job_id).state == "done"
    (record, grants, _) = live(world, {"okta": accounts["okta"]})["okta"]
    assert str(record.status) == "active"
    assert direct(grants) == direct(before["okta"][1])
