"""HR events in the store, on SQLite and PostgreSQL: dedupe, ordering, schedules, movers, unmatched."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.hr.events import parse_body
from accessctl.hr.rejections import Rejected
from accessctl.hr.store import EVENTS, MOVES, PEOPLE, SCHEDULES, fire_due, record_event, rematch_unmatched
from accessctl.jobs.tables import JOBS
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.helpers import NOW, encode, event


def _send(
    engine: Engine,
    lifecycle: JobTableLifecycle,
    body: dict[str, Any],
    *,
    webhook_id: str | None = None,
    now: datetime = NOW,
    rehire: str = "restore",
):  # type: ignore[no-untyped-def]
    raw = encode(body)
    parsed = parse_body(raw, "application/json", now=now)
    with engine.begin() as conn:
        return record_event(
            conn,
            source="workday",
            webhook_id=webhook_id or f"msg_{body['id']}",
            event=parsed,
            digest=hashlib.sha256(raw).hexdigest(),
            now=now,
            rehire=rehire,  # type: ignore[arg-type]
            lifecycle=lifecycle,
        )


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (EVENTS, SCHEDULES, MOVES, JOBS, PEOPLE)
        )


def _status(engine: Engine, event_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.select(EVENTS.c.status).where(EVENTS.c.id == event_id)).scalar_one()


def _person(engine: Engine, employee_id: str = "E100") -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(PEOPLE).where(PEOPLE.c.employee_id == employee_id)).one()


def test_an_immediate_termination_starts_one_leaver_job(engine: Engine, lifecycle: JobTableLifecycle) -> None:
    add_person(engine)
    accepted = _send(engine, lifecycle, event(termination={"immediate": True}))
    assert (accepted.status, accepted.replay) == ("applied", False)
    assert [type(c).__name__ for c in lifecycle.calls] == ["StartLeaver"]
    with engine.connect() as conn:
        job = conn.execute(sa.select(JOBS)).one()
        row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == accepted.event_id)).one()
    assert (job.kind, job.hr_event_id, row.job_id) == ("leaver", accepted.event_id, job.id)
    assert _person(engine).status == "terminated"


def test_a_replay_returns_the_first_answer_and_changes_nothing(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    body = event(termination={"immediate": True})
    first = _send(engine, lifecycle, body)
    before = _counts(engine)
    again = _send(engine, lifecycle, body)  # same event id, same webhook-id
    other_delivery = _send(engine, lifecycle, body, webhook_id="msg_retry")  # same event id
    assert (again.event_id, again.status, again.replay) == (first.event_id, first.status, True)
    assert other_delivery.event_id == first.event_id and other_delivery.replay
    assert _counts(engine) == before and len(lifecycle.calls) == 1


def test_a_reused_id_with_another_body_is_refused(engine: Engine, lifecycle: JobTableLifecycle) -> None:
    add_person(engine)
    _send(engine, lifecycle, event(termination={"immediate": True}))
    before = _counts(engine)
    with pytest.raises(Rejected) as caught:
        _send(engine, lifecycle, event("employee.rehired"))
    assert (caught.value.status, caught.value.reason) == (409, "replay_mismatch")
    with pytest.raises(Rejected):  # a new event id but a webhook-id already used for another body
        _send(engine, lifecycle, event("employee.rehired", id_="evt_9"), webhook_id="msg_evt_1")
    assert _counts(engine) == before


@pytest.mark.parametrize(
    ("termination", "refused"),
    [
        ({"effective_date": "2021-03-31", "timezone": "Europe/Paris"}, True),
        ({"effective_at": "2021-03-31T23:30:00Z", "timezone": "Europe/Paris"}, False),  # 1 April there
        ({"effective_at": "2021-03-31T23:30:00Z"}, True),
        ({"effective_date": "2021-04-01", "timezone": "Europe/Paris"}, False),  # the hire day itself
        ({"immediate": True}, False),  # an offer withdrawn before the start date: still a leaver
    ],
)
def test_a_termination_dated_before_the_hire_date_is_refused(
    engine: Engine, lifecycle: JobTableLifecycle, termination: dict[str, Any], refused: bool
) -> None:
    add_person(engine, hire_date=datetime(2021, 4, 1).date())
    before = _counts(engine)
    if not refused:
        assert _send(engine, lifecycle, event(termination=termination)).status == "applied"
        return
    with pytest.raises(Rejected) as caught:
        _send(engine, lifecycle, event(termination=termination))
    assert (caught.value.status, caught.value.reason) == (422, "effective_before_hire")
    assert "2021-04-01" in caught.value.message
    assert _counts(engine) == before and lifecycle.calls == []


def test_a_cancellation_arriving_before_its_termination_still_cancels_it(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    cancel = _send(
        engine,
        lifecycle,
        event("employee.termination_cancelled", id_="evt_c", occurred_at="2026-12-02T11:30:00Z"),
    )
    assert cancel.status == "matched"
    term = _send(
        engine,
        lifecycle,
        event(termination={"effective_date": "2026-12-31", "timezone": "Europe/Paris"}),
    )
    assert term.status == "cancelled" and _status(engine, cancel.event_id) == "applied"
    assert lifecycle.calls == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(SCHEDULES)).all() == []
    # and nothing fires at the date
    with engine.begin() as conn:
        assert (
            fire_due(conn, now=datetime(2027, 1, 2, tzinfo=UTC), rehire="restore", lifecycle=lifecycle) == 0
        )


def test_a_future_termination_fires_at_the_end_of_the_day_in_the_employees_zone(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    # New York falls back on 7 November 2027: that day lasts 25 hours and ends at 05:00 UTC on the 8th
    accepted = _send(
        engine, lifecycle, event(termination={"effective_date": "2027-11-07", "timezone": "America/New_York"})
    )
    assert accepted.status == "scheduled"
    with engine.connect() as conn:
        schedule = conn.execute(sa.select(SCHEDULES)).one()
    fire_at = datetime(2027, 11, 8, 5, tzinfo=UTC)
    assert schedule.fire_at.replace(tzinfo=UTC) == fire_at and schedule.state == "scheduled"
    assert str(_person(engine).termination_date) == "2027-11-07" and _person(engine).status == "active"
    with engine.begin() as conn:
        assert fire_due(conn, now=fire_at - timedelta(seconds=1), rehire="restore", lifecycle=lifecycle) == 0
    with engine.begin() as conn:
        assert fire_due(conn, now=fire_at, rehire="restore", lifecycle=lifecycle) == 1
    with engine.begin() as conn:  # firing again does nothing
        assert fire_due(conn, now=fire_at + timedelta(hours=1), rehire="restore", lifecycle=lifecycle) == 0
    with engine.connect() as conn:
        schedule = conn.execute(sa.select(SCHEDULES)).one()
    assert schedule.state == "fired" and schedule.job_id is not None
    assert _status(engine, accepted.event_id) == "applied" and _person(engine).status == "terminated"


def test_a_rehire_before_the_date_cancels_the_schedule_and_after_it_restores(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    add_person(engine, "E200", "bob@example.com")
    termination = {"effective_at": "2026-12-20T17:00:00Z"}
    _send(engine, lifecycle, event(termination=termination))
    rehire = _send(engine, lifecycle, event("employee.rehired", id_="evt_r"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(SCHEDULES.c.state)).scalar_one() == "cancelled"
    assert rehire.status == "applied" and lifecycle.calls == []
    # Bob: terminated at once, rehired later: a restore job
    _send(engine, lifecycle, event(id_="evt_b1", employee_id="E200", email="bob@example.com"))
    later = NOW + timedelta(days=3)
    _send(
        engine,
        lifecycle,
        event(
            "employee.rehired",
            id_="evt_b2",
            employee_id="E200",
            email="bob@example.com",
            occurred_at="2026-12-05T09:00:00Z",
        ),
        now=later,
    )
    assert [type(c).__name__ for c in lifecycle.calls] == ["StartLeaver", "StartRestore"]
    assert _person(engine, "E200").status == "active"


def test_with_rehire_review_the_restore_is_queued_for_an_admin(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    _send(engine, lifecycle, event())
    rehire = _send(
        engine,
        lifecycle,
        event("employee.rehired", id_="evt_r", occurred_at="2026-12-05T09:00:00Z"),
        now=NOW + timedelta(days=3),
        rehire="review",
    )
    assert [type(c).__name__ for c in lifecycle.calls] == ["StartLeaver"]
    with engine.connect() as conn:
        row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == rehire.event_id)).one()
    assert row.needs_admin and "accessctl restore" in row.note and row.job_id is None


def test_an_unknown_employee_is_stored_unmatched_then_matched_after_the_roster_knows_them(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    accepted = _send(
        engine, lifecycle, event(termination={"immediate": True}, employee_id="E404", email="x@example.com")
    )
    assert accepted.status == "unmatched" and lifecycle.calls == []
    add_person(engine, "E404", "someone@example.com")  # the roster import brings them
    with engine.begin() as conn:
        assert rematch_unmatched(conn, now=NOW, rehire="restore", lifecycle=lifecycle) == 1
    assert _status(engine, accepted.event_id) == "applied" and len(lifecycle.calls) == 1


def test_people_are_matched_by_employee_id_then_by_a_unique_email(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine, "E1", "ada@example.com")
    by_email = _send(
        engine,
        lifecycle,
        event(termination={"immediate": True}, employee_id="HR-77", email="ADA@example.com"),
    )
    assert by_email.status == "applied"
    add_person(engine, "E2", "shared@example.com")
    add_person(engine, "E3", "shared@example.com")
    ambiguous = _send(engine, lifecycle, event(id_="evt_2", employee_id="HR-78", email="shared@example.com"))
    assert ambiguous.status == "unmatched"


def test_an_employee_id_and_another_persons_email_act_on_the_employee_id_and_say_so(
    engine: Engine, lifecycle: JobTableLifecycle, caplog: pytest.LogCaptureFixture
) -> None:
    ada = add_person(engine, "E1", "ada@example.com")
    grace = add_person(engine, "E2", "grace@example.com")
    with caplog.at_level("WARNING", logger="accessctl.hr"):
        accepted = _send(
            engine,
            lifecycle,
            event(termination={"immediate": True}, employee_id="E1", email="Grace@example.com"),
        )
    assert accepted.status == "applied"
    assert [c.person_id for c in lifecycle.calls] == [ada]  # the employee id decides
    assert _person(engine, "E1").status == "terminated" and _person(engine, "E2").status == "active"
    with engine.connect() as conn:
        details = conn.execute(
            sa.text("SELECT details FROM audit_event WHERE action = 'hr.event.received'")
        ).scalar_one()
    details = json.loads(details) if isinstance(details, str) else details
    assert details["email_is_person"] == grace
    assert [r.getMessage() for r in caplog.records] == [
        f"HR event {accepted.event_id}: employee id E1 is person {ada}, but its email is person "
        f"{grace}'s; acted on the employee id (check the HR record)"
    ]
    # the same email in another case is the same person: nothing said
    caplog.clear()
    add_person(engine, "E3", "Linus@Example.com")
    with caplog.at_level("WARNING", logger="accessctl.hr"):
        _send(
            engine,
            lifecycle,
            event(id_="evt_3", termination={"immediate": True}, employee_id="E3", email="linus@example.com"),
        )
    assert caplog.records == []


def test_a_new_manager_is_recorded_as_a_mover_and_in_the_roster(
    engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine, manager_employee_id="E1", department="Eng")
    accepted = _send(engine, lifecycle, event("employee.updated", manager_employee_id="E2", department="Eng"))
    assert accepted.status == "applied"
    with engine.connect() as conn:
        move = conn.execute(sa.select(MOVES)).one()
        audit = conn.execute(sa.text("SELECT action FROM audit_event WHERE action = 'person.moved'")).all()
    assert (move.old_manager_employee_id, move.new_manager_employee_id) == ("E1", "E2")
    assert len(audit) == 1 and _person(engine).manager_employee_id == "E2"
    # an older update arriving late changes nothing
    late = _send(
        engine,
        lifecycle,
        event(
            "employee.updated", id_="evt_old", occurred_at="2026-12-01T08:00:00Z", manager_employee_id="E9"
        ),
    )
    assert late.status == "superseded" and _person(engine).manager_employee_id == "E2"


def test_a_hire_adds_the_person_to_the_roster(engine: Engine, lifecycle: JobTableLifecycle) -> None:
    accepted = _send(
        engine,
        lifecycle,
        event("employee.hired", employee_id="E500", email="new@example.com", department="Ops"),
    )
    assert accepted.status == "applied"
    person = _person(engine, "E500")
    assert (person.email, person.department, person.status) == ("new@example.com", "Ops", "active")
