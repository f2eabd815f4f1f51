"""Bad input against a running `accessctl serve` (SQLite, the three emulators): each case gets its 4xx
`{"error", "message"}` (never a 5xx or a traceback) or its documented outcome, is counted in /metrics
by reason, and changes nothing: the store's HR, job, account and audit rows are compared before and
after, and the person the event names is read back from each provider through the connectors (the
providers' public APIs, never an emulator's own state endpoint).

Every refused event names a real person with accounts in all three providers and asks for an
immediate termination, so anything that slipped through would show as a suspended account."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from accessctl.hr.signature import WebhookSecret
from accessctl.lifecycle.connections import open_connectors
from accessctl.store.models import Person
from tests.hr.helpers import encode, event, signed
from tests.hr.world import ACCOUNTS, accounts_of, with_hr_source
from tests.lifecycle.conftest import World, _world
from tests.lifecycle.helpers import direct, remember_builtin_groups
from tests.web.hr_service import Service, serve

pytestmark = pytest.mark.timeout(120)

#: what a refusal must leave as it was
TABLES = (
    "person",
    "hr_event",
    "hr_schedule",
    "person_move",
    "scim_user",
    "job",
    "job_step",
    "lifecycle_snapshot",
    "account",
    "access_grant",
    "audit_event",
)
_REJECTED = re.compile(r'accessctl_hr_events_rejected_total\{reason="([a-z0-9_]+)"\} ([0-9.]+)')


class Providers:
    """The providers as their public APIs show them, through the connectors, on one event loop."""

    def __init__(self, world: World) -> None:
        remember_builtin_groups(world)
        self._runner = asyncio.Runner()
        self._stack = contextlib.AsyncExitStack()
        self._connectors = self._runner.run(self._stack.enter_async_context(open_connectors(world.settings)))

    def state(self, accounts: dict[str, str]) -> dict[str, tuple[str | None, frozenset[tuple[str, str]]]]:
        """provider -> (the account's status, its direct grants)."""

        async def one(provider: str, account_id: str) -> tuple[str | None, frozenset[tuple[str, str]]]:
            connector = self._connectors[provider]
            record = await connector.find_account(external_id=account_id)
            grants = await connector.list_account_grants(account_id) if record else []
            return (str(record.status) if record else None, frozenset(direct(grants)))

        async def read() -> dict[str, Any]:
            providers = sorted(accounts)
            states = await asyncio.gather(*(one(p, accounts[p]) for p in providers))
            return dict(zip(providers, states, strict=True))

        return self._runner.run(asyncio.wait_for(read(), 30))

    def close(self) -> None:
        self._runner.run(self._stack.aclose())
        self._runner.close()


@dataclass
class Bed:
    service: Service
    providers: Providers
    #: the person every refused event names
    target: sa.Row
    target_hired: date
    #: a person whose accounts are protected (lifecycle.protected names their email)
    protected: sa.Row
    #: a person whose email a second roster person shares
    twin: sa.Row
    #: the target's accounts as the providers show them, before any case
    untouched: dict[str, tuple[str | None, frozenset[tuple[str, str]]]]
    #: the refusals /metrics must show, by reason
    counted: Counter[str] = field(default_factory=Counter)

    def refused(self, reason: str) -> None:
        """One more refusal for ``reason``: /metrics shows exactly the refusals counted so far."""
        self.counted[reason] += 1
        assert rejections(self.service) == self.counted

    @property
    def engine(self) -> Engine:
        return self.service.world.engine

    def accounts(self, person: sa.Row) -> dict[str, str]:
        return accounts_of(self.service.world, person.id)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = SQLModel.metadata.tables
    with engine.connect() as conn:
        return {
            name: [
                tuple(row)
                for row in conn.execute(sa.select(tables[name]).order_by(*tables[name].primary_key))
            ]
            for name in TABLES
        }


def added(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, int]:
    """Per table, how many rows were added; asserts no row that was there changed or went."""
    grew = {}
    for name in TABLES:
        assert after[name][: len(before[name])] == before[name], f"{name} rows changed"
        if len(after[name]) > len(before[name]):
            grew[name] = len(after[name]) - len(before[name])
    return grew


def rejections(service: Service) -> dict[str, float]:
    return {reason: float(n) for reason, n in _REJECTED.findall(service.metrics())}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    tmp = tmp_path_factory.mktemp("hr-bad-input")
    for world in _world(tmp, f"sqlite:///{tmp / 'store.db'}"):
        target, protected, twin = world.people_with_accounts()[:3]
        with world.engine.begin() as conn:
            people = Person.__table__
            hired = conn.execute(sa.select(people.c.hire_date).where(people.c.id == target.id)).scalar_one()
            conn.execute(
                people.insert().values(
                    employee_id="TWIN-2",
                    email=twin.email,
                    first_name="Twin",
                    last_name="Two",
                    status="active",
                    employment_type="employee",
                    updated_at=datetime.now(UTC),
                )
            )
            # as an admin protects an account: its login in each provider
            logins = conn.execute(
                sa.select(ACCOUNTS.c.login).where(
                    ACCOUNTS.c.person_id == protected.id, ACCOUNTS.c.ended_at.is_(None)
                )
            ).scalars()
            patterns = sorted({protected.email, *logins})
        # no nightly reconciliation: a run at 02:00 would start the protected person's leaver again
        with_hr_source(world, fire_due_every_s=1, reconcile_schedule="manual")
        world.reload(protected=patterns, guard={"max_per_hour": 10, "max_share": 1.0})
        providers = Providers(world)
        try:
            untouched = providers.state(accounts_of(world, target.id))
            assert {status for status, _grants in untouched.values()} == {"active"}
            for service in serve(world):
                yield Bed(service, providers, target, hired, protected, twin, untouched)
        finally:
            providers.close()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


_serial = count(1)


@dataclass
class Sent:
    """One delivery to build: the body, the headers, and where it goes."""

    raw: bytes
    headers: dict[str, str]
    path: str = "/v1/hr/events"


@dataclass
class Ctx:
    """What a case builds its delivery from: the target person, the time, a fresh id."""

    employee_id: str
    email: str
    hired: date
    now: datetime
    n: int

    def body(self, **changes: Any) -> dict[str, Any]:
        termination = changes.pop("termination", {"immediate": True})
        employee = changes.pop("employee", {})
        body = event(
            id_=f"bad-{self.n}",
            employee_id=self.employee_id,
            email=self.email,
            occurred_at=_stamp(self.now - timedelta(minutes=1)),
            termination=termination,
        )
        body["employee"].update(employee)
        body.update(changes)
        return body

    def sign(self, raw: bytes, **kw: Any) -> dict[str, str]:
        return signed(raw, webhook_id=f"msg-bad-{self.n}", at=kw.pop("at", self.now), **kw)

    def signed(self, raw: bytes, **kw: Any) -> Sent:
        return Sent(raw, self.sign(raw, **kw))

    def event(self, **changes: Any) -> Sent:
        return self.signed(encode(self.body(**changes)))

    def termination(self, **termination: Any) -> Sent:
        return self.event(termination=termination)

    def good(self) -> bytes:
        return encode(self.body())


def _headers(ctx: Ctx, **changes: str | None) -> Sent:
    raw = ctx.good()
    headers = {**ctx.sign(raw), **changes}
    return Sent(raw, {k: v for k, v in headers.items() if v is not None})


def _signature(ctx: Ctx, value: str) -> Sent:
    return _headers(ctx, **{"webhook-signature": value})


def _cut_short(ctx: Ctx) -> Sent:
    """The right signature's first 16 bytes (valid base64, the wrong length)."""
    whole = base64.b64decode(ctx.sign(ctx.good())["webhook-signature"].removeprefix("v1,"))
    return _signature(ctx, "v1," + base64.b64encode(whole[:16]).decode())


def _changed_after_signing(ctx: Ctx, change: Callable[[bytes], bytes]) -> Sent:
    raw = ctx.good()
    return Sent(change(raw), ctx.sign(raw))


def _raw(ctx: Ctx, raw: bytes) -> Sent:
    return ctx.signed(raw)


def _replace(ctx: Ctx, old: bytes, new: bytes) -> Sent:
    raw = ctx.good()
    assert old in raw
    return ctx.signed(raw.replace(old, new, 1))


def _deep(ctx: Ctx, levels: int) -> Sent:
    body = ctx.body()
    body["employee"]["title"] = "x"
    raw = encode(body).replace(b'"x"', b"[" * levels + b"]" * levels)
    return ctx.signed(raw)


def _huge(ctx: Ctx) -> Sent:
    body = ctx.body(employee={"title": "x"})
    raw = encode(body).replace(b'"x"', b'"' + b"x" * (256 * 1024) + b'"')
    return ctx.signed(raw)


#: name -> (what to send, the answer's status, its error reason)
CASES: dict[str, tuple[Callable[[Ctx], Sent], int, str]] = {
    # --- signatures
    "no signature headers": (
        lambda c: Sent(c.good(), {"content-type": "application/json"}),
        401,
        "missing_signature_header",
    ),
    "no webhook-signature": (
        lambda c: _headers(c, **{"webhook-signature": None}),
        401,
        "missing_signature_header",
    ),
    "no webhook-timestamp": (
        lambda c: _headers(c, **{"webhook-timestamp": None}),
        401,
        "missing_signature_header",
    ),
    "no webhook-id": (lambda c: _headers(c, **{"webhook-id": None}), 401, "missing_signature_header"),
    "empty signature": (lambda c: _signature(c, ""), 401, "missing_signature_header"),
    "wrong secret": (
        lambda c: Sent(c.good(), c.sign(c.good(), secret=WebhookSecret(b"z" * 32))),
        401,
        "signature_mismatch",
    ),
    "stale: signed 6 minutes ago": (
        lambda c: Sent(c.good(), c.sign(c.good(), at=c.now - timedelta(minutes=6))),
        401,
        "stale_timestamp",
    ),
    "future: signed 6 minutes ahead": (
        lambda c: Sent(c.good(), c.sign(c.good(), at=c.now + timedelta(minutes=6))),
        401,
        "future_timestamp",
    ),
    "timestamp in milliseconds": (
        lambda c: _headers(c, **{"webhook-timestamp": str(int(c.now.timestamp() * 1000))}),
        401,
        "bad_timestamp",
    ),
    "timestamp not an integer": (
        lambda c: _headers(c, **{"webhook-timestamp": "1.7e9"}),
        401,
        "bad_timestamp",
    ),
    "webhook-id with a slash and a space": (
        lambda c: _headers(c, **{"webhook-id": "msg 1/.."}),
        401,
        "bad_webhook_id",
    ),
    "signature not base64": (lambda c: _signature(c, "v1,not*base64!"), 401, "bad_signature"),
    "signature of another scheme only": (
        lambda c: _signature(c, "v1a," + base64.b64encode(b"s" * 64).decode()),
        401,
        "bad_signature",
    ),
    "nine signatures": (lambda c: _signature(c, " ".join(["v1,AAAA"] * 9)), 401, "bad_signature"),
    "signature cut short": (
        _cut_short,
        401,
        "signature_mismatch",
    ),
    "signature for another webhook-id": (
        lambda c: _headers(c, **{"webhook-id": "msg-other"}),
        401,
        "signature_mismatch",
    ),
    "body changed after signing": (
        lambda c: _changed_after_signing(c, lambda raw: raw.replace(b"immediate", b"Immediate")),
        401,
        "signature_mismatch",
    ),
    "a space appended after signing": (
        lambda c: _changed_after_signing(c, lambda raw: raw + b" "),
        401,
        "signature_mismatch",
    ),
    # --- the envelope
    "text/plain": (lambda c: _headers(c, **{"content-type": "text/plain"}), 415, "unsupported_media_type"),
    "no content type": (lambda c: _headers(c, **{"content-type": None}), 415, "unsupported_media_type"),
    "form-encoded": (
        lambda c: _headers(c, **{"content-type": "application/x-www-form-urlencoded"}),
        415,
        "unsupported_media_type",
    ),
    "charset latin-1": (
        lambda c: _headers(c, **{"content-type": "application/json; charset=iso-8859-1"}),
        415,
        "unsupported_media_type",
    ),
    "over 256 KiB": (_huge, 413, "body_too_large"),
    "17 levels deep": (lambda c: _deep(c, 15), 400, "too_deep"),
    "not UTF-8 (Latin-1 é)": (
        lambda c: _replace(c, b'"employee": {', b'"employee": {"title": "caf\xe9", '),
        400,
        "not_utf8",
    ),
    "a byte-order mark": (lambda c: _raw(c, b"\xef\xbb\xbf" + c.good()), 400, "not_utf8"),
    "duplicate key at the top": (
        lambda c: _replace(c, b'"id": ', b'"id": "first", "id": '),
        400,
        "duplicate_key",
    ),
    "duplicate key in employee": (
        lambda c: _replace(c, b'"employee": {', b'"employee": {"email": "x@example.com", '),
        400,
        "duplicate_key",
    ),
    "NaN": (
        lambda c: _replace(c, b'"employee": {', b'"employee": {"title": NaN, '),
        400,
        "non_finite_number",
    ),
    "Infinity": (lambda c: _replace(c, b"true", b"Infinity"), 400, "non_finite_number"),
    "-Infinity": (lambda c: _replace(c, b"true", b"-Infinity"), 400, "non_finite_number"),
    "1e999": (lambda c: _replace(c, b"true", b"1e999"), 400, "non_finite_number"),
    "an integer of 5,000 digits": (lambda c: _replace(c, b"true", b"7" * 5000), 400, "number_too_large"),
    "not JSON": (lambda c: _raw(c, c.good()[:-3]), 400, "invalid_json"),
    "empty body": (lambda c: _raw(c, b""), 400, "invalid_json"),
    # --- the shape
    "a JSON array": (lambda c: _raw(c, b"[" + c.good() + b"]"), 422, "wrong_type"),
    "unknown type": (
        lambda c: c.event(type="employee.promoted", termination=None),
        422,
        "unknown_event_type",
    ),
    "unknown field": (lambda c: c.event(priority="high"), 422, "unknown_field"),
    "unknown employee field": (lambda c: c.event(employee={"ssn": "078-05-1120"}), 422, "unknown_field"),
    "no employee": (lambda c: _replace(c, b'"employee": {', b'"person": {'), 422, "unknown_field"),
    "email that is not an address": (
        lambda c: c.event(employee={"email": "ada at example"}),
        422,
        "bad_value",
    ),
    "a lone surrogate in the id": (lambda c: c.event(id="evt-\ud800"), 422, "bad_value"),
    "a control character in the id": (lambda c: c.event(id="evt-\u0000"), 422, "bad_value"),
    "id a number": (lambda c: c.event(id=7), 422, "wrong_type"),
    "termination on an update": (lambda c: c.event(type="employee.updated"), 422, "unexpected_termination"),
    "immediate: yes": (lambda c: c.termination(immediate="yes"), 422, "wrong_type"),
    "effective_at and effective_date": (
        lambda c: c.termination(
            effective_at="2027-01-01T00:00:00Z", effective_date="2027-01-01", timezone="UTC"
        ),
        422,
        "conflicting_fields",
    ),
    "effective_date without a time zone": (
        lambda c: c.termination(effective_date="2027-01-01"),
        422,
        "timezone_required",
    ),
    # --- impossible dates
    "31 February": (lambda c: c.termination(effective_date="2027-02-31", timezone="UTC"), 422, "bad_date"),
    "year 0 (effective_date)": (
        lambda c: c.termination(effective_date="0000-06-01", timezone="UTC"),
        422,
        "bad_date",
    ),
    "year 0 (occurred_at)": (lambda c: c.event(occurred_at="0000-12-02T11:00:00Z"), 422, "bad_datetime"),
    "a time zone that does not exist": (
        lambda c: c.termination(effective_date="2027-01-01", timezone="Mars/Olympus_Mons"),
        422,
        "unknown_timezone",
    ),
    "an abbreviation, not a zone": (
        lambda c: c.termination(effective_date="2027-01-01", timezone="CEST"),
        422,
        "unknown_timezone",
    ),
    "offset minutes 99": (
        lambda c: c.termination(effective_at="2027-01-01T09:00:00+05:99"),
        422,
        "bad_datetime",
    ),
    "offset +24:00": (lambda c: c.termination(effective_at="2027-01-01T09:00:00+24:00"), 422, "bad_datetime"),
    "no offset": (lambda c: c.termination(effective_at="2027-01-01T09:00:00"), 422, "bad_datetime"),
    "30 February 9 o'clock": (
        lambda c: c.termination(effective_at="2027-02-30T09:00:00Z"),
        422,
        "bad_datetime",
    ),
    "the end of 9999-12-31": (
        lambda c: c.termination(effective_date="9999-12-31", timezone="Pacific/Kiritimati"),
        422,
        "bad_date",
    ),
    "9999-12-31 late, west of UTC": (
        lambda c: c.termination(effective_at="9999-12-31T23:59:59-23:59"),
        422,
        "bad_datetime",
    ),
    "occurred tomorrow": (
        lambda c: c.event(occurred_at=_stamp(c.now + timedelta(days=1))),
        422,
        "occurred_in_future",
    ),
    "effective before the hire date": (
        lambda c: c.termination(effective_date=(c.hired - timedelta(days=1)).isoformat(), timezone="UTC"),
        422,
        "effective_before_hire",
    ),
    # --- the vendors' webhooks, which have no source here
    "a BambooHR webhook, unsigned": (
        lambda c: Sent(b"{}", {"content-type": "application/json"}, "/v1/hr/bamboohr"),
        401,
        "missing_signature_header",
    ),
    "a HiBob webhook, unsigned": (
        lambda c: Sent(b'{"type": "employee.left"}', {"content-type": "application/json"}, "/v1/hr/hibob"),
        401,
        "missing_signature_header",
    ),
    "a Gusto webhook, unsigned": (
        lambda c: Sent(
            b'{"event_type": "employee.terminated"}', {"content-type": "application/json"}, "/v1/hr/gusto"
        ),
        401,
        "missing_signature_header",
    ),
}


def _ctx(bed: Bed) -> Ctx:
    return Ctx(bed.target.employee_id, bed.target.email, bed.target_hired, _now(), next(_serial))


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_delivery_is_refused_saying_why_and_changes_nothing(bed: Bed, case: str) -> None:
    build, status, reason = CASES[case]
    sent = build(_ctx(bed))
    store = snapshot(bed.engine)

    answer = bed.service.post(sent.raw, sent.headers, sent.path)

    assert (answer.status_code, answer.headers["content-type"]) == (status, "application/json"), answer.text
    body = answer.json()
    assert set(body) == {"error", "message"} and body["error"] == reason, body
    assert body["message"] and "Traceback" not in body["message"]
    assert added(store, snapshot(bed.engine)) == {}
    assert bed.providers.state(bed.accounts(bed.target)) == bed.untouched
    bed.refused(reason)


def test_a_body_over_256_kib_sent_in_chunks_is_refused(bed: Bed) -> None:
    """No content-length to trust: the intake counts what arrives and stops past the cap."""
    ctx = _ctx(bed)
    sent = _huge(ctx)
    before = snapshot(bed.engine)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(sent.raw), 16 * 1024):
            yield sent.raw[start : start + 16 * 1024]

    answer = bed.service.http.post("/v1/hr/events", content=chunks(), headers=sent.headers)
    assert (answer.status_code, answer.json()["error"]) == (413, "body_too_large")
    assert added(before, snapshot(bed.engine)) == {}
    bed.refused("body_too_large")


