"""Questions about the synced inventory: who are the people, which accounts are risky, what can one
person reach, how good is MFA coverage.  Used by the CLI, the web app and the demo alike.

Plain SQL on a DB-API connection (:class:`accessctl.store.reader.ReadConnection`), the same text on
SQLite and PostgreSQL, so a read command never loads SQLAlchemy; the caller has checked the schema is
at the migrations' head, whose tables (``accessctl.store.models``) these queries name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.base import AccountStatus, MfaState

if TYPE_CHECKING:
    from accessctl.store.reader import ReadConnection

ACTIVE = str(AccountStatus.ACTIVE)
NOT_ENROLLED = str(MfaState.NOT_ENROLLED)
UNKNOWN = str(MfaState.UNKNOWN)
ENROLLED = str(MfaState.ENROLLED)


class NotFound(LookupError):
    """No such person (or account)."""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%dT%H:%M:%SZ")


#: the person table's columns, in its order (a test holds them to the model's)
PERSON_COLUMNS = (
    "id",
    "employee_id",
    "email",
    "first_name",
    "last_name",
    "department",
    "title",
    "manager_employee_id",
    "employment_type",
    "status",
    "hire_date",
    "termination_date",
    "location",
    "updated_at",
)
_PERSON_SELECT = ", ".join(f"person.{name}" for name in PERSON_COLUMNS)


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _people_where(status: str | None) -> tuple[str, dict[str, Any]]:
    return ("WHERE person.status = :status", {"status": status}) if status else ("", {})


def iter_people(
    conn: ReadConnection, *, status: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The roster in employee id order, one person at a time as the database returns them."""
    where, params = _people_where(status)
    sql = (
        "SELECT person.employee_id, person.first_name, person.last_name, person.email, person.department,"
        " person.title, person.manager_employee_id, person.employment_type, person.status,"
        " person.termination_date,"
        " (SELECT count(*) FROM account"
        "  WHERE account.person_id = person.id AND account.ended_at IS NULL) AS accounts"
        f" FROM person {where} ORDER BY person.employee_id"
    )
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    for (
        employee_id,
        first_name,
        last_name,
        email,
        department,
        title,
        manager,
        employment_type,
        status_,
        termination_date,
        accounts,
    ) in conn.stream(sql, params):
        terminated = conn.day(termination_date)
        yield {
            "employee_id": employee_id,
            "name": f"{first_name} {last_name}".strip(),
            "email": email,
            "department": department,
            "title": title,
            "manager": manager,
            "type": employment_type,
            "status": status_,
            "termination_date": terminated.isoformat() if terminated else None,
            "accounts": accounts,
        }


def list_people(conn: ReadConnection, *, status: str | None = None) -> list[dict[str, Any]]:
    return list(iter_people(conn, status=status))


@dataclass(frozen=True)
class Summary:
    """How many rows a listing has, how many it leaves out by status, and the longest of its
    never-cut values (for the table's column widths)."""

    count: int
    not_counted: int = 0
    longest: int = 0


def people_summary(conn: ReadConnection, *, status: str | None = None) -> Summary:
    where, params = _people_where(status)
    ((count, longest),) = conn.rows(
        f"SELECT count(*), coalesce(max(length(person.email)), 0) FROM person {where}", params
    )
    return Summary(count=count, longest=longest)


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


#: the accounts holding a live privileged grant
_PRIVILEGED_ACCOUNTS = (
    "SELECT access_grant.account_id FROM access_grant"
    " JOIN entitlement ON entitlement.id = access_grant.entitlement_id"
    " WHERE access_grant.ended_at IS NULL AND entitlement.privileged = TRUE"
)

#: what a listing shows of an account (not its aliases and the rest)
_ACCOUNT_SELECT = (
    "SELECT account.provider, account.external_id, account.login, account.display_name,"
    " account.status, account.mfa_state, account.mfa_methods, account.last_login_at,"
    " account.person_id, account.link_method, account.link_note, account.is_shared,"
    " account.is_service, account.protected, account.ended_at,"
    " person.employee_id AS person_employee_id,"
    f" account.id IN ({_PRIVILEGED_ACCOUNTS}) AS is_privileged"
    " FROM account LEFT OUTER JOIN person ON person.id = account.person_id"
)


