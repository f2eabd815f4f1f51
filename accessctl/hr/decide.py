"""What HR events mean for one person, as data: pure functions, no store, no clock of their own.

Terminations, cancellations and rehires are read together, never in arrival order:

- a cancellation or rehire **voids** every termination HR issued before it that had not yet taken
  effect when it was issued (so a cancellation that arrives before its termination still cancels it);
- of two terminations still standing, the later-issued one **supersedes** the earlier one when it
  came before the earlier one took effect (HR corrected the date);
- what stands is then applied in order of effective time, then occurred time: a termination makes
  the person a leaver (now when its time has come, else scheduled for it); a rehire after a
  termination took effect restores them (or queues the restore for an admin).

:func:`decide_terminations` compares what should be with what the store holds (jobs started,
schedules open) and returns only what is left to do, so deciding again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from accessctl.hr.events import Employee, EventType


class Status(StrEnum):
    RECEIVED = "received"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    SCHEDULED = "scheduled"
    APPLIED = "applied"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


RehireMode = Literal["restore", "review"]


@dataclass(frozen=True, slots=True)
class Fact:
    """One stored event about a person, with what has already been done for it."""

    event_id: int
    type: EventType
    occurred_at: datetime
    #: when it takes effect: a termination's effective instant, else occurred_at
    effective_at: datetime
    status: Status = Status.RECEIVED
    job_id: int | None = None
    needs_admin: bool = False
    #: the fire time of this termination's open schedule, if it has one
    scheduled_for: datetime | None = None
    #: the effective time as HR gave it (for people to read)
    effective_local: str = ""

    @property
    def key(self) -> tuple[datetime, int]:
        """HR's own order of issue."""
        return (self.occurred_at, self.event_id)


# --- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartLeaver:
    """Lock the person out now: hand a leaver job to the engine (``Lifecycle.start_leaver``)."""

    person_id: int
    hr_event_id: int
    effective_at: datetime
    reason: str
    #: this fires the termination's schedule (which then becomes "fired")
    from_schedule: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleLeaver:
    """A future-dated termination: fire at ``fire_at`` (UTC), re-deciding then."""

    person_id: int
    hr_event_id: int
    fire_at: datetime
    effective_local: str


@dataclass(frozen=True, slots=True)
class CancelSchedule:
    hr_event_id: int
    state: Literal["cancelled", "superseded"]
    reason: str


@dataclass(frozen=True, slots=True)
class StartRestore:
    """Give back what the leaver of ``terminated_by`` took: a restore job (``Lifecycle.start_restore``)."""

    person_id: int
    hr_event_id: int
    terminated_by: int
    reason: str


@dataclass(frozen=True, slots=True)
class QueueRestoreForAdmin:
    """A restore an admin decides on (``hr.rehire = "review"``, or a cancellation that came too late)."""

    person_id: int
    hr_event_id: int
    terminated_by: int
    reason: str


@dataclass(frozen=True, slots=True)
class SetStatus:
    hr_event_id: int
    status: Status
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AddPerson:
    """A hire HR told us of: the person joins the roster (accounts link at the next sync)."""

    hr_event_id: int
    employee: Employee


@dataclass(frozen=True, slots=True)
class UpdatePerson:
    person_id: int
    hr_event_id: int
    changes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordMove:
    """A mover: a new manager or department.  Recorded in the person's history, and a ``person.moved``
    event for the review of their privileged access by the new manager."""

    person_id: int
    hr_event_id: int
    moved_at: datetime
    old_manager_employee_id: str | None
    new_manager_employee_id: str | None
    old_department: str | None
    new_department: str | None


Decision = (
    StartLeaver
    | ScheduleLeaver
    | CancelSchedule
    | StartRestore
    | QueueRestoreForAdmin
    | SetStatus
    | AddPerson
    | UpdatePerson
    | RecordMove
)

_UNDOING = (EventType.TERMINATION_CANCELLED, EventType.REHIRED)


def _voider(term: Fact, undoing: Sequence[Fact]) -> Fact | None:
    """The first cancellation or rehire HR issued after ``term`` and before it took effect."""
    for undo in undoing:
        if term.key < undo.key and undo.occurred_at < term.effective_at:
            return undo
    return None


def _restore(person_id: int, event: Fact, terminated_by: Fact, reason: str, *, admin: bool) -> list[Decision]:
    if event.job_id is not None or event.needs_admin:
        return []
    kind = QueueRestoreForAdmin if admin else StartRestore
    return [kind(person_id, event.event_id, terminated_by.event_id, reason)]


