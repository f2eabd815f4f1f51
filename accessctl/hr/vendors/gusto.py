"""Gusto webhooks, mapped to the canonical event.

What Gusto sends (docs.gusto.com, "Webhooks" and "Employee Events"): a POST whose JSON body names an
event and the entity it is about, not its data: ``{"uuid", "event_type": "employee.terminated" |
"employee.termination_effective" | "employee.termination_cancelled" | "employee.rehired" |
"employee.rehire_effective" | "employee.created" | "employee.updated" | ..., "resource_type":
"Company", "resource_uuid": the company, "entity_type": "Employee", "entity_uuid": the employee,
"timestamp": Unix seconds}``.  Gusto computes an HMAC-SHA256 of the payload keyed with the
subscription's ``verification_token`` and sends it hex in ``X-Gusto-Signature``; a non-2xx answer is
retried up to 16 times with exponential backoff.  ``uuid`` identifies the event (for deduplication).

Setting up a subscription, Gusto first posts ``{"verification_token": ...}`` (unsigned: we do not have
the token yet) and waits for ``PUT /v1/webhook_subscriptions/{uuid}/verify`` with it.  That delivery is
answered 200, stores nothing and is never logged with its token (:func:`handshake`).

The employee is read back with ``GET /v1/employees/{employee_uuid}`` and, for a termination,
``GET /v1/employees/{employee_uuid}/terminations`` (each ``{"uuid", "employee_uuid", "active",
"cancelable", "effective_date", ...}``), with the Bearer access token.  A read-back that fails is
retried, then the delivery is refused (503) for Gusto to retry; the termination's date always comes
from Gusto's API, never from the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
from accessctl.hr.vendors import FetchBackFailed, fetch_json

API_VERSION = "2024-04-01"
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TERMINATING = ("employee.terminated", "employee.termination_effective")
REHIRING = ("employee.rehire_effective",)
EVENT_TYPES = (
    "employee.created",
    "employee.updated",
    "employee.onboarded",
    "employee.self_onboarding_completed",
    "employee.terminated",
    "employee.termination_effective",
    "employee.termination_cancelled",
    "employee.rehired",
    "employee.rehire_effective",
    "employee.rehire_cancelled",
    "employee.deleted",
)


@dataclass(frozen=True)
class GustoSource:
    name: str
    #: the subscription's verification token(s): the HMAC key
    keys: list[bytes] = field(repr=False)
    api_url: str
    api_token: str = field(repr=False)
    #: the company's uuid; when set, a delivery for another company is refused
    company_uuid: str = ""
    timezone: str = "UTC"


def handshake(raw: bytes) -> dict[str, str] | None:
    """Gusto's subscription handshake (``{"verification_token": ...}``): the answer to send (200), or
    None when the body is not one.  The token is neither stored nor echoed."""
    try:
        payload = load_json(raw)
    except Rejected:
        return None
    if (
        not isinstance(payload, dict)
        or "verification_token" not in payload
        or not set(payload) <= {"verification_token", "webhook_subscription_uuid"}
        or not all(isinstance(v, str) and len(v) <= 200 for v in payload.values())
    ):
        return None
    return {
        "status": "verification_token_received",
        "message": "put this token in the source's secret, then verify the subscription with Gusto",
    }


def verify(headers: Mapping[str, str], body: bytes, sources: Sequence[GustoSource]) -> GustoSource:
    """The source whose verification token signed this delivery; :class:`Rejected` (401) otherwise."""
    signature = (headers.get("x-gusto-signature") or "").strip()
    if not signature:
        raise Rejected("missing_signature_header", "X-Gusto-Signature is required", status=401)
    if not _HEX.fullmatch(signature):
        raise Rejected("bad_signature", "X-Gusto-Signature must be a hex HMAC-SHA256", status=401)
    matched = None
    for source in sources:
        for key in source.keys:
            expected = hmac.new(key, body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, signature.lower()) and matched is None:
                matched = source
    if matched is None:
        raise Rejected(
            "signature_mismatch", "the signature matches no Gusto source's verification token", status=401
        )
    return matched


@dataclass(frozen=True)
class Notice:
    """What Gusto's webhook says: an event (its uuid and type), when, which company and employee."""

    event_id: str
    type: str
    occurred_at: datetime
    company_uuid: str
    employee_uuid: str


def _fail(reason: str, message: str) -> Rejected:
    return Rejected(reason, message, status=422)


def _uuid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise _fail("bad_value", f"{where} must be a UUID")
    return value.lower()


def parse_notice(raw: bytes, source: GustoSource) -> Notice:
    payload = load_json(raw)
    if not isinstance(payload, dict):
        raise _fail("wrong_type", "a Gusto webhook event is an object")
    kind = payload.get("event_type")
    if payload.get("entity_type") != "Employee" or kind not in EVENT_TYPES:
        raise _fail("unsupported_event", "only Gusto's Employee events are accepted")
    if kind == "employee.deleted":
        raise _fail("unsupported_event", "a deleted Gusto employee is not a termination: terminate them")
    if payload.get("resource_type") != "Company":
        raise _fail("bad_value", "resource_type must be Company")
    company = _uuid(payload.get("resource_uuid"), "resource_uuid")
    if source.company_uuid and company != source.company_uuid.lower():
        raise _fail("wrong_company", f"resource_uuid {company} is not this source's company")
    stamp = payload.get("timestamp")
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 < stamp < 2**33:
        raise _fail("bad_datetime", "timestamp must be integer Unix seconds")
    return Notice(
        _uuid(payload.get("uuid"), "uuid"),
        kind,
        datetime.fromtimestamp(stamp, UTC),
        company,
        _uuid(payload.get("entity_uuid"), "entity_uuid"),
    )


