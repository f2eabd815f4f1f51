"""The canonical HR event, parsed strictly from the raw bytes (after the signature was checked).

UTF-8 only, ``application/json`` only, at most 256 KiB and 16 levels deep, no duplicate keys, no
NaN/Infinity, no unknown fields, RFC 3339 date-times with an offset, real calendar dates, IANA time
zones.  The shape is published as a JSON Schema (``schema/hr-event.schema.json``).  Every refusal is a
:class:`Rejected` with a machine reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from accessctl.hr.rejections import Rejected

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
#: how far ahead of our clock an occurred_at may be (the signature window's tolerance)
CLOCK_SKEW = timedelta(minutes=5)
SCHEMA_PATH = Path(__file__).parent / "schema" / "hr-event.schema.json"


class EventType(StrEnum):
    TERMINATED = "employee.terminated"
    TERMINATION_CANCELLED = "employee.termination_cancelled"
    REHIRED = "employee.rehired"
    UPDATED = "employee.updated"
    HIRED = "employee.hired"


@dataclass(frozen=True, slots=True)
class Employee:
    employee_id: str
    email: str
    manager_employee_id: str | None = None
    department: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Termination:
    effective_at: datetime | None = None
    effective_date: date | None = None
    timezone: str | None = None
    immediate: bool = False

    def effective_instant(self, occurred_at: datetime) -> datetime:
        """When access ends (UTC): now if immediate; the instant given; the end of the day given in its
        time zone (the next day's midnight there, DST handled); else when HR says it occurred."""
        if self.immediate:
            return occurred_at
        if self.effective_at is not None:
            return self.effective_at
        if self.effective_date is not None and self.timezone is not None:
            return end_of_day(self.effective_date, self.timezone)
        return occurred_at

    def describe(self) -> str:
        """The effective time as HR gave it, for people to read."""
        if self.immediate:
            return "immediate"
        if self.effective_at is not None:
            return self.effective_at.isoformat()
        if self.effective_date is not None:
            return f"end of {self.effective_date.isoformat()} {self.timezone}"
        return "when it occurred"


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    id: str
    type: EventType
    occurred_at: datetime
    employee: Employee
    termination: Termination | None = None

    def effective_at(self) -> datetime:
        """The instant this event takes effect: a termination's effective time, else when it occurred."""
        if self.type is EventType.TERMINATED:
            return (self.termination or Termination()).effective_instant(self.occurred_at)
        return self.occurred_at


def end_of_day(day: date, zone: str) -> datetime:
    """The instant ``day`` ends in ``zone``: the first moment of the next day there, in UTC.  Where the
    next day's midnight does not exist (clocks jump forward at midnight), the jump's instant."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    # fold=0 reads a skipped wall time with the offset before the jump: the jump's instant
    return midnight.astimezone(UTC)


@cache
def iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


# ---------------------------------------------------------------------------------------------------
# the envelope: content type, size, encoding, JSON that means one thing


def check_content_type(value: str | None) -> None:
    media, _, params = (value or "").partition(";")
    if media.strip().lower() != "application/json":
        raise Rejected("unsupported_media_type", "the body must be application/json", status=415)
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Rejected("unsupported_media_type", "the only charset accepted is utf-8", status=415)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def _nests_too_deep(raw: bytes) -> bool:
    """Whether ``raw``'s arrays and objects nest deeper than :data:`MAX_DEPTH`."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:  # so few openers: not scanned
        return False
    deepest = depth = 0
    for match in _BRACKETS.finditer(_STRING.sub(b'""', raw)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest > MAX_DEPTH


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Rejected("duplicate_key", f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Rejected("non_finite_number", f"{name} is not a JSON number")


#: the most digits a JSON integer may have (Python refuses to convert past 4,300; no field needs many)
MAX_INT_DIGITS = 100


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise Rejected("number_too_large", f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise Rejected("non_finite_number", f"{text} is too large for a number")
    return value


def load_json(raw: bytes) -> Any:
    """The JSON value of ``raw``, refusing what JSON parsers disagree on."""
    if len(raw) > MAX_BYTES:
        raise Rejected("body_too_large", f"the body is over {MAX_BYTES // 1024} KiB", status=413)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Rejected("not_utf8", "the body starts with a byte-order mark; send plain UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("not_utf8", f"the body is not UTF-8 (byte {exc.start})") from None
    if _nests_too_deep(raw):
        raise Rejected("too_deep", f"the body nests more than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_integer,
        )
    except json.JSONDecodeError as exc:
        raise Rejected(
            "invalid_json", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# ---------------------------------------------------------------------------------------------------
# the shape

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
#: printable text: no control characters, no lone surrogates (JSON's "\\ud800" is not Unicode text)
_ID = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,255}")


def _fail(reason: str, message: str) -> Rejected:
    return Rejected(reason, message, status=422)


def _fields(obj: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail("wrong_type", f"{where} must be an object")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise _fail("unknown_field", f"{where} has unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if name not in obj]
    if missing:
        raise _fail("missing_field", f"{where} lacks {', '.join(missing)}")
    return obj


def _text(
    obj: dict[str, Any], name: str, where: str, *, limit: int = 200, optional: bool = False
) -> str | None:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail("wrong_type", f"{where}.{name} must be a string")
    if not value.strip() or len(value) > limit or not _ID.fullmatch(value):
        raise _fail("bad_value", f"{where}.{name} must be 1 to {limit} printable characters")
    return value


def parse_datetime(value: Any, where: str) -> datetime:
    """An RFC 3339 date-time with its offset (``Z`` or ``+hh:mm``), as UTC."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _fail("bad_datetime", f"{where} must be an RFC 3339 date-time with an offset")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail("bad_datetime", f"{where}: {value!r} is not a real date-time ({exc})") from None
    if parsed.utcoffset() is None or abs(parsed.utcoffset() or timedelta()) >= timedelta(hours=24):
        raise _fail("bad_datetime", f"{where}: {value!r} has an impossible offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is in the year 10000 in UTC
        raise _fail("bad_datetime", f"{where}: {value!r} is past the last instant we can store") from None


def parse_date(value: Any, where: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise _fail("bad_date", f"{where} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail("bad_date", f"{where}: {value} is not a date in the calendar") from None


def parse_timezone(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in iana_zones():
        raise _fail("unknown_timezone", f"{where}: {value!r} is not an IANA time zone (like Europe/Paris)")
    return value


def _employee(obj: Any) -> Employee:
    where = "employee"
    fields = _fields(obj, where, ("employee_id", "email"), ("manager_employee_id", "department", "title"))
    email = _text(fields, "email", where, limit=320) or ""
    if not _EMAIL.fullmatch(email):
        raise _fail("bad_value", f"employee.email {email!r} is not an email address")
    return Employee(
        employee_id=_text(fields, "employee_id", where, limit=128) or "",
        email=email.lower(),
        manager_employee_id=_text(fields, "manager_employee_id", where, limit=128, optional=True),
        department=_text(fields, "department", where, optional=True),
        title=_text(fields, "title", where, optional=True),
    )


def _termination(obj: Any) -> Termination:
    where = "termination"
    fields = _fields(obj, where, (), ("effective_at", "effective_date", "timezone", "immediate"))
    if "effective_at" in fields and "effective_date" in fields:
        raise _fail("conflicting_fields", "termination has both effective_at and effective_date; send one")
    immediate = fields.get("immediate", False)
    if not isinstance(immediate, bool):
        raise _fail("wrong_type", "termination.immediate must be true or false")
    zone = parse_timezone(fields["timezone"], "termination.timezone") if "timezone" in fields else None
    effective_date = None
    if "effective_date" in fields:
        effective_date = parse_date(fields["effective_date"], "termination.effective_date")
        if zone is None:
            raise _fail(
                "timezone_required",
                "termination.effective_date needs termination.timezone (the employee's IANA time zone)",
            )
        try:
            end_of_day(effective_date, zone)
        except OverflowError:
            raise _fail(
                "bad_date", f"termination.effective_date: {effective_date} has no end we can store"
            ) from None
    effective_at = None
    if "effective_at" in fields:
        effective_at = parse_datetime(fields["effective_at"], "termination.effective_at")
    return Termination(effective_at, effective_date, zone, immediate)


_EVENT_TYPES = frozenset(t.value for t in EventType)


def parse_event(value: Any, *, now: datetime) -> CanonicalEvent:
    """The canonical event in a JSON value, or :class:`Rejected` saying what is wrong."""
    fields = _fields(value, "the event", ("id", "type", "occurred_at", "employee"), ("termination",))
    event_id = _text(fields, "id", "the event", limit=255) or ""
    if not isinstance(fields["type"], str) or fields["type"] not in _EVENT_TYPES:
        known = ", ".join(t.value for t in EventType)
        raise _fail("unknown_event_type", f"type must be one of {known}")
    event_type = EventType(fields["type"])
    occurred_at = parse_datetime(fields["occurred_at"], "occurred_at")
    if occurred_at > now + CLOCK_SKEW:
        raise _fail("occurred_in_future", "occurred_at is in the future")
    termination = None
    if "termination" in fields:
        if event_type is not EventType.TERMINATED:
            raise _fail("unexpected_termination", f"only {EventType.TERMINATED} carries termination")
        termination = _termination(fields["termination"])
    return CanonicalEvent(event_id, event_type, occurred_at, _employee(fields["employee"]), termination)


def parse_body(raw: bytes, content_type: str | None, *, now: datetime) -> CanonicalEvent:
    """Content type, then the bytes, then the shape."""
    check_content_type(content_type)
    return parse_event(load_json(raw), now=now)
