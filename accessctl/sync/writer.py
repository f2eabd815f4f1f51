"""Writing what a sync saw into the store: bulk upserts per page, MFA updates, sweeps.

Every function takes a connection inside the caller's transaction.  Rows seen by a run get
``last_seen_at = run.started_at`` (a resumed run keeps its start), so the sweep of a complete full
run ends exactly what that run did not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import Account, Entitlement, Grant
from accessctl.store.upsert import bulk_upsert
from accessctl.sync.patterns import PatternSet
from connectors.base import AccountRecord, EntitlementKind, EntitlementRecord, GrantRecord, MfaRecord

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]

_ACCOUNT_FIELDS = (
    "login",
    "email",
    "aliases",
    "display_name",
    "status",
    "employee_id",
    "manager_external_id",
    "department",
    "title",
    "created_at",
    "last_login_at",
)
_MFA_FIELDS = ("mfa_state", "mfa_methods", "mfa_checked_at")
_ENTITLEMENT_FIELDS = ("name", "description", "privileged", "owner")
_IN_CHUNK = 900  # ids per IN (...) list: under SQLite's parameter limit with room to spare


def naive_utc(value: datetime | None) -> datetime | None:
    """Comparable form of a timestamp whatever the dialect returned (SQLite drops the zone)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Counts:
    added: int = 0
    changed: int = 0
    ended: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.added += other.added
        self.changed += other.changed
        self.ended += other.ended
        return self


def _account_row(provider: str, record: AccountRecord, seen_at: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": provider,
        "external_id": record.external_id,
        "login": record.login,
        "email": record.email,
        "aliases": sorted(set(record.aliases)),
        "display_name": record.display_name,
        "status": str(record.status),
        "employee_id": record.employee_id,
        "manager_external_id": record.manager_external_id,
        "department": record.department,
        "title": record.title,
        "created_at": record.created_at,
        "last_login_at": record.last_login_at,
        "is_service": record.non_human_hint,
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "ended_at": None,
        "ended_reason": None,
    }
    if record.mfa is not None:
        row["mfa_state"] = str(record.mfa.state)
        row["mfa_methods"] = sorted(record.mfa.methods)
        row["mfa_checked_at"] = seen_at
    return row


def _comparable(row: Any, fields: Sequence[str]) -> tuple[Any, ...]:
    values = []
    for name in fields:
        value = row[name]
        if isinstance(value, datetime):
            value = naive_utc(value)
        values.append(value)
    return tuple(values)


def write_accounts(
    conn: Connection, provider: str, records: Sequence[AccountRecord], seen_at: datetime
) -> Counts:
    """Upsert one page of accounts; counts new accounts and accounts whose data changed."""
    if not records:
        return Counts()
    rows_by_id = {r.external_id: _account_row(provider, r, seen_at) for r in records}
    compare = (*_ACCOUNT_FIELDS, *(_MFA_FIELDS[:2] if records[0].mfa is not None else ()))
    existing: dict[str, tuple[Any, ...]] = {}
    ids = list(rows_by_id)
    for chunk in _chunks(ids):
        query = sa.select(
            ACCOUNTS.c.external_id, ACCOUNTS.c.ended_at, *(ACCOUNTS.c[f] for f in compare)
        ).where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk))
        for found in conn.execute(query).mappings():
            existing[found["external_id"]] = (*_comparable(found, compare), found["ended_at"] is None)
    counts = Counts()
    for external_id, row in rows_by_id.items():
        before = existing.get(external_id)
        if before is None:
            counts.added += 1
        elif before != (*_comparable(row, compare), True):
            counts.changed += 1
    update = [c for c in rows_by_id[ids[0]] if c not in ("provider", "external_id", "first_seen_at")]
    bulk_upsert(conn, ACCOUNTS, list(rows_by_id.values()), key=["provider", "external_id"], update=update)
    return counts


def write_mfa(conn: Connection, provider: str, records: Sequence[MfaRecord], checked_at: datetime) -> int:
    """Set MFA state on known accounts; returns how many accounts it updated."""
    if not records:
        return 0
    stmt = (
        ACCOUNTS.update()
        .where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id == sa.bindparam("b_external_id"))
        .values(
            mfa_state=sa.bindparam("b_state"),
            mfa_methods=sa.bindparam("b_methods", type_=sa.JSON),
            mfa_checked_at=sa.bindparam("b_checked_at", type_=sa.DateTime(timezone=True)),
        )
    )
    params = [
        {
            "b_external_id": r.account_external_id,
            "b_state": str(r.state),
            "b_methods": sorted(r.methods),
            "b_checked_at": checked_at,
        }
        for r in records
    ]
    result = conn.execute(stmt, params)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(records)


