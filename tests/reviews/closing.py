"""Fixtures and helpers for closing campaigns against the real emulators: the lifecycle tests' synced
world, a campaign started on it, decisions as a reviewer makes them, and live read-backs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from fnmatch import fnmatch
from typing import Any

import sqlalchemy as sa

from accessctl.lifecycle.connections import open_connectors
from accessctl.reviews import decide as decisions
from accessctl.reviews.campaigns import ITEMS, start_campaign
from accessctl.reviews.close import CloseResult, close_campaign
from accessctl.settings import CampaignScope, CampaignSettings
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import finish


def now() -> datetime:
    return datetime.now(UTC)


def start(world: World, *, undecided: str = "keep", **scope: Any) -> int:
    settings = CampaignSettings(
        name="q", owner="owner@example.com", undecided=undecided, scope=CampaignScope(**scope)
    )
    with world.engine.begin() as conn:
        cid = start_campaign(conn, settings, actor="test", now=now()).campaign_id
    assert cid is not None
    return cid


def items(world: World, cid: int) -> list[sa.Row]:
    with world.engine.connect() as conn:
        return list(conn.execute(sa.select(ITEMS).where(ITEMS.c.campaign_id == cid).order_by(ITEMS.c.id)))


def decide(world: World, item: sa.Row, decision: str) -> None:
    with world.engine.begin() as conn:
        decisions.decide(
            conn,
            item_id=item.id,
            reviewer_email=item.reviewer_email,
            decision=decision,
            justification="checked with the team",
            now=now(),
        )


def close(world: World, cid: int, **kwargs: Any) -> CloseResult:
    async def go() -> CloseResult:
        async with open_connectors(world.settings) as connectors:
            return await close_campaign(
                world.settings, world.engine, cid, actor="test", connectors=connectors, now=now(), **kwargs
            )

    return asyncio.run(go())


def run_jobs(world: World, result: CloseResult) -> None:
    for job_id in sorted(result.jobs.values()):
        finish(world, job_id)


def live_grants(world: World, provider: str, account_external_id: str) -> set[tuple[str, str]]:
    """The account's direct grants as the provider's API shows them now."""

    async def go() -> set[tuple[str, str]]:
        async with open_connectors(world.settings, [provider]) as connectors:
            grants = await connectors[provider].list_account_grants(account_external_id)
        return {(str(g.entitlement_kind), g.entitlement_external_id) for g in grants if not g.inherited}

    return asyncio.run(go())


def target(world: World, item: sa.Row) -> tuple[str, str, tuple[str, str]]:
    """(provider, account external id, (kind, entitlement external id)) of an item."""
    from accessctl.lifecycle.people import ACCOUNTS
    from accessctl.reviews.remediate import ENTITLEMENTS

    with world.engine.connect() as conn:
        acct = conn.execute(
            sa.select(ACCOUNTS.c.provider, ACCOUNTS.c.external_id).where(ACCOUNTS.c.id == item.account_id)
        ).one()
        ent = conn.execute(
            sa.select(ENTITLEMENTS.c.kind, ENTITLEMENTS.c.external_id).where(
                ENTITLEMENTS.c.id == item.entitlement_id
            )
        ).one()
    return acct.provider, acct.external_id, (ent.kind, ent.external_id)


def plain_items(world: World, cid: int) -> list[sa.Row]:
    """Direct grants of active people on unprotected accounts, not Okta's Everyone (no one leaves it)."""
    from accessctl.lifecycle.people import ACCOUNTS

    with world.engine.connect() as conn:
        protected = set(
            conn.execute(sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.protected.is_(True))).scalars()
        )
    patterns = world.settings.lifecycle.protected
    return [
        i
        for i in items(world, cid)
        if i.person_id is not None
        and i.account_id not in protected
        and not any(fnmatch(i.snapshot.get("login", "").lower(), p.lower()) for p in patterns)
        and not i.snapshot.get("inherited")
        and i.snapshot.get("entitlement") != "Everyone"
        and i.snapshot.get("person_status") == "active"
        and not i.snapshot.get("shared")
        and i.snapshot.get("account_status") == "active"
    ]
