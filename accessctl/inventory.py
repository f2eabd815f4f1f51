"""Questions about the synced inventory: who are the people, which accounts are risky, what can one
person reach, how good is MFA coverage.  Used by the CLI, the web app and the demo alike."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import Account, Entitlement, Grant, MfaState, Person

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
ENTITLEMENTS: sa.Table = Entitlement.__table__  # type: ignore[attr-defined]
GRANTS: sa.Table = Grant.__table__  # type: ignore[attr-defined]
PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]

ACCOUNT_COLUMNS = [
    "provider",
    "login",
    "display_name",
    "status",
    "person",
    "mfa_state",
    "last_login_at",
    "privileged",
    "flags",
]
#: also in JSON and CSV output (not the table): enough for a script to act on an account
ACCOUNT_DETAIL_COLUMNS = ["external_id", "mfa_methods", "note"]


class NotFound(LookupError):
    """No such person (or account)."""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_people(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    accounts = (
        sa.select(ACCOUNTS.c.person_id, sa.func.count().label("accounts"))
        .where(ACCOUNTS.c.ended_at.is_(None), ACCOUNTS.c.person_id.is_not(None))
        .group_by(ACCOUNTS.c.person_id)
        .subquery()
    )
    query = (
        sa.select(PEOPLE, sa.func.coalesce(accounts.c.accounts, 0).label("accounts"))
        .outerjoin(accounts, accounts.c.person_id == PEOPLE.c.id)
        .order_by(PEOPLE.c.employee_id)
    )
    if status:
        query = query.where(PEOPLE.c.status == status)
    return [
        {
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
        for row in conn.execute(query)
    ]


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


def _privileged_accounts() -> Any:
    return (
        sa.select(GRANTS.c.account_id)
        .join(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id)
        .where(GRANTS.c.ended_at.is_(None), ENTITLEMENTS.c.privileged.is_(True))
    )


def list_accounts(
    conn: Connection, where: AccountFilter, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    privileged = _privileged_accounts().scalar_subquery()
    query = (
        sa.select(
            ACCOUNTS,
            PEOPLE.c.employee_id.label("person_employee_id"),
            ACCOUNTS.c.id.in_(privileged).label("is_privileged"),
        )
        .outerjoin(PEOPLE, PEOPLE.c.id == ACCOUNTS.c.person_id)
        .order_by(ACCOUNTS.c.provider, ACCOUNTS.c.login)
    )
    if not where.include_ended:
        query = query.where(ACCOUNTS.c.ended_at.is_(None))
    if where.provider:
        query = query.where(ACCOUNTS.c.provider == where.provider)
    if where.no_mfa:
        query = query.where(ACCOUNTS.c.mfa_state == MfaState.NOT_ENROLLED)
    if where.mfa_unknown:
        query = query.where(ACCOUNTS.c.mfa_state == MfaState.UNKNOWN)
    if where.inactive_days is not None:
        cutoff = now - timedelta(days=where.inactive_days)
        query = query.where(
            sa.or_(
                ACCOUNTS.c.last_login_at < cutoff,
                sa.and_(
                    ACCOUNTS.c.last_login_at.is_(None),
                    sa.or_(ACCOUNTS.c.created_at.is_(None), ACCOUNTS.c.created_at < cutoff),
                ),
            )
        )
    if where.orphans:
        query = query.where(
            ACCOUNTS.c.person_id.is_(None),
            ACCOUNTS.c.is_shared.is_(False),
            ACCOUNTS.c.is_service.is_(False),
            sa.or_(ACCOUNTS.c.link_method.is_(None), ACCOUNTS.c.link_method != "conflict"),
        )
    if where.shared:
        query = query.where(sa.or_(ACCOUNTS.c.is_shared.is_(True), ACCOUNTS.c.is_service.is_(True)))
    if where.privileged:
        query = query.where(ACCOUNTS.c.id.in_(privileged))
    if where.conflicts:
        query = query.where(ACCOUNTS.c.link_method == "conflict")
    rows = []
    for row in conn.execute(query):
        flags = [
            name
            for name, on in (
                ("shared", row.is_shared),
                ("service", row.is_service),
                ("protected", row.protected),
                ("conflict", row.link_method == "conflict"),
                (
                    "orphan",
                    row.person_id is None
                    and not row.is_shared
                    and not row.is_service
                    and row.link_method != "conflict",
                ),
                ("ended", row.ended_at is not None),
            )
            if on
        ]
        rows.append(
            {
                "provider": row.provider,
                "external_id": row.external_id,
                "login": row.login,
                "display_name": row.display_name,
                "status": row.status,
                "person": row.person_employee_id,
                "mfa_state": row.mfa_state,
                "mfa_methods": row.mfa_methods,
                "last_login_at": _iso(row.last_login_at),
                "privileged": bool(row.is_privileged),
                "flags": flags,
                "note": row.link_note,
            }
        )
    return rows


def find_person(conn: Connection, key: str) -> Any:
    row = conn.execute(
        sa.select(PEOPLE).where(
            sa.or_(PEOPLE.c.employee_id == key, sa.func.lower(PEOPLE.c.email) == key.lower())
        )
    ).first()
    if row is None:
        raise NotFound(f"no person with employee id or email {key!r}")
    return row


def person_access(conn: Connection, key: str) -> tuple[Any, list[dict[str, Any]]]:
    """Everything one person can reach across providers: (person row, one row per live grant)."""
    person = find_person(conn, key)
    query = (
        sa.select(
            ACCOUNTS.c.provider,
            ACCOUNTS.c.login,
            ACCOUNTS.c.status,
            ACCOUNTS.c.mfa_state,
            ENTITLEMENTS.c.kind,
            ENTITLEMENTS.c.name,
            ENTITLEMENTS.c.privileged,
            GRANTS.c.inherited,
            GRANTS.c.via,
            GRANTS.c.first_seen_at,
        )
        .select_from(ACCOUNTS)
        .outerjoin(GRANTS, sa.and_(GRANTS.c.account_id == ACCOUNTS.c.id, GRANTS.c.ended_at.is_(None)))
        .outerjoin(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id)
        .where(ACCOUNTS.c.person_id == person.id, ACCOUNTS.c.ended_at.is_(None))
        .order_by(
            ACCOUNTS.c.provider, ENTITLEMENTS.c.privileged.desc(), ENTITLEMENTS.c.kind, ENTITLEMENTS.c.name
        )
    )
    rows = [
        {
            "provider": row.provider,
            "account": row.login,
            "account_status": row.status,
            "mfa_state": row.mfa_state,
            "kind": row.kind,
            "entitlement": row.name,
            "privileged": bool(row.privileged) if row.kind else None,
            "how": ("inherited via " + (row.via or "group"))
            if row.inherited
            else ("direct" if row.kind else None),
            "since": _iso(row.first_seen_at),
        }
        for row in conn.execute(query)
    ]
    return person, rows


def mfa_report(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """MFA coverage of live, active accounts by provider and by department; admins without MFA first."""
    privileged = _privileged_accounts().scalar_subquery()
    query = (
        sa.select(
            ACCOUNTS.c.provider,
            ACCOUNTS.c.login,
            ACCOUNTS.c.mfa_state,
            ACCOUNTS.c.mfa_enforced,
            ACCOUNTS.c.is_shared,
            ACCOUNTS.c.is_service,
            sa.func.coalesce(PEOPLE.c.department, ACCOUNTS.c.department).label("department"),
            PEOPLE.c.employee_id,
            ACCOUNTS.c.id.in_(privileged).label("is_privileged"),
        )
        .outerjoin(PEOPLE, PEOPLE.c.id == ACCOUNTS.c.person_id)
        .where(ACCOUNTS.c.ended_at.is_(None), ACCOUNTS.c.status == "active")
    )
    by_provider: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_department: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    admins_without: list[dict[str, Any]] = []
    for row in conn.execute(query):
        for bucket in (by_provider[row.provider], by_department[row.department or "(none)"]):
            bucket["accounts"] += 1
            bucket[row.mfa_state] += 1
            bucket["enforced"] += 1 if row.mfa_enforced else 0
            bucket["enforcement_known"] += 0 if row.mfa_enforced is None else 1
        if row.is_privileged and row.mfa_state != MfaState.ENROLLED:
            admins_without.append(
                {
                    "provider": row.provider,
                    "login": row.login,
                    "person": row.employee_id,
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
                    #: no provider says per account
                    "enforced": counts["enforced"] if counts["enforcement_known"] else None,
                }
            )
        return out

    admins_without.sort(key=lambda r: (r["mfa_state"] != MfaState.NOT_ENROLLED, r["provider"], r["login"]))
    return {
        "admins_without_mfa": admins_without,
        "by_provider": rows(by_provider, "provider"),
        "by_department": rows(by_department, "department"),
    }
