"""Questions about the synced inventory: who are the people, which accounts are risky, what can one
person reach, how good is MFA coverage.  Used by the CLI, the web app and the demo alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connectors.base import AccountStatus, MfaState


@dataclass(frozen=True)
class _Tables:
    """The store's tables these questions read, with the columns and types the database has.

    Read from the database's catalog (one query per table at most; only the columns, as SELECTs need no
    keys or indexes) rather than taken from :mod:`accessctl.store.models`, whose SQLModel classes take
    longer to build than most answers take: the schema is still defined once, by the models, which the
    migrations match (``tests/test_store.py``), and the caller has checked the database is at the
    migrations' head.
    """

    people: sa.Table
    accounts: sa.Table
    entitlements: sa.Table
    grants: sa.Table


_TABLE_NAMES = {
    "people": "person",
    "accounts": "account",
    "entitlements": "entitlement",
    "grants": "access_grant",
}


def _tables(conn: Connection) -> _Tables:
    found = sa.inspect(conn).get_multi_columns(filter_names=list(_TABLE_NAMES.values()))
    columns = {name: table_columns for (_schema, name), table_columns in found.items()}
    metadata = sa.MetaData()
    return _Tables(
        **{
            field: sa.Table(name, metadata, *(sa.Column(c["name"], c["type"]) for c in columns[name]))
            for field, name in _TABLE_NAMES.items()
        }
    )


#: rows fetched from the database at a time by the streaming listings
STREAM_BATCH = 500


class NotFound(LookupError):
    """No such person (or account)."""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _people_query(t: _Tables, status: str | None) -> Any:
    query = sa.select(t.people)
    return query.where(t.people.c.status == status) if status else query


def iter_people(
    conn: Connection, *, status: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The roster in employee id order, one person at a time as the database returns them."""
    t = _tables(conn)
    accounts = (
        sa.select(sa.func.count())
        .where(
            t.accounts.c.person_id == t.people.c.id,
            t.accounts.c.ended_at.is_(None),
        )
        .scalar_subquery()
    )
    query = _people_query(t, status).add_columns(accounts.label("accounts")).order_by(t.people.c.employee_id)
    if limit is not None:
        query = query.limit(limit)
    for row in _stream(conn, query):
        yield {
            "employee_id": row.employee_id,
            "name": f"{row.first_name} {row.last_name}".strip(),
            "email": row.email,
            "department": row.department,
            "title": row.title,
            "manager": row.manager_employee_id,
            "type": row.employment_type,
            "status": row.status,
            "termination_date": row.termination_date.isoformat() if row.termination_date else None,
            "accounts": row.accounts,
        }


def list_people(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    return list(iter_people(conn, status=status))


@dataclass(frozen=True)
class Summary:
    """How many rows a listing has, how many it leaves out by status, and the longest of its
    never-cut values (for the table's column widths)."""

    count: int
    not_counted: int = 0
    longest: int = 0


def people_summary(conn: Connection, *, status: str | None = None) -> Summary:
    t = _tables(conn)
    sub = _people_query(t, status).subquery()
    count, longest = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(sa.func.length(sub.c.email)), 0))
    ).one()
    return Summary(count=count, longest=longest)


def _stream(conn: Connection, query: Any) -> Any:
    """Rows as the database sends them, a batch at a time (a server-side cursor on PostgreSQL)."""
    return conn.execution_options(yield_per=STREAM_BATCH).execute(query)


@dataclass(frozen=True)
class AccountFilter:
    provider: str | None = None
    no_mfa: bool = False
    mfa_unknown: bool = False
    inactive_days: int | None = None
    orphans: bool = False
    shared: bool = False
    privileged: bool = False
    conflicts: bool = False
    include_ended: bool = False
    #: suspended (and deprovisioned) accounts too; without it only active accounts count, as in
    #: the MFA report
    include_suspended: bool = False


def _privileged_accounts(t: _Tables) -> Any:
    return (
        sa.select(t.grants.c.account_id)
        .join(t.entitlements, t.entitlements.c.id == t.grants.c.entitlement_id)
        .where(t.grants.c.ended_at.is_(None), t.entitlements.c.privileged.is_(True))
    )


