"""The HR intake's writer process (accessctl.hr.writer_process): events stored by a child process,
answered after its commit; refusals and replays as in one process; a child that dies is noticed,
and a child whose service died commits what it took and exits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.hr.events import parse_body
from accessctl.hr.rejections import Rejected
from accessctl.hr.store import EVENTS
from accessctl.hr.writer_process import RecordRequest, StoreUnavailable, WriterGone, WriterProcess
from accessctl.jobs.tables import JOBS
from accessctl.settings import Settings
from tests.conftest import on_databases
from tests.hr.conftest import add_person
from tests.hr.helpers import encode, event

pytestmark = pytest.mark.timeout(120)


def _request(event_id: str, employee_id: str = "E100", *, webhook_id: str | None = None) -> RecordRequest:
    now = datetime.now(UTC)
    email = f"{employee_id.lower()}@example.com"
    raw = encode(event(id_=event_id, employee_id=employee_id, email=email, termination={"immediate": True}))
    parsed = parse_body(raw, "application/json", now=now)
    digest = hashlib.sha256(raw).hexdigest()
    return RecordRequest("workday", webhook_id or f"msg_{event_id}", parsed, digest, now)


def _with_writer(db_url: str, test: Callable[[WriterProcess], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        remote = await WriterProcess.start(Settings(database_url=db_url))
        try:
            return await test(remote)
        finally:
            if not remote.ended.done():
                await remote.close()

    return asyncio.run(run())


def _stored(engine: Engine) -> list[tuple[str, int | None, str | None]]:
    with engine.connect() as conn:
        return [
            (r.source_event_id, r.job_id, r.kind)
            for r in conn.execute(
                sa.select(EVENTS.c.source_event_id, EVENTS.c.job_id, JOBS.c.kind)
                .outerjoin(JOBS, JOBS.c.id == EVENTS.c.job_id)
                .order_by(EVENTS.c.id)
            )
        ]


@pytest.mark.parametrize("db_url", on_databases(("sqlite",), ("postgres",)), indirect=True)
def test_events_are_stored_by_the_child_with_their_jobs_and_replays_answer_the_same(
    db_url: str, engine: Engine
) -> None:
    add_person(engine, "E100", "e100@example.com")
    add_person(engine, "E200", "e200@example.com")

    async def test(remote: WriterProcess) -> list[Any]:
        first = await asyncio.gather(
            remote.write(_request("evt_1", "E100"), key="E100", deadline_s=30),
            remote.write(_request("evt_2", "E200"), key="E200", deadline_s=30),
        )
        again = await remote.write(_request("evt_1", "E100"), key="E100", deadline_s=30)
        return [*first, again]

    one, two, replay = _with_writer(db_url, test)
    assert (one.replay, two.replay, replay.replay) == (False, False, True)
    assert replay.event_id == one.event_id and one.event_id != two.event_id
    stored = _stored(engine)
    assert sorted((event_id, kind) for event_id, _, kind in stored) == [
        ("evt_1", "leaver"),
        ("evt_2", "leaver"),
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_refusal_in_the_child_is_the_same_rejection_and_stores_nothing(db_url: str, engine: Engine) -> None:
    add_person(engine, "E100", "e100@example.com")

    async def test(remote: WriterProcess) -> Rejected:
        await remote.write(_request("evt_1"), key="E100", deadline_s=30)
        other_body = _request("evt_1", "E200")  # the same event id, another body
        with pytest.raises(Rejected) as refused:
            await remote.write(other_body, key="E200", deadline_s=30)
        return refused.value

    refused = _with_writer(db_url, test)
    assert refused.status == 409 and refused.reason
    assert [event_id for event_id, _, _ in _stored(engine)] == ["evt_1"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_request_that_gave_up_before_the_child_took_it_stores_nothing(db_url: str, engine: Engine) -> None:
    add_person(engine, "E100", "e100@example.com")

    async def test(remote: WriterProcess) -> None:
        with pytest.raises(TimeoutError):
            await remote.write(_request("evt_late"), key="E100", deadline_s=0)
        await remote.write(_request("evt_2"), key="E100", deadline_s=30)  # after it, in one queue

    _with_writer(db_url, test)
    assert [event_id for event_id, _, _ in _stored(engine)] == ["evt_2"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_child_that_dies_is_noticed_and_fails_its_waiting_requests(db_url: str, engine: Engine) -> None:
    async def test(remote: WriterProcess) -> None:
        stop = asyncio.Event()
        watch = asyncio.create_task(remote.until_gone(stop, None))
        os.kill(remote._proc.pid, signal.SIGKILL)
        with pytest.raises(WriterGone, match="exited"):
            await asyncio.wait_for(watch, 30)
        with pytest.raises(StoreUnavailable):
            await remote.write(_request("evt_1"), key="E100", deadline_s=5)

    _with_writer(db_url, test)
    assert _stored(engine) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_child_whose_service_is_gone_commits_what_it_took_and_exits(db_url: str, engine: Engine) -> None:
    for n in range(20):
        add_person(engine, f"E{n}", f"e{n}@example.com")

    async def test(remote: WriterProcess) -> int | None:
        for n in range(20):  # sent, never awaited: the service "dies" with them in flight
            remote._writer.write(remote_frame(n))
        await remote._writer.drain()
        remote._writer.transport.abort()  # what the kernel does to a SIGKILLed service's socket
        return await asyncio.to_thread(remote._proc.wait, 30)

    def remote_frame(n: int) -> bytes:
        from accessctl.hr.writer_process import _frame

        return _frame((n + 1, f"E{n}", 1e18, _request(f"evt_{n}", f"E{n}").wire()))

    code = _with_writer(db_url, test)
    assert code == 0
    stored = _stored(engine)
    assert len(stored) == 20 and all(kind == "leaver" for _, _, kind in stored)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_child_that_cannot_reach_the_store_stops_the_start_saying_why(db_url: str, tmp_path: Any) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    missing = f"sqlite:///{tmp_path / 'a-file' / 'store.db'}"

    async def start() -> None:
        remote = await WriterProcess.start(Settings(database_url=missing))
        await remote.close()

    with pytest.raises(WriterGone, match="could not start: cannot create the SQLite database"):
        asyncio.run(start())


@pytest.mark.parametrize(
    "body",
    [
        event(termination={"immediate": True}),
        event(termination={"effective_date": "2027-01-31", "timezone": "Europe/Paris"}),
        event(termination={"effective_at": "2027-01-31T17:00:00-05:00"}),
        event("employee.updated", manager_employee_id="E7", department="Sales", title="Lead"),
        event("employee.rehired"),
    ],
    ids=["immediate", "dated", "instant", "mover", "rehire"],
)
def test_a_request_crosses_the_socket_as_it_was_given(body: dict[str, Any]) -> None:
    """What the service sends the child is plain values; the child rebuilds the same request."""
    import pickle

    now = datetime.now(UTC)
    raw = encode(body)
    request = RecordRequest.of("workday", "msg_x", parse_body(raw, "application/json", now=now), raw, now)
    crossed = RecordRequest.from_wire(pickle.loads(pickle.dumps(request.wire())))
    assert crossed == request
    assert crossed.event.effective_at() == request.event.effective_at()
