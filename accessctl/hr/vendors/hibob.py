"""HiBob (Bob) webhooks v2, mapped to the canonical event.

What Bob sends (apidocs.hibob.com, "Getting started with Webhooks", "Employee data Webhooks",
"Employee terminated" / "Employee inactivated" reference pages): a POST with a JSON body and a
``Bob-Signature`` header: "Base64-encoded signature sent with each webhook request" (the reference
pages), the HMAC-SHA512 of the raw body keyed with the webhook's secret (the algorithm is from Bob's
"How does Bob calculate the signature" section, which the excerpts we could search did not quote).  The
v2 payload is metadata only: ``{"companyId": number, "type": "employee.updated" | "employee.left" |
..., "triggeredBy": backend id or "system", "triggeredAt": ISO 8601, "version": "v2", "data":
{"employeeId", ...}}`` ("to pull the data itself, please use our API").  Lifecycle events
(``employee.joined``, ``employee.left``, ``employee.activated``, ``employee.inactivated``) fire at
midnight of the lifecycle entry's effective date in the site's time zone.  When a webhook is created
Bob first posts ``Ping test`` (or ``{"text": "Ping test"}``) and expects a 2xx.

So the employee is read back ("API calls for webhook v2 events"): ``POST /v1/people/search`` with a
``root.id`` filter and ``showInactive: true`` (a leaver is inactive), HTTP Basic with a service
user's ID and token, asking for ``root.id``, ``root.email``, ``work.employeeIdInCompany``,
``work.reportsTo``, ``work.department``, ``work.title``, ``internal.status`` and
``internal.terminationDate``.  A read-back that fails is retried, then the delivery is refused (503)
for Bob to deliver again; the record read back, never the webhook's type alone, decides what
happened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from accessctl.hr.events import (
    CanonicalEvent,
    Employee,
    EventType,
    Termination,
    load_json,
    parse_timezone,
)
from accessctl.hr.rejections import Rejected
from accessctl.hr.vendors import FetchBackFailed, fetch_json

FIELDS = (
    "root.id",
    "root.email",
    "work.employeeIdInCompany",
    "work.reportsTo",
    "work.department",
    "work.title",
    "internal.status",
    "internal.terminationDate",
)
EVENT_TYPES = (
    "employee.created",
    "employee.updated",
    "employee.joined",
    "employee.left",
    "employee.activated",
    "employee.inactivated",
    "employee.deleted",
)
_PINGS = (b"Ping test", b'{"text":"Ping test"}', b'{"text": "Ping test"}')


@dataclass(frozen=True)
class HibobSource:
    name: str
    keys: list[bytes] = field(repr=False)
    api_url: str
    service_user_id: str
    service_user_token: str = field(repr=False)
    #: Bob's numeric company id; when set, a delivery for another company is refused
    company_id: str = ""
    timezone: str = "UTC"


def is_ping(raw: bytes) -> bool:
    """Bob's connection test: answered 2xx, carries nothing, changes nothing."""
    return raw.strip() in _PINGS


def verify(headers: Mapping[str, str], body: bytes, sources: Sequence[HibobSource]) -> HibobSource:
    """The source whose secret signed this delivery; :class:`Rejected` (401) otherwise."""
    signature = (headers.get("bob-signature") or "").strip()
    if not signature:
        raise Rejected("missing_signature_header", "Bob-Signature is required", status=401)
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        given = b""
    if len(given) != hashlib.sha512().digest_size:
        raise Rejected("bad_signature", "Bob-Signature must be a Base64 HMAC-SHA512", status=401)
    matched = None
    for source in sources:
        for key in source.keys:
            expected = hmac.new(key, body, hashlib.sha512).digest()
            if hmac.compare_digest(expected, given) and matched is None:
                matched = source
    if matched is None:
        raise Rejected("signature_mismatch", "the signature matches no HiBob source's secret", status=401)
    return matched


@dataclass(frozen=True)
class Notice:
    """What Bob's webhook says: an event type, when, for which company and employee."""

    type: str
    occurred_at: datetime
    company_id: str
    employee_id: str

    @property
    def event_id(self) -> str:
        # Bob's v2 payload has no event id; its type, employee and instant name it
        return f"{self.type}:{self.employee_id}:{self.occurred_at.isoformat()}"


def _fail(reason: str, message: str) -> Rejected:
    return Rejected(reason, message, status=422)