def _account_where(
    conn: ReadConnection, where: AccountFilter, now: datetime | None
) -> tuple[list[str], dict[str, Any]]:
    """The conditions on ``account`` that select what ``where`` asks for, of any status."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if not where.include_ended:
        clauses.append("account.ended_at IS NULL")
    if where.provider:
        clauses.append("account.provider = :provider")
        params["provider"] = where.provider
    if where.no_mfa:
        clauses.append("account.mfa_state = :not_enrolled")
        params["not_enrolled"] = NOT_ENROLLED
    if where.mfa_unknown:
        clauses.append("account.mfa_state = :unknown")
        params["unknown"] = UNKNOWN
    if where.inactive_days is not None:
        now = now or datetime.now(UTC)
        clauses.append(
            "(account.last_login_at < :cutoff OR account.last_login_at IS NULL"
            " AND (account.created_at IS NULL OR account.created_at < :cutoff))"
        )
        params["cutoff"] = conn.bind_time(now - timedelta(days=where.inactive_days))
    if where.orphans:
        clauses.append(
            "account.person_id IS NULL AND account.is_shared = FALSE AND account.is_service = FALSE"
            " AND (account.link_method IS NULL OR account.link_method != 'conflict')"
        )
    if where.shared:
        clauses.append("(account.is_shared = TRUE OR account.is_service = TRUE)")
    if where.privileged:
        clauses.append(f"account.id IN ({_PRIVILEGED_ACCOUNTS})")
    if where.conflicts:
        clauses.append("account.link_method = 'conflict'")
    return clauses, params


def account_summary(conn: ReadConnection, where: AccountFilter, *, now: datetime | None = None) -> Summary:
    """How many accounts ``where`` selects, and how many more it would with ``include_suspended``."""
    clauses, params = _account_where(conn, where, now)
    ((total, inactive, longest),) = conn.rows(
        "SELECT count(*),"
        " coalesce(sum(CASE WHEN account.status = :active THEN 0 ELSE 1 END), 0),"
        " coalesce(max(length(account.login)), 0)"
        f" FROM account {_where(clauses)}",
        {**params, "active": ACTIVE},
    )
    if where.include_suspended:
        return Summary(count=total, longest=longest)
    return Summary(count=total - inactive, not_counted=inactive, longest=longest)


def iter_accounts(
    conn: ReadConnection, where: AccountFilter, *, now: datetime | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The accounts ``where`` selects, by provider and login, one at a time as the database returns them."""
    clauses, params = _account_where(conn, where, now)
    if not where.include_suspended:
        clauses.append("account.status = :active")
        params["active"] = ACTIVE
    sql = f"{_ACCOUNT_SELECT} {_where(clauses)} ORDER BY account.provider, account.login"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
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
    ) in conn.stream(sql, params):
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
            "mfa_methods": conn.json(mfa_methods),
            "last_login_at": _iso(conn.time(last_login_at)),
            "privileged": bool(is_privileged),
            "flags": flags,
            "note": link_note,
        }


