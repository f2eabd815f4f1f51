"""Gusto webhooks: X-Gusto-Signature, the employee and terminations read back, retries, never a guess."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from accessctl.hr.decide import StartLeaver
from accessctl.hr.intake import HrIntake
from accessctl.hr.rejections import Rejected
from accessctl.hr.sources import gusto_sources
from accessctl.hr.store import EVENTS, SCHEDULES
from accessctl.hr.vendors import FetchBackFailed
from accessctl.hr.vendors.gusto import GustoSource, Notice, to_canonical
from accessctl.jobs.tables import JOBS
from accessctl.settings import load_settings
from accessctl.web.hr import get_hr_intake, intake_router
from connectors.emulators.control import EmulatorControl
from connectors.emulators.generate import generate_org
from connectors.emulators.hr.gusto import create_app, employee_uuid, records_from_people, signed_event
from connectors.emulators.server import ServerThread
from tests.conftest import sqlite_only
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.test_router import AppClient

TOKEN = "6590f590-3dba-495e-9bea-c361e1e2efc0"  # the subscription's verification_token
COMPANY = "5df911a0-e8e9-412d-8aaf-a46ad193dd96"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PEOPLE = generate_org(12).people
ADA = PEOPLE[10]  # E100011, reports to E100002
ADA_UUID = employee_uuid(COMPANY, ADA.employee_id)


class Gusto:
    def __init__(self, url: str, control: EmulatorControl, employees: dict, terminations: dict) -> None:
        self.url, self.control, self.employees, self.terminations = url, control, employees, terminations

    def terminate(self, effective_date: str, *, active: bool = True) -> None:
        self.employees[ADA_UUID]["terminated"] = True
        self.terminations[ADA_UUID] = [
            {
                "uuid": str(uuid.uuid4()),
                "employee_uuid": ADA_UUID,
                "active": active,
                "cancelable": True,
                "effective_date": effective_date,
                "run_termination_payroll": False,
            }
        ]


@pytest.fixture
def gusto() -> Iterator[Gusto]:
    employees, terminations = records_from_people(PEOPLE, company_uuid=COMPANY)
    control = EmulatorControl()
    with ServerThread(create_app(employees, terminations, control, token="gusto-access-token")) as server:
        yield Gusto(server.url, control, employees, terminations)


@pytest.fixture
def intake(engine: Engine, lifecycle: JobTableLifecycle, gusto: Gusto) -> Iterator[HrIntake]:
    source = GustoSource(
        "gusto", [TOKEN.encode()], gusto.url, "gusto-access-token", COMPANY, "America/New_York"
    )
    with httpx.Client(timeout=5.0) as client:
        yield HrIntake(
            engine, {}, lifecycle, clock=lambda: NOW, gusto={"gusto": source}, vendor_client=client
        )


def _event(
    kind: str = "employee.terminated",
    *,
    event_uuid: str = "03ffbf0c-48a9-4f1c-932a-546413a26ad1",
    employee: str = ADA_UUID,
    company: str = COMPANY,
    key: str = TOKEN,
) -> tuple[dict[str, str], bytes]:
    payload = {
        "uuid": event_uuid,
        "event_type": kind,
        "resource_type": "Company",
        "resource_uuid": company,
        "entity_type": "Employee",
        "entity_uuid": employee,
        "timestamp": int(datetime(2026, 12, 2, 11, 58, tzinfo=UTC).timestamp()),
    }
    body, headers = signed_event(payload, key)
    return headers, body


def _events(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).all()


def _jobs(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(JOBS)).all()


def _client(intake: HrIntake) -> AppClient:
    app = FastAPI()
    app.include_router(intake_router)
    app.dependency_overrides[get_hr_intake] = lambda: intake
    return AppClient(app)


def _add_ada(engine: Engine) -> int:
    return add_person(engine, employee_id=ADA.employee_id, email=ADA.email)


def test_a_termination_in_effect_is_read_back_and_starts_a_leaver_job_once(
    intake: HrIntake, engine: Engine, gusto: Gusto, lifecycle: JobTableLifecycle
) -> None:
    person_id = _add_ada(engine)
    gusto.terminate("2026-12-01")
    client = _client(intake)
    headers, body = _event()
    response = client.post("/v1/hr/gusto", content=body, headers=headers)
    assert (response.status_code, response.json()["status"]) == (202, "applied")
    (row,) = _events(engine)
    # matched by the work email (Gusto has no employee number: its uuid is the employee id)
    assert (row.source, row.source_event_id, row.event_type, row.employee_id, row.email, row.person_id) == (
        "gusto",
        "03ffbf0c-48a9-4f1c-932a-546413a26ad1",
        "employee.terminated",
        ADA_UUID,
        ADA.email,
        person_id,
    )
    assert [type(c) for c in lifecycle.calls] == [StartLeaver]
    (job,) = _jobs(engine)
    assert (job.kind, job.person_id, job.hr_event_id) == ("leaver", person_id, row.id)
    # Gusto retrying the same event changes nothing
    again = client.post("/v1/hr/gusto", content=body, headers=headers)
    assert (again.status_code, again.json()["event_id"]) == (202, response.json()["event_id"])
    assert len(_events(engine)) == 1 and len(_jobs(engine)) == 1 and len(lifecycle.calls) == 1


def test_a_future_termination_is_scheduled_and_its_cancellation_cancels_it(
    intake: HrIntake, engine: Engine, gusto: Gusto, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    gusto.terminate("2026-12-31")
    assert intake.receive_gusto(*_event()).status == "scheduled"
    with engine.connect() as conn:
        fire_at = conn.execute(sa.select(SCHEDULES.c.fire_at)).scalar_one()
    assert fire_at.replace(tzinfo=UTC) == datetime(2027, 1, 1, 5, tzinfo=UTC)  # end of the day in New York
    # HR cancels it in Gusto: the termination read back is no longer active
    gusto.terminations[ADA_UUID][0]["active"] = False
    gusto.employees[ADA_UUID]["terminated"] = False
    cancel = intake.receive_gusto(
        *_event("employee.termination_cancelled", event_uuid="13ffbf0c-48a9-4f1c-932a-546413a26ad1")
    )
    assert cancel.status == "applied"
    with engine.connect() as conn:
        assert conn.execute(sa.select(SCHEDULES.c.state)).scalar_one() == "cancelled"
    assert [r.status for r in _events(engine)] == ["cancelled", "applied"]
    assert lifecycle.calls == [] and _jobs(engine) == []


def test_a_termination_gusto_no_longer_shows_is_only_an_update(
    intake: HrIntake, engine: Engine, gusto: Gusto, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    gusto.terminate("2026-12-01", active=False)  # cancelled before we read it back
    intake.receive_gusto(*_event())
    assert _events(engine)[0].event_type == "employee.updated" and lifecycle.calls == []


@sqlite_only  # refused before the store matters; PostgreSQL is tested on the paths that store
def test_a_failed_read_back_is_retried_then_refused_and_never_acted_on(
    intake: HrIntake, engine: Engine, gusto: Gusto, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    gusto.terminate("2026-12-01")
    gusto.control.set_faults("5xx:1.0")
    headers, body = _event()
    with pytest.raises(FetchBackFailed, match="HTTP 503"):
        intake.receive_gusto(headers, body)
    assert gusto.control.requests == 3 and _events(engine) == [] and lifecycle.calls == []
    response = _client(intake).post("/v1/hr/gusto", content=body, headers=headers)
    assert (response.status_code, response.headers["retry-after"]) == (503, "30")
    assert response.json()["error"] == "retry_later" and intake.rejections == {"fetch_back_failed": 1}
    assert _events(engine) == [] and _jobs(engine) == []
    gusto.control.set_faults(None)  # Gusto's retry succeeds: only now is the leaver started
    assert intake.receive_gusto(headers, body).status == "applied" and len(_jobs(engine)) == 1


def test_a_wrong_access_token_is_not_retried(
    engine: Engine, lifecycle: JobTableLifecycle, gusto: Gusto
) -> None:
    source = GustoSource("gusto", [TOKEN.encode()], gusto.url, "expired-token", COMPANY)
    with httpx.Client(timeout=5.0) as client:
        intake = HrIntake(
            engine, {}, lifecycle, clock=lambda: NOW, gusto={"gusto": source}, vendor_client=client
        )
        with pytest.raises(FetchBackFailed, match="HTTP 401"):
            intake.receive_gusto(*_event())
    assert gusto.control.requests == 1 and _events(engine) == []


BAD_DELIVERIES: list[tuple[dict[str, Any], int, str]] = [
    ({"x-gusto-signature": None}, 401, "missing_signature_header"),
    ({"x-gusto-signature": "sha256=abc"}, 401, "bad_signature"),
    ({"key": "another-token"}, 401, "signature_mismatch"),
    ({"body": b'{"uuid": "tampered"}'}, 401, "signature_mismatch"),
    ({"company": "6df911a0-e8e9-412d-8aaf-a46ad193dd96"}, 422, "wrong_company"),
    ({"kind": "employee.deleted"}, 422, "unsupported_event"),
]


def test_bad_deliveries_are_refused_over_http_and_change_nothing(
    intake: HrIntake, engine: Engine, gusto: Gusto
) -> None:
    _add_ada(engine)
    gusto.terminate("2026-12-01")
    client = _client(intake)
    for case, status, reason in BAD_DELIVERIES:
        change = dict(case)
        headers, body = _event(
            change.pop("kind", "employee.terminated"),
            key=change.pop("key", TOKEN),
            company=change.pop("company", COMPANY),
        )
        body = change.pop("body", body)
        for name, value in change.items():
            headers.pop(name)
            if value is not None:
                headers[name] = value
        response = client.post("/v1/hr/gusto", content=body, headers=headers)
        assert (response.status_code, response.json()["error"]) == (status, reason), case
    assert gusto.control.requests == 0 and _events(engine) == [] and _jobs(engine) == []


def test_an_employee_we_do_not_know_is_unmatched_and_one_gusto_does_not_know_is_refused(
    intake: HrIntake, engine: Engine, gusto: Gusto, lifecycle: JobTableLifecycle
) -> None:
    gusto.terminate("2026-12-01")
    assert intake.receive_gusto(*_event()).status == "unmatched"
    assert lifecycle.calls == []
    with pytest.raises(Rejected, match="unknown_vendor_employee"):
        intake.receive_gusto(
            *_event(
                event_uuid="23ffbf0c-48a9-4f1c-932a-546413a26ad1",
                employee="00000000-0000-4000-8000-000000000000",
            )
        )
    assert len(_events(engine)) == 1


def test_the_subscription_handshake_is_answered_without_storing_or_echoing_the_token(
    intake: HrIntake, engine: Engine
) -> None:
    body = b'{"verification_token": "6590f590-3dba-495e-9bea-c361e1e2efc0", "webhook_subscription_uuid": "x"}'
    response = _client(intake).post(
        "/v1/hr/gusto", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200 and response.json()["status"] == "verification_token_received"
    assert TOKEN not in response.text and _events(engine) == []


def test_a_gusto_source_comes_from_the_config_file_and_a_secret_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine: Engine,
    lifecycle: JobTableLifecycle,
    gusto: Gusto,
) -> None:
    (tmp_path / "gusto.token").write_text(TOKEN + "\n")
    monkeypatch.setenv("GUSTO_ACCESS_TOKEN", "gusto-access-token")
    config = tmp_path / "accessctl.toml"
    config.write_text(
        f'[hr.sources.payroll]\nvendor = "gusto"\nsecret_file = "gusto.token"\napi_url = "{gusto.url}"\n'
        f'api_key_env = "GUSTO_ACCESS_TOKEN"\ncompany_id = "{COMPANY}"\ntimezone = "America/New_York"\n'
    )
    settings = load_settings(config)
    (source,) = gusto_sources(settings.hr).values()
    assert (source.name, source.company_uuid, source.timezone) == ("payroll", COMPANY, "America/New_York")
    assert "gusto-access-token" not in repr(source) and TOKEN not in repr(source)
    intake = HrIntake.from_settings(settings, engine, lifecycle, clock=lambda: NOW)
    _add_ada(engine)
    gusto.terminate("2026-12-01")
    assert intake.receive_gusto(*_event()).status == "applied" and len(_jobs(engine)) == 1


@pytest.mark.parametrize(
    ("kind", "ends", "terminated", "expected"),
    [
        ("employee.created", None, False, "employee.hired"),
        ("employee.terminated", "2026-12-31", True, "employee.terminated"),
        ("employee.termination_effective", "2026-11-30", True, "employee.terminated"),
        ("employee.terminated", None, False, "employee.updated"),  # cancelled before we read it
        ("employee.termination_cancelled", None, False, "employee.termination_cancelled"),
        ("employee.termination_cancelled", "2026-12-31", True, "employee.updated"),  # still active
        ("employee.rehired", None, True, "employee.updated"),  # a rehire not yet effective
        ("employee.rehire_effective", None, False, "employee.rehired"),
        ("employee.onboarded", None, False, "employee.updated"),
    ],
)
def test_what_the_records_read_back_mean(
    kind: str, ends: str | None, terminated: bool, expected: str
) -> None:
    notice = Notice("03ffbf0c-48a9-4f1c-932a-546413a26ad1", kind, NOW, COMPANY, ADA_UUID)
    record = {
        "uuid": ADA_UUID,
        "work_email": "Ada@Example.com",
        "email": "ada@home.example",
        "terminated": terminated,
    }
    event = to_canonical(notice, record, ends=date.fromisoformat(ends) if ends else None, timezone="UTC")
    assert event.type.value == expected
    assert (event.employee.employee_id, event.employee.email) == (ADA_UUID, "ada@example.com")
    assert (event.termination.effective_date.isoformat() if event.termination else None) == (
        ends if expected == "employee.terminated" else None
    )
