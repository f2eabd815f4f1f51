"""What the emulators' synthetic org says the store should hold after a complete sync."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.store.models import Account, Entitlement, Grant
from accessctl.sync.writer import naive_utc
from connectors.emulators.model import Directory

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]


def transitive(directory: Directory, group_key: str) -> set[str]:
    """Account keys holding a group directly or through nested groups."""
    groups = {g.key: g for g in directory.groups}
    seen: set[str] = set()
    stack, visited = [group_key], {group_key}
    while stack:
        group = groups[stack.pop()]
        seen.update(group.member_keys)
        for child in group.child_group_keys:
            if child not in visited:
                visited.add(child)
                stack.append(child)
    return seen


def group_grants(directory: Directory) -> tuple[int, int]:
    """(direct, inherited) group memberships of every group."""
    direct = sum(len(set(g.member_keys)) for g in directory.groups)
    total = sum(len(transitive(directory, g.key)) for g in directory.groups)
    return direct, total - direct


def role_grants(directory: Directory) -> tuple[int, int]:
    """(direct, inherited) admin-role grants: distinct (account, role) pairs held directly, then those
    held only through a group the role is assigned to (by every transitive member of it); a direct
    grant and an inherited one for the same pair are one, direct, grant."""
    direct = {(k, r.key) for r in directory.roles for k in r.assigned_keys}
    through = {
        (k, r.key) for r in directory.roles for g in r.assigned_group_keys for k in transitive(directory, g)
    }
    return len(direct), len(through - direct)


def live_grants(engine: Engine, provider: str, kind: str, *, inherited: bool | None = None) -> int:
    where = [ENTITLEMENTS.c.kind == kind, ENTITLEMENTS.c.provider == provider, GRANTS.c.ended_at.is_(None)]
    if inherited is not None:
        where.append(GRANTS.c.inherited.is_(inherited))
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(GRANTS.join(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id))
            .where(*where)
        ).scalar_one()


def live_count(engine: Engine, table: sa.Table, provider: str, *where: object) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.provider == provider, table.c.ended_at.is_(None), *where)
        ).scalar_one()


def stored_accounts(engine: Engine, provider: str) -> dict[str, sa.Row]:
    """Live accounts of a provider by lower-case login."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ACCOUNTS).where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.ended_at.is_(None))
        )
        return {r.login.lower(): r for r in rows}


def same_instant(stored: datetime | None, source: datetime | None) -> bool:
    return naive_utc(stored) == naive_utc(source)
