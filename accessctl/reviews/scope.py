"""The grants a campaign's scope selects, read from the store with the account, entitlement and person
they join (one query; patterns are matched here, as the sync's are)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.settings import CampaignScope
from accessctl.store.models import Account, AccountStatus, Entitlement, Grant, Person
from accessctl.timestamps import utc

GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]
ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One live grant with what reviewing it needs to know."""

    grant_id: int
    inherited: bool
    via: str | None
    granted_at: datetime | None
    account_id: int
    provider: str
    login: str
    account_email: str | None
    account_status: str
    account_department: str | None
    manager_external_id: str | None
    mfa_state: str
    last_login_at: datetime | None
    account_created_at: datetime | None
    is_shared: bool
    is_service: bool
    entitlement_id: int
    entitlement_kind: str
    entitlement_name: str
    privileged: bool
    entitlement_owner: str | None
    person_id: int | None
    person_name: str | None
    person_email: str | None
    person_status: str | None
    person_department: str | None
    termination_date: date | None

    @property
    def department(self) -> str | None:
        return self.person_department or self.account_department

    def snapshot(self) -> dict[str, Any]:
        """The grant as the campaign saw it (kept on the item: the store moves on)."""
        return {
            "provider": self.provider,
            "login": self.login,
            "account_status": self.account_status,
            "mfa_state": self.mfa_state,
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
            "shared": self.is_shared or self.is_service,
            "entitlement": self.entitlement_name,
            "kind": self.entitlement_kind,
            "privileged": self.privileged,
            "inherited": self.inherited,
            "via": self.via,
            "granted_at": self.granted_at.isoformat() if self.granted_at else None,
            "person": self.person_name,
            "person_email": self.person_email,
            "person_status": self.person_status,
            "department": self.department,
        }

    def fingerprint(self) -> list[Any]:
        """What, when changed, makes a certified grant due for review again (``delta_only``)."""
        return [self.person_id, self.account_status, self.privileged, self.inherited, self.via]


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def select_grants(
    conn: Connection, scope: CampaignScope, *, person_ids: Collection[int] | None = None
) -> list[GrantRow]:
    """Every live grant (grant, account and entitlement not ended; account not deprovisioned) in scope;
    ``person_ids``: only the accounts linked to these people (a mover's campaign)."""
    g, a, e, p = GRANTS, ACCOUNTS, ENTITLEMENTS, PEOPLE
    query = (
        sa.select(
            g.c.id.label("grant_id"),
            g.c.inherited,
            g.c.via,
            g.c.first_seen_at,
            a.c.id.label("account_id"),
            a.c.provider,
            a.c.login,
            a.c.email.label("account_email"),
            a.c.status.label("account_status"),
            a.c.department.label("account_department"),
            a.c.manager_external_id,
            a.c.mfa_state,
            a.c.last_login_at,
            a.c.created_at,
            a.c.is_shared,
            a.c.is_service,
            e.c.id.label("entitlement_id"),
            e.c.kind,
            e.c.name,
            e.c.privileged,
            e.c.owner,
            p.c.id.label("person_id"),
            p.c.first_name,
            p.c.last_name,
            p.c.email.label("person_email"),
            p.c.status.label("person_status"),
            p.c.department.label("person_department"),
            p.c.termination_date,
        )
        .select_from(
            g.join(a, a.c.id == g.c.account_id)
            .join(e, e.c.id == g.c.entitlement_id)
            .outerjoin(p, p.c.id == a.c.person_id)
        )
        .where(g.c.ended_at.is_(None), a.c.ended_at.is_(None), e.c.ended_at.is_(None))
        .where(a.c.status != AccountStatus.DEPROVISIONED)
        .order_by(g.c.id)
    )
    if person_ids is not None:
        query = query.where(a.c.person_id.in_(sorted(person_ids)))
    if scope.privileged_only:
        query = query.where(e.c.privileged.is_(True))
    if scope.providers:
        query = query.where(a.c.provider.in_(scope.providers))
    if scope.kinds:
        query = query.where(e.c.kind.in_(scope.kinds))
    if not scope.include_inherited:
        query = query.where(g.c.inherited.is_(False))
    rows = []
    for r in conn.execute(query):
        if scope.entitlements and not any(fnmatchcase(r.name, pat) for pat in scope.entitlements):
            continue
        if scope.accounts and not any(fnmatchcase(r.login, pat) for pat in scope.accounts):
            continue
        if not scope.include_shared and (r.is_shared or r.is_service):
            continue
        name = " ".join(part for part in (r.first_name, r.last_name) if part) or r.person_email
        row = GrantRow(
            grant_id=r.grant_id,
            inherited=r.inherited,
            via=r.via,
            granted_at=_aware(r.first_seen_at),
            account_id=r.account_id,
            provider=r.provider,
            login=r.login,
            account_email=r.account_email,
            account_status=r.account_status,
            account_department=r.account_department,
            manager_external_id=r.manager_external_id,
            mfa_state=r.mfa_state,
            last_login_at=_aware(r.last_login_at),
            account_created_at=_aware(r.created_at),
            is_shared=r.is_shared,
            is_service=r.is_service,
            entitlement_id=r.entitlement_id,
            entitlement_kind=r.kind,
            entitlement_name=r.name,
            privileged=r.privileged,
            entitlement_owner=r.owner,
            person_id=r.person_id,
            person_name=name if r.person_id is not None else None,
            person_email=r.person_email,
            person_status=r.person_status,
            person_department=r.person_department,
            termination_date=r.termination_date,
        )
        if scope.departments and row.department not in scope.departments:
            continue
        rows.append(row)
    return rows