def is_privileged(record: EntitlementRecord, groups: PatternSet, apps: PatternSet) -> bool:
    if record.privileged or record.kind is EntitlementKind.ROLE:
        return True
    patterns = groups if record.kind is EntitlementKind.GROUP else apps
    return patterns.matches(record.name)


def write_entitlements(
    conn: Connection,
    provider: str,
    records: Sequence[EntitlementRecord],
    seen_at: datetime,
    *,
    privileged_groups: PatternSet,
    privileged_apps: PatternSet,
) -> Counts:
    if not records:
        return Counts()
    rows = {
        (str(r.kind), r.external_id): {
            "provider": provider,
            "kind": str(r.kind),
            "external_id": r.external_id,
            "name": r.name,
            "description": r.description,
            "privileged": is_privileged(r, privileged_groups, privileged_apps),
            "owner": r.owner,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "ended_at": None,
            "ended_reason": None,
        }
        for r in records
    }
    existing: dict[tuple[str, str], tuple[Any, ...]] = {}
    keys = list(rows)
    for chunk in _chunks(keys):
        query = sa.select(
            ENTITLEMENTS.c.kind,
            ENTITLEMENTS.c.external_id,
            ENTITLEMENTS.c.ended_at,
            *(ENTITLEMENTS.c[f] for f in _ENTITLEMENT_FIELDS),
        ).where(
            ENTITLEMENTS.c.provider == provider,
            ENTITLEMENTS.c.external_id.in_([k[1] for k in chunk]),
        )
        for found in conn.execute(query).mappings():
            existing[(found["kind"], found["external_id"])] = (
                *_comparable(found, _ENTITLEMENT_FIELDS),
                found["ended_at"] is None,
            )
    counts = Counts()
    for key, row in rows.items():
        before = existing.get(key)
        if before is None:
            counts.added += 1
        elif before != (*_comparable(row, _ENTITLEMENT_FIELDS), True):
            counts.changed += 1
    bulk_upsert(
        conn,
        ENTITLEMENTS,
        list(rows.values()),
        key=["provider", "kind", "external_id"],
        update=[*_ENTITLEMENT_FIELDS, "last_seen_at", "ended_at", "ended_reason"],
    )
    return counts


def account_id_map(conn: Connection, provider: str) -> dict[str, int]:
    query = sa.select(ACCOUNTS.c.external_id, ACCOUNTS.c.id).where(ACCOUNTS.c.provider == provider)
    return {external_id: account_id for external_id, account_id in conn.execute(query)}


def entitlement_id_map(conn: Connection, provider: str) -> dict[tuple[str, str], int]:
    query = sa.select(ENTITLEMENTS.c.kind, ENTITLEMENTS.c.external_id, ENTITLEMENTS.c.id).where(
        ENTITLEMENTS.c.provider == provider
    )
    return {(kind, external_id): ent_id for kind, external_id, ent_id in conn.execute(query)}


@dataclass
class GrantBatch:
    """Grant rows resolved to store ids, ready to upsert; ``unmatched`` members we hold no account for."""

    rows: list[dict[str, Any]]
    unmatched: int = 0


def resolve_grants(
    records: Iterable[GrantRecord],
    accounts: dict[str, int],
    entitlements: dict[tuple[str, str], int],
    seen_at: datetime,
) -> GrantBatch:
    """Map provider ids to store ids; a direct grant wins over an inherited one for the same pair."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    unmatched = 0
    for record in records:
        account_id = accounts.get(record.account_external_id)
        entitlement_id = entitlements.get((str(record.entitlement_kind), record.entitlement_external_id))
        if account_id is None or entitlement_id is None:
            unmatched += 1
            continue
        key = (account_id, entitlement_id)
        previous = rows.get(key)
        if previous is not None and not previous["inherited"]:
            continue
        rows[key] = {
            "account_id": account_id,
            "entitlement_id": entitlement_id,
            "inherited": record.inherited,
            "via": record.via,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "ended_at": None,
            "ended_by": None,
            "ended_reason": None,
        }
    return GrantBatch(list(rows.values()), unmatched)


def write_grants(conn: Connection, batch: GrantBatch, seen_at: datetime) -> None:
    """Upsert grants; a grant already seen directly in this run stays direct."""
    if not batch.rows:
        return

    def inherited(excluded: Any) -> Any:
        return sa.case(
            (GRANTS.c.last_seen_at == seen_at, sa.and_(GRANTS.c.inherited, excluded.inherited)),
            else_=excluded.inherited,
        )

    def via(excluded: Any) -> Any:
        return sa.case(
            (sa.and_(GRANTS.c.last_seen_at == seen_at, sa.not_(GRANTS.c.inherited)), GRANTS.c.via),
            else_=excluded.via,
        )

    bulk_upsert(
        conn,
        GRANTS,
        batch.rows,
        key=["account_id", "entitlement_id"],
        update=["last_seen_at", "ended_at", "ended_by", "ended_reason"],
        expressions={"inherited": inherited, "via": via},
    )


def count_added_since(conn: Connection, table: sa.Table, provider: str, seen_at: datetime) -> int:
    """Rows first seen at ``seen_at`` (grants are counted through their account's provider)."""
    if table is GRANTS:
        query = (
            sa.select(sa.func.count())
            .select_from(GRANTS.join(ACCOUNTS, GRANTS.c.account_id == ACCOUNTS.c.id))
            .where(ACCOUNTS.c.provider == provider, GRANTS.c.first_seen_at == seen_at)
        )
    else:
        query = (
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.provider == provider, table.c.first_seen_at == seen_at)
        )
    return int(conn.execute(query).scalar_one())


