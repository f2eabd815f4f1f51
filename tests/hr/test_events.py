"""Strict parsing of the canonical event: every refusal has its machine reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import jsonschema
import pytest

from accessctl.hr.events import (
    MAX_BYTES,
    SCHEMA_PATH,
    EventType,
    end_of_day,
    load_json,
    parse_body,
)
from accessctl.hr.rejections import Rejected
from tests.hr.helpers import NOW, encode, event

JSON = "application/json"


def _reason(raw: bytes, content_type: str = JSON) -> str:
    with pytest.raises(Rejected) as caught:
        parse_body(raw, content_type, now=NOW)
    assert 400 <= caught.value.status < 500 and caught.value.message
    return caught.value.reason


def _with(**changes: Any) -> bytes:
    body = event(termination={"effective_date": "2026-12-31", "timezone": "Europe/Paris"})
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is _DROP:
            del target[leaf]
        else:
            target[leaf] = value
    return encode(body)


_DROP = object()


def test_a_full_termination_parses_to_the_canonical_event() -> None:
    parsed = parse_body(_with(employee__manager_employee_id="E1", employee__title="Eng"), JSON, now=NOW)
    assert parsed.type is EventType.TERMINATED
    assert parsed.occurred_at == datetime(2026, 12, 2, 11, tzinfo=UTC)
    assert parsed.employee.manager_employee_id == "E1"
    assert parsed.termination is not None and parsed.termination.effective_date == date(2026, 12, 31)
    # the end of 31 December in Paris (UTC+1 in winter)
    assert parsed.effective_at() == datetime(2026, 12, 31, 23, tzinfo=UTC)


def test_offsets_are_read_as_the_instant_they_name() -> None:
    raw = encode(event("employee.updated", occurred_at="2026-12-02T13:30:00.123+02:00"))
    assert parse_body(raw, "application/json; charset=utf-8", now=NOW).occurred_at == datetime(
        2026, 12, 2, 11, 30, 0, 123000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("text/plain", "unsupported_media_type"),
        ("", "unsupported_media_type"),
        ("application/json; charset=latin-1", "unsupported_media_type"),
        ("application/x-www-form-urlencoded", "unsupported_media_type"),
    ],
)
def test_only_json_in_utf8_is_accepted(content_type: str, reason: str) -> None:
    assert _reason(_with(), content_type) == reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        ('{"id": "é"}'.encode("latin-1"), "not_utf8"),
        (b"\xef\xbb\xbf{}", "not_utf8"),
        (b'{"id": "a", "id": "b"}', "duplicate_key"),
        (b'{"employee": {"email": "a@b", "email": "c@d"}}', "duplicate_key"),
        (b'{"n": NaN}', "non_finite_number"),
        (b'{"n": -Infinity}', "non_finite_number"),
        (b'{"n": 1e999}', "non_finite_number"),
        (b"[" * 17 + b"]" * 17, "too_deep"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "too_deep"),
        (b"{", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"id": "a"} trailing', "invalid_json"),
        (b" " * (MAX_BYTES + 1), "body_too_large"),
        (b"[]", "wrong_type"),
        (b'"just a string"', "wrong_type"),
        (b'{"n": ' + b"7" * 5000 + b"}", "number_too_large"),  # Python's int() refuses past 4,300
    ],
)
def test_bodies_json_parsers_disagree_on_are_refused(raw: bytes, reason: str) -> None:
    assert _reason(raw) == reason


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert load_json(json.dumps({"id": "[" * 100}).encode()) == {"id": "[" * 100}
    wide = {"a": [[1], [2], [3]], "b": {"c": {"d": [{"e": "]]]"}] * 8}}}  # many openers, shallow
    assert load_json(json.dumps(wide).encode()) == wide
    assert load_json(b"[" * 16 + b"]" * 16) == [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]  # the limit itself


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"extra": 1}, "unknown_field"),
        ({"employee__nickname": "Ada"}, "unknown_field"),
        ({"termination__grace": 1}, "unknown_field"),
        ({"id": _DROP}, "missing_field"),
        ({"employee__email": _DROP}, "missing_field"),
        ({"employee": _DROP}, "missing_field"),
        ({"id": 7}, "wrong_type"),
        ({"id": ""}, "bad_value"),
        ({"id": "x" * 256}, "bad_value"),
        ({"employee__employee_id": "bad\nid"}, "bad_value"),
        ({"employee": "E100"}, "wrong_type"),
        ({"employee__email": "not-an-email"}, "bad_value"),
        ({"type": "employee.promoted"}, "unknown_event_type"),
        ({"type": None}, "unknown_event_type"),
        ({"occurred_at": "2026-12-02 11:00:00"}, "bad_datetime"),
        ({"occurred_at": "2026-12-02T11:00:00"}, "bad_datetime"),
        ({"occurred_at": "2026-02-31T11:00:00Z"}, "bad_datetime"),
        ({"occurred_at": "0000-01-01T00:00:00Z"}, "bad_datetime"),
        ({"occurred_at": "2026-12-02T25:00:00Z"}, "bad_datetime"),
        ({"occurred_at": 1764673200}, "bad_datetime"),
        ({"occurred_at": "2026-12-03T11:00:00Z"}, "occurred_in_future"),
        ({"termination__effective_date": "2027-02-31"}, "bad_date"),
        ({"termination__effective_date": "0000-12-31"}, "bad_date"),
        ({"termination__effective_date": "2027-1-31"}, "bad_date"),
        ({"termination__timezone": "Mars/Olympus_Mons"}, "unknown_timezone"),
        ({"termination__timezone": "../../etc/passwd"}, "unknown_timezone"),
        ({"termination__timezone": "+05:00"}, "unknown_timezone"),
        ({"termination__timezone": _DROP}, "timezone_required"),
        ({"termination__effective_at": "2026-12-31T00:00:00Z"}, "conflicting_fields"),
        ({"termination__immediate": "true"}, "wrong_type"),
        ({"termination__immediate": 1}, "wrong_type"),
        ({"type": "employee.updated"}, "unexpected_termination"),
        ({"id": "evt-\ud800"}, "bad_value"),  # a lone surrogate: not text the store can keep
        ({"employee__email": "\udfff@example.com"}, "bad_value"),
        ({"occurred_at": "2026-12-02T11:00:00+05:99"}, "bad_datetime"),
        ({"occurred_at": "2026-12-02T11:00:00+24:00"}, "bad_datetime"),
        (
            {"termination__effective_date": "9999-12-31", "termination__timezone": "Pacific/Kiritimati"},
            "bad_date",
        ),
        (
            {"termination__effective_date": _DROP, "termination__effective_at": "9999-12-31T23:59:59-23:59"},
            "bad_datetime",
        ),
    ],
)
def test_shapes_outside_the_schema_are_refused_with_their_reason(
    changes: dict[str, Any], reason: str
) -> None:
    assert _reason(_with(**changes)) == reason


def test_the_published_schema_agrees_with_the_parser() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = [
        _with(),
        encode(event("employee.hired", department="R&D", manager_employee_id="E1")),
        encode(event(termination={"immediate": True})),
        encode(event(termination={"effective_at": "2027-01-01T09:00:00+01:00"})),
    ]
    for raw in good:
        parse_body(raw, JSON, now=NOW)
        assert validator.is_valid(json.loads(raw))
    bad = [
        _with(extra=1),
        _with(type="employee.updated"),
        _with(termination__timezone=_DROP),
        _with(termination__effective_at="2026-12-31T00:00:00Z"),
        _with(occurred_at="2026-12-02T11:00:00"),
        _with(employee__email=_DROP),
    ]
    for raw in bad:
        assert not validator.is_valid(json.loads(raw)), raw
        with pytest.raises(Rejected):
            parse_body(raw, JSON, now=NOW)


@pytest.mark.parametrize(
    ("day", "zone", "ends_utc"),
    [
        # London springs forward at 01:00 on 29 March 2026: the 28th ends in GMT, the 29th in BST
        (date(2026, 3, 28), "Europe/London", datetime(2026, 3, 29, 0, tzinfo=UTC)),
        (date(2026, 3, 29), "Europe/London", datetime(2026, 3, 29, 23, tzinfo=UTC)),
        # New York falls back on 1 November 2026: that day lasts 25 hours
        (date(2026, 10, 31), "America/New_York", datetime(2026, 11, 1, 4, tzinfo=UTC)),
        (date(2026, 11, 1), "America/New_York", datetime(2026, 11, 2, 5, tzinfo=UTC)),
        # Santiago springs forward at midnight (6 September 2026): 00:00 of the 6th never happens there;
        # the 5th ends at the jump, 04:00 UTC
        (date(2026, 9, 5), "America/Santiago", datetime(2026, 9, 6, 4, tzinfo=UTC)),
        (date(2026, 12, 31), "Asia/Kolkata", datetime(2026, 12, 31, 18, 30, tzinfo=UTC)),
        (date(2026, 12, 31), "Pacific/Kiritimati", datetime(2026, 12, 31, 10, tzinfo=UTC)),
        (date(2026, 12, 31), "UTC", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_bare_date_ends_at_midnight_after_it_in_the_employees_zone(
    day: date, zone: str, ends_utc: datetime
) -> None:
    assert end_of_day(day, zone) == ends_utc