def list_accounts(
    conn: ReadConnection, where: AccountFilter, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    return list(iter_accounts(conn, where, now=now))


def find_person(conn: ReadConnection, key: str) -> dict[str, Any]:
    """The person whose employee id is ``key``, or whose email is (in any case): every column."""
    names, row = conn.columns(
        f"SELECT {_PERSON_SELECT} FROM person"
        " WHERE person.employee_id = :key OR lower(person.email) = :email",
        {"key": key, "email": key.lower()},
    )
    if row is None:
        raise NotFound(f"no person with employee id or email {key!r}")
    person = dict(zip(names, row, strict=True))
    for name in ("hire_date", "termination_date"):
        person[name] = conn.day(person[name])
    person["updated_at"] = conn.time(person["updated_at"])
    return person


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


_PERSON_ACCESS = (
    "SELECT account.provider, account.login, account.status, account.mfa_state, account.last_login_at,"
    " entitlement.kind, entitlement.name, entitlement.privileged, access_grant.inherited,"
    " access_grant.via, via_group.name AS via_name, access_grant.first_seen_at"
    " FROM account"
    " LEFT OUTER JOIN access_grant"
    "  ON access_grant.account_id = account.id AND access_grant.ended_at IS NULL"
    " LEFT OUTER JOIN entitlement ON entitlement.id = access_grant.entitlement_id"
    " LEFT OUTER JOIN entitlement AS via_group"
    "  ON via_group.provider = account.provider AND via_group.kind = 'group'"
    "  AND via_group.external_id = access_grant.via"
    " WHERE account.person_id = :person_id AND account.ended_at IS NULL"
    " ORDER BY account.provider, account.login, entitlement.privileged DESC, entitlement.kind,"
    " entitlement.name"
)


def person_access(conn: ReadConnection, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Everything one person can reach across providers: (the person's columns, one row per live
    grant, and one with no entitlement for each account that holds none), by provider, account,
    privileged first."""
    person = find_person(conn, key)
    rows = [
        {
            "provider": provider,
            "account": login,
            "account_status": status,
            "mfa_state": mfa_state,
            "last_login_at": _iso(conn.time(last_login_at)),
            "kind": kind,
            "entitlement": name,
            "privileged": bool(privileged) if kind else None,
            "how": ("inherited" if inherited else "direct") if kind else None,
            "via": _via(bool(inherited), via, via_name) if kind else None,
            "via_group_id": via if kind and inherited else None,
            "first_seen_at": _iso(conn.time(first_seen_at)),
        }
        for (
            provider,
            login,
            status,
            mfa_state,
            last_login_at,
            kind,
            name,
            privileged,
            inherited,
            via,
            via_name,
            first_seen_at,
        ) in conn.rows(_PERSON_ACCESS, {"person_id": person["id"]})
    ]
    return person, rows


def mfa_report(conn: ReadConnection, *, include_suspended: bool = False) -> dict[str, Any]:
    """MFA coverage of live accounts by provider and by department; privileged accounts without MFA
    (not enrolled first, then unknown).  Active accounts only unless ``include_suspended``; ``scope``
    says which statuses were counted and how many accounts that left out."""
    # one row per (provider, department, status, MFA state): the database does the counting
    counts = conn.rows(
        "SELECT account.provider, coalesce(person.department, account.department), account.status,"
        " account.mfa_state, account.mfa_enforced, count(*)"
        " FROM account LEFT OUTER JOIN person ON person.id = account.person_id"
        " WHERE account.ended_at IS NULL"
        " GROUP BY account.provider, coalesce(person.department, account.department), account.status,"
        " account.mfa_state, account.mfa_enforced"
    )
    by_provider: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_department: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    left_out = {"accounts": 0, "admins_without_mfa": 0, "admins_not_enrolled": 0}
    for provider, dept, status, mfa_state, enforced, count in counts:
        if status != AccountStatus.ACTIVE and not include_suspended:
            left_out["accounts"] += count
            continue
        for bucket in (by_provider[provider], by_department[dept or "(none)"]):
            bucket["accounts"] += count
            bucket[mfa_state] += count
            bucket["enforced"] += count if enforced else 0
            bucket["enforcement_known"] += 0 if enforced is None else count
    admins = conn.rows(
        "SELECT account.provider, account.login, account.status, account.mfa_state, account.is_shared,"
        " account.is_service, person.employee_id"
        " FROM account LEFT OUTER JOIN person ON person.id = account.person_id"
        " WHERE account.ended_at IS NULL AND account.mfa_state != :enrolled"
        f" AND account.id IN ({_PRIVILEGED_ACCOUNTS})",
        {"enrolled": ENROLLED},
    )
    admins_without: list[dict[str, Any]] = []
    for provider, login, status, mfa_state, is_shared, is_service, employee_id in admins:
        if status != AccountStatus.ACTIVE and not include_suspended:
            left_out["admins_without_mfa"] += 1
            left_out["admins_not_enrolled"] += mfa_state == MfaState.NOT_ENROLLED
            continue
        admins_without.append(
            {
                "provider": provider,
                "login": login,
                "person": employee_id,
                "status": status,
                "mfa_state": mfa_state,
                "shared": bool(is_shared or is_service),
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
