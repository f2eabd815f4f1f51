"""Finding the person a request names: an employee id or an email."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.lifecycle.errors import AmbiguousPerson, PersonNotFound, listing
from accessctl.store.models import Account, Person

PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PersonRef:
    id: int
    employee_id: str
    email: str
    name: str
    status: str

    def __str__(self) -> str:
        return f"{self.email} ({self.employee_id})"


def _ref(row: sa.Row) -> PersonRef:
    name = " ".join(p for p in (row.first_name, row.last_name) if p)
    return PersonRef(row.id, row.employee_id, row.email, name, row.status)


def resolve_person(conn: Connection, key: str) -> PersonRef:
    """The one person whose employee id is ``key``, or whose email (or an account's email, login or
    alias linked to them) is ``key``.  Unknown or ambiguous: an error listing the candidates."""
    key = key.strip()
    if not key:
        raise PersonNotFound("no person named: give an email or an employee id")
    by_id = conn.execute(sa.select(PEOPLE).where(PEOPLE.c.employee_id == key)).all()
    if len(by_id) == 1:
        return _ref(by_id[0])
    lowered = key.lower()
    rows = conn.execute(
        sa.select(PEOPLE).where(sa.func.lower(PEOPLE.c.email) == lowered).order_by(PEOPLE.c.employee_id)
    ).all()
    if not rows:  # an account address linked to a person (an alias, a provider login)
        linked = (
            sa.select(ACCOUNTS.c.person_id)
            .where(
                ACCOUNTS.c.person_id.is_not(None),
                sa.or_(
                    sa.func.lower(ACCOUNTS.c.email) == lowered, sa.func.lower(ACCOUNTS.c.login) == lowered
                ),
            )
            .distinct()
        )
        rows = conn.execute(
            sa.select(PEOPLE).where(PEOPLE.c.id.in_(linked)).order_by(PEOPLE.c.employee_id)
        ).all()
    if len(rows) == 1:
        return _ref(rows[0])
    if rows:
        candidates = [str(_ref(r)) for r in rows]
        raise AmbiguousPerson(
            listing(f"{key!r} names {len(rows)} people; give the employee id of one", candidates),
            candidates=candidates,
        )
    candidates = _similar(conn, lowered)
    message = f"no person with employee id or email {key!r}"
    raise PersonNotFound(
        listing(message + "; did you mean", candidates) if candidates else message, candidates=candidates
    )


def _similar(conn: Connection, key: str, limit: int = 5) -> list[str]:
    """People whose email or employee id is close to ``key`` (same first character, then difflib)."""
    import difflib

    rows = conn.execute(
        sa.select(PEOPLE).where(
            sa.or_(
                sa.func.lower(PEOPLE.c.email).like(f"{key[:1]}%"),
                sa.func.lower(PEOPLE.c.employee_id).like(f"{key[:1]}%"),
            )
        )
    ).all()
    by_key: dict[str, sa.Row] = {}
    for row in rows:
        by_key.setdefault(row.email.lower(), row)
        by_key.setdefault(row.employee_id.lower(), row)
    close = difflib.get_close_matches(key, list(by_key), n=limit, cutoff=0.75)
    return list(dict.fromkeys(str(_ref(by_key[c])) for c in close))
