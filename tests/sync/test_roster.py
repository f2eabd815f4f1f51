"""HR roster import: checked whole before writing; bad rows named; re-import counts changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.hr.roster import RosterError, import_roster
from accessctl.store.models import Person

HEADER = (
    "employee_id,email,first_name,last_name,department,title,manager_employee_id,"
    "employment_type,status,hire_date,termination_date,location\n"
)


def write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_import_then_reimport_counts_changes(engine: Engine, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "E1,Ann@Example.com,Ann,Lee,Eng,CTO,,employee,active,2020-01-01,,Remote",
        "E2,bob@example.com,Bob,Ray,Eng,Dev,E1,contractor,active,2021-02-03,,Berlin",
    )
    people = Person.__table__
    with engine.begin() as conn:
        first = import_roster(conn, path, actor="test")
        stamped = dict(conn.execute(sa.select(people.c.employee_id, people.c.updated_at)).all())
    assert (first.people, first.added, first.changed) == (2, 2, 0)
    path = write(
        tmp_path,
        "E1,ann@example.com,Ann,Lee,Eng,CTO,,employee,active,2020-01-01,,Remote",
        "E2,bob@example.com,Bob,Ray,Eng,Dev,E1,contractor,terminated,2021-02-03,2026-11-20,Berlin",
    )
    with engine.begin() as conn:
        second = import_roster(conn, path, actor="test")
        bob = conn.execute(sa.select(Person.__table__).where(Person.__table__.c.employee_id == "E2")).one()
        ann = conn.execute(sa.select(Person.__table__).where(Person.__table__.c.employee_id == "E1")).one()
    assert (second.added, second.changed) == (0, 1)
    assert bob.status == "terminated" and str(bob.termination_date) == "2026-11-20"
    assert ann.email == "ann@example.com"
    # updated_at says when a person last changed: the unchanged one keeps hers
    assert ann.updated_at == stamped["E1"] and bob.updated_at != stamped["E2"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",x@example.com,,,,,,,active,,,", "employee_id is empty"),
        ("E1,not-an-email,,,,,,,active,,,", "not an email"),
        ("E1,a@example.com,,,,,,,fired,,,", "status 'fired'"),
        ("E1,a@example.com,,,,,,,active,01/02/2020,,", "hire_date"),
        ("E1,a@example.com,,,,,E404,,active,,,", "manager E404"),
    ],
)
def test_bad_rows_are_named_and_change_nothing(
    engine: Engine, tmp_path: Path, row: str, message: str
) -> None:
    path = write(tmp_path, "E0,ok@example.com,,,,,,,active,,,", row)
    with pytest.raises(RosterError, match=message), engine.begin() as conn:
        import_roster(conn, path, actor="test")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Person.__table__)).scalar() == 0


def test_a_sync_skips_a_roster_whose_bytes_were_imported_last(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "E1,ann@example.com,Ann,Lee,Eng,CTO,,employee,active,2020-01-01,,Remote")
    with engine.begin() as conn:
        assert import_roster(conn, path, actor="test", skip_unchanged=True).added == 1
    people = Person.__table__
    with engine.begin() as conn:  # someone edits the store: a skipped import leaves it be
        conn.execute(people.update().values(title="Chief Technology Officer"))
        again = import_roster(conn, path, actor="test", skip_unchanged=True)
        assert (again.people, again.added, again.changed) == (1, 0, 0)
        assert conn.execute(sa.select(people.c.title)).scalar_one() == "Chief Technology Officer"
        # an explicit import (hr import) reads the file whatever it was
        forced = import_roster(conn, path, actor="test")
        assert (forced.added, forced.changed) == (0, 1)
    path = write(tmp_path, "E1,ann@example.com,Ann,Lee,Eng,CEO,,employee,active,2020-01-01,,Remote")
    with engine.begin() as conn:
        changed = import_roster(conn, path, actor="test", skip_unchanged=True)
        assert (changed.added, changed.changed) == (0, 1)
        assert conn.execute(sa.select(people.c.title)).scalar_one() == "CEO"


def test_a_roster_that_cannot_be_read_is_named_and_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    for skip_unchanged in (False, True):
        with engine.begin() as conn, pytest.raises(RosterError, match=r"missing\.csv: cannot read"):
            import_roster(conn, tmp_path / "missing.csv", actor="test", skip_unchanged=skip_unchanged)
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes(HEADER.encode() + "E1,ren\xe9@example.com\n".encode("latin-1"))
    with engine.begin() as conn, pytest.raises(RosterError, match="not UTF-8"):
        import_roster(conn, not_utf8, actor="test")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Person.__table__)).scalar_one() == 0
