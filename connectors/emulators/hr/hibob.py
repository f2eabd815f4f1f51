"""An emulator of HiBob's people search, and a sender of Bob's signed webhooks v2.

``POST /v1/people/search`` with HTTP Basic (a service user's ID and token) and a JSON body
``{"fields": [...], "filters": [{"fieldPath": "root.id", "operator": "equals", "values": [...]}],
"showInactive": bool}`` answers ``{"employees": [...]}``, each employee holding only the fields asked
for, nested by category (``root.email`` -> ``{"email"}``, ``work.reportsTo`` -> ``{"work":
{"reportsTo": {...}}}``); inactive employees only with ``showInactive``.  A wrong credential is a 401,
a malformed body a 400, both JSON ``{"error": ...}``.  Faults (``5xx:1.0`` ...) come from the shared
:class:`ControlMiddleware`.  :func:`records_from_people` builds the records from the generated org.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.emulators.control import BudgetState, ControlMiddleware, EmulatorControl
from connectors.emulators.model import HrPerson

_ERROR_HEADERS = {"Content-Type": "application/json"}


class BobStyle:
    """Bob answers throttling with 429 and Retry-After, and errors with a JSON ``error``."""

    def rate_bucket(self, method: str, path: str) -> str | None:
        return "default"

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {}

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return (
            429,
            {"Retry-After": str(state.retry_after_s), **_ERROR_HEADERS},
            b'{"error":"Too Many Requests"}',
        )

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return 429, {"Retry-After": "1", **_ERROR_HEADERS}, b'{"error":"Too Many Requests"}'

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        return status, _ERROR_HEADERS, b'{"error":"Service Unavailable"}'


def records_from_people(people: Sequence[HrPerson], *, first_id: int = 3332883884017713000) -> dict[str, Any]:
    """Bob's records (backend id -> nested record) for people of the generated org."""
    ids = {p.employee_id: str(first_id + i) for i, p in enumerate(people)}
    by_number = {p.employee_id: p for p in people}
    records: dict[str, Any] = {}
    for person in people:
        manager = by_number.get(person.manager_employee_id or "")
        records[ids[person.employee_id]] = {
            "id": ids[person.employee_id],
            "email": person.email,
            "work": {
                "employeeIdInCompany": person.employee_id,
                "reportsTo": None
                if manager is None
                else {"id": ids[manager.employee_id], "email": manager.email},
                "department": person.department,
                "title": person.title,
            },
            "internal": {
                "status": "Active" if person.status == "active" else "Inactive",
                "terminationDate": person.termination_date.isoformat() if person.termination_date else None,
            },
        }
    return records


def _project(record: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in fields:
        category, _, name = path.partition(".")
        if category == "root":
            out[name] = record.get(name)
        else:
            out.setdefault(category, {})[name] = (record.get(category) or {}).get(name)
    return out


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def create_app(records: dict[str, Any], control: EmulatorControl, *, service_user_id: str, token: str) -> Any:
    """``records``: Bob backend id -> nested record; tests change it as HR would."""
    expected = base64.b64encode(f"{service_user_id}:{token}".encode()).decode()

    async def search(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Basic ") or not hmac.compare_digest(auth.removeprefix("Basic "), expected):
            return _error(401, "Unauthorized")
        try:
            body = json.loads(await request.body())
            fields = body["fields"]
            (flt,) = body.get("filters", [])
            assert isinstance(fields, list) and all(isinstance(f, str) and "." in f for f in fields)
            assert flt["fieldPath"] == "root.id" and flt["operator"] == "equals"
            wanted = [str(v) for v in flt["values"]]
        except (ValueError, KeyError, TypeError, AssertionError):
            return _error(400, "Bad Request: fields and one root.id equals filter are required")
        show_inactive = body.get("showInactive") is True
        found = [
            _project(records[i], fields)
            for i in wanted
            if i in records and (show_inactive or records[i]["internal"]["status"] == "Active")
        ]
        return JSONResponse({"employees": found})

    app = Starlette(routes=[Route("/v1/people/search", search, methods=["POST"])])
    return ControlMiddleware(app, control, BobStyle())


def signed_webhook(payload: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """A webhook as Bob posts it: JSON body, and the Base64 HMAC-SHA512 of it in Bob-Signature."""
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha512).digest()).decode()
    return body, {"content-type": "application/json", "bob-signature": signature}
