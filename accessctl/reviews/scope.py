"""The grants a campaign's scope selects, read from the store with the account, entitlement and person
they join (one query; patterns are matched here, as the sync's are)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


@dataclass(slots=True, eq=False)
class GrantRow:
    """One live grant with what reviewing it needs to know.  (Not frozen: a frozen dataclass sets
    each of its fields through ``object.__setattr__``, which a million of them feel.)"""

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
        return {**self.account_snapshot(), **self.entitlement_snapshot(), **self.grant_snapshot()}

    def account_snapshot(self) -> dict[str, Any]:
        """The snapshot's part that is the account's (and its person's): the same for its grants."""
        return {
            "provider": self.provider,
            "login": self.login,
            "account_status": self.account_status,
            "mfa_state": self.mfa_state,
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
            "shared": self.is_shared or self.is_service,
            "person": self.person_name,
            "person_email": self.person_email,
            "person_status": self.person_status,
            "department": self.department,
        }

    def entitlement_snapshot(self) -> dict[str, Any]:
        return {
            "entitlement": self.entitlement_name,
            "kind": self.entitlement_kind,
            "privileged": self.privileged,
        }

    def grant_snapshot(self) -> dict[str, Any]:
        return {
            "inherited": self.inherited,
            "via": self.via,
            "granted_at": self.granted_at.isoformat() if self.granted_at else None,
        }

    def fingerprint(self) -> list[Any]:
        """What, when changed, makes a certified grant due for review again (``delta_only``)."""
        return [self.person_id, self.account_status, self.privileged, self.inherited, self.via]


def _aware(value: datetime | str | None) -> datetime | None:
    """A timestamp as the store returns it, or as SQLite holds it (text: see :func:`_raw`), in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value + "+00:00")  # a third of the time replace() takes
        except ValueError:  # not the naive text SQLAlchemy stores
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return utc(value)


def _raw(conn: Connection, column: sa.Column[Any]) -> Any:
    """``column``, on SQLite as its stored text: parsed by :func:`_aware` (``fromisoformat``), not
    by the dialect's slower processor, for every one of a million rows."""
    if conn.dialect.name == "sqlite":
        return sa.type_coerce(column, sa.String).label(column.name)
    return column


def select_grants(
    conn: Connection, scope: CampaignScope, *, person_ids: Collection[int] | None = None
) -> list[GrantRow]:
    """Every live grant (grant, account and entitlement not ended; account not deprovisioned) in scope;
    ``person_ids``: only the accounts linked to these people (a mover's campaign)."""
    return list(iter_grants(conn, scope, person_ids=person_ids))


def _accounts(
    conn: Connection, scope: CampaignScope, person_ids: Collection[int] | None
) -> dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """account id -> (its GrantRow fields, its person's), for the live accounts in scope."""
    a, p = ACCOUNTS, PEOPLE
    query = (
        sa.select(
            a.c.id,
            a.c.provider,
            a.c.login,
            a.c.email,
            a.c.status,
            a.c.department,
            a.c.manager_external_id,
            a.c.mfa_state,
            _raw(conn, a.c.last_login_at),
            _raw(conn, a.c.created_at),
            a.c.is_shared,
            a.c.is_service,
            p.c.id.label("person_id"),
            p.c.first_name,
            p.c.last_name,
            p.c.email.label("person_email"),
            p.c.status.label("person_status"),
            p.c.department.label("person_department"),
            p.c.termination_date,
        )
        .select_from(a.outerjoin(p, p.c.id == a.c.person_id))
        .where(a.c.ended_at.is_(None), a.c.status != AccountStatus.DEPROVISIONED)
    )
    if person_ids is not None:
        query = query.where(a.c.person_id.in_(sorted(person_ids)))
    if scope.providers:
        query = query.where(a.c.provider.in_(scope.providers))
    if not scope.include_shared:
        query = query.where(a.c.is_shared.is_(False), a.c.is_service.is_(False))
    found = {}
    for r in driver_rows(conn, query):
        # the columns above, in order: the account's 12, then the person's 7
        login, department = r[2], r[5]
        person_id, first_name, last_name, person_email, person_status, person_department, ended = r[12:]
        if scope.accounts and not any(fnmatchcase(login, pat) for pat in scope.accounts):
            continue
        if scope.departments and (person_department or department) not in scope.departments:
            continue
        name = " ".join(part for part in (first_name, last_name) if part) or person_email
        account = (*r[:8], _aware(r[8]), _aware(r[9]), bool(r[10]), bool(r[11]))
        terminated = date.fromisoformat(ended) if isinstance(ended, str) else ended
        person = (
            person_id,
            name if person_id is not None else None,
            person_email,
            person_status,
            person_department,
            terminated,
        )
        found[r[0]] = (account, person)
    return found


def _entitlements(conn: Connection, scope: CampaignScope) -> dict[int, tuple[Any, ...]]:
    """entitlement id -> its GrantRow fields, for the live entitlements in scope."""
    e = ENTITLEMENTS
    query = sa.select(e.c.id, e.c.kind, e.c.name, e.c.privileged, e.c.owner).where(e.c.ended_at.is_(None))
    if scope.privileged_only:
        query = query.where(e.c.privileged.is_(True))
    if scope.kinds:
        query = query.where(e.c.kind.in_(scope.kinds))
    if scope.providers:
        query = query.where(e.c.provider.in_(scope.providers))
    return {
        r.id: tuple(r)
        for r in conn.execute(query)
        if not scope.entitlements or any(fnmatchcase(r.name, pat) for pat in scope.entitlements)
    }


#: account id -> (its GrantRow fields, its person's)
Accounts = dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]]
#: entitlement id -> its GrantRow fields
Entitlements = dict[int, tuple[Any, ...]]
#: a grant's own GrantRow fields: id, inherited, via, granted at, account id, entitlement id
GrantFields = tuple[int, bool, str | None, datetime | None, int, int]


