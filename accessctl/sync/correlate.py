"""Identity correlation: link provider accounts to HR people, flag shared accounts, report the rest.

Links are made by employee id, then by the account's verified email (login/primary email), then by
its aliases — the first method that names exactly one person wins.  When methods disagree, or one
method names two people, the account is left unlinked and marked ``conflict`` with the candidates
in its note: reported, never guessed.  Accounts with no person that are not shared are orphans.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import Account, Person
from accessctl.sync.patterns import PatternSet

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]


@dataclass
class Conflict:
    account_id: int
    provider: str
    login: str
    reason: str


@dataclass
class CorrelationReport:
    linked: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # method -> accounts
    changed: int = 0
    orphans: int = 0
    shared: int = 0
    protected: int = 0
    conflicts: list[Conflict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "linked": dict(self.linked),
            "changed": self.changed,
            "orphans": self.orphans,
            "shared": self.shared,
            "protected": self.protected,
            "conflicts": len(self.conflicts),
        }


@dataclass(frozen=True)
class Link:
    person_id: int | None
    method: str | None
    note: str | None


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def decide(
    *,
    employee_id: str | None,
    emails: list[str],
    aliases: list[str],
    by_employee_id: dict[str, int],
    by_email: dict[str, set[int]],
    names: dict[int, str],
) -> Link:
    """The link for one account (pure: the tests exercise every rule on it)."""
    by_id = by_employee_id.get(employee_id) if employee_id else None
    email_match = set().union(*(by_email.get(e, set()) for e in emails)) if emails else set()
    alias_match = set().union(*(by_email.get(a, set()) for a in aliases)) if aliases else set()

    def who(ids: set[int]) -> str:
        return ", ".join(sorted(names[i] for i in ids))

    if by_id is not None:
        for what, matched in (("email", email_match), ("an alias", alias_match)):
            others = matched - {by_id}
            if others:
                return Link(
                    None,
                    "conflict",
                    f"employee id {employee_id} is {names[by_id]} but {what} belongs to {who(others)}",
                )
        return Link(by_id, "employee_id", None)
    if len(email_match) == 1:
        person = next(iter(email_match))
        others = alias_match - {person}
        if others:
            return Link(
                None, "conflict", f"the email is {names[person]} but an alias belongs to {who(others)}"
            )
        return Link(person, "email", None)
    for method, matched in (("email", email_match), ("alias", alias_match)):
        if len(matched) == 1:
            return Link(next(iter(matched)), method, None)
        if len(matched) > 1:
            return Link(None, "conflict", f"{method} matches more than one person: {who(matched)}")
    return Link(None, None, None)


def correlate(
    conn: Connection,
    *,
    shared_patterns: PatternSet,
    protected_patterns: PatternSet,
    seen_since: datetime | None = None,
) -> CorrelationReport:
    """Link live accounts (all of them, or with ``seen_since`` only those a sync wrote since then:
    nothing else about the others can have changed); writes only what changed, in the caller's
    transaction.  The report covers every live account either way."""
    by_employee_id: dict[str, int] = {}
    by_email: dict[str, set[int]] = defaultdict(set)
    names: dict[int, str] = {}
    for person in conn.execute(sa.select(PEOPLE.c.id, PEOPLE.c.employee_id, PEOPLE.c.email)):
        by_employee_id[person.employee_id] = person.id
        email = _lower(person.email)
        if email:
            by_email[email].add(person.id)
        names[person.id] = f"{person.employee_id} <{person.email}>"

    updates: list[dict[str, Any]] = []
    query = sa.select(
        ACCOUNTS.c.id,
        ACCOUNTS.c.login,
        ACCOUNTS.c.email,
        ACCOUNTS.c.aliases,
        ACCOUNTS.c.employee_id,
        ACCOUNTS.c.person_id,
        ACCOUNTS.c.link_method,
        ACCOUNTS.c.link_note,
        ACCOUNTS.c.is_shared,
        ACCOUNTS.c.protected,
    ).where(ACCOUNTS.c.ended_at.is_(None))
    if seen_since is not None:
        query = query.where(ACCOUNTS.c.last_seen_at >= seen_since)
    for account in conn.execute(query):
        emails = [e for e in {_lower(account.login), _lower(account.email)} if e]
        aliases = [a for a in {_lower(a) for a in account.aliases or []} if a and a not in emails]
        shared = shared_patterns.matches(*emails)
        protected = protected_patterns.matches(*emails, *aliases)
        link = decide(
            employee_id=account.employee_id,
            emails=emails,
            aliases=aliases,
            by_employee_id=by_employee_id,
            by_email=by_email,
            names=names,
        )
        new = (link.person_id, link.method, link.note, shared, protected)
        old = (
            account.person_id,
            account.link_method,
            account.link_note,
            account.is_shared,
            account.protected,
        )
        if new != old:
            updates.append(
                {
                    "b_id": account.id,
                    "b_person_id": link.person_id,
                    "b_method": link.method,
                    "b_note": link.note,
                    "b_shared": shared,
                    "b_protected": protected,
                }
            )
    if updates:
        conn.execute(
            ACCOUNTS.update()
            .where(ACCOUNTS.c.id == sa.bindparam("b_id"))
            .values(
                person_id=sa.bindparam("b_person_id"),
                link_method=sa.bindparam("b_method"),
                link_note=sa.bindparam("b_note"),
                is_shared=sa.bindparam("b_shared"),
                protected=sa.bindparam("b_protected"),
            ),
            updates,
        )
    report = _report(conn)
    report.changed = len(updates)
    return report


def _report(conn: Connection) -> CorrelationReport:
    """What the links of every live account now say."""
    live = ACCOUNTS.c.ended_at.is_(None)
    report = CorrelationReport()
    linked = conn.execute(
        sa.select(ACCOUNTS.c.link_method, sa.func.count())
        .where(live, ACCOUNTS.c.link_method.is_not(None), ACCOUNTS.c.link_method != "conflict")
        .group_by(ACCOUNTS.c.link_method)
    )
    for method, count in linked:
        report.linked[method] = count
    conflicts = conn.execute(
        sa.select(ACCOUNTS.c.id, ACCOUNTS.c.provider, ACCOUNTS.c.login, ACCOUNTS.c.link_note)
        .where(live, ACCOUNTS.c.link_method == "conflict")
        .order_by(ACCOUNTS.c.id)
    )
    report.conflicts = [Conflict(r.id, r.provider, r.login, r.link_note or "") for r in conflicts]

    def count(*where: Any) -> int:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(ACCOUNTS).where(live, *where)).scalar_one()
        )

    report.orphans = count(
        ACCOUNTS.c.link_method.is_(None), ACCOUNTS.c.is_shared.is_(False), ACCOUNTS.c.is_service.is_(False)
    )
    report.shared = count(ACCOUNTS.c.is_shared.is_(True))
    report.protected = count(ACCOUNTS.c.protected.is_(True))
    return report
