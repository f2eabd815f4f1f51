"""A small org written into the store at run time, for the campaign tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.models import Account, Entitlement, Grant, Person

NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)
P = Person.__table__  # type: ignore[attr-defined]
A = Account.__table__  # type: ignore[attr-defined]
E = Entitlement.__table__  # type: ignore[attr-defined]
G = Grant.__table__  # type: ignore[attr-defined]


@dataclass
class Org:
    conn: Connection
    people: dict[str, int] = field(default_factory=dict)  # employee id -> person id
    accounts: dict[str, int] = field(default_factory=dict)  # login -> account id
    entitlements: dict[str, int] = field(default_factory=dict)  # name -> id
    grants: dict[tuple[str, str], int] = field(default_factory=dict)

    def person(
        self,
        eid: str,
        *,
        manager: str | None = None,
        department: str | None = "Eng",
        status: str = "active",
        **kw: Any,
    ) -> int:
        values = {
            "employee_id": eid,
            "email": f"{eid.lower()}@example.com",
            "first_name": eid,
            "last_name": "Test",
            "department": department,
            "manager_employee_id": manager,
            "status": status,
            "updated_at": NOW,
            **kw,
        }
        self.people[eid] = self.conn.execute(sa.insert(P).values(**values).returning(P.c.id)).scalar_one()
        return self.people[eid]

    def account(self, login: str, *, person: str | None = None, provider: str = "okta", **kw: Any) -> int:
        values = {
            "provider": provider,
            "external_id": f"x-{login}",
            "login": login,
            "email": login,
            "aliases": [],
            "mfa_methods": [],
            "mfa_state": "ENROLLED",
            "status": "active",
            "person_id": self.people[person] if person else None,
            "last_login_at": NOW - timedelta(days=1),
            "created_at": NOW - timedelta(days=400),
            **kw,
        }
        self.accounts[login] = self.conn.execute(sa.insert(A).values(**values).returning(A.c.id)).scalar_one()
        return self.accounts[login]

    def entitlement(self, name: str, *, privileged: bool = False, provider: str = "okta", **kw: Any) -> int:
        values = {
            "provider": provider,
            "kind": "group",
            "external_id": f"g-{name}",
            "name": name,
            "privileged": privileged,
            **kw,
        }
        self.entitlements[name] = self.conn.execute(
            sa.insert(E).values(**values).returning(E.c.id)
        ).scalar_one()
        return self.entitlements[name]

    def grant(self, login: str, name: str, *, first_seen: datetime | None = None, **kw: Any) -> int:
        values = {
            "account_id": self.accounts[login],
            "entitlement_id": self.entitlements[name],
            "first_seen_at": first_seen or NOW - timedelta(days=300),
            **kw,
        }
        self.grants[(login, name)] = self.conn.execute(
            sa.insert(G).values(**values).returning(G.c.id)
        ).scalar_one()
        return self.grants[(login, name)]


def seed(conn: Connection) -> Org:
    """CEO <- VP <- Mia <- Ann, Bob, Left; Ann holds Admins without MFA; a shared and an orphan account."""
    org = Org(conn)
    org.person("CEO", department="Exec")
    org.person("VP", manager="CEO", department="Exec")
    org.person("MIA", manager="VP")
    org.person("ANN", manager="MIA")
    org.person("BOB", manager="MIA")
    org.person("LEFT", manager="MIA", status="terminated", termination_date=date(2026, 12, 1))
    org.entitlement("Engineering")
    org.entitlement("Admins", privileged=True, owner="vp@example.com")
    org.entitlement("Payroll", owner="ceo@example.com")
    for eid in ("CEO", "VP", "MIA", "ANN", "BOB", "LEFT"):
        org.account(f"{eid.lower()}@example.com", person=eid)
    org.account("shared-ops@example.com", is_shared=True)
    org.account("ghost@example.com")
    for eid in ("MIA", "ANN", "BOB", "LEFT"):
        org.grant(f"{eid.lower()}@example.com", "Engineering")
    org.grant("ann@example.com", "Admins")
    conn.execute(sa.update(A).where(A.c.login == "ann@example.com").values(mfa_state="NOT_ENROLLED"))
    org.grant("shared-ops@example.com", "Admins")
    org.grant("ghost@example.com", "Payroll")
    org.grant("mia@example.com", "Admins")
    return org