def _instant(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _fail("bad_datetime", "triggeredAt must be an ISO 8601 date and time")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _fail("bad_datetime", "triggeredAt must be an ISO 8601 date and time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def parse_notice(raw: bytes, source: HibobSource) -> Notice:
    payload = load_json(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise _fail("wrong_type", "a HiBob webhook is an object with data")
    if payload.get("version") != "v2":
        raise _fail("unsupported_version", "only HiBob webhooks v2 are accepted (version must be v2)")
    kind = payload.get("type")
    if kind not in EVENT_TYPES:
        raise _fail("unknown_event_type", f"type must be one of {', '.join(EVENT_TYPES)}")
    if kind == "employee.deleted":
        raise _fail(
            "unsupported_event", "a deleted HiBob record is not a termination: terminate the employee"
        )
    company = payload.get("companyId")
    if not isinstance(company, int) or isinstance(company, bool):
        raise _fail("bad_value", "companyId must be Bob's numeric company id")
    if source.company_id and str(company) != source.company_id:
        raise _fail("wrong_company", f"companyId {company} is not this source's company")
    employee_id = payload["data"].get("employeeId")
    if not isinstance(employee_id, str) or not employee_id.isdigit() or len(employee_id) > 40:
        raise _fail("bad_value", "data.employeeId must be Bob's employee id")
    return Notice(kind, _instant(payload.get("triggeredAt")), str(company), employee_id)


def fetch_employee(
    client: httpx.Client,
    source: HibobSource,
    employee_id: str,
    *,
    fields: Sequence[str] = FIELDS,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> dict[str, Any] | None:
    """The employee's record from Bob's people search (None when Bob has no such employee)."""
    body = {
        "fields": list(fields),
        "filters": [{"fieldPath": "root.id", "operator": "equals", "values": [employee_id]}],
        "showInactive": True,
    }
    found = fetch_json(
        lambda: client.post(
            f"{source.api_url.rstrip('/')}/v1/people/search",
            json=body,
            auth=(source.service_user_id, source.service_user_token),
            headers={"Accept": "application/json"},
        ),
        what=f"HiBob's API did not return employee {employee_id}",
        attempts=attempts,
        backoff_s=backoff_s,
    )
    employees = found.get("employees") if isinstance(found, dict) else None
    if not isinstance(employees, list) or not all(isinstance(e, dict) for e in employees):
        raise FetchBackFailed(f"HiBob's API did not return employee {employee_id}: an unexpected body")
    matches = [e for e in employees if str(e.get("id")) == employee_id]
    return matches[0] if len(matches) == 1 else None


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _fail("bad_date", f"HiBob's internal.terminationDate {value!r} is not a date") from None


def _section(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def employee_number(record: Mapping[str, Any]) -> str:
    """The company's own employee id (``work.employeeIdInCompany``), else Bob's id."""
    number = _section(record, "work").get("employeeIdInCompany")
    return str(number) if number not in (None, "") else str(record["id"])


def to_canonical(
    notice: Notice, record: Mapping[str, Any], *, manager_number: str | None, timezone: str, today: date
) -> CanonicalEvent:
    """The canonical event for a notice and the record read back (pure).  A termination is what the
    record says (an inactive employee with a termination date, or a termination date still ahead),
    not what the webhook's type suggests."""
    email = record.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise _fail("missing_field", "the HiBob record lacks root.email")
    work, internal = _section(record, "work"), _section(record, "internal")
    employee = Employee(
        employee_id=employee_number(record),
        email=email.lower(),
        manager_employee_id=manager_number,
        department=work.get("department") or None,
        title=work.get("title") or None,
    )
    ends = _date(internal.get("terminationDate"))
    inactive = internal.get("status") == "Inactive"
    termination = None
    if notice.type in ("employee.created", "employee.joined") and not inactive:
        kind = EventType.HIRED
    elif ends is not None and (inactive or ends >= today):
        kind = EventType.TERMINATED
        termination = Termination(
            effective_date=ends, timezone=parse_timezone(timezone, "the source's timezone")
        )
    elif inactive and notice.type == "employee.left":
        kind = EventType.TERMINATED  # left, and Bob gives no date: from now
        termination = Termination(immediate=True)
    elif notice.type == "employee.activated" and not inactive:
        kind = EventType.REHIRED
    else:
        kind = EventType.UPDATED  # on leave (inactivated without a termination date) is not a leaver
    return CanonicalEvent(notice.event_id, kind, notice.occurred_at, employee, termination)


def read_event(client: httpx.Client, source: HibobSource, notice: Notice, *, now: datetime) -> CanonicalEvent:
    """Read the record back (and the manager's employee id) and map it."""
    record = fetch_employee(client, source, notice.employee_id)
    if record is None:
        raise _fail("unknown_vendor_employee", f"HiBob has no employee {notice.employee_id}")
    manager_number = None
    reports_to = _section(record, "work").get("reportsTo")
    manager_id = reports_to.get("id") if isinstance(reports_to, dict) else None
    if manager_id not in (None, ""):
        manager = fetch_employee(
            client, source, str(manager_id), fields=("root.id", "work.employeeIdInCompany")
        )
        if manager is None:
            raise FetchBackFailed(f"HiBob's API did not return manager {manager_id}")
        manager_number = employee_number(manager)
    zone = parse_timezone(source.timezone, "the source's timezone")
    today = now.astimezone(ZoneInfo(zone)).date()
    return to_canonical(notice, record, manager_number=manager_number, timezone=zone, today=today)