def _accepted(bed: Bed, sent: Sent) -> dict[str, Any]:
    answer = bed.service.post(sent.raw, sent.headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_replay_gets_the_original_answer_and_changes_nothing(bed: Bed) -> None:
    ctx = _ctx(bed)
    sent = ctx.event(employee={"employee_id": f"E-GONE-{ctx.n}", "email": f"gone{ctx.n}@example.com"})
    first = _accepted(bed, sent)
    before = snapshot(bed.engine)

    again = _accepted(bed, Sent(sent.raw, ctx.sign(sent.raw)))  # same webhook-id, signed again now
    by_event_id = _accepted(bed, Sent(sent.raw, signed(sent.raw, webhook_id=f"msg-new-{ctx.n}", at=_now())))
    assert again == first and by_event_id == first
    assert added(before, snapshot(bed.engine)) == {}


@pytest.mark.parametrize("key", ["webhook-id", "event id"])
def test_an_id_used_again_for_another_body_is_a_409(bed: Bed, key: str) -> None:
    ctx = _ctx(bed)
    unknown = {"employee_id": f"E-GONE-{ctx.n}", "email": f"gone{ctx.n}@example.com"}
    sent = ctx.event(employee=unknown)
    _accepted(bed, sent)
    other = encode(ctx.body(employee=unknown, type="employee.updated", termination=None))
    if key == "webhook-id":
        other = other.replace(f'"bad-{ctx.n}"'.encode(), f'"bad-{ctx.n}-b"'.encode())
    headers = (
        ctx.sign(other) if key == "webhook-id" else signed(other, webhook_id=f"msg-b-{ctx.n}", at=_now())
    )
    before = snapshot(bed.engine)

    answer = bed.service.post(other, headers)
    assert (answer.status_code, answer.json()["error"]) == (409, "replay_mismatch"), answer.text
    assert added(before, snapshot(bed.engine)) == {}
    bed.refused("replay_mismatch")


def _stored_event(bed: Bed, event_id: int) -> sa.Row:
    table = SQLModel.metadata.tables["hr_event"]
    with bed.engine.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.id == event_id)).one()


