"""HR intake over HTTP: ``POST /v1/hr/events`` (Standard Webhooks), the vendors' own webhooks
(``POST /v1/hr/bamboohr``, ``/v1/hr/hibob``, ``/v1/hr/gusto``) and ``GET /v1/hr/events/{id}``.

The app mounts both routers and provides the intake by overriding :func:`get_hr_intake`::

    app.include_router(intake_router)                      # signed by the HR system, no bearer token
    app.include_router(status_router, dependencies=[...])  # the service's `read` scope
    app.dependency_overrides[get_hr_intake] = lambda: intake

Every refusal is a 4xx ``{"error": reason, "message": ...}``; the event is answered 202 only after it
(and its job) are committed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from accessctl.hr.events import MAX_BYTES, SCHEMA_PATH
from accessctl.hr.intake import HrIntake, event_status
from accessctl.hr.rejections import Rejected
from accessctl.hr.store import Accepted
from accessctl.hr.vendors import FetchBackFailed
from accessctl.hr.writer_process import StoreUnavailable

log = logging.getLogger("accessctl.hr")

#: how long a sender may take to send its body
BODY_TIMEOUT_S = 10.0
EVENTS_PATH = "/v1/hr/events"

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            }
        }
    }
}


def get_hr_intake() -> HrIntake:
    """The intake; the app overrides this dependency with its own."""
    raise LookupError("the app must override accessctl.web.hr.get_hr_intake")


def too_large() -> Rejected:
    return Rejected("body_too_large", f"the body is over {MAX_BYTES // 1024} KiB", status=413)


def too_slow() -> Rejected:
    return Rejected("body_timeout", "the body took too long to arrive", status=408)


def check_length(length: str | None) -> None:
    """Refuse (413) a body whose declared length is over the cap, before reading it."""
    if length is not None and length.isdigit() and int(length) > MAX_BYTES:
        raise too_large()


async def _read_body(request: Request) -> bytes:
    return await read_capped(request.headers.get("content-length"), request.stream())


async def read_capped(content_length: str | None, chunks: AsyncIterator[bytes]) -> bytes:
    """A delivery's body from its ``chunks``: 413 past :data:`MAX_BYTES` (stated or sent), 408 when
    it has not all arrived within :data:`BODY_TIMEOUT_S`."""
    check_length(content_length)
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise too_large()
                parts.append(chunk)
    except TimeoutError:
        raise too_slow() from None
    return b"".join(parts)


def _schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


intake_router = APIRouter(tags=["hr"])
status_router = APIRouter(tags=["hr"])


@intake_router.post(
    EVENTS_PATH,
    status_code=202,
    summary="Receive a signed HR event (Standard Webhooks)",
    responses={
        202: {"description": "Stored (and its job committed); a replay gets the first answer"},
        400: {**_ERROR, "description": "Not JSON, duplicate keys, NaN, too deep, not UTF-8"},
        401: {**_ERROR, "description": "Missing, wrong or stale signature"},
        409: {**_ERROR, "description": "The id was already used for another body"},
        413: {**_ERROR, "description": "Body over 256 KiB"},
        415: {**_ERROR, "description": "Not application/json in UTF-8"},
        422: {**_ERROR, "description": "Not the canonical event's shape"},
    },
    openapi_extra={
        "parameters": [
            {"name": n, "in": "header", "required": True, "schema": {"type": "string"}}
            for n in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _schema()}}},
    },
)
async def post_hr_event(request: Request) -> JSONResponse:
    intake = await _provided_intake(request)
    return await _receive(request, intake.receive_async, intake)


async def _provided_intake(request: Request) -> HrIntake:
    """The app's intake (its override of :func:`get_hr_intake`), looked up directly: FastAPI analyses
    an overridden dependency again on every request, a cost the busiest endpoint does without."""
    provide = request.app.dependency_overrides.get(get_hr_intake, get_hr_intake)
    found = provide()
    return await found if inspect.isawaitable(found) else found


@intake_router.post(
    "/v1/hr/bamboohr",
    status_code=202,
    summary="Receive a BambooHR event-based webhook (X-BambooHR-Signature); the record is read back",
    responses={401: _ERROR, 415: _ERROR, 422: _ERROR, 503: {**_ERROR, "description": "Read-back failed"}},
)
async def post_bamboohr_event(request: Request, intake: HrIntake = Depends(get_hr_intake)) -> JSONResponse:
    return await _receive(request, _in_thread(intake.receive_bamboohr), intake)


@intake_router.post(
    "/v1/hr/hibob",
    status_code=202,
    summary="Receive a HiBob webhook v2 (Bob-Signature); the employee is read back from Bob's API",
    responses={
        200: {"description": "Bob's connection test (Ping test): nothing stored"},
        401: _ERROR,
        415: _ERROR,
        422: _ERROR,
        503: {**_ERROR, "description": "Read-back failed"},
    },
)
async def post_hibob_event(request: Request, intake: HrIntake = Depends(get_hr_intake)) -> JSONResponse:
    from accessctl.hr.vendors.hibob import is_ping

    return await _receive(
        request,
        _in_thread(intake.receive_hibob),
        intake,
        handshake=lambda raw: {"status": "pong"} if is_ping(raw) else None,
    )


@intake_router.post(
    "/v1/hr/gusto",
    status_code=202,
    summary="Receive a Gusto webhook event (X-Gusto-Signature); the employee is read back from Gusto's API",
    responses={
        200: {"description": "Gusto's subscription handshake (verification_token): nothing stored"},
        401: _ERROR,
        415: _ERROR,
        422: _ERROR,
        503: {**_ERROR, "description": "Read-back failed"},
    },
)
async def post_gusto_event(request: Request, intake: HrIntake = Depends(get_hr_intake)) -> JSONResponse:
    from accessctl.hr.vendors.gusto import handshake

    return await _receive(request, _in_thread(intake.receive_gusto), intake, handshake=handshake)


def _in_thread(
    receive: Callable[[Mapping[str, str], bytes], Accepted],
) -> Callable[[Mapping[str, str], bytes], Awaitable[Accepted]]:
    """A vendor's intake (it reads the record back over HTTP) in the threadpool."""

    async def receive_in_thread(headers: Mapping[str, str], raw: bytes) -> Accepted:
        return await run_in_threadpool(receive, headers, raw)

    return receive_in_thread


