"""HiBob webhooks v2: Bob-Signature, the employee read back from the emulator, retries, never a guess."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
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
from accessctl.hr.sources import hibob_sources
from accessctl.hr.store import EVENTS, SCHEDULES
from accessctl.hr.vendors import FetchBackFailed
from accessctl.hr.vendors.hibob import HibobSource, Notice, to_canonical
from accessctl.jobs.tables import JOBS
from accessctl.settings import load_settings
from accessctl.web.hr import get_hr_intake, intake_router
from connectors.emulators.control import EmulatorControl
from connectors.emulators.generate import generate_org
from connectors.emulators.hr.hibob import create_app, records_from_people, signed_webhook
from connectors.emulators.server import ServerThread
from tests.conftest import sqlite_only
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.test_router import AppClient

SECRET = "bob-webhook-secret"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PEOPLE = generate_org(12).people
ADA = PEOPLE[10]  # E100011, reports to E100002


class Bob:
    def __init__(self, url: str, control: EmulatorControl, records: dict[str, Any]) -> None:
        self.url, self.control, self.records = url, control, records
        self.ada_id = next(
            i for i, r in records.items() if r["work"]["employeeIdInCompany"] == ADA.employee_id
        )

    def set(self, **internal: object) -> None:
        self.records[self.ada_id]["internal"].update(internal)


@pytest.fixture
def bob() -> Iterator[Bob]:
    records = records_from_people(PEOPLE)
    control = EmulatorControl()
    with ServerThread(create_app(records, control, service_user_id="SERVICE-1", token="bob-token")) as server:
        yield Bob(server.url, control, records)


@pytest.fixture
def intake(engine: Engine, lifecycle: JobTableLifecycle, bob: Bob) -> Iterator[HrIntake]:
    source = HibobSource(
        "hibob", [SECRET.encode()], bob.url, "SERVICE-1", "bob-token", "1234", "Europe/Berlin"
    )
    with httpx.Client(timeout=5.0) as client:
        yield HrIntake(
            engine, {}, lifecycle, clock=lambda: NOW, hibob={"hibob": source}, vendor_client=client
        )


def _webhook(
    bob: Bob, kind: str = "employee.left", *, secret: str = SECRET, employee: str | None = None
) -> tuple[dict[str, str], bytes]:
    payload = {
        "companyId": 1234,
        "type": kind,
        "triggeredBy": "system",
        "triggeredAt": "2026-12-02T11:58:00.123456",
        "version": "v2",
        "data": {"employeeId": employee or bob.ada_id},
    }
    body, headers = signed_webhook(payload, secret)
    return headers, body


def _events(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(EVENTS)).all()


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


def test_a_leaver_in_bob_is_read_back_and_starts_a_leaver_job_once(
    intake: HrIntake, engine: Engine, bob: Bob, lifecycle: JobTableLifecycle
) -> None:
    person_id = _add_ada(engine)
    bob.set(status="Inactive", terminationDate="2026-12-01")
    accepted = intake.receive_hibob(*_webhook(bob))
    assert accepted.status == "applied"
    (row,) = _events(engine)
    assert (row.source, row.event_type, row.employee_id, row.email, row.manager_employee_id) == (
        "hibob",
        "employee.terminated",
        ADA.employee_id,
        ADA.email,
        "E100002",  # Ada's manager's own employee id, read back from Bob too
    )
    assert [type(c) for c in lifecycle.calls] == [StartLeaver] and lifecycle.calls[0].person_id == person_id
    (job,) = _jobs(engine)
    assert (job.kind, job.person_id, job.hr_event_id) == ("leaver", person_id, row.id)
    # Bob delivering the same webhook again changes nothing
    again = intake.receive_hibob(*_webhook(bob))
    assert again.replay and again.event_id == accepted.event_id
    assert len(_events(engine)) == 1 and len(_jobs(engine)) == 1 and len(lifecycle.calls) == 1


def test_a_termination_dated_ahead_is_scheduled_for_the_end_of_that_day_in_the_sources_zone(
    intake: HrIntake, engine: Engine, bob: Bob, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    bob.set(terminationDate="2026-12-31")  # still Active: Bob sends employee.updated when it is entered
    accepted = intake.receive_hibob(*_webhook(bob, "employee.updated"))
    assert accepted.status == "scheduled" and lifecycle.calls == [] and _jobs(engine) == []
    with engine.connect() as conn:
        fire_at = conn.execute(sa.select(SCHEDULES.c.fire_at)).scalar_one()
    assert fire_at.replace(tzinfo=UTC) == datetime(2026, 12, 31, 23, tzinfo=UTC)  # midnight in Berlin


def test_on_leave_without_a_termination_date_is_not_a_leaver(
    intake: HrIntake, engine: Engine, bob: Bob, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    bob.set(status="Inactive")
    accepted = intake.receive_hibob(*_webhook(bob, "employee.inactivated"))
    assert _events(engine)[0].event_type == "employee.updated" and accepted.status == "applied"
    assert lifecycle.calls == [] and _jobs(engine) == []


@sqlite_only  # refused before the store matters; PostgreSQL is tested on the paths that store
def test_a_failed_read_back_is_retried_then_refused_and_never_acted_on(
    intake: HrIntake, engine: Engine, bob: Bob, lifecycle: JobTableLifecycle
) -> None:
    _add_ada(engine)
    bob.set(status="Inactive", terminationDate="2026-12-01")
    bob.control.set_faults("5xx:1.0")
    headers, body = _webhook(bob)
    with pytest.raises(FetchBackFailed, match="HTTP 503"):
        intake.receive_hibob(headers, body)
    assert bob.control.requests == 3 and _events(engine) == [] and lifecycle.calls == []
    # over HTTP: a 503 with Retry-After, so Bob delivers it again; counted for /metrics
    response = _client(intake).post("/v1/hr/hibob", content=body, headers=headers)
    assert (response.status_code, response.headers["retry-after"]) == (503, "30")
    assert response.json()["error"] == "retry_later" and intake.rejections["fetch_back_failed"] == 1
    assert _events(engine) == [] and _jobs(engine) == []
    bob.control.set_faults(None)  # Bob's retry then succeeds, and only then is the leaver started
    response = _client(intake).post("/v1/hr/hibob", content=body, headers=headers)
    assert (response.status_code, response.json()["status"]) == (202, "applied")
    assert len(_jobs(engine)) == 1


BAD_DELIVERIES: list[tuple[dict[str, Any], int, str]] = [
    ({"bob-signature": None}, 401, "missing_signature_header"),
    ({"bob-signature": "bm90IGEgc2lnbmF0dXJl"}, 401, "bad_signature"),
    ({"secret": "another-secret"}, 401, "signature_mismatch"),
    ({"body": b'{"tampered": true}'}, 401, "signature_mismatch"),
    ({"content-type": "text/plain"}, 415, "unsupported_media_type"),
]


def test_bad_signatures_are_refused_over_http_before_any_read_back(
    intake: HrIntake, engine: Engine, bob: Bob
) -> None:
    _add_ada(engine)
    bob.set(status="Inactive", terminationDate="2026-12-01")
    client = _client(intake)
    for case, status, reason in BAD_DELIVERIES:
        change = dict(case)
        headers, body = _webhook(bob, secret=change.pop("secret", SECRET))
        body = change.pop("body", body)
        for name, value in change.items():
            headers.pop(name)
            if value is not None:
                headers[name] = value
        response = client.post("/v1/hr/hibob", content=body, headers=headers)
        assert (response.status_code, response.json()["error"]) == (status, reason), case
    assert bob.control.requests == 0 and _events(engine) == [] and _jobs(engine) == []
    assert intake.rejections == {
        "missing_signature_header": 1,
        "bad_signature": 1,
        "signature_mismatch": 2,
        "unsupported_media_type": 1,
    }


def test_an_employee_we_do_not_know_is_stored_unmatched_and_one_bob_does_not_know_is_refused(
    intake: HrIntake, engine: Engine, bob: Bob, lifecycle: JobTableLifecycle
) -> None:
    bob.set(status="Inactive", terminationDate="2026-12-01")
    assert intake.receive_hibob(*_webhook(bob)).status == "unmatched"  # Ada is not in our roster
    assert lifecycle.calls == []
    with pytest.raises(Rejected, match="unknown_vendor_employee"):
        intake.receive_hibob(*_webhook(bob, employee="999"))
    with pytest.raises(Rejected, match="unsupported_event"):
        intake.receive_hibob(*_webhook(bob, "employee.deleted"))
    assert len(_events(engine)) == 1


def test_a_delivery_for_another_company_is_refused(intake: HrIntake, engine: Engine, bob: Bob) -> None:
    payload = {
        "companyId": 99,
        "type": "employee.left",
        "triggeredAt": "2026-12-02T11:58:00",
        "version": "v2",
    }
    body, headers = signed_webhook({**payload, "data": {"employeeId": bob.ada_id}}, SECRET)
    with pytest.raises(Rejected, match="wrong_company"):
        intake.receive_hibob(headers, body)
    assert bob.control.requests == 0 and _events(engine) == []


def test_bobs_connection_test_is_answered_and_stores_nothing(intake: HrIntake, engine: Engine) -> None:
    client = _client(intake)
    for body, kind in ((b"Ping test", "text/plain"), (b'{"text":"Ping test"}', "application/json")):
        response = client.post("/v1/hr/hibob", content=body, headers={"content-type": kind})
        assert (response.status_code, response.json()) == (200, {"status": "pong"})
    assert _events(engine) == []


def test_a_hibob_source_comes_from_the_config_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine, lifecycle: JobTableLifecycle, bob: Bob
) -> None:
    monkeypatch.setenv("BOB_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BOB_SERVICE_TOKEN", "bob-token")
    config = tmp_path / "accessctl.toml"
    config.write_text(
        f'[hr.sources.bob]\nvendor = "hibob"\nsecret_env = "BOB_WEBHOOK_SECRET"\napi_url = "{bob.url}"\n'
        'api_user = "SERVICE-1"\napi_key_env = "BOB_SERVICE_TOKEN"\ncompany_id = "1234"\n'
        'timezone = "Europe/Berlin"\n'
    )
    settings = load_settings(config)
    (source,) = hibob_sources(settings.hr).values()
    assert (source.name, source.service_user_id, source.company_id) == ("bob", "SERVICE-1", "1234")
    assert "bob-token" not in repr(source) and SECRET not in repr(source)
    assert {"bob-token", SECRET} <= set(settings.secret_values())
    intake = HrIntake.from_settings(settings, engine, lifecycle, clock=lambda: NOW)
    _add_ada(engine)
    bob.set(status="Inactive", terminationDate="2026-12-01")
    assert intake.receive_hibob(*_webhook(bob)).status == "applied" and len(_jobs(engine)) == 1


@pytest.mark.parametrize(
    ("kind", "internal", "expected"),
    [
        ("employee.created", {"status": "Active"}, ("employee.hired", None)),
        ("employee.joined", {"status": "Active"}, ("employee.hired", None)),
        (
            "employee.left",
            {"status": "Inactive", "terminationDate": "2026-11-30"},
            ("employee.terminated", "2026-11-30"),
        ),
        ("employee.left", {"status": "Inactive"}, ("employee.terminated", "immediate")),
        (
            "employee.updated",
            {"status": "Active", "terminationDate": "2027-01-15"},
            ("employee.terminated", "2027-01-15"),
        ),
        ("employee.inactivated", {"status": "Inactive"}, ("employee.updated", None)),  # on leave
        # rehired: Bob keeps the old termination date, the employee is active again
        (
            "employee.activated",
            {"status": "Active", "terminationDate": "2026-06-30"},
            ("employee.rehired", None),
        ),
        (
            "employee.updated",
            {"status": "Active", "terminationDate": "2026-06-30"},
            ("employee.updated", None),
        ),
    ],
)
def test_what_the_record_read_back_means(kind: str, internal: dict[str, str], expected: tuple) -> None:
    notice = Notice(kind, NOW, "1234", "1")
    record = {
        "id": "1",
        "email": "Ada@Example.com",
        "work": {"employeeIdInCompany": "E1"},
        "internal": internal,
    }
    event = to_canonical(notice, record, manager_number=None, timezone="Europe/Berlin", today=NOW.date())
    term = event.termination
    when = None if term is None else ("immediate" if term.immediate else str(term.effective_date))
    assert (event.type.value, when) == expected
    assert (event.employee.employee_id, event.employee.email) == ("E1", "ada@example.com")
