"""Running a use case and its job to the end, and reading the providers back through the connectors."""

from __future__ import annotations

import asyncio
from typing import Any

from accessctl.jobs import JobStatus
from accessctl.lifecycle import Submitted, run_job, step_executor
from accessctl.lifecycle.connections import open_connectors
from accessctl.lifecycle.plan_pending import pending_planner
from connectors.base import AccountRecord, GrantRecord
from tests.lifecycle.conftest import World


def run(world: World, use_case: Any, **kwargs: Any) -> Submitted:
    return asyncio.run(use_case(world.settings, world.engine, **kwargs))


def finish(world: World, job_id: int) -> JobStatus:
    async def go() -> JobStatus:
        async with step_executor(world.settings, engine=world.engine) as execute:
            return await run_job(
                world.engine,
                job_id,
                execute=execute,
                timeout_s=60,
                prepare=pending_planner(world.settings, world.engine),
            )

    return asyncio.run(go())


def live(
    world: World, accounts: dict[str, str]
) -> dict[str, tuple[AccountRecord | None, list[GrantRecord], Any]]:
    """provider -> (the account, its grants, its lock read-back) as the provider shows them now."""
    remember_builtin_groups(world)

    async def go() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with open_connectors(world.settings) as connectors:
            for provider, account_id in accounts.items():
                c = connectors[provider]
                record = await c.find_account(external_id=account_id)
                grants = await c.list_account_grants(account_id) if record else []
                lock = None
                if hasattr(c, "verify_locked"):
                    lock = await c.verify_locked(account_id)
                elif hasattr(c, "lockout_state"):
                    lock = await c.lockout_state(account_id)
                out[provider] = (record, grants, lock)
        return out

    return asyncio.run(go())


def direct(grants: list[GrantRecord]) -> set[tuple[str, str]]:
    """The direct grants a person can lose (not Okta's built-in Everyone group, which no one leaves)."""
    return {
        (str(g.entitlement_kind), g.entitlement_external_id)
        for g in grants
        if not g.inherited
        and not (g.entitlement_kind == "group" and g.entitlement_external_id in _everyone())
    }


_EVERYONE: set[str] = set()


def remember_builtin_groups(world: World) -> None:
    import sqlalchemy as sa

    from accessctl.store.models import Entitlement

    table = Entitlement.__table__
    with world.engine.connect() as conn:
        _EVERYONE.update(
            conn.execute(
                sa.select(table.c.external_id).where(table.c.provider == "okta", table.c.name == "Everyone")
            ).scalars()
        )


def _everyone() -> set[str]:
    return _EVERYONE
