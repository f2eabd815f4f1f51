"""What a person's HR events mean, whatever order they arrived in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from accessctl.hr.decide import (
    AddPerson,
    CancelSchedule,
    Fact,
    PersonFields,
    QueueRestoreForAdmin,
    RecordMove,
    ScheduleLeaver,
    SetStatus,
    StartLeaver,
    StartRestore,
    Status,
    UpdatePerson,
    decide_terminations,
    decide_update,
)
from accessctl.hr.events import Employee, EventType

T, C, R = EventType.TERMINATED, EventType.TERMINATION_CANCELLED, EventType.REHIRED
NOW = datetime(2026, 12, 10, tzinfo=UTC)


def day(n: int) -> datetime:
    return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=n - 1)


def fact(event_id: int, type_: EventType, occurred: int, effective: int | None = None, **kw) -> Fact:  # type: ignore[no-untyped-def]
    return Fact(event_id, type_, day(occurred), day(effective or occurred), **kw)


def kinds(decisions: list) -> list[str]:  # type: ignore[type-arg]
    return [type(d).__name__ for d in decisions if not isinstance(d, SetStatus)]


def statuses(decisions: list) -> dict[int, Status]:  # type: ignore[type-arg]
    return {d.hr_event_id: d.status for d in decisions if isinstance(d, SetStatus)}


def test_a_termination_already_in_effect_is_a_leaver_now() -> None:
    decisions = decide_terminations(7, [fact(1, T, 2, 3)], now=NOW)
    assert decisions[0] == StartLeaver(7, 1, day(3), decisions[0].reason)
    assert statuses(decisions) == {1: Status.APPLIED}


def test_a_future_termination_is_scheduled_at_its_effective_time() -> None:
    decisions = decide_terminations(7, [fact(1, T, 2, 31)], now=NOW)
    assert [d for d in decisions if isinstance(d, ScheduleLeaver)] == [ScheduleLeaver(7, 1, day(31), "")]
    assert statuses(decisions) == {1: Status.SCHEDULED}


def test_deciding_again_after_it_was_done_changes_nothing() -> None:
    done = [fact(1, T, 2, 31, status=Status.SCHEDULED, scheduled_for=day(31))]
    assert decide_terminations(7, done, now=NOW) == []
    applied = [fact(1, T, 2, 3, status=Status.APPLIED, job_id=40)]
    assert decide_terminations(7, applied, now=NOW) == []


def test_a_schedule_fires_when_its_time_comes_and_is_closed_by_the_leaver() -> None:
    scheduled = [fact(1, T, 2, 31, status=Status.SCHEDULED, scheduled_for=day(31))]
    decisions = decide_terminations(7, scheduled, now=day(31))
    assert kinds(decisions) == ["StartLeaver"] and decisions[0].from_schedule


def test_a_cancellation_cancels_its_termination_in_every_arrival_order() -> None:
    term, cancel = fact(1, T, 2, 31), fact(2, C, 5)
    for arrived in itertools.permutations([term, cancel]):
        decisions = decide_terminations(7, list(arrived), now=NOW)
        assert kinds(decisions) == []
        assert statuses(decisions) == {1: Status.CANCELLED, 2: Status.APPLIED}


def test_a_cancellation_alone_waits_then_cancels_the_termination_arriving_after_it() -> None:
    alone = decide_terminations(7, [fact(2, C, 5)], now=NOW)
    assert statuses(alone) == {2: Status.MATCHED}
    later = decide_terminations(7, [fact(2, C, 5, status=Status.MATCHED), fact(1, T, 2, 31)], now=NOW)
    assert kinds(later) == [] and statuses(later) == {1: Status.CANCELLED, 2: Status.APPLIED}


def test_a_cancellation_closes_an_open_schedule() -> None:
    facts = [fact(1, T, 2, 31, status=Status.SCHEDULED, scheduled_for=day(31)), fact(2, C, 5)]
    decisions = decide_terminations(7, facts, now=NOW)
    assert [d for d in decisions if isinstance(d, CancelSchedule)] == [
        CancelSchedule(1, "cancelled", "cancelled by event 2 before it took effect")
    ]


def test_a_rehire_before_the_effective_time_cancels_the_schedule() -> None:
    facts = [fact(1, T, 2, 31, status=Status.SCHEDULED, scheduled_for=day(31)), fact(2, R, 6)]
    decisions = decide_terminations(7, facts, now=NOW)
    assert kinds(decisions) == ["CancelSchedule"]


def test_a_rehire_after_the_leaver_ran_restores_in_either_arrival_order() -> None:
    term, rehire = fact(1, T, 2, 3), fact(2, R, 8)
    for arrived in itertools.permutations([term, rehire]):
        decisions = decide_terminations(7, list(arrived), now=NOW)
        assert kinds(decisions) == ["StartLeaver", "StartRestore"]
        assert next(d for d in decisions if isinstance(d, StartRestore)).terminated_by == 1


def test_with_rehire_review_the_restore_waits_for_an_admin() -> None:
    facts = [fact(1, T, 2, 3, status=Status.APPLIED, job_id=40), fact(2, R, 8)]
    decisions = decide_terminations(7, facts, now=NOW, rehire="review")
    assert kinds(decisions) == ["QueueRestoreForAdmin"]
    queued = [
        fact(1, T, 2, 3, status=Status.APPLIED, job_id=40),
        fact(2, R, 8, status=Status.APPLIED, needs_admin=True),
    ]
    assert decide_terminations(7, queued, now=NOW, rehire="review") == []


def test_a_cancellation_that_reaches_us_after_its_leaver_ran_asks_for_a_restore() -> None:
    # HR cancelled on the 3rd, before the 4th; the leaver fired on the 4th; the cancellation came later
    facts = [fact(1, T, 2, 4, status=Status.APPLIED, job_id=40), fact(2, C, 3)]
    decisions = decide_terminations(7, facts, now=NOW)
    assert kinds(decisions) == ["StartRestore"]
    assert statuses(decisions)[1] is Status.CANCELLED


def test_a_cancellation_after_the_termination_took_effect_is_for_an_admin() -> None:
    facts = [fact(1, T, 2, 3, status=Status.APPLIED, job_id=40), fact(2, C, 8)]
    assert kinds(decide_terminations(7, facts, now=NOW)) == ["QueueRestoreForAdmin"]


def test_a_corrected_date_supersedes_the_first_one() -> None:
    first = fact(1, T, 2, 31, status=Status.SCHEDULED, scheduled_for=day(31))
    corrected = fact(2, T, 5, 20)
    decisions = decide_terminations(7, [first, corrected], now=NOW)
    assert ScheduleLeaver(7, 2, day(20), "") in decisions
    assert CancelSchedule(1, "superseded", "superseded by event 2") in decisions
    assert statuses(decisions) == {1: Status.SUPERSEDED, 2: Status.SCHEDULED}


def test_events_apply_in_effective_order_not_arrival_order() -> None:
    # terminated (effective the 3rd), rehired the 6th, terminated again effective the 31st
    facts = [fact(3, T, 8, 31), fact(2, R, 6), fact(1, T, 2, 3)]
    decisions = decide_terminations(7, facts, now=NOW)
    assert kinds(decisions) == ["StartLeaver", "StartRestore", "ScheduleLeaver"]


def test_a_second_termination_while_terminated_is_superseded() -> None:
    facts = [fact(1, T, 2, 3, job_id=40, status=Status.APPLIED), fact(2, T, 5, 5)]
    decisions = decide_terminations(7, facts, now=NOW)
    assert kinds(decisions) == [] and statuses(decisions) == {2: Status.SUPERSEDED}


def test_a_rehire_of_someone_never_terminated_does_nothing() -> None:
    decisions = decide_terminations(7, [fact(1, R, 3)], now=NOW)
    assert kinds(decisions) == [] and statuses(decisions) == {1: Status.MATCHED}


ADA = PersonFields(7, "ada@example.com", "E1", "Eng", "Engineer")


def _update(**fields: str | None) -> Employee:
    return Employee("E100", "ada@example.com", **fields)  # type: ignore[arg-type]


def test_a_new_manager_is_a_mover() -> None:
    decisions = decide_update(
        ADA,
        hr_event_id=5,
        event_type=EventType.UPDATED,
        occurred_at=day(3),
        employee=_update(manager_employee_id="E2", department="Eng"),
        newer_update=None,
    )
    assert UpdatePerson(7, 5, {"manager_employee_id": "E2"}) in decisions
    assert RecordMove(7, 5, day(3), "E1", "E2", "Eng", "Eng") in decisions


def test_a_new_title_only_is_no_mover_and_absent_fields_are_not_cleared() -> None:
    decisions = decide_update(
        ADA,
        hr_event_id=5,
        event_type=EventType.UPDATED,
        occurred_at=day(3),
        employee=_update(title="Staff Engineer"),
        newer_update=None,
    )
    assert kinds(decisions) == ["UpdatePerson"] and decisions[0].changes == {"title": "Staff Engineer"}


def test_an_older_update_arriving_late_is_superseded() -> None:
    decisions = decide_update(
        ADA,
        hr_event_id=5,
        event_type=EventType.UPDATED,
        occurred_at=day(3),
        employee=_update(manager_employee_id="E9"),
        newer_update=6,
    )
    assert decisions == [SetStatus(5, Status.SUPERSEDED, "superseded by event 6")]


def test_a_hire_of_someone_unknown_adds_them_and_an_unknown_update_is_unmatched() -> None:
    hire = decide_update(
        None,
        hr_event_id=5,
        event_type=EventType.HIRED,
        occurred_at=day(3),
        employee=_update(),
        newer_update=None,
    )
    assert isinstance(hire[0], AddPerson)
    update = decide_update(
        None,
        hr_event_id=5,
        event_type=EventType.UPDATED,
        occurred_at=day(3),
        employee=_update(),
        newer_update=None,
    )
    assert statuses(update) == {5: Status.UNMATCHED}


def test_queue_for_admin_is_a_distinct_decision() -> None:
    assert QueueRestoreForAdmin(1, 2, 3, "r") != StartRestore(1, 2, 3, "r")