def read_scope(
    conn: Connection, scope: CampaignScope, *, person_ids: Collection[int] | None = None
) -> tuple[Accounts, Entitlements]:
    """The live accounts (with their people) and entitlements in scope, read once."""
    return _accounts(conn, scope, person_ids), _entitlements(conn, scope)


def iter_grant_fields(
    conn: Connection, scope: CampaignScope, accounts: Accounts, entitlements: Entitlements
) -> Iterator[GrantFields]:
    """The live grants of ``accounts`` and ``entitlements`` in scope, streamed in grant order with
    only their own columns (those of accounts or entitlements out of scope are passed over here)."""
    g = GRANTS
    # the raw timestamp: parsed here (fromisoformat) rather than by the dialect, a million times
    query = (
        sa.select(
            g.c.id, g.c.inherited, g.c.via, _raw(conn, g.c.first_seen_at), g.c.account_id, g.c.entitlement_id
        )
        .where(g.c.ended_at.is_(None))
        .order_by(g.c.id)
    )
    # a few accounts (a mover's) or entitlements (privileged ones): only their grants are read
    if len(accounts) <= FEW:
        query = query.where(g.c.account_id.in_(sorted(accounts)))
    elif len(entitlements) <= FEW and (scope.privileged_only or scope.kinds or scope.entitlements):
        query = query.where(g.c.entitlement_id.in_(sorted(entitlements)))
    if not scope.include_inherited:
        query = query.where(g.c.inherited.is_(False))
    # a sync stamps the grants it finds with its own start: few distinct values, each parsed once
    parsed = functools.lru_cache(maxsize=PARSED_TIMESTAMPS)(_aware)
    for grant_id, inherited, via, seen, account_id, entitlement_id in driver_rows(conn, query):
        if account_id in accounts and entitlement_id in entitlements:
            yield grant_id, bool(inherited), via, parsed(seen), account_id, entitlement_id


def driver_rows(conn: Connection, query: sa.Select[Any], size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """``query``'s rows, ``size`` at a time.  On SQLite as the driver returns them, on the connection's
    own transaction: a million rows without a SQLAlchemy row each (its columns must need no result
    processing: booleans come as 0 and 1, timestamps as text).  Elsewhere streamed by SQLAlchemy
    (a server-side cursor: the driver's own would hold every row at once)."""
    if conn.dialect.name != "sqlite":
        yield from conn.execute(query.execution_options(yield_per=size))
        return
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positional:
        params: Any = tuple(compiled.params[name] for name in compiled.positiontup or ())
    else:
        params = compiled.params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(size):
            yield from rows
    finally:
        cursor.close()


def grant_row(
    grant: GrantFields, held: tuple[tuple[Any, ...], tuple[Any, ...]], entitlement: tuple[Any, ...]
) -> GrantRow:
    grant_id, inherited, via, granted_at, _, _ = grant
    return GrantRow(grant_id, inherited, via, granted_at, *held[0], *entitlement, *held[1])


def iter_grants(
    conn: Connection, scope: CampaignScope, *, person_ids: Collection[int] | None = None
) -> Iterator[GrantRow]:
    """:func:`select_grants`, one at a time, in grant order: the accounts (with their people) and the
    entitlements in scope are read once, then the grants, streamed."""
    accounts, entitlements = read_scope(conn, scope, person_ids=person_ids)
    for grant in iter_grant_fields(conn, scope, accounts, entitlements):
        yield grant_row(grant, accounts[grant[4]], entitlements[grant[5]])


#: at most this many ids go into an ``IN`` list
FEW = 2000

#: grant timestamps :func:`iter_grant_fields` keeps parsed (then it starts again)
PARSED_TIMESTAMPS = 10_000