#: the account columns a listing reads (not aliases and the rest it does not show)
_ACCOUNT_FIELDS = (
    "provider",
    "external_id",
    "login",
    "display_name",
    "status",
    "mfa_state",
    "mfa_methods",
    "last_login_at",
    "person_id",
    "link_method",
    "link_note",
    "is_shared",
    "is_service",
    "protected",
    "ended_at",
)


def _accounts_query(t: _Tables, where: AccountFilter, now: datetime | None) -> Any:
    """The accounts ``where`` selects, of any status."""
    now = now or datetime.now(UTC)
    privileged = _privileged_accounts(t).scalar_subquery()
    query = (
        sa.select(
            *(t.accounts.c[name] for name in _ACCOUNT_FIELDS),
            t.people.c.employee_id.label("person_employee_id"),
            t.accounts.c.id.in_(privileged).label("is_privileged"),
        )
        .outerjoin(t.people, t.people.c.id == t.accounts.c.person_id)
        .order_by(t.accounts.c.provider, t.accounts.c.login)
    )
    if not where.include_ended:
        query = query.where(t.accounts.c.ended_at.is_(None))
    if where.provider:
        query = query.where(t.accounts.c.provider == where.provider)
    if where.no_mfa:
        query = query.where(t.accounts.c.mfa_state == MfaState.NOT_ENROLLED)
    if where.mfa_unknown:
        query = query.where(t.accounts.c.mfa_state == MfaState.UNKNOWN)
    if where.inactive_days is not None:
        cutoff = now - timedelta(days=where.inactive_days)
        query = query.where(
            sa.or_(
                t.accounts.c.last_login_at < cutoff,
                sa.and_(
                    t.accounts.c.last_login_at.is_(None),
                    sa.or_(t.accounts.c.created_at.is_(None), t.accounts.c.created_at < cutoff),
                ),
            )
        )
    if where.orphans:
        query = query.where(
            t.accounts.c.person_id.is_(None),
            t.accounts.c.is_shared.is_(False),
            t.accounts.c.is_service.is_(False),
            sa.or_(t.accounts.c.link_method.is_(None), t.accounts.c.link_method != "conflict"),
        )
    if where.shared:
        query = query.where(sa.or_(t.accounts.c.is_shared.is_(True), t.accounts.c.is_service.is_(True)))
    if where.privileged:
        query = query.where(t.accounts.c.id.in_(privileged))
    if where.conflicts:
        query = query.where(t.accounts.c.link_method == "conflict")
    return query


def _counted(t: _Tables, query: Any, where: AccountFilter) -> Any:
    if where.include_suspended:
        return query
    return query.where(t.accounts.c.status == AccountStatus.ACTIVE)


def account_summary(conn: Connection, where: AccountFilter, *, now: datetime | None = None) -> Summary:
    """How many accounts ``where`` selects, and how many more it would with ``include_suspended``."""
    t = _tables(conn)
    sub = _accounts_query(t, where, now).subquery()
    active = sub.c.status == AccountStatus.ACTIVE
    total, inactive, longest = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((active, 0), else_=1)), 0),
            sa.func.coalesce(sa.func.max(sa.func.length(sub.c.login)), 0),
        )
    ).one()
    if where.include_suspended:
        return Summary(count=total, longest=longest)
    return Summary(count=total - inactive, not_counted=inactive, longest=longest)


