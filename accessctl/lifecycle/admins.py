"""Never the last admin: who holds each provider's top admin role (Okta SUPER_ADMIN, Entra Global
Administrator, Google super admin), and whether a plan would leave none active."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import Account, Entitlement, Grant
from connectors.base import EntitlementKind, GrantRecord

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]

#: the top admin role of each provider, by entitlement id or name
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"  # Entra's role template id
_BY_ID = {"okta": {"SUPER_ADMIN"}, "entra": {GLOBAL_ADMINISTRATOR}, "google": set()}
_BY_NAME = {"okta": set(), "entra": {"global administrator"}, "google": {"_seed_admin_role", "super admin"}}
ROLE_WORDS = {"okta": "SUPER_ADMIN", "entra": "Global Administrator", "google": "super admin"}


def super_admin_roles(conn: Connection, provider: str) -> set[str]:
    """The external ids of ``provider``'s top admin role(s) the store knows."""
    rows = conn.execute(
        sa.select(ENTITLEMENTS.c.external_id, ENTITLEMENTS.c.name).where(
            ENTITLEMENTS.c.provider == provider,
            ENTITLEMENTS.c.kind == EntitlementKind.ROLE.value,
            ENTITLEMENTS.c.ended_at.is_(None),
        )
    )
    return {
        external_id
        for external_id, name in rows
        if external_id in _BY_ID.get(provider, set()) or (name or "").lower() in _BY_NAME.get(provider, set())
    } | _BY_ID.get(provider, set())


def holds_super_admin(grants: Collection[GrantRecord], roles: Collection[str]) -> bool:
    return any(
        g.entitlement_kind is EntitlementKind.ROLE and g.entitlement_external_id in roles for g in grants
    )


def other_active_super_admins(
    conn: Connection, provider: str, roles: Collection[str], excluding: Collection[str]
) -> int:
    """Active accounts of ``provider`` other than ``excluding`` (external ids) that hold a top admin role."""
    if not roles:
        return 0
    query = (
        sa.select(sa.func.count(sa.distinct(ACCOUNTS.c.id)))
        .select_from(GRANTS)
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .join(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id)
        .where(
            GRANTS.c.ended_at.is_(None),
            ACCOUNTS.c.ended_at.is_(None),
            ACCOUNTS.c.status == "active",
            ACCOUNTS.c.provider == provider,
            ENTITLEMENTS.c.provider == provider,
            ENTITLEMENTS.c.kind == EntitlementKind.ROLE.value,
            ENTITLEMENTS.c.external_id.in_(list(roles)),
        )
    )
    if excluding:
        query = query.where(ACCOUNTS.c.external_id.not_in(list(excluding)))
    return int(conn.execute(query).scalar_one())


def last_admin_reason(provider: str) -> str:
    return f"refused: last active {ROLE_WORDS.get(provider, 'super-admin')} of {provider}"
