"""Accounts and their MFA: one page of accounts upserted, managers resolved, MFA states set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.upsert import bulk_upsert
from accessctl.sync.writer.common import ACCOUNTS, chunks
from accessctl.sync.writer.counts import Counts, count_changes
from connectors.base import AccountRecord, MfaRecord

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
#: what an MFA record sets (with mfa_checked_at) and what counts as a change of it
_MFA_FIELDS = ("mfa_state", "mfa_methods", "mfa_enforced")


def _account_row(
    provider: str, record: AccountRecord, seen_at: datetime, manager: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": provider,
        "external_id": record.external_id,
        "login": record.login,
        "email": record.email,
        "aliases": sorted(set(record.aliases)),
        "display_name": record.display_name,
        "status": str(record.status),
        "employee_id": record.employee_id,
        "manager_external_id": record.manager_external_id or manager,
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
        row["mfa_enforced"] = record.mfa.enforced
        row["mfa_checked_at"] = seen_at
    return row


def _login_map(conn: Connection, provider: str, logins: set[str]) -> dict[str, str]:
    """Lower-case login or email -> external id of this provider's live accounts."""
    found: dict[str, str] = {}
    ordered = sorted(logins)
    for column in (ACCOUNTS.c.email, ACCOUNTS.c.login):  # a login wins over an email
        for chunk in chunks(ordered):
            query = sa.select(sa.func.lower(column), ACCOUNTS.c.external_id).where(
                ACCOUNTS.c.provider == provider,
                ACCOUNTS.c.ended_at.is_(None),
                sa.func.lower(column).in_(chunk),
            )
            found.update({login: external_id for login, external_id in conn.execute(query)})
    return found


def _managers(conn: Connection, provider: str, records: Sequence[AccountRecord]) -> dict[str, str]:
    """Managers named by login (Google's relations) -> their external ids, from this page or the store."""
    wanted = {r.manager_login.lower() for r in records if r.manager_login and not r.manager_external_id}
    if not wanted:
        return {}
    known = _login_map(conn, provider, wanted)
    for r in records:
        for address in (r.email, r.login):
            if address and address.lower() in wanted:
                known[address.lower()] = r.external_id
    return known


def write_accounts(
    conn: Connection,
    provider: str,
    records: Sequence[AccountRecord],
    seen_at: datetime,
    *,
    unresolved_managers: dict[str, str] | None = None,
) -> Counts:
    """Upsert one page of accounts; counts new accounts and accounts whose data changed.

    A manager named by login is stored as its account's external id when this page or the store
    holds that account; the others go into ``unresolved_managers`` (account -> manager login) for
    :func:`resolve_managers` once the listing is complete.
    """
    if not records:
        return Counts()
    managers = _managers(conn, provider, records)
    rows_by_id: dict[str, dict[str, Any]] = {}
    for r in records:
        manager = managers.get(r.manager_login.lower()) if r.manager_login else None
        if (
            r.manager_login
            and not r.manager_external_id
            and manager is None
            and unresolved_managers is not None
        ):
            unresolved_managers[r.external_id] = r.manager_login
        rows_by_id[r.external_id] = _account_row(provider, r, seen_at, manager)
    compare = (*_ACCOUNT_FIELDS, *(_MFA_FIELDS if records[0].mfa is not None else ()))
    existing: dict[str, Any] = {}
    ids = list(rows_by_id)
    for chunk in chunks(ids):
        query = sa.select(
            ACCOUNTS.c.external_id, ACCOUNTS.c.ended_at, *(ACCOUNTS.c[f] for f in compare)
        ).where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk))
        for found in conn.execute(query).mappings():
            existing[found["external_id"]] = found
    counts = count_changes(rows_by_id, existing, compare)
    update = [c for c in rows_by_id[ids[0]] if c not in ("provider", "external_id", "first_seen_at")]
    bulk_upsert(conn, ACCOUNTS, list(rows_by_id.values()), key=["provider", "external_id"], update=update)
    return counts