def iter_accounts(
    conn: Connection, where: AccountFilter, *, now: datetime | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The accounts ``where`` selects, by provider and login, one at a time as the database returns them."""
    t = _tables(conn)
    query = _counted(t, _accounts_query(t, where, now), where)
    if limit is not None:
        query = query.limit(limit)
    for (
        provider,
        external_id,
        login,
        display_name,
        status,
        mfa_state,
        mfa_methods,
        last_login_at,
        person_id,
        link_method,
        link_note,
        is_shared,
        is_service,
        protected,
        ended_at,
        person_employee_id,
        is_privileged,
    ) in _stream(conn, query):
        conflict = link_method == "conflict"
        flags = [
            name
            for name, on in (
                ("shared", is_shared),
                ("service", is_service),
                ("protected", protected),
                ("conflict", conflict),
                ("orphan", person_id is None and not is_shared and not is_service and not conflict),
                ("ended", ended_at is not None),
            )
            if on
        ]
        yield {
            "provider": provider,
            "external_id": external_id,
            "login": login,
            "display_name": display_name,
            "status": status,
            "person": person_employee_id,
            "mfa_state": mfa_state,
            "mfa_methods": mfa_methods,
            "last_login_at": _iso(last_login_at),
            "privileged": bool(is_privileged),
            "flags": flags,
            "note": link_note,
        }


def list_accounts(
    conn: Connection, where: AccountFilter, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    return list(iter_accounts(conn, where, now=now))


def find_person(conn: Connection, key: str) -> Any:
    return _find_person(conn, _tables(conn), key)


def _find_person(conn: Connection, t: _Tables, key: str) -> Any:
    row = conn.execute(
        sa.select(t.people).where(
            sa.or_(t.people.c.employee_id == key, sa.func.lower(t.people.c.email) == key.lower())
        )
    ).first()
    if row is None:
        raise NotFound(f"no person with employee id or email {key!r}")
    return row


def _via(inherited: bool, via: str | None, via_name: str | None) -> str | None:
    """What an inherited grant is held through, in words: the group's name when the store knows the
    group, else what the provider said (Entra names no group for a nested membership, Okta none at all)."""
    if not inherited:
        return None
    if via_name:
        return via_name
    if via is None:
        return "a group"
    if via == "nested group":
        return "a nested group"
    return f"group {via}"  # a group the store does not know (yet)


def person_access(conn: Connection, key: str) -> tuple[Any, list[dict[str, Any]]]:
    """Everything one person can reach across providers: (person row, one row per live grant, and one
    with no entitlement for each account that holds none), by provider, account, privileged first."""
    t = _tables(conn)
    person = _find_person(conn, t, key)
    via_group = t.entitlements.alias("via_group")
    query = (
        sa.select(
            t.accounts.c.provider,
            t.accounts.c.login,
            t.accounts.c.status,
            t.accounts.c.mfa_state,
            t.accounts.c.last_login_at,
            t.entitlements.c.kind,
            t.entitlements.c.name,
            t.entitlements.c.privileged,
            t.grants.c.inherited,
            t.grants.c.via,
            via_group.c.name.label("via_name"),
            t.grants.c.first_seen_at,
        )
        .select_from(t.accounts)
        .outerjoin(t.grants, sa.and_(t.grants.c.account_id == t.accounts.c.id, t.grants.c.ended_at.is_(None)))
        .outerjoin(t.entitlements, t.entitlements.c.id == t.grants.c.entitlement_id)
        .outerjoin(
            via_group,
            sa.and_(
                via_group.c.provider == t.accounts.c.provider,
                via_group.c.kind == "group",
                via_group.c.external_id == t.grants.c.via,
            ),
        )
        .where(t.accounts.c.person_id == person.id, t.accounts.c.ended_at.is_(None))
        .order_by(
            t.accounts.c.provider,
            t.accounts.c.login,
            t.entitlements.c.privileged.desc(),
            t.entitlements.c.kind,
            t.entitlements.c.name,
        )
    )
    rows = [
        {
            "provider": row.provider,
            "account": row.login,
            "account_status": row.status,
            "mfa_state": row.mfa_state,
            "last_login_at": _iso(row.last_login_at),
            "kind": row.kind,
            "entitlement": row.name,
            "privileged": bool(row.privileged) if row.kind else None,
            "how": ("inherited" if row.inherited else "direct") if row.kind else None,
            "via": _via(bool(row.inherited), row.via, row.via_name) if row.kind else None,
            "via_group_id": row.via if row.kind and row.inherited else None,
            "first_seen_at": _iso(row.first_seen_at),
        }
        for row in conn.execute(query)
    ]
    return person, rows


def mfa_report(conn: Connection, *, include_suspended: bool = False) -> dict[str, Any]:
    """MFA coverage of live accounts by provider and by department; privileged accounts without MFA
    (not enrolled first, then unknown).  Active accounts only unless ``include_suspended``; ``scope``
    says which statuses were counted and how many accounts that left out."""
    t = _tables(conn)
    department = sa.func.coalesce(t.people.c.department, t.accounts.c.department)
    counts = (  # one row per (provider, department, status, MFA state): the database does the counting
        sa.select(
            t.accounts.c.provider,
            department,
            t.accounts.c.status,
            t.accounts.c.mfa_state,
            t.accounts.c.mfa_enforced,
            sa.func.count(),
        )
        .outerjoin(t.people, t.people.c.id == t.accounts.c.person_id)
        .where(t.accounts.c.ended_at.is_(None))
        .group_by(
            t.accounts.c.provider,
            department,
            t.accounts.c.status,
            t.accounts.c.mfa_state,
            t.accounts.c.mfa_enforced,
        )
    )
    by_provider: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_department: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    left_out = {"accounts": 0, "admins_without_mfa": 0, "admins_not_enrolled": 0}
    for provider, dept, status, mfa_state, enforced, count in conn.execute(counts):
        if status != AccountStatus.ACTIVE and not include_suspended:
            left_out["accounts"] += count
            continue
        for bucket in (by_provider[provider], by_department[dept or "(none)"]):
            bucket["accounts"] += count
            bucket[mfa_state] += count
            bucket["enforced"] += count if enforced else 0
            bucket["enforcement_known"] += 0 if enforced is None else count
    admins = (
        sa.select(
            t.accounts.c.provider,
            t.accounts.c.login,
            t.accounts.c.status,
            t.accounts.c.mfa_state,
            t.accounts.c.is_shared,
            t.accounts.c.is_service,
            t.people.c.employee_id,
        )
        .outerjoin(t.people, t.people.c.id == t.accounts.c.person_id)
        .where(
            t.accounts.c.ended_at.is_(None),
            t.accounts.c.mfa_state != MfaState.ENROLLED,
            t.accounts.c.id.in_(_privileged_accounts(t)),
        )
    )
    admins_without: list[dict[str, Any]] = []
    for row in conn.execute(admins):
        if row.status != AccountStatus.ACTIVE and not include_suspended:
            left_out["admins_without_mfa"] += 1
            left_out["admins_not_enrolled"] += row.mfa_state == MfaState.NOT_ENROLLED
            continue
        admins_without.append(
            {
                "provider": row.provider,
                "login": row.login,
                "person": row.employee_id,
                "status": row.status,
                "mfa_state": row.mfa_state,
                "shared": bool(row.is_shared or row.is_service),
            }
        )

    def rows(groups: dict[str, dict[str, int]], label: str) -> list[dict[str, Any]]:
        out = []
        for name in sorted(groups):
            counts = groups[name]
            total = counts["accounts"]
            out.append(
                {
                    label: name,
                    "accounts": total,
                    "enrolled": counts[MfaState.ENROLLED],
                    "not_enrolled": counts[MfaState.NOT_ENROLLED],
                    "unknown": counts[MfaState.UNKNOWN],
                    "coverage_pct": round(100.0 * counts[MfaState.ENROLLED] / total, 1) if total else None,
                    #: accounts the provider requires MFA of (Google's 2SV enforcement); None where
                    #: the provider does not say per account
                    "enforced": counts["enforced"] if counts["enforcement_known"] else None,
                }
            )
        return out

    admins_without.sort(key=lambda r: (r["mfa_state"] != MfaState.NOT_ENROLLED, r["provider"], r["login"]))
    statuses = sorted(AccountStatus) if include_suspended else [AccountStatus.ACTIVE]
    return {
        "admins_without_mfa": admins_without,
        "by_provider": rows(by_provider, "provider"),
        "by_department": rows(by_department, "department"),
        "scope": {"statuses": [str(s) for s in statuses], "not_counted": left_out},
    }
