"""HR events in the store: recorded once (deduplicated), matched to a person, and what they mean
carried out, all in the caller's transaction, so an event and its job are committed together.

The two decisions that touch providers (a leaver, a restore) go to a :class:`Lifecycle` the caller
passes in; everything else (schedules, statuses, roster rows, movers) is done here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.hr.decide import (
    AddPerson,
    CancelSchedule,
    Decision,
    Fact,
    PersonFields,
    QueueRestoreForAdmin,
    RecordMove,
    RehireMode,
    ScheduleLeaver,
    SetStatus,
    StartLeaver,
    StartRestore,
    Status,
    UpdatePerson,
    decide_terminations,
    decide_update,
)
from accessctl.hr.events import CanonicalEvent, EventType, Termination
from accessctl.hr.rejections import Rejected
from accessctl.store.models import HrEvent, HrSchedule, Person, PersonMove
from accessctl.store.prepared import Prepared
from accessctl.timestamps import utc

log = logging.getLogger("accessctl.hr")

EVENTS: sa.Table = HrEvent.__table__  # type: ignore[attr-defined]
SCHEDULES: sa.Table = HrSchedule.__table__  # type: ignore[attr-defined]
MOVES: sa.Table = PersonMove.__table__  # type: ignore[attr-defined]
PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
#: the source of the events SCIM provisioning (``/scim/v2/``) records
SCIM_SOURCE = "scim"
ACTOR = "hr"

# The statements of an event's write, built once: each is compiled once and its cache key made
# once (building a statement per call costs more than running it)
_B = sa.bindparam
_EVENT_BY_ID = sa.select(EVENTS).where(EVENTS.c.id == _B("b_id"))
_EVENT_PERSON = EVENTS.update().where(EVENTS.c.id == _B("b_id")).values(person_id=_B("b_person"))
_EVENT_JOB = (
    EVENTS.update().where(EVENTS.c.id == _B("b_id")).values(job_id=_B("b_job"), updated_at=_B("b_at"))
)
_EVENT_SET_STATUS = Prepared(
    EVENTS.update()
    .where(EVENTS.c.id == _B("b_id"))
    .values(status=_B("b_status"), note=_B("b_note"), updated_at=_B("b_at"))
)
_EVENT_SET_STATUS_JOB = Prepared(
    EVENTS.update()
    .where(EVENTS.c.id == _B("b_id"))
    .values(status=_B("b_status"), note=_B("b_note"), job_id=_B("b_job"), updated_at=_B("b_at"))
)
_TERMINATION_KINDS = [
    EventType.TERMINATED.value,
    EventType.TERMINATION_CANCELLED.value,
    EventType.REHIRED.value,
]
#: the kinds written in a statement: an expanding IN is rendered again on every execution
_IS_TERMINATION_KIND = EVENTS.c.event_type.in_(
    [sa.literal_column(f"'{kind}'") for kind in _TERMINATION_KINDS]
)
_PERSON_BY_EMPLOYEE_ID = Prepared(
    sa.select(
        PEOPLE.c.id,
        PEOPLE.c.email,
        sa.exists().where(EVENTS.c.person_id == PEOPLE.c.id, _IS_TERMINATION_KIND).label("has_terminations"),
    ).where(PEOPLE.c.employee_id == _B("b_employee_id"))
)
_PEOPLE_BY_EMAIL = sa.select(PEOPLE.c.id).where(sa.func.lower(PEOPLE.c.email) == _B("b_email"))
_SOMEONE_ELSE_BY_EMAIL = _PEOPLE_BY_EMAIL.where(PEOPLE.c.id != _B("b_not")).limit(1)
_PERSON_ROW = sa.select(PEOPLE.c.id).where(PEOPLE.c.id == _B("b_id"))
#: a person's termination events, each with the fire time of its open schedule (an event has at most
#: one schedule)
_PERSON_TERMINATION_EVENTS = Prepared(
    sa.select(EVENTS, SCHEDULES.c.fire_at.label("open_fire_at"))
    .outerjoin(SCHEDULES, sa.and_(SCHEDULES.c.hr_event_id == EVENTS.c.id, SCHEDULES.c.state == "scheduled"))
    # the kinds written in the statement: an expanding IN is rendered again on every execution
    .where(EVENTS.c.person_id == _B("b_person"), _IS_TERMINATION_KIND)
)
_TERMINATION_WHEN = sa.select(EVENTS.c.effective_date, EVENTS.c.effective_at, EVENTS.c.timezone).where(
    EVENTS.c.id == _B("b_id")
)


class Lifecycle(Protocol):
    """Where leavers and restores become jobs; each call runs in the caller's transaction and returns
    the job's id."""

    def start_leaver(self, conn: Connection, decision: StartLeaver) -> int: ...

    def start_restore(self, conn: Connection, decision: StartRestore) -> int: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to an event: its id, its status, and whether it was a replay of one already stored."""

    event_id: int
    status: str
    replay: bool


# --- recording ------------------------------------------------------------------------------------


def _existing(conn: Connection, source: str, event_id: str, webhook_id: str | None) -> sa.Row | None:
    keys = [EVENTS.c.source_event_id == event_id]
    if webhook_id is not None:
        keys.append(EVENTS.c.webhook_id == webhook_id)
    return conn.execute(
        sa.select(EVENTS.c.id, EVENTS.c.status, EVENTS.c.payload_digest, EVENTS.c.source_event_id)
        .where(EVENTS.c.source == source, sa.or_(*keys))
        .order_by(EVENTS.c.id)
        .limit(1)
    ).first()


def _replay(row: sa.Row, digest: str, event_id: str) -> Accepted:
    if row.payload_digest != digest:
        what = "event id" if row.source_event_id == event_id else "webhook-id"
        raise Rejected(
            "replay_mismatch",
            f"this {what} was already received with a different body; send a new id for a new event",
            status=409,
        )
    return Accepted(row.id, row.status, replay=True)


def _row_values(
    source: str, webhook_id: str | None, event: CanonicalEvent, digest: str, now: datetime
) -> dict:
    termination = event.termination or Termination()
    return {
        "source": source,
        "source_event_id": event.id,
        "webhook_id": webhook_id,
        "event_type": event.type.value,
        "employee_id": event.employee.employee_id,
        "email": event.employee.email,
        "manager_employee_id": event.employee.manager_employee_id,
        "department": event.employee.department,
        "title": event.employee.title,
        "occurred_at": event.occurred_at,
        "effective_at": event.effective_at(),
        "effective_date": termination.effective_date,
        "timezone": termination.timezone,
        "immediate": termination.immediate if event.termination else event.type is EventType.TERMINATED,
        "payload_digest": digest,
        "received_at": now,
        "updated_at": now,
        "status": Status.RECEIVED.value,
    }


@functools.cache
def _insert_new(dialect: str) -> Prepared:
    """INSERT .. ON CONFLICT DO NOTHING RETURNING the row (on any of the event's unique keys)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # the row as a person's termination events are read (its schedule: none yet)
    return Prepared(
        insert(EVENTS).on_conflict_do_nothing().returning(*EVENTS.c, sa.null().label("open_fire_at"))
    )


def match_person(conn: Connection, employee_id: str, email: str) -> int | None:
    """The person with this employee id, else the one person with this email; never a guess."""
    return _match(conn, employee_id, email).person_id


@dataclass(frozen=True, slots=True)
class _Match:
    person_id: int | None
    #: the person whose email the event names, when that is someone other than its employee id's
    #: (the employee id decides; the other is worth an admin's look)
    email_is: int | None = None
    #: whether the person has termination events stored (None: not looked up)
    has_terminations: bool | None = None


def _match(conn: Connection, employee_id: str, email: str) -> _Match:
    """:func:`match_person`, with what the event's write wants to know besides."""
    by_id = _PERSON_BY_EMPLOYEE_ID.first(conn, {"b_employee_id": employee_id})
    if by_id is not None:
        other = None
        if email and (by_id.email or "").lower() != email.lower():
            other = conn.execute(
                _SOMEONE_ELSE_BY_EMAIL, {"b_email": email.lower(), "b_not": by_id.id}
            ).scalar()
        return _Match(int(by_id.id), other, bool(by_id.has_terminations))
    by_email = conn.execute(_PEOPLE_BY_EMAIL, {"b_email": email.lower()}).all()
    return _Match(int(by_email[0].id) if len(by_email) == 1 else None)


def record_event(
    conn: Connection,
    *,
    source: str,
    webhook_id: str | None,
    event: CanonicalEvent,
    digest: str,
    now: datetime,
    rehire: RehireMode,
    lifecycle: Lifecycle,
) -> Accepted:
    """Store one verified, parsed event and do what it means, in the caller's transaction.  A replay
    (same source and event id, or same webhook-id, same body) returns the first answer and changes
    nothing; the same id with another body is refused (409)."""
    dated = event.type is EventType.TERMINATED and event.termination and not event.termination.immediate
    if dated:  # a dated termination is checked against the hire date first (a replay is not)
        found = _existing(conn, source, event.id, webhook_id)
        if found is not None:
            return _replay(found, digest, event.id)
    # matched before the insert, so the row is stored with its person (not updated after)
    match = _match(conn, event.employee.employee_id, event.employee.email)
    person_id, email_of = match.person_id, match.email_is
    if dated:
        _refuse_before_hire(conn, event, person_id)
    # the unique keys deduplicate: a row already there (or committed by a concurrent request just
    # now) makes the insert do nothing, and the first answer is read back
    values = _row_values(source, webhook_id, event, digest, now)
    values["person_id"] = person_id
    row = _insert_new(conn.dialect.name).first(conn, values)
    if row is None:
        found = _existing(conn, source, event.id, webhook_id)
        if found is None:  # a unique key matched, so the row is there
            raise LookupError(f"HR event {source}/{event.id} conflicted but is not stored")
        return _replay(found, digest, event.id)
    details: dict[str, object] = {
        "source": source,
        "id": event.id,
        "type": event.type.value,
        "employee_id": event.employee.employee_id,
    }
    if email_of is not None:  # HR's data disagrees with itself: acted on by employee id, and said
        details["email_is_person"] = email_of
        log.warning(
            "HR event %s: employee id %s is person %s, but its email is person %s's; acted on the "
            "employee id (check the HR record)",
            row.id,
            event.employee.employee_id,
            person_id,
            email_of,
        )
    audit.record(
        conn,
        actor=f"{ACTOR}:{source}",
        action="hr.event.received",
        target_type="hr_event",
        target_id=str(row.id),
        details=details,
        occurred_at=now,
    )
    # SQLite: the group's write transaction holds the store, so a person with no termination events
    # at the match has none but this one now (PostgreSQL reads them under the person's lock)
    only = None
    if match.has_terminations is False and conn.dialect.name == "sqlite":
        only = [row] if row.event_type in _TERMINATION_KINDS else []
    status = _match_and_apply(
        conn, row.id, now=now, rehire=rehire, lifecycle=lifecycle, row=row, person_id=person_id, only=only
    )
    return Accepted(row.id, status.value, replay=False)


def _refuse_before_hire(conn: Connection, event: CanonicalEvent, person_id: int | None) -> None:
    """A termination HR dates before the hire date of its person (as matched) is a mistake in HR's
    data: refused (422), nothing stored, rather than acted on as long past."""
    t = event.termination
    if t is None or t.immediate or (t.effective_at is None and t.effective_date is None):
        return
    hired = None
    if person_id is not None:
        hired = conn.execute(sa.select(PEOPLE.c.hire_date).where(PEOPLE.c.id == person_id)).scalar()
    if hired is None:
        return
    if t.effective_date is not None:
        day = t.effective_date
    else:
        assert t.effective_at is not None
        day = (t.effective_at.astimezone(ZoneInfo(t.timezone)) if t.timezone else t.effective_at).date()
    if day < hired:
        raise Rejected(
            "effective_before_hire",
            f"the termination takes effect on {day}, before the employee's hire date {hired}",
            status=422,
        )


def _match_and_apply(
    conn: Connection,
    row_id: int,
    *,
    now: datetime,
    rehire: RehireMode,
    lifecycle: Lifecycle,
    row: sa.Row | None = None,
    person_id: int | None = None,
    only: list[sa.Row] | None = None,
) -> Status:
    """Returns the event's status after.  ``row``: the event's row as just inserted with its
    ``person_id`` (matched already: None is no match); else the row is read and matched.  ``only``:
    the person's termination events, known to be these (not read again)."""
    if row is None:
        row = conn.execute(_EVENT_BY_ID, {"b_id": row_id}).one()
        person_id = match_person(conn, row.employee_id, row.email)
        if person_id is not None:
            conn.execute(_EVENT_PERSON, {"b_id": row_id, "b_person": person_id})
    event_type = EventType(row.event_type)
    if person_id is None and event_type is not EventType.HIRED:
        _set_status(conn, row_id, Status.UNMATCHED, "no person with this employee id or email", now)
        return Status.UNMATCHED
    decisions: list[Decision] = []
    if event_type in (EventType.UPDATED, EventType.HIRED):
        decisions += _apply_update(conn, row, person_id, now=now)
    if person_id is not None:
        decisions += reconcile_person(conn, person_id, now=now, rehire=rehire, lifecycle=lifecycle, rows=only)
    status = Status(row.status)
    for d in decisions:  # the last status a decision gave it
        if isinstance(d, SetStatus) and d.hr_event_id == row_id:
            status = d.status
    return status


# --- updates and hires -------------------------------------------------------------------------


def _apply_update(conn: Connection, row: sa.Row, person_id: int | None, *, now: datetime) -> list[Decision]:
    from accessctl.hr.events import Employee

    person = None
    newer = None
    if person_id is not None:
        p = conn.execute(sa.select(PEOPLE).where(PEOPLE.c.id == person_id)).one()
        person = PersonFields(p.id, p.email, p.manager_employee_id, p.department, p.title)
        newer = conn.execute(
            sa.select(EVENTS.c.id)
            .where(
                EVENTS.c.person_id == person_id,
                EVENTS.c.id != row.id,
                EVENTS.c.event_type.in_([EventType.UPDATED.value, EventType.HIRED.value]),
                EVENTS.c.status.in_([Status.APPLIED.value, Status.MATCHED.value]),
                EVENTS.c.occurred_at > row.occurred_at,
            )
            .limit(1)
        ).scalar()
    employee = Employee(row.employee_id, row.email, row.manager_employee_id, row.department, row.title)
    decisions = decide_update(
        person,
        hr_event_id=row.id,
        event_type=EventType(row.event_type),
        occurred_at=utc(row.occurred_at),
        employee=employee,
        newer_update=newer,
    )
    apply_decisions(conn, decisions, now=now, lifecycle=None)
    return list(decisions)


# --- terminations, cancellations, rehires ------------------------------------------------------


def _describe(row: sa.Row) -> str:
    if row.event_type != EventType.TERMINATED.value:
        return ""
    return Termination(
        None if row.effective_date else utc(row.effective_at), row.effective_date, row.timezone, row.immediate
    ).describe()


def person_facts(conn: Connection, person_id: int) -> list[Fact]:
    return _facts(_termination_rows(conn, person_id))


def _termination_rows(conn: Connection, person_id: int) -> list[sa.Row]:
    return _PERSON_TERMINATION_EVENTS.rows(conn, {"b_person": person_id})


def _facts(rows: Sequence[sa.Row]) -> list[Fact]:
    return [
        Fact(
            event_id=row.id,
            type=EventType(row.event_type),
            occurred_at=utc(row.occurred_at),
            effective_at=utc(row.effective_at),
            status=Status(row.status),
            job_id=row.job_id,
            needs_admin=row.needs_admin,
            scheduled_for=utc(row.open_fire_at) if row.open_fire_at is not None else None,
            effective_local=_describe(row),
        )
        for row in rows
    ]


def reconcile_person(
    conn: Connection,
    person_id: int,
    *,
    now: datetime,
    rehire: RehireMode,
    lifecycle: Lifecycle,
    rows: Sequence[sa.Row] | None = None,
) -> list[Decision]:
    """Decide again what this person's events mean and do what is left; returns what was done.
    ``rows``: their termination events with their open schedules, when the caller knows them (in
    this transaction, on SQLite); else they are read."""
    if rows is None:
        if conn.dialect.name != "sqlite":  # SQLite's write transaction holds the whole store already
            conn.execute(_PERSON_ROW.with_for_update(), {"b_id": person_id}).first()
        rows = _termination_rows(conn, person_id)
    decisions = decide_terminations(person_id, _facts(rows), now=now, rehire=rehire)
    apply_decisions(conn, decisions, now=now, lifecycle=lifecycle, read={row.id: row for row in rows})
    return decisions


def _set_status(conn: Connection, event_id: int, status: Status, note: str | None, now: datetime) -> None:
    _EVENT_SET_STATUS.run(conn, {"b_id": event_id, "b_status": status.value, "b_note": note, "b_at": now})


def _termination_date(conn: Connection, event_id: int, read: Mapping[int, sa.Row]) -> date:
    row = read.get(event_id) or conn.execute(_TERMINATION_WHEN, {"b_id": event_id}).one()
    if row.effective_date is not None:
        return row.effective_date
    instant = utc(row.effective_at)
    return instant.astimezone(ZoneInfo(row.timezone)).date() if row.timezone else instant.date()


def _person(conn: Connection, person_id: int, now: datetime, **values: object) -> None:
    params = {f"b_{k}": v for k, v in values.items()}
    _person_update(tuple(sorted(values))).run(conn, {"b_id": person_id, "b_updated_at": now, **params})


@functools.cache
def _person_update(columns: tuple[str, ...]) -> Prepared:
    return Prepared(
        PEOPLE.update()
        .where(PEOPLE.c.id == _B("b_id"))
        .values({c: _B(f"b_{c}") for c in (*columns, "updated_at")})
    )


def _audit(conn: Connection, action: str, event_id: int, now: datetime, **details: object) -> None:
    audit.record(
        conn,
        actor=ACTOR,
        action=action,
        target_type="hr_event",
        target_id=str(event_id),
        details={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in details.items()},
        occurred_at=now,
    )


def apply_decisions(
    conn: Connection,
    decisions: Sequence[Decision],
    *,
    now: datetime,
    lifecycle: Lifecycle | None,
    read: Mapping[int, sa.Row] | None = None,
) -> None:
    """Carry out decisions in the caller's transaction, each with its audit event.  ``read``: event
    rows the caller read in this transaction (by id), which spare reading them again."""
    read = read or {}
    queued = {d.hr_event_id for d in decisions if isinstance(d, QueueRestoreForAdmin)}
    # an event's new job is written with its new status (one UPDATE), or before anything else reads
    jobs: dict[int, int] = {}

    def write_jobs() -> None:
        for event_id, job_id in jobs.items():
            conn.execute(_EVENT_JOB, {"b_id": event_id, "b_job": job_id, "b_at": now})
        jobs.clear()

    for d in decisions:
        if jobs and not isinstance(d, (StartLeaver, SetStatus)):
            write_jobs()
        if isinstance(d, StartLeaver):
            if lifecycle is None:
                raise RuntimeError("a leaver decision needs a Lifecycle")
            job_id = lifecycle.start_leaver(conn, d)
            jobs[d.hr_event_id] = job_id
            if d.from_schedule:
                conn.execute(
                    SCHEDULES.update()
                    .where(SCHEDULES.c.hr_event_id == d.hr_event_id)
                    .values(state="fired", job_id=job_id, updated_at=now)
                )
            _person(
                conn,
                d.person_id,
                now,
                status="terminated",
                termination_date=_termination_date(conn, d.hr_event_id, read),
            )
            _audit(conn, "hr.leaver.started", d.hr_event_id, now, person_id=d.person_id, job_id=job_id)
        elif isinstance(d, ScheduleLeaver):
            values = {
                "fire_at": d.fire_at,
                "effective_local": d.effective_local[:120],
                "state": "scheduled",
                "closed_reason": None,
                "updated_at": now,
            }
            done = conn.execute(
                SCHEDULES.update().where(SCHEDULES.c.hr_event_id == d.hr_event_id).values(values)
            )
            if not done.rowcount:
                conn.execute(
                    SCHEDULES.insert().values(
                        hr_event_id=d.hr_event_id, person_id=d.person_id, created_at=now, **values
                    )
                )
            _person(conn, d.person_id, now, termination_date=_termination_date(conn, d.hr_event_id, read))
            _audit(
                conn, "hr.termination.scheduled", d.hr_event_id, now, person_id=d.person_id, fire_at=d.fire_at
            )
        elif isinstance(d, CancelSchedule):
            row = conn.execute(
                SCHEDULES.update()
                .where(SCHEDULES.c.hr_event_id == d.hr_event_id, SCHEDULES.c.state == "scheduled")
                .values(state=d.state, closed_reason=d.reason[:1000], updated_at=now)
                .returning(SCHEDULES.c.person_id)
            ).first()
            if row is not None and d.state == "cancelled":
                _person(conn, row.person_id, now, termination_date=None)
            _audit(conn, f"hr.termination.{d.state}", d.hr_event_id, now, reason=d.reason)
        elif isinstance(d, StartRestore):
            if lifecycle is None:
                raise RuntimeError("a restore decision needs a Lifecycle")
            job_id = lifecycle.start_restore(conn, d)
            conn.execute(
                EVENTS.update().where(EVENTS.c.id == d.hr_event_id).values(job_id=job_id, updated_at=now)
            )
            _person(conn, d.person_id, now, status="active", termination_date=None)
            _audit(conn, "hr.restore.started", d.hr_event_id, now, person_id=d.person_id, job_id=job_id)
        elif isinstance(d, QueueRestoreForAdmin):
            conn.execute(
                EVENTS.update()
                .where(EVENTS.c.id == d.hr_event_id)
                .values(
                    needs_admin=True,
                    note=f"{d.reason}: an admin decides with `accessctl restore`"[:1000],
                    updated_at=now,
                )
            )
            _person(conn, d.person_id, now, status="active", termination_date=None)
            _audit(conn, "hr.restore.queued", d.hr_event_id, now, person_id=d.person_id, reason=d.reason)
        elif isinstance(d, SetStatus):
            note = d.note
            known = read.get(d.hr_event_id)
            may_hold = known is None or known.needs_admin or d.hr_event_id in queued
            if note is None and may_hold:  # keep a queued restore's note
                note = conn.execute(
                    sa.select(EVENTS.c.note).where(EVENTS.c.id == d.hr_event_id, EVENTS.c.needs_admin)
                ).scalar()
            if d.hr_event_id in jobs:
                values = {"b_id": d.hr_event_id, "b_status": d.status.value, "b_note": note, "b_at": now}
                _EVENT_SET_STATUS_JOB.run(conn, {**values, "b_job": jobs.pop(d.hr_event_id)})
            else:
                _set_status(conn, d.hr_event_id, d.status, note, now)
        elif isinstance(d, AddPerson):
            e = d.employee
            person_id = conn.execute(
                PEOPLE.insert()
                .values(
                    employee_id=e.employee_id,
                    email=e.email,
                    manager_employee_id=e.manager_employee_id,
                    department=e.department,
                    title=e.title,
                    status="active",
                    first_name="",
                    last_name="",
                    employment_type="employee",
                    hire_date=now.date(),
                    updated_at=now,
                )
                .returning(PEOPLE.c.id)
            ).scalar_one()
            conn.execute(EVENTS.update().where(EVENTS.c.id == d.hr_event_id).values(person_id=person_id))
            _audit(
                conn, "hr.person.added", d.hr_event_id, now, person_id=person_id, employee_id=e.employee_id
            )
        elif isinstance(d, UpdatePerson):
            _person(conn, d.person_id, now, **d.changes)
            _audit(
                conn, "hr.person.updated", d.hr_event_id, now, person_id=d.person_id, fields=sorted(d.changes)
            )
        elif isinstance(d, RecordMove):
            conn.execute(
                MOVES.insert().values(
                    person_id=d.person_id,
                    hr_event_id=d.hr_event_id,
                    moved_at=d.moved_at,
                    recorded_at=now,
                    old_manager_employee_id=d.old_manager_employee_id,
                    new_manager_employee_id=d.new_manager_employee_id,
                    old_department=d.old_department,
                    new_department=d.new_department,
                )
            )
            _audit(
                conn,
                "person.moved",
                d.hr_event_id,
                now,
                person_id=d.person_id,
                old_manager=d.old_manager_employee_id,
                new_manager=d.new_manager_employee_id,
                old_department=d.old_department,
                new_department=d.new_department,
            )
    write_jobs()


# --- later passes ------------------------------------------------------------------------------


def fire_due(conn: Connection, *, now: datetime, rehire: RehireMode, lifecycle: Lifecycle) -> int:
    """Re-decide every person with a schedule due by ``now``: a termination HR still stands by fires
    its leaver; one HR cancelled meanwhile was closed already.  Returns the leavers started."""
    people = (
        conn.execute(
            sa.select(SCHEDULES.c.person_id)
            .where(SCHEDULES.c.state == "scheduled", SCHEDULES.c.fire_at <= now)
            .distinct()
        )
        .scalars()
        .all()
    )
    started = 0
    for person_id in people:
        decisions = reconcile_person(conn, person_id, now=now, rehire=rehire, lifecycle=lifecycle)
        started += sum(isinstance(d, StartLeaver) for d in decisions)
    return started


def rematch_unmatched(conn: Connection, *, now: datetime, rehire: RehireMode, lifecycle: Lifecycle) -> int:
    """After a roster import or a sync: match the unmatched events again (oldest first); returns how
    many now have a person."""
    rows = (
        conn.execute(
            sa.select(EVENTS.c.id)
            .where(EVENTS.c.status == Status.UNMATCHED.value)
            .order_by(EVENTS.c.occurred_at, EVENTS.c.id)
        )
        .scalars()
        .all()
    )
    matched = 0
    for row_id in rows:
        _match_and_apply(conn, row_id, now=now, rehire=rehire, lifecycle=lifecycle)
        status = conn.execute(sa.select(EVENTS.c.status).where(EVENTS.c.id == row_id)).scalar_one()
        matched += status != Status.UNMATCHED.value
    return matched


def settle_admin_restores(
    conn: Connection, person_id: int, *, job_id: int, by: str, now: datetime
) -> list[int]:
    """An admin's restore of this person (job ``job_id``) settles the restores HR queued for an
    admin: each gets the job (so it is no longer pending, and never restored twice).  Returns their
    event ids."""
    settled = (
        conn.execute(
            EVENTS.update()
            .where(EVENTS.c.person_id == person_id, EVENTS.c.needs_admin, EVENTS.c.job_id.is_(None))
            .values(job_id=job_id, note=f"restored by job {job_id}, approved by {by}"[:1000], updated_at=now)
            .returning(EVENTS.c.id)
        )
        .scalars()
        .all()
    )
    for event_id in settled:
        _audit(conn, "hr.restore.approved", event_id, now, person_id=person_id, job_id=job_id, approved_by=by)
    return list(settled)