def resolve_managers(conn: Connection, provider: str, managers: dict[str, str]) -> None:
    """Set the managers :func:`write_accounts` could not resolve (account -> manager login)."""
    known = _login_map(conn, provider, {login.lower() for login in managers.values()})
    params = [
        {"b_external_id": account, "b_manager": known[login.lower()]}
        for account, login in managers.items()
        if login.lower() in known
    ]
    if params:
        conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id == sa.bindparam("b_external_id"))
            .values(manager_external_id=sa.bindparam("b_manager")),
            params,
        )


def write_mfa(conn: Connection, provider: str, records: Sequence[MfaRecord], checked_at: datetime) -> int:
    """Set MFA state on known accounts, all stamped as checked at ``checked_at``; returns how many
    accounts' state, methods or enforcement changed.  Only those rows are rewritten: the rest get the
    stamp in a few set-based statements (a bulk report lists everyone every time, and most do not
    change)."""
    if not records:
        return 0
    latest = {r.account_external_id: (str(r.state), sorted(r.methods), r.enforced) for r in records}
    stored: dict[str, tuple[str, list[str], bool | None]] = {}
    for chunk in chunks(list(latest)):
        query = sa.select(
            ACCOUNTS.c.external_id, ACCOUNTS.c.mfa_state, ACCOUNTS.c.mfa_methods, ACCOUNTS.c.mfa_enforced
        ).where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk))
        for external_id, state, methods, enforced in conn.execute(query):
            stored[external_id] = (state, sorted(methods or []), enforced)
    changed = [
        {
            "b_external_id": external_id,
            "b_state": state,
            "b_methods": methods,
            "b_enforced": enforced,
            "b_checked_at": checked_at,
        }
        for external_id, (state, methods, enforced) in latest.items()
        if external_id in stored and stored[external_id] != (state, methods, enforced)
    ]
    if changed:
        conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id == sa.bindparam("b_external_id"))
            .values(
                mfa_state=sa.bindparam("b_state"),
                mfa_methods=sa.bindparam("b_methods", type_=sa.JSON),
                mfa_enforced=sa.bindparam("b_enforced", type_=sa.Boolean),
                mfa_checked_at=sa.bindparam("b_checked_at", type_=sa.DateTime(timezone=True)),
            ),
            changed,
        )
    unchanged = sorted(stored.keys() - {row["b_external_id"] for row in changed})
    for chunk in chunks(unchanged):
        conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.provider == provider, ACCOUNTS.c.external_id.in_(chunk))
            .values(mfa_checked_at=checked_at)
        )
    return len(changed)


def account_id_map(conn: Connection, provider: str) -> dict[str, int]:
    query = sa.select(ACCOUNTS.c.external_id, ACCOUNTS.c.id).where(ACCOUNTS.c.provider == provider)
    return {external_id: account_id for external_id, account_id in conn.execute(query)}


def mark_unreported_mfa_unknown(conn: Connection, provider: str, checked_at: datetime) -> int:
    """After a complete bulk MFA report: a live account the report did not list has UNKNOWN MFA
    and enforcement (never what an older report gave it).  Returns how many accounts it changed."""
    return conn.execute(
        ACCOUNTS.update()
        .where(
            ACCOUNTS.c.provider == provider,
            ACCOUNTS.c.ended_at.is_(None),
            sa.or_(ACCOUNTS.c.mfa_checked_at.is_(None), ACCOUNTS.c.mfa_checked_at < checked_at),
            sa.or_(
                ACCOUNTS.c.mfa_state != "UNKNOWN",
                ACCOUNTS.c.mfa_state.is_(None),
                ACCOUNTS.c.mfa_enforced.is_not(None),
            ),
        )
        .values(mfa_state="UNKNOWN", mfa_methods=[], mfa_enforced=None)
    ).rowcount
