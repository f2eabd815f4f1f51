"""The step executor against the three emulators: each action is the connector call, its effect read
back through the provider's public API, a gone account ALREADY_DONE, a failed read-back a failed step."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.orm import Session

from accessctl.jobs import PlannedStep, enqueue
from accessctl.lifecycle import step_executor
from accessctl.lifecycle.connections import open_connectors
from accessctl.lifecycle.run import run_job
from accessctl.store.models import Account
from tests.lifecycle.conftest import World


def _accounts(world: World, person_id: int) -> dict[str, str]:
    accounts = Account.__table__
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(accounts.c.provider, accounts.c.external_id).where(
                accounts.c.person_id == person_id, accounts.c.ended_at.is_(None)
            )
        )
        return {provider: external_id for provider, external_id in rows}


def _run(world: World, steps: list[PlannedStep], person_id: int):
    with Session(world.engine) as session:
        job_id = enqueue(
            session, kind="test", person_id=person_id, reason="t", requested_by="tester", steps=steps
        )
        session.commit()

    async def go():
        async with step_executor(world.settings, engine=world.engine) as execute:
            return await run_job(world.engine, job_id, execute=execute, timeout_s=60)

    return asyncio.run(go())


def test_suspend_revoke_verify_and_refresh_in_every_provider(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = _accounts(world, person.id)
    steps = []
    for provider, account in sorted(accounts.items()):
        target = {"account_id": account}
        steps += [
            PlannedStep(provider, "suspend", target, "sign-in blocked"),
            PlannedStep(provider, "revoke_sessions", target, "signed out"),
            PlannedStep(provider, "verify", {**target, "blocked": True}, "blocked, read back"),
            PlannedStep(provider, "refresh_store", target, "store up to date"),
        ]
    status = _run(world, steps, person.id)
    assert status.state == "done", status
    verified = [s for s in status.steps if s.action == "verify"]
    assert len(verified) == 3 and all(s.last_answer.startswith("verified: blocked") for s in verified)

    async def read() -> dict[str, str]:
        async with open_connectors(world.settings) as connectors:
            return {
                p: str((await connectors[p].find_account(external_id=a)).status) for p, a in accounts.items()
            }

    assert set(asyncio.run(read()).values()) == {"suspended"}
    accounts_table = Account.__table__
    with world.engine.connect() as conn:
        stored = conn.execute(
            sa.select(accounts_table.c.status).where(accounts_table.c.person_id == person.id)
        ).scalars()
        assert set(stored) == {"suspended"}


def test_a_verify_that_does_not_hold_fails_the_step_with_what_was_seen(world: World) -> None:
    person = world.people_with_accounts()[0]
    account = _accounts(world, person.id)["entra"]
    status = _run(
        world, [PlannedStep("entra", "verify", {"account_id": account, "blocked": True})], person.id
    )
    assert status.state == "failed"
    assert "verification failed: sign-in is not blocked" in status.steps[0].last_answer


def test_an_account_gone_from_the_provider_is_already_done(world: World) -> None:
    person = world.people_with_accounts()[0]
    gone = {"account_id": "00000000-0000-0000-0000-00000000dead"}
    status = _run(
        world,
        [
            PlannedStep("entra", "suspend", gone),
            PlannedStep("google", "revoke_sessions", {"account_id": "1"}),
        ],
        person.id,
    )
    assert status.state == "done", status
    assert {s.result for s in status.steps} == {"ALREADY_DONE"}
    assert all("account gone" in s.last_answer for s in status.steps)
