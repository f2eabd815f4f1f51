"""POST /v1/hr/events and GET /v1/hr/events/{id} through HTTP (httpx), in a small app with the router."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import anyio
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from accessctl.hr.intake import HrIntake
from accessctl.hr.signature import WebhookSecret
from accessctl.hr.store import EVENTS, PEOPLE, SCHEDULES
from accessctl.web.hr import get_hr_intake, intake_router, status_router
from tests.conftest import sqlite_only
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.helpers import NEW_SECRET, NOW, SECRET, encode, event, signed


@pytest.fixture
def intake(engine: Engine, lifecycle: JobTableLifecycle) -> HrIntake:
    return HrIntake(engine, {"workday": [SECRET, NEW_SECRET]}, lifecycle, clock=lambda: NOW)


class AppClient:
    """httpx against the app in-process (ASGI), one request at a time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                with anyio.fail_after(30):
                    return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

        return anyio.run(send)

    def get(self, url: str) -> httpx.Response:
        return self._request("GET", url)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self._request("POST", url, **kwargs)


@pytest.fixture
def client(intake: HrIntake) -> Iterator[AppClient]:
    app = FastAPI()
    app.include_router(intake_router)
    app.include_router(status_router)
    app.dependency_overrides[get_hr_intake] = lambda: intake
    yield AppClient(app)


def _post(client: AppClient, raw: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post("/v1/hr/events", content=raw, headers=signed(raw) if headers is None else headers)


def _stored(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (EVENTS, SCHEDULES, PEOPLE)
        )


def test_a_signed_termination_is_answered_202_after_it_is_committed(
    client: AppClient, engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    response = _post(client, encode(event(termination={"immediate": True})))
    assert response.status_code == 202
    body = response.json()
    assert body["status_url"] == f"/v1/hr/events/{body['event_id']}" and body["status"] == "applied"
    status = client.get(body["status_url"]).json()
    assert (status["type"], status["status"], status["source"]) == (
        "employee.terminated",
        "applied",
        "workday",
    )
    assert status["job"]["kind"] == "leaver" and status["job"]["steps"] == []


def test_a_replay_gets_the_first_answer(
    client: AppClient, engine: Engine, lifecycle: JobTableLifecycle
) -> None:
    add_person(engine)
    raw = encode(event(termination={"immediate": True}))
    headers = signed(raw)
    first = _post(client, raw, headers)
    again = _post(client, raw, headers)
    assert (again.status_code, again.json()["event_id"]) == (202, first.json()["event_id"])
    assert len(lifecycle.calls) == 1


def test_a_future_termination_shows_its_schedule(client: AppClient, engine: Engine) -> None:
    add_person(engine)
    raw = encode(event(termination={"effective_date": "2026-12-31", "timezone": "Asia/Tokyo"}))
    body = _post(client, raw).json()
    status = client.get(body["status_url"]).json()
    assert status["status"] == "scheduled"
    assert status["schedule"]["fire_at"] == "2026-12-31T15:00:00+00:00"
    assert status["schedule"]["effective_local"] == "end of 2026-12-31 Asia/Tokyo"


def test_an_unknown_employee_is_accepted_as_unmatched(client: AppClient) -> None:
    response = _post(client, encode(event(employee_id="E404", email="ghost@example.com")))
    assert response.status_code == 202 and response.json()["status"] == "unmatched"


GOOD = encode(event(termination={"immediate": True}))


def _resigned(raw: bytes, **changes: str) -> dict[str, str]:
    return {**signed(raw), **changes}


CASES = [
    ("missing signature", GOOD, {"content-type": "application/json"}, 401, "missing_signature_header"),
    (
        "wrong secret",
        GOOD,
        signed(GOOD, secret=WebhookSecret(b"z" * 32)),
        401,
        "signature_mismatch",
    ),
    ("stale", GOOD, signed(GOOD, at=NOW - timedelta(minutes=6)), 401, "stale_timestamp"),
    ("future", GOOD, signed(GOOD, at=NOW + timedelta(minutes=6)), 401, "future_timestamp"),
    ("body changed after signing", GOOD.replace(b"E100", b"E101"), signed(GOOD), 401, "signature_mismatch"),
    (
        "wrong content type",
        GOOD,
        _resigned(GOOD, **{"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    ),
    ("duplicate keys", b'{"id": "a", "id": "b"}', signed(b'{"id": "a", "id": "b"}'), 400, "duplicate_key"),
    ("NaN", b'{"id": NaN}', signed(b'{"id": NaN}'), 400, "non_finite_number"),
    ("not UTF-8", b'{"id": "\xe9"}', signed(b'{"id": "\xe9"}'), 400, "not_utf8"),
    ("deep", b"[" * 50 + b"]" * 50, signed(b"[" * 50 + b"]" * 50), 400, "too_deep"),
    ("unknown field", encode({**event(), "x": 1}), signed(encode({**event(), "x": 1})), 422, "unknown_field"),
    (
        "unknown type",
        encode(event("employee.promoted")),
        signed(encode(event("employee.promoted"))),
        422,
        "unknown_event_type",
    ),
]


@sqlite_only  # refused before the store is touched; 202s on PostgreSQL are tested above
@pytest.mark.parametrize(
    ("raw", "headers", "status", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_refusal_is_a_4xx_saying_why_and_changes_nothing(
    client: AppClient,
    intake: HrIntake,
    engine: Engine,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    add_person(engine)
    before = _stored(engine)
    response = _post(client, raw, headers)
    assert (response.status_code, response.json()["error"]) == (status, reason)
    assert response.json()["message"]
    assert _stored(engine) == before and intake.rejections == {reason: 1}


def test_a_huge_body_is_refused_before_it_is_read(client: AppClient, engine: Engine) -> None:
    raw = b" " * (256 * 1024 + 1)
    response = _post(client, raw)
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")


def test_an_unknown_event_id_is_404_json(client: AppClient) -> None:
    response = client.get("/v1/hr/events/999")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_openapi_document_publishes_the_event_schema(client: AppClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/hr/events"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["id", "type", "occurred_at", "employee"]
    assert {p["name"] for p in operation["parameters"]} >= {"webhook-id", "webhook-signature"}
    json.dumps(spec)  # serialisable as served


def test_the_intake_itself_refuses_a_huge_body_however_it_arrived(intake: HrIntake, engine: Engine) -> None:
    from accessctl.hr.rejections import Rejected

    raw = encode({**event(), "pad": " " * (256 * 1024)})
    with pytest.raises(Rejected) as caught:
        intake.receive(signed(raw), raw)
    assert (caught.value.status, caught.value.reason) == (413, "body_too_large")
    assert _stored(engine) == (0, 0, 0)
