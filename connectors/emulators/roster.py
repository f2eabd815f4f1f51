"""The HR roster of a synthetic org, written the way an HR system exports it.

Two formats, chosen by the file's suffix: CSV with a header row (``.csv``, the default) and JSON
lines (``.jsonl`` / ``.ndjson``), one object per person.  The columns are the fields of
:class:`HrPerson`; dates are ISO 8601, a missing value is an empty CSV cell or JSON ``null``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

from connectors.emulators.model import HrPerson

COLUMNS = [f.name for f in fields(HrPerson)]
_DATES = ("hire_date", "termination_date")
_OPTIONAL = ("manager_employee_id", "termination_date")
_JSON_SUFFIXES = (".jsonl", ".ndjson")


def _is_json(path: Path) -> bool:
    return path.suffix.lower() in _JSON_SUFFIXES


def _record(person: HrPerson) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in COLUMNS:
        value = getattr(person, name)
        record[name] = value.isoformat() if isinstance(value, date) else value
    return record


def write_roster(people: Iterable[HrPerson], path: Path) -> Path:
    """Write the roster to ``path`` (CSV, or JSON lines for ``.jsonl``/``.ndjson``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if _is_json(path):
            for person in people:
                handle.write(json.dumps(_record(person), separators=(",", ":")) + "\n")
            return path
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for person in people:
            writer.writerow("" if v is None else v for v in _record(person).values())
    return path


def _person(record: dict[str, Any]) -> HrPerson:
    values: dict[str, Any] = {}
    for name in COLUMNS:
        value = record.get(name)
        if value == "" and name in _OPTIONAL:
            value = None
        if value is not None and name in _DATES:
            value = date.fromisoformat(value)
        values[name] = value
    return HrPerson(**values)


def read_roster(path: Path) -> list[HrPerson]:
    """Read a roster written by :func:`write_roster` (format by suffix)."""
    with path.open(newline="", encoding="utf-8") as handle:
        if _is_json(path):
            return [_person(json.loads(line)) for line in handle if line.strip()]
        return [_person(row) for row in csv.DictReader(handle)]
