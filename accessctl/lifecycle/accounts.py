"""A person's accounts as the providers show them now: the store's, each confirmed by a live
``find_account`` (the store may be stale), and, where the store has none, one found live by email
(the account may be newer than the last sync)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.lifecycle.connections import Connectors
from accessctl.lifecycle.patience import patiently
from accessctl.lifecycle.people import ACCOUNTS, PersonRef
from accessctl.lifecycle.protected import is_protected
from accessctl.settings import Settings
from accessctl.store.models import Entitlement
from connectors.base import AccountStatus, GrantRecord

ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]


@dataclass
class LiveAccount:
    provider: str
    account_id: str
    login: str
    status: AccountStatus
    protected: bool
    grants: list[GrantRecord] = field(default_factory=list)
    #: (kind, entitlement id) -> (name, privileged), from the store
    names: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)

    @property
    def target(self) -> dict[str, str]:
        return {"account_id": self.account_id, "login": self.login}

    @property
    def direct(self) -> list[GrantRecord]:
        return [g for g in self.grants if not g.inherited]

    def name_of(self, grant: GrantRecord) -> str:
        key = (str(grant.entitlement_kind), grant.entitlement_external_id)
        return self.names.get(key, (grant.entitlement_external_id, False))[0]

    def privileged(self, grant: GrantRecord) -> bool:
        key = (str(grant.entitlement_kind), grant.entitlement_external_id)
        return grant.entitlement_kind == "role" or self.names.get(key, ("", False))[1]


@dataclass
class Found:
    accounts: list[LiveAccount]
    notes: list[str]
    #: store accounts the provider no longer has: (provider, account id, login)
    gone: list[tuple[str, str, str]]


def _store_accounts(engine: Engine, person: PersonRef, providers: list[str]) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(ACCOUNTS)
                .where(
                    ACCOUNTS.c.person_id == person.id,
                    ACCOUNTS.c.ended_at.is_(None),
                    ACCOUNTS.c.provider.in_(providers),
                )
                .order_by(ACCOUNTS.c.provider, ACCOUNTS.c.login)
            )
        )


def _names(engine: Engine, provider: str) -> dict[tuple[str, str], tuple[str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                ENTITLEMENTS.c.kind,
                ENTITLEMENTS.c.external_id,
                ENTITLEMENTS.c.name,
                ENTITLEMENTS.c.privileged,
            ).where(ENTITLEMENTS.c.provider == provider)
        )
        return {(kind, ext): (name, bool(privileged)) for kind, ext, name, privileged in rows}


async def find_live_accounts(
    settings: Settings, engine: Engine, person: PersonRef, connectors: Connectors, *, grants: bool = True
) -> Found:
    providers = [p for p in ("okta", "entra", "google") if p in connectors]
    stored = await asyncio.to_thread(_store_accounts, engine, person, providers)
    notes: list[str] = []
    gone: list[tuple[str, str, str]] = []
    by_provider: dict[str, list[sa.Row]] = {}
    for row in stored:
        by_provider.setdefault(row.provider, []).append(row)

    async def one_provider(provider: str) -> list[LiveAccount]:
        connector = connectors[provider]
        rows = by_provider.get(provider, [])
        found: list[LiveAccount] = []
        if not rows:
            record = await patiently(connector.find_account, email=person.email)
            if record is None:
                return []
            notes.append(f"{provider}: {record.login} found live, not yet in the store")
            candidates = [(record, False)]
        else:
            candidates = []
            for row in rows:
                record = await patiently(connector.find_account, external_id=row.external_id)
                if record is None:
                    gone.append((provider, row.external_id, row.login))
                    notes.append(
                        f"{provider}: {row.login} no longer exists in {provider} (the store is stale)"
                    )
                    continue
                candidates.append((record, bool(row.protected)))
        names = await asyncio.to_thread(_names, engine, provider) if grants else {}
        for record, flagged in candidates:
            account = LiveAccount(
                provider=provider,
                account_id=record.external_id,
                login=record.login,
                status=record.status,
                protected=is_protected(
                    settings,
                    email=record.email,
                    login=record.login,
                    external_id=record.external_id,
                    flagged=flagged,
                ),
                names=names,
            )
            if grants:
                account.grants = await patiently(connector.list_account_grants, record.external_id)
            found.append(account)
        return found

    results = await asyncio.gather(*(one_provider(p) for p in providers))
    accounts = [a for chunk in results for a in chunk]
    return Found(accounts, notes, gone)