def _provider_accounts(provider: str) -> Any:
    return sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.provider == provider).scalar_subquery()


def sweep(
    conn: Connection, provider: str, seen_at: datetime, *, reason: str, ended_at: datetime
) -> dict[str, int]:
    """End every account, entitlement and grant of ``provider`` not seen since ``seen_at``."""
    ended: dict[str, int] = {}
    end = {"ended_at": ended_at, "ended_reason": reason}
    ended["grants"] = conn.execute(
        GRANTS.update()
        .where(
            GRANTS.c.ended_at.is_(None),
            GRANTS.c.last_seen_at < seen_at,
            GRANTS.c.account_id.in_(_provider_accounts(provider)),
        )
        .values(**end, ended_by="sync")
    ).rowcount
    for name, table in (("accounts", ACCOUNTS), ("entitlements", ENTITLEMENTS)):
        ended[name] = conn.execute(
            table.update()
            .where(table.c.provider == provider, table.c.ended_at.is_(None), table.c.last_seen_at < seen_at)
            .values(**end)
        ).rowcount
    # grants of anything ended here end too (e.g. a deleted account's memberships)
    ended["grants"] += conn.execute(
        GRANTS.update()
        .where(
            GRANTS.c.ended_at.is_(None),
            sa.or_(
                GRANTS.c.account_id.in_(
                    sa.select(ACCOUNTS.c.id).where(
                        ACCOUNTS.c.provider == provider, ACCOUNTS.c.ended_at.is_not(None)
                    )
                ),
                GRANTS.c.entitlement_id.in_(
                    sa.select(ENTITLEMENTS.c.id).where(
                        ENTITLEMENTS.c.provider == provider, ENTITLEMENTS.c.ended_at.is_not(None)
                    )
                ),
            ),
        )
        .values(**end, ended_by="sync")
    ).rowcount
    return ended


def end_unseen_grants(
    conn: Connection,
    *,
    seen_at: datetime,
    ended_at: datetime,
    reason: str,
    account_id: int | None = None,
    entitlement_id: int | None = None,
    kinds: Sequence[str] | None = None,
) -> int:
    """End the grants of one account or one entitlement that a complete listing of it did not return."""
    conditions = [GRANTS.c.ended_at.is_(None), GRANTS.c.last_seen_at < seen_at]
    if account_id is not None:
        conditions.append(GRANTS.c.account_id == account_id)
    if entitlement_id is not None:
        conditions.append(GRANTS.c.entitlement_id == entitlement_id)
    if kinds is not None:
        conditions.append(
            GRANTS.c.entitlement_id.in_(
                sa.select(ENTITLEMENTS.c.id).where(ENTITLEMENTS.c.kind.in_(list(kinds)))
            )
        )
    return conn.execute(
        GRANTS.update().where(*conditions).values(ended_at=ended_at, ended_reason=reason, ended_by="sync")
    ).rowcount


def end_accounts(
    conn: Connection, provider: str, external_ids: Iterable[str], *, ended_at: datetime, reason: str
) -> int:
    """End accounts the provider says are gone, and their grants."""
    ids = list(external_ids)
    total = 0
    for chunk in _chunks(ids):
        selected = sa.select(ACCOUNTS.c.id).where(
            ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk), ACCOUNTS.c.ended_at.is_(None)
        )
        account_ids = [row[0] for row in conn.execute(selected)]
        if not account_ids:
            continue
        conn.execute(
            GRANTS.update()
            .where(GRANTS.c.account_id.in_(account_ids), GRANTS.c.ended_at.is_(None))
            .values(ended_at=ended_at, ended_reason=reason, ended_by="sync")
        )
        total += conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.id.in_(account_ids))
            .values(ended_at=ended_at, ended_reason=reason)
        ).rowcount
    return total
