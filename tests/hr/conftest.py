"""A lifecycle that records leaver and restore jobs in the job table, as the engine's would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl.hr.decide import StartLeaver, StartRestore
from accessctl.jobs.tables import JOBS
from accessctl.store.models import Person

PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]


class JobTableLifecycle:
    """Writes one job row per decision in the caller's transaction (the engine adds its steps)."""

    def __init__(self) -> None:
        self.calls: list[StartLeaver | StartRestore] = []

    def _job(self, conn: Connection, kind: str, decision: StartLeaver | StartRestore) -> int:
        self.calls.append(decision)
        return conn.execute(
            JOBS.insert()
            .values(
                kind=kind,
                person_id=decision.person_id,
                hr_event_id=decision.hr_event_id,
                reason=decision.reason,
                requested_by="hr",
                state="pending",
                dry_run=False,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
            .returning(JOBS.c.id)
        ).scalar_one()

    def start_leaver(self, conn: Connection, decision: StartLeaver) -> int:
        return self._job(conn, "leaver", decision)

    def start_restore(self, conn: Connection, decision: StartRestore) -> int:
        return self._job(conn, "restore", decision)


@pytest.fixture
def lifecycle() -> JobTableLifecycle:
    return JobTableLifecycle()


def add_person(
    engine: Engine, employee_id: str = "E100", email: str = "ada@example.com", **values: object
) -> int:
    with engine.begin() as conn:
        return conn.execute(
            PEOPLE.insert()
            .values(
                employee_id=employee_id,
                email=email,
                first_name="Ada",
                last_name="L",
                employment_type="employee",
                status="active",
                updated_at=datetime.now(UTC),
                **values,
            )
            .returning(PEOPLE.c.id)
        ).scalar_one()
