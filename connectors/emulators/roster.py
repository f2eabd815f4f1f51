"""The HR roster of a synthetic org, written the way an HR system exports it (CSV with a header)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

from connectors.emulators.model import HrPerson

COLUMNS = [f.name for f in fields(HrPerson)]


def write_roster(people: Iterable[HrPerson], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for person in people:
            row = []
            for name in COLUMNS:
                value = getattr(person, name)
                row.append(
                    "" if value is None else value.isoformat() if hasattr(value, "isoformat") else value
                )
            writer.writerow(row)
    return path