def test_an_unknown_employee_is_stored_unmatched_and_nothing_else(bed: Bed) -> None:
    """Documented: 202 `unmatched`, listed by `accessctl hr unmatched`, matched again after a sync."""
    ctx = _ctx(bed)
    accounts = bed.accounts(bed.target)
    before, providers = snapshot(bed.engine), bed.providers.state(accounts)
    # the target's display name and a made-up id: never guessed from a name
    answer = _accepted(bed, ctx.event(employee={"employee_id": "E-404", "email": "nobody@example.com"}))
    assert answer["status"] == "unmatched"
    assert added(before, snapshot(bed.engine)) == {"hr_event": 1, "audit_event": 1}
    row = _stored_event(bed, answer["event_id"])
    assert (row.status, row.person_id, row.job_id) == ("unmatched", None, None)
    assert bed.providers.state(accounts) == providers


def test_an_email_two_people_share_matches_no_one(bed: Bed) -> None:
    """Documented: matched by employee id, else by a *unique* email; two roster people with the
    email and an unknown id: stored unmatched, neither touched."""
    ctx = _ctx(bed)
    accounts = bed.accounts(bed.twin)
    before, providers = snapshot(bed.engine), bed.providers.state(accounts)
    answer = _accepted(bed, ctx.event(employee={"employee_id": "E-TWIN-X", "email": bed.twin.email}))
    assert answer["status"] == "unmatched"
    assert added(before, snapshot(bed.engine)) == {"hr_event": 1, "audit_event": 1}
    assert _stored_event(bed, answer["event_id"]).job_id is None
    assert bed.providers.state(accounts) == providers
    assert all(status == "active" for status, _grants in providers.values())


def test_a_protected_persons_termination_is_planned_skipped_and_suspends_nothing(bed: Bed) -> None:
    """Documented: a protected account is never touched by automation; the leaver's plan shows each
    of its steps `skipped: protected`."""
    ctx = Ctx(bed.protected.employee_id, bed.protected.email, date.min, _now(), next(_serial))
    accounts = bed.accounts(bed.protected)
    providers = bed.providers.state(accounts)
    answer = _accepted(bed, ctx.event())
    shown = bed.service.job_finished(answer["event_id"])
    acting = [s for s in shown["job"]["steps"] if s["action"] != "verify"]
    assert acting and {(s["state"], s["result"]) for s in acting} == {("skipped", "skipped: protected")}, (
        acting
    )
    assert {s["provider"] for s in acting} == set(accounts)
    assert bed.providers.state(accounts) == providers
    assert all(status == "active" for status, _grants in providers.values())


def test_a_status_url_that_is_not_a_number_is_a_json_4xx(bed: Bed) -> None:
    answer = bed.service.http.get("/v1/hr/events/1%20OR%201=1", headers=bed.service.read)
    assert 400 <= answer.status_code < 500 and answer.json()["error"], answer.text
    assert "Traceback" not in answer.text