def _get(
    client: httpx.Client, source: GustoSource, path: str, what: str, *, attempts: int, backoff_s: float
) -> Any | None:
    return fetch_json(
        lambda: client.get(
            f"{source.api_url.rstrip('/')}{path}",
            headers={
                "Authorization": f"Bearer {source.api_token}",
                "Accept": "application/json",
                "X-Gusto-API-Version": API_VERSION,
            },
        ),
        what=what,
        attempts=attempts,
        backoff_s=backoff_s,
    )


def fetch_employee(
    client: httpx.Client,
    source: GustoSource,
    employee_uuid: str,
    *,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> dict[str, Any] | None:
    """The employee from Gusto's API (None when Gusto has no such employee)."""
    what = f"Gusto's API did not return employee {employee_uuid}"
    record = _get(
        client, source, f"/v1/employees/{employee_uuid}", what, attempts=attempts, backoff_s=backoff_s
    )
    if record is not None and not isinstance(record, dict):
        raise FetchBackFailed(f"{what}: a body that is not an object")
    return record


def fetch_terminations(
    client: httpx.Client,
    source: GustoSource,
    employee_uuid: str,
    *,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> list[dict[str, Any]]:
    what = f"Gusto's API did not return employee {employee_uuid}'s terminations"
    found = _get(
        client,
        source,
        f"/v1/employees/{employee_uuid}/terminations",
        what,
        attempts=attempts,
        backoff_s=backoff_s,
    )
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        raise FetchBackFailed(f"{what}: an unexpected body")
    return found


def active_termination(terminations: Sequence[Mapping[str, Any]]) -> date | None:
    """The effective date (the last day worked) of the employee's active termination, if any."""
    dates = []
    for termination in terminations:
        if termination.get("active") is not True:
            continue
        try:
            dates.append(date.fromisoformat(str(termination.get("effective_date"))))
        except ValueError:
            raise _fail("bad_date", "a Gusto termination's effective_date is not a date") from None
    return max(dates) if dates else None


def _title(record: Mapping[str, Any]) -> str | None:
    jobs = record.get("jobs")
    if not isinstance(jobs, list):
        return None
    primary = [j for j in jobs if isinstance(j, dict) and j.get("primary")] or [
        j for j in jobs if isinstance(j, dict)
    ]
    title = primary[0].get("title") if primary else None
    return title if isinstance(title, str) and title else None


def to_canonical(
    notice: Notice, record: Mapping[str, Any], *, ends: date | None, timezone: str
) -> CanonicalEvent:
    """The canonical event for a notice and what Gusto's API returned (pure).  A termination whose
    active record is gone by the time we read it (cancelled since) is only an update."""
    email = record.get("work_email") or record.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise _fail("missing_field", "the Gusto employee has neither work_email nor email")
    manager = record.get("manager_uuid")
    employee = Employee(
        employee_id=str(record["uuid"]).lower(),
        email=email.lower(),
        manager_employee_id=str(manager).lower() if manager else None,
        department=record.get("department") or None,
        title=_title(record),
    )
    termination = None
    if notice.type == "employee.created":
        kind = EventType.HIRED
    elif notice.type in TERMINATING and ends is not None:
        kind = EventType.TERMINATED
        termination = Termination(
            effective_date=ends, timezone=parse_timezone(timezone, "the source's timezone")
        )
    elif notice.type == "employee.termination_cancelled" and ends is None:
        kind = EventType.TERMINATION_CANCELLED
    elif notice.type in REHIRING and record.get("terminated") is not True:
        kind = EventType.REHIRED
    else:
        kind = EventType.UPDATED  # a rehire not yet effective, onboarding, a changed field
    return CanonicalEvent(notice.event_id, kind, notice.occurred_at, employee, termination)


def read_event(client: httpx.Client, source: GustoSource, notice: Notice) -> CanonicalEvent:
    """Read the employee (and, for terminations and their cancellation, the terminations) back and
    map them."""
    record = fetch_employee(client, source, notice.employee_uuid)
    if record is None:
        raise _fail("unknown_vendor_employee", f"Gusto has no employee {notice.employee_uuid}")
    if str(record.get("uuid", "")).lower() != notice.employee_uuid:
        raise FetchBackFailed(f"Gusto's API answered for another employee than {notice.employee_uuid}")
    ends = None
    if notice.type in (*TERMINATING, "employee.termination_cancelled"):
        ends = active_termination(fetch_terminations(client, source, notice.employee_uuid))
    return to_canonical(notice, record, ends=ends, timezone=source.timezone)
