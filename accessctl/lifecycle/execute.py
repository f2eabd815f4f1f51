"""The step executor: what a job step's action means as a connector call.

    async with step_executor(settings) as execute:
        await run_worker(engine, execute=execute, worker_id=..., clock=..., stop=stop)

The configured connectors are opened once, on entry, and closed on exit.  Actions:

``suspend``, ``deactivate`` (Okta), ``revoke_sessions``, ``restore_account`` (target
``account_id``); ``remove_grant``, ``add_grant`` (``account_id``, ``kind``, ``entitlement_id``, and
``scope`` where the grant has one);
``verify`` (a read-back judged by :mod:`accessctl.lifecycle.readback`); ``refresh_store`` (the
account's rows in the store brought up to what the provider shows).

An account gone from the provider meanwhile makes a blocking or stripping step ALREADY_DONE (there
is nothing left to sign in with), said so in the answer; restoring or adding to a gone account
fails the step (NotFoundError).  Connector errors propagate for the worker to classify.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.engine import Engine

from accessctl.jobs import StepOutcome, StepView
from accessctl.lifecycle.connections import Connectors, open_connectors
from accessctl.lifecycle.readback import VerificationFailed, describe, problems, read_back
from accessctl.lifecycle.refresh import refresh_account
from accessctl.settings import Settings
from connectors.base import (
    ActionResult,
    Connector,
    ConnectorError,
    EntitlementKind,
    GrantRecord,
    NotFoundError,
    TransientError,
)

Execute = Callable[[StepView], Awaitable[StepOutcome]]

#: actions whose effect an account gone from the provider already has
_GONE_IS_DONE = {"suspend", "deactivate", "revoke_sessions", "remove_grant", "verify"}
#: one step is several requests (read, then write only what is still to do, or a whole read-back),
#: so a transient failure of any one is retried in place, up to this many tries, before the attempt
#: counts as failed; a try repeats nothing visible, since every action first reads what is done
_TRIES = 4
_WAIT_S = 0.2
_WAIT_MAX_S = 2.0
ACTIONS = (
    "suspend",
    "deactivate",
    "revoke_sessions",
    "remove_grant",
    "add_grant",
    "restore_account",
    "verify",
    "refresh_store",
)


class UnknownAction(ConnectorError):
    """A step names an action or a provider this executor cannot run (the step fails at once)."""


def _grant(target: dict[str, Any]) -> GrantRecord:
    return GrantRecord(
        account_external_id=str(target["account_id"]),
        entitlement_kind=EntitlementKind(target["kind"]),
        entitlement_external_id=str(target["entitlement_id"]),
        scope=target.get("scope"),
    )


async def run_action(connector: Connector, step: StepView, *, engine: Engine | None = None) -> StepOutcome:
    """One step against its provider's connector."""
    target = step.target
    account = str(target.get("account_id", ""))
    action = step.action
    try:
        if action == "suspend":
            return StepOutcome(str(await connector.suspend_account(account)), "sign-in blocked")
        if action == "deactivate":
            deactivate = getattr(connector, "deactivate_account", None)
            if deactivate is None:
                raise UnknownAction(f"{connector.provider} cannot deactivate", provider=connector.provider)
            return StepOutcome(str(await deactivate(account)), "account deactivated")
        if action == "revoke_sessions":
            return StepOutcome(str(await connector.revoke_sessions(account)), "sessions and tokens revoked")
        if action == "remove_grant":
            result = await connector.remove_grant(_grant(target))
            return StepOutcome(
                str(result), f"{target['kind']} {target.get('name') or target['entitlement_id']} removed"
            )
        if action == "add_grant":
            add = getattr(connector, "add_grant", None)
            if add is None:
                raise UnknownAction(
                    f"{connector.provider} cannot add grants yet", provider=connector.provider
                )
            result = await add(_grant(target))
            return StepOutcome(
                str(result), f"{target['kind']} {target.get('name') or target['entitlement_id']} added"
            )
        if action == "restore_account":
            return StepOutcome(str(await connector.restore_account(account)), "sign-in enabled")
        if action == "verify":
            seen = await read_back(connector, account)
            wrong = problems(seen, target)
            if wrong:
                raise VerificationFailed(
                    "verification failed: " + "; ".join(wrong), provider=connector.provider
                )
            return StepOutcome(str(ActionResult.ALREADY_DONE), "verified: " + describe(seen, target))
        if action == "refresh_store":
            if engine is None:
                raise UnknownAction("refresh_store needs the store", provider=connector.provider)
            actor = f"job:{step.job_id}"
            return StepOutcome(
                str(ActionResult.APPLIED), await refresh_account(engine, connector, account, actor=actor)
            )
    except NotFoundError as exc:
        if action not in _GONE_IS_DONE:
            raise
        return StepOutcome(str(ActionResult.ALREADY_DONE), f"account gone from {connector.provider}: {exc}")
    raise UnknownAction(f"no such action {action!r}", provider=connector.provider)


def executor_for(connectors: Connectors, *, engine: Engine | None = None) -> Execute:
    """The ``execute`` callable over already open connectors."""

    async def execute(step: StepView) -> StepOutcome:
        connector = connectors.get(step.provider)
        if connector is None:
            raise UnknownAction(f"{step.provider} is not configured here", provider=step.provider)
        for _ in range(_TRIES - 1):
            try:
                return await run_action(connector, step, engine=engine)
            except TransientError as exc:
                await asyncio.sleep(min(exc.retry_after or _WAIT_S, _WAIT_MAX_S))
        return await run_action(connector, step, engine=engine)

    return execute


@contextlib.asynccontextmanager
async def step_executor(settings: Settings, *, engine: Engine | None = None) -> AsyncIterator[Execute]:
    """Open the configured connectors once and yield the ``execute`` for :func:`run_worker`;
    ``engine`` is the store ``refresh_store`` writes to (default: the configured database)."""
    own_engine = None
    if engine is None:
        from accessctl.store.engine import make_engine

        engine = own_engine = make_engine(settings.database_url)
    try:
        async with open_connectors(settings) as connectors:
            yield executor_for(connectors, engine=engine)
    finally:
        if own_engine is not None:
            own_engine.dispose()
