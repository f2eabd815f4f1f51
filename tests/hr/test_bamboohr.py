"""BambooHR: its own signature, the record read back from the emulator, retries, never a guess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.hr.intake import HrIntake
from accessctl.hr.rejections import Rejected
from accessctl.hr.store import EVENTS, SCHEDULES
from accessctl.hr.vendors.bamboohr import BambooSource, FetchBackFailed
from connectors.emulators.control import EmulatorControl
from connectors.emulators.hr.bamboohr import create_app, signed_webhook
from connectors.emulators.server import ServerThread
from tests.conftest import sqlite_only
from tests.hr.conftest import JobTableLifecycle, add_person

KEY = "bamboo-private-key"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def bamboo() -> Iterator[tuple[str, EmulatorControl, dict[str, dict[str, Any]]]]:
    employees = {
        "41": {
            "employeeNumber": "E100",
            "workEmail": "Ada@example.com",
            "status": "Active",
            "terminationDate": "0000-00-00",
            "supervisorEId": "7",
            "department": "Eng",
            "jobTitle": "Engineer",
        },
        "7": {
            "employeeNumber": "E1",
            "workEmail": "boss@example.com",
            "status": "Active",
            "terminationDate": "0000-00-00",
            "supervisorEId": None,
            "department": "Eng",
            "jobTitle": "CTO",
        },
    }
    control = EmulatorControl()
    with ServerThread(create_app(employees, control, company_domain="acme", api_key="api-key-1")) as server:
        yield server.url, control, employees


@pytest.fixture
def intake(engine: Engine, lifecycle: JobTableLifecycle, bamboo) -> Iterator[HrIntake]:  # type: ignore[no-untyped-def]
    url = bamboo[0]
    source = BambooSource("bamboohr", [KEY.encode()], url, "acme", "api-key-1", "America/Denver")
    with httpx.Client(timeout=5.0) as client:
        yield HrIntake(
            engine, {}, lifecycle, clock=lambda: NOW, bamboo={"bamboohr": source}, vendor_client=client
        )


def _webhook(
    kind: str = "employee.updated", changed: list[str] | None = None, *, key: str = KEY, at: datetime = NOW
):  # type: ignore[no-untyped-def]
    payload = {
        "type": kind,
        "timestamp": "2026-12-02T11:58:00+0000",
        "data": {"companyId": "12345", "employeeId": "41", "changedFields": changed or ["status"]},
    }
    return signed_webhook(payload, key, int(at.timestamp()))


def _events(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(EVENTS)).all()


def test_a_termination_in_bamboohr_is_read_back_and_scheduled(
    intake: HrIntake, engine: Engine, bamboo
) -> None:  # type: ignore[no-untyped-def]
    add_person(engine)
    bamboo[2]["41"].update(status="Inactive", terminationDate="2026-12-31")
    accepted = intake.receive_bamboohr(*reversed(_webhook()))  # type: ignore[arg-type]
    assert accepted.status == "scheduled"
    (row,) = _events(engine)
    assert (row.source, row.event_type, row.employee_id, row.manager_employee_id) == (
        "bamboohr",
        "employee.terminated",
        "E100",
        "E1",
    )
    with engine.connect() as conn:
        fire_at = conn.execute(sa.select(SCHEDULES.c.fire_at)).scalar_one()
    # the end of 31 December in Denver (UTC-7)
    assert fire_at.replace(tzinfo=UTC) == datetime(2027, 1, 1, 7, tzinfo=UTC)
    # BambooHR delivering it again changes nothing
    again = intake.receive_bamboohr(*reversed(_webhook()))  # type: ignore[arg-type]
    assert again.replay and again.event_id == accepted.event_id and len(_events(engine)) == 1


def test_a_new_department_is_a_mover(intake: HrIntake, engine: Engine, bamboo) -> None:  # type: ignore[no-untyped-def]
    add_person(engine, manager_employee_id="E1", department="Eng")
    bamboo[2]["41"]["department"] = "Sales"
    accepted = intake.receive_bamboohr(*reversed(_webhook(changed=["department"])))  # type: ignore[arg-type]
    assert accepted.status == "applied" and _events(engine)[0].event_type == "employee.updated"


@sqlite_only  # refused before the store matters; PostgreSQL is tested on the paths that store
def test_a_failed_read_back_is_retried_then_refused_storing_nothing(
    intake: HrIntake, engine: Engine, bamboo
) -> None:  # type: ignore[no-untyped-def]
    add_person(engine)
    bamboo[1].set_faults("5xx:1.0")
    body, headers = _webhook()
    with pytest.raises(FetchBackFailed, match="HTTP 503"):
        intake.receive_bamboohr(headers, body)
    assert bamboo[1].requests == 3 and _events(engine) == []
    bamboo[1].set_faults(None)  # BambooHR's retry then succeeds
    assert intake.receive_bamboohr(headers, body).status == "matched"


@sqlite_only  # refused before the store matters; PostgreSQL is tested on the paths that store
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"key": "other-key"}, "signature_mismatch"),
        ({"at": datetime(2026, 12, 2, 11, 50, tzinfo=UTC)}, "stale_timestamp"),
    ],
)
def test_bad_signatures_are_refused_before_any_read_back(
    intake: HrIntake,
    engine: Engine,
    bamboo,
    change: dict[str, Any],
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    body, headers = _webhook(**change)
    with pytest.raises(Rejected) as caught:
        intake.receive_bamboohr(headers, body)
    assert caught.value.reason == reason and bamboo[1].requests == 0 and _events(engine) == []


def test_an_employee_bamboohr_does_not_know_and_a_deletion_are_refused(
    intake: HrIntake, engine: Engine, bamboo
) -> None:  # type: ignore[no-untyped-def]
    del bamboo[2]["41"]
    body, headers = _webhook()
    with pytest.raises(Rejected, match="unknown_vendor_employee"):
        intake.receive_bamboohr(headers, body)
    body, headers = _webhook("employee.deleted")
    with pytest.raises(Rejected, match="unsupported_event"):
        intake.receive_bamboohr(headers, body)
    assert _events(engine) == []
    assert json.loads(body)["type"] == "employee.deleted"


def test_over_http_a_failed_read_back_is_a_503_to_retry_and_a_bad_signature_a_401(
    intake: HrIntake,
    engine: Engine,
    bamboo,  # type: ignore[no-untyped-def]
) -> None:
    from fastapi import FastAPI

    from accessctl.web.hr import get_hr_intake, intake_router
    from tests.hr.test_router import AppClient

    app = FastAPI()
    app.include_router(intake_router)
    app.dependency_overrides[get_hr_intake] = lambda: intake
    client = AppClient(app)
    bamboo[1].set_faults("5xx:1.0")
    body, headers = _webhook()
    response = client.post("/v1/hr/bamboohr", content=body, headers=headers)
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert response.json()["error"] == "retry_later" and _events(engine) == []
    body, headers = _webhook(key="wrong")
    response = client.post("/v1/hr/bamboohr", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (401, "signature_mismatch")
    bamboo[1].set_faults(None)
    add_person(engine)
    body, headers = _webhook()
    response = client.post("/v1/hr/bamboohr", content=body, headers=headers)
    assert response.status_code == 202 and response.json()["status"] == "matched"
