"""``POST /v1/hr/events`` answered in front of FastAPI: the service's busiest route, as raw ASGI.

    app = events_fast_path(create_app(settings, engine, ...), intake)   # what uvicorn serves

Every other request goes to the FastAPI app unchanged; this one skips its middleware stack, request
objects and dependency solving (half the CPU of an event before).  What the sender sees is the
FastAPI route's (:mod:`accessctl.web.hr`, which still documents it in the OpenAPI schema): the same
checks in the same order (the intake's :meth:`~accessctl.hr.intake.HrIntake.receive_async`), the
same size cap and body deadline, the same JSON bodies and statuses, byte for byte, and the 202 only
after the event and its job are committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from accessctl.hr.intake import HrIntake
from accessctl.hr.rejections import Rejected
from accessctl.web.errors import error_body
from accessctl.web.hr import EVENTS_PATH, answer_delivery, read_capped, refused

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Disconnected(Exception):
    """The sender went away before its body arrived: nobody to answer, nothing stored."""


def events_fast_path(app: ASGIApp, intake: HrIntake | None) -> ASGIApp:
    """``app`` with ``POST /v1/hr/events`` served here (``intake`` None: the HR intake is off, and
    the app answers it as it does)."""
    if intake is None:
        return app

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == EVENTS_PATH and scope["method"] == "POST":
            await _post_event(intake, scope, receive, send)
        else:
            await app(scope, receive, send)

    return serve


async def _post_event(intake: HrIntake, scope: Scope, receive: Receive, send: Send) -> None:
    headers = Headers(scope=scope)
    try:
        try:
            raw = await _read_body(headers, receive)
        except Rejected as exc:
            body, status, extra = refused(intake, exc)
        else:
            body, status, extra = await answer_delivery(intake, intake.receive_async, headers, raw)
    except _Disconnected:
        return
    except Exception as exc:  # a bug: the FastAPI app's own 500 (its traceback to the log only)
        log.error("internal error answering POST %s", EVENTS_PATH, exc_info=exc)
        message = "internal error (a bug in accessctl); the service's log has the details"
        body, status, extra = error_body("internal_error", message), 500, None
    await _send_json(send, body, status, extra)


async def _read_body(headers: Headers, receive: Receive) -> bytes:
    return await read_capped(headers.get("content-length"), _chunks(receive))


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The body's chunks as the ASGI server hands them over (:class:`_Disconnected` if the sender
    goes away first)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _send_json(send: Send, content: dict[str, Any], status: int, extra: dict[str, str] | None) -> None:
    """What Starlette's ``JSONResponse(content, status, extra)`` sends, without building one."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    head = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    head += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
