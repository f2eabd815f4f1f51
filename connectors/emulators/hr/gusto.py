"""An emulator of Gusto's employee read endpoints, and a sender of Gusto's signed webhook events.

``GET /v1/employees/{employee_id}`` answers the employee object (``uuid``, ``first_name``,
``last_name``, ``email``, ``work_email``, ``company_uuid``, ``manager_uuid``, ``department``,
``terminated``, ``jobs``, ...); ``GET /v1/employees/{employee_id}/terminations`` the list of its
terminations (``uuid``, ``employee_uuid``, ``active``, ``cancelable``, ``effective_date``,
``run_termination_payroll``).  Both need ``Authorization: Bearer <token>``.  Errors are Gusto's
``{"errors": [{"error_key", "category", "message"}]}``: 401 ``invalid_token`` and 404 ``not_found``.
Faults (``5xx:1.0`` ...) come from the shared :class:`ControlMiddleware`.  :func:`records_from_people`
builds the employees from the generated org.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.emulators.control import BudgetState, ControlMiddleware, EmulatorControl
from connectors.emulators.model import HrPerson

_JSON = {"Content-Type": "application/json"}


def _errors(key: str, category: str, message: str) -> bytes:
    return json.dumps({"errors": [{"error_key": key, "category": category, "message": message}]}).encode()


class GustoStyle:
    """Gusto answers throttling with 429 and Retry-After, and errors with its ``errors`` list."""

    def rate_bucket(self, method: str, path: str) -> str | None:
        return "default"

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {}

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        body = _errors("base", "rate_limit_exceeded", "Rate limit exceeded")
        return 429, {"Retry-After": str(state.retry_after_s), **_JSON}, body

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return (
            429,
            {"Retry-After": "1", **_JSON},
            _errors("base", "rate_limit_exceeded", "Rate limit exceeded"),
        )

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        return status, _JSON, _errors("base", "server_error", "Service unavailable")


def employee_uuid(company_uuid: str, employee_id: str) -> str:
    """A stable uuid for a generated person (the same org gives the same uuids)."""
    return str(uuid.uuid5(uuid.UUID(company_uuid), employee_id))


def records_from_people(
    people: Sequence[HrPerson], *, company_uuid: str
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Gusto's employees (uuid -> employee object) and terminations (uuid -> list) for people of the
    generated org; a terminated person has an active termination on their termination date."""
    employees: dict[str, Any] = {}
    terminations: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        key = employee_uuid(company_uuid, person.employee_id)
        manager = person.manager_employee_id
        employees[key] = {
            "uuid": key,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": f"{person.first_name}.{person.last_name}@personal.example",
            "work_email": person.email,
            "company_uuid": company_uuid,
            "manager_uuid": employee_uuid(company_uuid, manager) if manager else None,
            "department": person.department,
            "terminated": person.status == "terminated",
            "onboarded": True,
            "jobs": [
                {"uuid": str(uuid.uuid5(uuid.UUID(key), "job")), "title": person.title, "primary": True}
            ],
        }
        terminations[key] = (
            [
                {
                    "uuid": str(uuid.uuid5(uuid.UUID(key), "termination")),
                    "employee_uuid": key,
                    "active": True,
                    "cancelable": False,
                    "effective_date": person.termination_date.isoformat(),
                    "run_termination_payroll": False,
                }
            ]
            if person.termination_date
            else []
        )
    return employees, terminations


def create_app(
    employees: dict[str, Any],
    terminations: dict[str, list[dict[str, Any]]],
    control: EmulatorControl,
    *,
    token: str,
) -> Any:
    """``employees`` / ``terminations``: keyed by employee uuid; tests change them as HR would."""

    def _authorized(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and hmac.compare_digest(auth.removeprefix("Bearer "), token)

    def _fail(status: int, key: str, category: str, message: str) -> Response:
        return Response(_errors(key, category, message), status_code=status, headers=_JSON)

    async def get_employee(request: Request) -> Response:
        if not _authorized(request):
            return _fail(401, "base", "invalid_token", "The access token is invalid or expired")
        record = employees.get(request.path_params["employee_id"])
        if record is None:
            return _fail(404, "employee_id", "not_found", "Employee not found")
        return JSONResponse(record)

    async def get_terminations(request: Request) -> Response:
        if not _authorized(request):
            return _fail(401, "base", "invalid_token", "The access token is invalid or expired")
        employee_id = request.path_params["employee_id"]
        if employee_id not in employees:
            return _fail(404, "employee_id", "not_found", "Employee not found")
        return JSONResponse(terminations.get(employee_id, []))

    app = Starlette(
        routes=[
            Route("/v1/employees/{employee_id}", get_employee),
            Route("/v1/employees/{employee_id}/terminations", get_terminations),
        ]
    )
    return ControlMiddleware(app, control, GustoStyle())


def signed_event(payload: dict[str, Any], verification_token: str) -> tuple[bytes, dict[str, str]]:
    """An event as Gusto posts it: JSON body, and the hex HMAC-SHA256 of it in X-Gusto-Signature."""
    body = json.dumps(payload).encode()
    signature = hmac.new(verification_token.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-gusto-signature": signature}
