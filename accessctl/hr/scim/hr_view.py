"""What a SCIM User says to HR, and the canonical HR events a change of it means.

Only these attributes matter to HR: the enterprise ``employeeNumber`` (the key), the email (the
primary one, else the first), the manager (by their User's ``id``), the department, the title and
``active``.  Everything else a client sends is kept on the resource and means nothing to HR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from accessctl.hr.events import CanonicalEvent, Employee, EventType, Termination
from accessctl.hr.scim.errors import invalid_value
from accessctl.hr.scim.models import HrEnterpriseUser, ScimUser

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class HrView:
    employee_number: str
    email: str
    manager_user_id: str | None
    department: str | None
    title: str | None
    active: bool

    def employee_fields(self) -> tuple[str, str | None, str | None, str | None]:
        """What an ``employee.updated`` carries (a change of any is an update; of the manager or
        department, a mover)."""
        return (self.email, self.manager_user_id, self.department, self.title)


def _text(value: str | None, where: str, limit: int) -> str | None:
    if value is None:
        return None
    if not value.strip() or len(value) > limit or not _PRINTABLE.fullmatch(value):
        raise invalid_value(f"{where} must be 1 to {limit} printable characters")
    return value


def view_of(user: ScimUser) -> HrView:
    """The HR side of a validated User, or ``invalidValue`` naming what HR cannot use."""
    enterprise = user[HrEnterpriseUser]
    number = _text(enterprise.employee_number if enterprise else None, "employeeNumber", 128)
    if number is None:
        raise invalid_value(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber is required: "
            "it is the HR employee id"
        )
    emails = [e for e in user.emails or [] if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    if chosen is None or chosen.value is None:
        raise invalid_value("emails: a User needs an email address")
    email = chosen.value.strip().lower()
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise invalid_value(f"emails: {chosen.value!r} is not an email address")
    manager = enterprise.manager.value if enterprise and enterprise.manager else None
    if user.active is None:
        raise invalid_value("active is required: true for an employee, false for a leaver")
    return HrView(
        employee_number=number,
        email=email,
        manager_user_id=_text(manager, "manager.value", 255),
        department=_text(enterprise.department if enterprise else None, "department", 200),
        title=_text(user.title, "title", 200),
        active=bool(user.active),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One HR event a SCIM mutation means (its id is unique per User and version)."""

    type: EventType
    suffix: str


def changes(before: HrView | None, after: HrView | None, *, rehire_on_create: bool = False) -> list[Change]:
    """The events that turn ``before`` into ``after`` (None: no User yet / deleted)."""
    if before is None and after is not None:
        made = [Change(EventType.HIRED, "hired")]
        if not after.active:
            made.append(Change(EventType.TERMINATED, "terminated"))
        elif rehire_on_create:
            made.append(Change(EventType.REHIRED, "rehired"))
        return made
    if before is not None and after is None:
        return [Change(EventType.TERMINATED, "deleted")] if before.active else []
    assert before is not None and after is not None
    made = []
    if before.employee_fields() != after.employee_fields():
        made.append(Change(EventType.UPDATED, "updated"))
    if before.active and not after.active:
        made.append(Change(EventType.TERMINATED, "terminated"))
    elif not before.active and after.active:
        made.append(Change(EventType.REHIRED, "rehired"))
    return made


def canonical(
    change: Change, *, user_id: str, version: int, employee: Employee, now: datetime
) -> CanonicalEvent:
    termination = Termination(immediate=True) if change.type is EventType.TERMINATED else None
    return CanonicalEvent(
        id=f"scim:{user_id}:v{version}:{change.suffix}",
        type=change.type,
        occurred_at=now,
        employee=employee,
        termination=termination,
    )
