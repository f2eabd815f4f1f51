"""An emulator of BambooHR's "get employee" endpoint, and a sender of its signed webhooks.

``GET /api/gateway.php/{companyDomain}/v1/employees/{id}/?fields=a,b`` with HTTP Basic (the API key
as user name, any password), answering JSON with ``id`` and the fields asked for; an unknown employee
is a 404 and a wrong key a 401, each with BambooHR's ``X-BambooHR-Error-Message`` header.  Faults
(``5xx:1.0`` ...) come from the shared :class:`ControlMiddleware`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.emulators.control import BudgetState, ControlMiddleware, EmulatorControl


class BambooStyle:
    """BambooHR answers throttling with 503 and Retry-After, and errors with a message header."""

    def rate_bucket(self, method: str, path: str) -> str | None:
        return "default"

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {}

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return 503, {"Retry-After": str(state.retry_after_s)}, b""

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return 429, {"Retry-After": "1"}, b""

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        return status, {"X-BambooHR-Error-Message": "Service temporarily unavailable"}, b""


def _error(status: int, message: str) -> Response:
    return Response(status_code=status, headers={"X-BambooHR-Error-Message": message})


def create_app(
    employees: dict[str, dict[str, Any]], control: EmulatorControl, *, company_domain: str, api_key: str
) -> Any:
    """``employees``: BambooHR id -> record (field name -> value); tests change it as HR would."""

    async def get_employee(request: Request) -> Response:
        if request.path_params["company"] != company_domain:
            return _error(404, "Company not found")
        auth = request.headers.get("authorization", "")
        try:
            user = base64.b64decode(auth.removeprefix("Basic "), validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if not auth.startswith("Basic ") or not hmac.compare_digest(user, api_key):
            return _error(401, "Invalid API key")
        record = employees.get(request.path_params["employee_id"])
        if record is None:
            return _error(404, "Employee not found")
        fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        return JSONResponse({"id": request.path_params["employee_id"], **{f: record.get(f) for f in fields}})

    app = Starlette(
        routes=[
            Route("/api/gateway.php/{company}/v1/employees/{employee_id}/", get_employee),
            Route("/api/gateway.php/{company}/v1/employees/{employee_id}", get_employee),
        ]
    )
    return ControlMiddleware(app, control, BambooStyle())


def signed_webhook(payload: dict[str, Any], private_key: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """A webhook as BambooHR posts it: JSON body, and the hex HMAC-SHA256 of body + timestamp."""
    body = json.dumps(payload).encode()
    signature = hmac.new(private_key.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-bamboohr-timestamp": str(timestamp),
        "x-bamboohr-signature": signature,
    }
    return body, headers
