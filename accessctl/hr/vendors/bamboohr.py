"""BambooHR's event-based webhooks, mapped to the canonical event.

BambooHR signs each POST with the webhook's private key: ``X-BambooHR-Signature`` is the hex
HMAC-SHA256 of the raw body followed by ``X-BambooHR-Timestamp``.  The payload names the employee and
the fields that changed (``{"type": "employee.updated", "timestamp": ..., "data": {"companyId",
"employeeId", "changedFields"}}``), not their values, so the employee record is read back from
BambooHR's API (``GET /api/gateway.php/{company}/v1/employees/{id}/?fields=...``, HTTP Basic with the
API key).  A read-back that fails is retried, then the delivery is refused for BambooHR to retry: the
intake never acts on a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

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
from accessctl.hr.signature import TOLERANCE_S
from accessctl.hr.vendors import FetchBackFailed

FIELDS = (
    "employeeNumber",
    "workEmail",
    "status",
    "terminationDate",
    "supervisorEId",
    "department",
    "jobTitle",
)
_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class BambooSource:
    name: str
    keys: list[bytes] = field(repr=False)
    api_url: str
    company_domain: str
    api_key: str = field(repr=False)
    timezone: str = "UTC"


def verify(
    headers: Mapping[str, str], body: bytes, sources: Sequence[BambooSource], *, now: datetime
) -> BambooSource:
    """The source whose private key signed this delivery; :class:`Rejected` otherwise."""
    signature = (headers.get("x-bamboohr-signature") or "").strip()
    stamp = (headers.get("x-bamboohr-timestamp") or "").strip()
    if not signature or not stamp:
        raise Rejected(
            "missing_signature_header",
            "X-BambooHR-Signature and X-BambooHR-Timestamp are required",
            status=401,
        )
    if not stamp.isdigit() or len(stamp) > 12:
        raise Rejected("bad_timestamp", "X-BambooHR-Timestamp must be integer Unix seconds", status=401)
    if abs(int(stamp) - now.timestamp()) > TOLERANCE_S:
        raise Rejected(
            "stale_timestamp", "X-BambooHR-Timestamp is more than 5 minutes from our clock", status=401
        )
    if not _HEX.fullmatch(signature):
        raise Rejected("bad_signature", "X-BambooHR-Signature must be a hex HMAC-SHA256", status=401)
    matched = None
    for source in sources:
        for key in source.keys:
            expected = hmac.new(key, body + stamp.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, signature.lower()) and matched is None:
                matched = source
    if matched is None:
        raise Rejected(
            "signature_mismatch", "the signature matches no BambooHR source's private key", status=401
        )
    return matched


@dataclass(frozen=True)
class Notice:
    """What BambooHR's webhook says: an event type, when, which employee, which fields changed."""

    type: str
    occurred_at: datetime
    employee_id: str
    changed: tuple[str, ...]

    @property
    def event_id(self) -> str:
        return f"{self.type}:{self.employee_id}:{self.occurred_at.isoformat()}"


def _fail(reason: str, message: str) -> Rejected:
    return Rejected(reason, message, status=422)


def parse_notice(raw: bytes) -> Notice:
    payload = load_json(raw)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise _fail("wrong_type", "a BambooHR webhook is an object with data")
    kind = payload.get("type")
    if kind not in ("employee.created", "employee.updated", "employee.deleted"):
        raise _fail(
            "unknown_event_type", "type must be employee.created, employee.updated or employee.deleted"
        )
    if kind == "employee.deleted":
        raise _fail(
            "unsupported_event", "a deleted BambooHR record is not a termination: terminate the employee"
        )
    try:
        occurred = datetime.strptime(str(payload.get("timestamp")), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise _fail("bad_datetime", "timestamp must look like 2026-01-31T18:42:00+0000") from None
    employee_id = payload["data"].get("employeeId")
    if (
        not isinstance(employee_id, str | int)
        or isinstance(employee_id, bool)
        or not str(employee_id).isdigit()
    ):
        raise _fail("bad_value", "data.employeeId must be BambooHR's numeric employee id")
    changed = payload["data"].get("changedFields", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise _fail("wrong_type", "data.changedFields must be a list of field names")
    return Notice(kind, occurred, str(employee_id), tuple(changed))


def fetch_employee(
    client: httpx.Client,
    source: BambooSource,
    employee_id: str,
    *,
    fields: Sequence[str] = FIELDS,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> dict[str, Any] | None:
    """The employee's record from BambooHR's API (None when BambooHR has no such employee).  Transient
    failures are retried; raise :class:`FetchBackFailed` when every attempt failed."""
    url = f"{source.api_url.rstrip('/')}/api/gateway.php/{source.company_domain}/v1/employees/{employee_id}/"
    why = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = client.get(
                url,
                params={"fields": ",".join(fields)},
                auth=(source.api_key, "x"),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            continue
        if response.status_code == 404:
            return None
        if response.status_code == 200:
            try:
                record = response.json()
            except ValueError:
                why = "a body that is not JSON"
                continue
            if isinstance(record, dict):
                return record
            why = "a body that is not an object"
            continue
        why = f"HTTP {response.status_code}"
        if response.status_code in (401, 403):
            break  # our key is wrong: retrying will not help; BambooHR retries the delivery later
    raise FetchBackFailed(f"BambooHR's API did not return employee {employee_id}: {why}")


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or value in ("", "0000-00-00"):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail("bad_date", f"BambooHR's terminationDate {value!r} is not a date") from None


def to_canonical(
    notice: Notice, record: Mapping[str, Any], *, manager_number: str | None, timezone: str
) -> CanonicalEvent:
    """The canonical event for a notice and the record read back (pure)."""
    number, email = record.get("employeeNumber"), record.get("workEmail")
    if not isinstance(number, str) or not number or not isinstance(email, str) or "@" not in email:
        raise _fail("missing_field", "the BambooHR record lacks employeeNumber or workEmail")
    employee = Employee(
        employee_id=number,
        email=email.lower(),
        manager_employee_id=manager_number,
        department=record.get("department") or None,
        title=record.get("jobTitle") or None,
    )
    status = record.get("status")
    termination = None
    if notice.type == "employee.created":
        kind = EventType.HIRED
    elif status == "Inactive":
        kind = EventType.TERMINATED
        ends = _date(record.get("terminationDate"))
        zone = parse_timezone(timezone, "the source's timezone")
        termination = Termination(effective_date=ends, timezone=zone) if ends else Termination(immediate=True)
    elif status == "Active" and "status" in notice.changed:
        kind = EventType.REHIRED
    else:
        kind = EventType.UPDATED
    return CanonicalEvent(notice.event_id, kind, notice.occurred_at, employee, termination)


def read_event(client: httpx.Client, source: BambooSource, notice: Notice) -> CanonicalEvent:
    """Read the record back (and the supervisor's employee number) and map it."""
    record = fetch_employee(client, source, notice.employee_id)
    if record is None:
        raise _fail("unknown_vendor_employee", f"BambooHR has no employee {notice.employee_id}")
    manager_number = None
    supervisor = record.get("supervisorEId")
    if supervisor not in (None, "", "0"):
        manager = fetch_employee(client, source, str(supervisor), fields=("employeeNumber",))
        if manager is None or not manager.get("employeeNumber"):
            raise FetchBackFailed(f"BambooHR's API did not return supervisor {supervisor}'s employee number")
        manager_number = str(manager["employeeNumber"])
    return to_canonical(notice, record, manager_number=manager_number, timezone=source.timezone)
