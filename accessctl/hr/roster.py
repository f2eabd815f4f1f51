"""Importing the HR roster: a CSV export with one row per person.

Columns (header required; extra columns are ignored): employee_id, email (required), first_name,
last_name, department, title, manager_employee_id, employment_type, status (active|terminated),
hire_date, termination_date (YYYY-MM-DD), location.  The whole file is checked before anything is
written; a bad row names its line and changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.store.models import Person
from accessctl.store.upsert import bulk_upsert
from accessctl.sync.checkpoints import load_checkpoint, save_checkpoint

PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
REQUIRED = ("employee_id", "email")
OPTIONAL = (
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
)
STATUSES = {"active", "terminated", "leave"}
#: (provider, stream) of the checkpoint naming the content of the last roster imported
LAST_IMPORT = ("*", "roster")


class RosterError(ValueError):
    """The roster cannot be imported; the message names the file, line and column."""


@dataclass
class RosterImport:
    people: int
    added: int
    changed: int


def _date(value: str, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RosterError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def read_roster(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: cannot read: {exc.strerror}") from None


def parse_roster(path: Path, data: bytes | None = None) -> list[dict[str, Any]]:
    """The roster's people, checked whole; ``data``: the file's bytes when already read."""
    try:
        text = (read_roster(path) if data is None else data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 text") from None
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError(f"{path}: header lacks required column(s) {', '.join(missing)}")
        rows: dict[str, dict[str, Any]] = {}
        for line_no, raw in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            values = {k: (raw.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
            for column in REQUIRED:
                if not values[column]:
                    raise RosterError(f"{where}: {column} is empty")
            if "@" not in values["email"]:
                raise RosterError(f"{where}: email {values['email']!r} is not an email address")
            status = values["status"].lower() or "active"
            if status not in STATUSES:
                raise RosterError(f"{where}: status {status!r} is not one of {', '.join(sorted(STATUSES))}")
            if values["employee_id"] in rows:
                raise RosterError(f"{where}: employee_id {values['employee_id']} appears twice")
            rows[values["employee_id"]] = {
                "employee_id": values["employee_id"],
                "email": values["email"].lower(),
                "first_name": values["first_name"],
                "last_name": values["last_name"],
                "department": values["department"] or None,
                "title": values["title"] or None,
                "manager_employee_id": values["manager_employee_id"] or None,
                "employment_type": values["employment_type"] or "employee",
                "status": status,
                "hire_date": _date(values["hire_date"], f"{where}: hire_date"),
                "termination_date": _date(values["termination_date"], f"{where}: termination_date"),
                "location": values["location"] or None,
            }
    for employee_id, row in rows.items():
        manager = row["manager_employee_id"]
        if manager and manager not in rows:
            raise RosterError(f"{path}: {employee_id}'s manager {manager} is not in the roster")
    return list(rows.values())


def import_roster(conn: Connection, path: Path, *, actor: str, skip_unchanged: bool = False) -> RosterImport:
    """Upsert every person of the roster (in the caller's transaction) and audit the import.

    ``skip_unchanged``: when the last import (by any path) was of a file with exactly these bytes,
    there is nothing to compare or write (a sync imports its roster on every run)."""
    data = read_roster(path)
    digest = hashlib.sha256(data).hexdigest()
    if skip_unchanged:
        last = load_checkpoint(conn, *LAST_IMPORT)
        if last is not None and last.get("sha256") == digest:
            return RosterImport(int(last["people"]), 0, 0)
    rows = parse_roster(path, data)
    compared = (
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
    )
    existing = {
        row.employee_id: tuple(getattr(row, c) for c in compared)
        for row in conn.execute(sa.select(PEOPLE.c.employee_id, *(PEOPLE.c[c] for c in compared)))
    }
    added = [r for r in rows if r["employee_id"] not in existing]
    changed = [
        r
        for r in rows
        if r["employee_id"] in existing and existing[r["employee_id"]] != tuple(r[c] for c in compared)
    ]
    now = datetime.now(UTC)
    # only who is new or different is written: updated_at says when a person last changed
    bulk_upsert(conn, PEOPLE, [{**r, "updated_at": now} for r in added + changed], key=["employee_id"])
    audit.record(
        conn,
        actor=actor,
        action="hr.roster.import",
        target_type="roster",
        target_id=str(path),
        details={"people": len(rows), "added": len(added), "changed": len(changed)},
    )
    save_checkpoint(conn, *LAST_IMPORT, {"sha256": digest, "people": len(rows)})
    return RosterImport(len(rows), len(added), len(changed))