async def _receive(
    request: Request,
    receive: Callable[[Mapping[str, str], bytes], Awaitable[Accepted]],
    intake: HrIntake,
    *,
    handshake: Callable[[bytes], dict[str, str] | None] | None = None,
) -> JSONResponse:
    """Read the body (capped, with a deadline), hand it to the intake, answer.  ``handshake``
    recognises a vendor's setup request (which carries no event) and gives its 200 answer."""
    try:
        raw = await _read_body(request)
    except Rejected as exc:
        return JSONResponse(*refused(intake, exc))
    answer = handshake(raw) if handshake is not None else None
    if answer is not None:
        log.info("HR vendor setup request at %s answered (nothing stored)", request.url.path)
        return JSONResponse(answer, status_code=200)
    body, status, headers = await answer_delivery(intake, receive, request.headers, raw)
    return JSONResponse(body, status_code=status, headers=headers)


Answer = tuple[dict[str, Any], int, dict[str, str] | None]


def refused(intake: HrIntake, exc: Rejected) -> Answer:
    """A refusal, counted and logged: its JSON body and 4xx status."""
    intake.rejected(exc)
    return exc.body(), exc.status, None


async def answer_delivery(
    intake: HrIntake,
    receive: Callable[[Mapping[str, str], bytes], Awaitable[Accepted]],
    headers: Mapping[str, str],
    raw: bytes,
) -> Answer:
    """What a delivery (its headers and body, read) is answered: JSON body, status, extra headers.
    202 once stored; a refusal's 4xx; 503 (retry later) when nothing could be stored."""
    try:
        accepted = await receive(headers, raw)
    except Rejected as exc:
        return refused(intake, exc)
    except (FetchBackFailed, SQLAlchemyError, StoreUnavailable, TimeoutError) as exc:
        if isinstance(exc, FetchBackFailed):  # counted and logged, so a vendor outage is visible
            intake.fetch_back_failed(exc)
        # nothing was stored and nothing done: the sender delivers it again later
        message = str(exc) if isinstance(exc, FetchBackFailed) else "the event could not be stored"
        body = {"error": "retry_later", "message": f"{message}; retry later"}
        return body, 503, {"Retry-After": "30"}
    answer = {
        "event_id": accepted.event_id,
        "status_url": f"{EVENTS_PATH}/{accepted.event_id}",
        "status": accepted.status,
    }
    return answer, 202, None


@status_router.get(
    EVENTS_PATH + "/{event_id}",
    summary="What became of an HR event: its status, schedule, job and the job's steps",
    responses={404: {**_ERROR, "description": "No such event"}},
)
async def get_hr_event(event_id: int, intake: HrIntake = Depends(get_hr_intake)) -> JSONResponse:
    status = await run_in_threadpool(event_status, intake.engine, event_id)
    if status is None:
        return JSONResponse({"error": "not_found", "message": f"no HR event {event_id}"}, status_code=404)
    return JSONResponse(status)
