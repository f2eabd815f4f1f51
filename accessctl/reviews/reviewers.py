"""Who reviews an item: the person's manager (the HR roster first, else the provider's manager
attribute on the account), never the person themselves (then the manager's manager), the entitlement
owner for orphan and shared accounts, and the campaign's fallback reviewer (else its owner) when
nobody else is known.  A manager who has left is passed over for theirs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.reviews.scope import ACCOUNTS, PEOPLE, GrantRow, driver_rows


@dataclass(frozen=True, slots=True)
class Reviewer:
    email: str
    person_id: int | None
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Person:
    id: int
    employee_id: str
    email: str
    name: str
    status: str
    department: str | None
    manager_employee_id: str | None


class Directory:
    """People and the provider's manager links, loaded once per campaign."""

    def __init__(self, conn: Connection) -> None:
        p, a = PEOPLE, ACCOUNTS
        self.people: dict[int, _Person] = {}
        self.by_employee_id: dict[str, _Person] = {}
        self.by_email: dict[str, _Person] = {}
        people = sa.select(
            p.c.id,
            p.c.employee_id,
            p.c.email,
            p.c.first_name,
            p.c.last_name,
            p.c.status,
            p.c.department,
            p.c.manager_employee_id,
        )
        # as the driver returns them: a large org's rows, read once per campaign
        for person_id, employee_id, email, first_name, last_name, status, department, manager in driver_rows(
            conn, people
        ):
            name = " ".join(part for part in (first_name, last_name) if part) or email
            person = _Person(person_id, employee_id, email.lower(), name, status, department, manager)
            self.people[person_id] = person
            self.by_employee_id[employee_id] = person
            self.by_email.setdefault(person.email, person)
        #: (provider, external id) -> (linked person id, login, manager external id)
        self.accounts: dict[tuple[str, str], tuple[int | None, str, str | None]] = {}
        #: person id -> the provider manager attribute of one of their accounts
        self.provider_manager: dict[int, tuple[str, str]] = {}
        #: person id -> the (provider, manager external id) of each of their accounts that has one
        self.account_managers: dict[int, list[tuple[str, str]]] = {}
        accounts = sa.select(
            a.c.provider, a.c.external_id, a.c.person_id, a.c.login, a.c.manager_external_id
        ).where(a.c.ended_at.is_(None))
        for provider, external_id, person_id, login, manager_id in driver_rows(conn, accounts):
            self.accounts[(provider, external_id)] = (person_id, login.lower(), manager_id)
            if person_id is not None and manager_id:
                self.provider_manager.setdefault(person_id, (provider, manager_id))
                self.account_managers.setdefault(person_id, []).append((provider, manager_id))

    def person(self, person_id: int | None) -> _Person | None:
        return None if person_id is None else self.people.get(person_id)

    def as_reviewer(self, person: _Person, reason: str) -> Reviewer:
        return Reviewer(person.email, person.id, person.name, reason)

    def manager(self, person: _Person, account: tuple[str, str | None] | None = None) -> Reviewer | None:
        """The person's manager: HR first, else the provider's manager attribute (of ``account``
        (provider, manager external id) when given, else of any of their accounts)."""
        if person.manager_employee_id and person.manager_employee_id in self.by_employee_id:
            return self.as_reviewer(self.by_employee_id[person.manager_employee_id], "manager (HR)")
        provider, manager_id = (
            account if account and account[1] else self.provider_manager.get(person.id, ("", None))
        )
        if not manager_id:
            return None
        linked = self.accounts.get((provider, manager_id))
        if linked is None:
            return None
        person_id, login, _ = linked
        if person_id is not None and person_id in self.people:
            return self.as_reviewer(self.people[person_id], f"manager ({provider})")
        return Reviewer(login, None, login, f"manager ({provider})")

    def chain(self, person: _Person, account: tuple[str, str | None] | None = None) -> Iterator[Reviewer]:
        """The person's managers, nearest first (each seen once; a loop ends the chain)."""
        seen = {person.id}
        current: Reviewer | None = self.manager(person, account)
        while current is not None:
            yield current
            nxt = self.person(current.person_id)
            if nxt is None or nxt.id in seen:
                return
            seen.add(nxt.id)
            upper = self.manager(nxt)
            current = (
                None if upper is None else Reviewer(upper.email, upper.person_id, upper.name, upper.reason)
            )

    def manager_of_reviewer(self, email: str) -> Reviewer | None:
        """Whom to escalate an overdue reviewer to: their nearest active manager."""
        person = self.by_email.get(email.lower())
        if person is None:
            return None
        for candidate in self.chain(person):
            if self._active(candidate):
                return candidate
        return None

    def _active(self, reviewer: Reviewer) -> bool:
        person = self.person(reviewer.person_id)
        return person is None or person.status != "terminated"


def resolve_reviewer(row: GrantRow, directory: Directory, *, fallback: str, owner: str) -> Reviewer:
    """The reviewer of ``row`` and why."""
    subject = directory.person(row.person_id)
    subject_email = subject.email if subject else None

    def is_self(reviewer: Reviewer) -> bool:
        if subject is None:
            return False
        return reviewer.person_id == subject.id or reviewer.email.lower() == subject_email

    def fallback_reviewer(why: str) -> Reviewer:
        for email, label in ((fallback, "fallback reviewer"), (owner, "campaign owner")):
            if not email:
                continue
            known = directory.by_email.get(email.lower())
            candidate = Reviewer(
                email.lower(), known.id if known else None, known.name if known else email, ""
            )
            if not is_self(candidate):
                return Reviewer(candidate.email, candidate.person_id, candidate.name, f"{label}: {why}")
        if subject is not None:  # the fallback and owner are the person: their manager's manager
            for manager in directory.chain(subject):
                if not is_self(manager):
                    return Reviewer(manager.email, manager.person_id, manager.name, "self-review avoided")
        return Reviewer(owner.lower(), None, owner, f"campaign owner: {why}")

    shared = row.is_shared or row.is_service
    if shared or subject is None:
        why = "shared account" if shared else "orphan account (no person linked)"
        if row.entitlement_owner and "@" in row.entitlement_owner:
            email = row.entitlement_owner.lower()
            known = directory.by_email.get(email)
            candidate = Reviewer(email, known.id if known else None, known.name if known else email, "")
            if not is_self(candidate):
                return Reviewer(
                    candidate.email, candidate.person_id, candidate.name, f"entitlement owner: {why}"
                )
        return fallback_reviewer(why)
    passed_over = ""
    for position, manager in enumerate(directory.chain(subject, (row.provider, row.manager_external_id))):
        if is_self(manager):
            passed_over = "self-review avoided: "
            continue
        if not directory._active(manager):
            passed_over = "manager has left: "
            continue
        if position and not passed_over:
            passed_over = "manager's manager: "
        return Reviewer(manager.email, manager.person_id, manager.name, passed_over + manager.reason)
    return fallback_reviewer("no manager known")