def decide_terminations(
    person_id: int, facts: Sequence[Fact], *, now: datetime, rehire: RehireMode = "restore"
) -> list[Decision]:
    """What is left to do about one person's terminations, cancellations and rehires."""
    ordered = sorted((f for f in facts if f.type in (EventType.TERMINATED, *_UNDOING)), key=lambda f: f.key)
    terms = [f for f in ordered if f.type is EventType.TERMINATED]
    undoing = [f for f in ordered if f.type in _UNDOING]
    decisions: list[Decision] = []
    status: dict[int, tuple[Status, str | None]] = {}
    wanted_schedule: dict[int, datetime] = {}
    voided_something: set[int] = set()

    standing: list[Fact] = []
    for term in terms:
        undo = _voider(term, undoing)
        if undo is None:
            standing.append(term)
            continue
        voided_something.add(undo.event_id)
        status[term.event_id] = (
            Status.CANCELLED,
            f"cancelled by event {undo.event_id} before it took effect",
        )
        if term.job_id is not None:  # the leaver ran before the cancellation reached us
            reason = f"termination {term.event_id} was cancelled before it took effect, but its leaver ran"
            decisions += _restore(person_id, undo, term, reason, admin=rehire == "review")
    superseded: dict[int, Fact] = {}
    for earlier in standing:
        for later in standing:
            if earlier.key < later.key and later.occurred_at < earlier.effective_at:
                superseded.setdefault(earlier.event_id, later)
    for term_id, later in superseded.items():
        status[term_id] = (Status.SUPERSEDED, f"superseded by event {later.event_id}")

    Step = tuple[datetime, datetime, int, Fact]
    steps: list[Step] = [
        (t.effective_at, t.occurred_at, t.event_id, t) for t in standing if t.event_id not in superseded
    ]
    steps += [(u.occurred_at, u.occurred_at, u.event_id, u) for u in undoing]
    terminated: Fact | None = None
    for _, _, _, fact in sorted(steps, key=lambda s: s[:3]):
        if fact.type is EventType.TERMINATED:
            if terminated is not None:
                status[fact.event_id] = (
                    Status.SUPERSEDED,
                    f"already terminated by event {terminated.event_id}",
                )
                continue
            terminated = fact
            if fact.effective_at <= now:
                status[fact.event_id] = (Status.APPLIED, None)
                if fact.job_id is None:
                    reason = f"HR termination (event {fact.event_id}, effective {fact.effective_local})"
                    decisions.append(
                        StartLeaver(
                            person_id,
                            fact.event_id,
                            fact.effective_at,
                            reason,
                            from_schedule=fact.scheduled_for is not None,
                        )
                    )
            else:
                status[fact.event_id] = (Status.SCHEDULED, None)
                wanted_schedule[fact.event_id] = fact.effective_at
                if fact.scheduled_for != fact.effective_at:
                    decisions.append(
                        ScheduleLeaver(person_id, fact.event_id, fact.effective_at, fact.effective_local)
                    )
            continue
        took_effect = terminated is not None and terminated.effective_at <= now
        if terminated is not None and took_effect:
            if fact.type is EventType.REHIRED:
                reason = (
                    f"rehired (event {fact.event_id}) after termination {terminated.event_id} took effect"
                )
                decisions += _restore(person_id, fact, terminated, reason, admin=rehire == "review")
            else:
                reason = f"termination {terminated.event_id} was cancelled after it took effect"
                decisions += _restore(person_id, fact, terminated, reason, admin=True)
            status[fact.event_id] = (Status.APPLIED, None)
            terminated = None
        elif fact.event_id in voided_something:
            status[fact.event_id] = (Status.APPLIED, None)
        else:
            status[fact.event_id] = (Status.MATCHED, "no termination in effect or pending: nothing to undo")
            terminated = None

    for term in terms:
        if term.scheduled_for is None or term.event_id in wanted_schedule:
            continue
        if status.get(term.event_id, (None,))[0] is Status.APPLIED:
            continue  # fired now: StartLeaver(from_schedule=True) closes it
        state: Literal["cancelled", "superseded"] = (
            "cancelled" if status.get(term.event_id, (None,))[0] is Status.CANCELLED else "superseded"
        )
        note = status.get(term.event_id, (None, None))[1] or "no longer stands"
        decisions.append(CancelSchedule(term.event_id, state, note))

    by_id = {f.event_id: f for f in ordered}
    for event_id, (new, note) in status.items():
        fact = by_id[event_id]
        if fact.job_id is not None and new is not Status.CANCELLED:
            new, note = Status.APPLIED, None  # what the engine was handed stays handed
        if fact.status is not new:
            decisions.append(SetStatus(event_id, new, note))
    return decisions


# --- updates and hires ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonFields:
    """What the roster holds of a person, as an update is compared with it."""

    person_id: int
    email: str
    manager_employee_id: str | None
    department: str | None
    title: str | None


def decide_update(
    person: PersonFields | None,
    *,
    hr_event_id: int,
    event_type: EventType,
    occurred_at: datetime,
    employee: Employee,
    newer_update: int | None,
) -> list[Decision]:
    """An update or hire: new fields for the roster, and a mover when the manager or department
    changed.  ``newer_update``: an update HR issued after this one, already applied (this one then
    changes nothing)."""
    if person is None:
        if event_type is EventType.HIRED:
            return [AddPerson(hr_event_id, employee), SetStatus(hr_event_id, Status.APPLIED)]
        return [SetStatus(hr_event_id, Status.UNMATCHED, "no person with this employee id or email")]
    if newer_update is not None:
        return [SetStatus(hr_event_id, Status.SUPERSEDED, f"superseded by event {newer_update}")]
    wanted = {
        "email": employee.email,
        "manager_employee_id": employee.manager_employee_id,
        "department": employee.department,
        "title": employee.title,
    }
    current = {
        "email": person.email,
        "manager_employee_id": person.manager_employee_id,
        "department": person.department,
        "title": person.title,
    }
    # a field the event leaves out is unknown, not cleared
    changes = {k: v for k, v in wanted.items() if v is not None and v != current[k]}
    decisions: list[Decision] = []
    if changes:
        decisions.append(UpdatePerson(person.person_id, hr_event_id, changes))
    if "manager_employee_id" in changes or "department" in changes:
        decisions.append(
            RecordMove(
                person.person_id,
                hr_event_id,
                occurred_at,
                current["manager_employee_id"],
                changes.get("manager_employee_id", current["manager_employee_id"]),
                current["department"],
                changes.get("department", current["department"]),
            )
        )
    decisions.append(SetStatus(hr_event_id, Status.APPLIED if changes else Status.MATCHED))
    return decisions
