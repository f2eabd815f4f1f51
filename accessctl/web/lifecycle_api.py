"""The admin API's writes under /v1: deprovision, lock out, revoke one grant, restore (each with
``dry_run``), and release or reject a quarantined job.

Each route calls the lifecycle use case the CLI calls (:mod:`accessctl.lifecycle`), as the token's
name; a refusal (unknown or ambiguous person, a safeguard) is its JSON 4xx with the candidates and
nothing queued.  A queued job answers 202 with its id: the workers run it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from accessctl import lifecycle
from accessctl.settings import Settings
from accessctl.tokens import TokenInfo
from accessctl.web.auth import actor, require_scope
from accessctl.web.deps import settings as settings_dep
from accessctl.web.deps import store
from accessctl.web.errors import ApiError
from connectors.base import ConnectorError

router = APIRouter(prefix="/v1", tags=["lifecycle"])

Admin = Annotated[TokenInfo, Depends(require_scope("admin"))]
Store = Annotated[Engine, Depends(store)]
Config = Annotated[Settings, Depends(settings_dep)]
PersonKey = Annotated[str, Path(max_length=320, description="Email or employee id")]
JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: the longest a use case may take to plan (it looks each account up live in its provider)
PLAN_TIMEOUT_S = 120.0


class Request(BaseModel):
    reason: str = Field("", max_length=2000, description="Why (kept with the job and in the audit log)")
    dry_run: bool = Field(False, description="Only the plan: nothing is queued")


class LockoutRequest(Request):
    include_protected: bool = Field(False, description="Also lock out protected accounts")


class RevokeRequest(Request):
    entitlement: str = Field(..., min_length=1, max_length=400, description="provider:kind:name-or-id")
    via: str | None = Field(None, max_length=400, description="The group whose membership confers it")


class RejectRequest(BaseModel):
    reason: str = Field("", max_length=2000)


async def _use_case(call: Any) -> Any:
    try:
        return await asyncio.wait_for(call, PLAN_TIMEOUT_S)
    except lifecycle.LifecycleError as exc:
        raise ApiError(exc.http_status, str(exc), candidates=exc.candidates) from None
    except ConnectorError as exc:
        raise ApiError(502, f"a provider could not be reached or refused: {exc}") from None
    except TimeoutError:
        raise ApiError(504, f"planning took longer than {PLAN_TIMEOUT_S:g}s") from None


def _answer(submitted: Any) -> JSONResponse:
    body = {
        "dry_run": submitted.dry_run,
        "job_id": submitted.job_id,
        "state": submitted.state,
        "quarantine_reason": submitted.quarantine_reason,
        "plan": submitted.plan.rows(),
    }
    return JSONResponse(body, status_code=200 if submitted.dry_run else 202)


@router.post("/people/{person}/deprovision", status_code=202)
async def deprovision(
    token: Admin, settings: Config, engine: Store, person: PersonKey, body: Annotated[Request, Body()]
) -> JSONResponse:
    """Leaver: block sign-in, revoke sessions, remove grants, verify, in every provider."""
    call = lifecycle.deprovision(
        settings, engine, person=person, requested_by=actor(token), reason=body.reason, dry_run=body.dry_run
    )
    return _answer(await _use_case(call))


@router.post("/people/{person}/lockout", status_code=202)
async def lockout(
    token: Admin, settings: Config, engine: Store, person: PersonKey, body: Annotated[LockoutRequest, Body()]
) -> JSONResponse:
    """Incident response: block sign-in and revoke sessions everywhere, now; no grant removal."""
    call = lifecycle.lockout(
        settings,
        engine,
        person=person,
        requested_by=actor(token),
        reason=body.reason,
        include_protected=body.include_protected,
        dry_run=body.dry_run,
    )
    return _answer(await _use_case(call))


@router.post("/people/{person}/revoke", status_code=202)
async def revoke(
    token: Admin, settings: Config, engine: Store, person: PersonKey, body: Annotated[RevokeRequest, Body()]
) -> JSONResponse:
    """Remove one grant; one held only through a group needs ``via`` (that group's membership)."""
    call = lifecycle.revoke(
        settings,
        engine,
        person=person,
        entitlement=body.entitlement,
        via=body.via,
        requested_by=actor(token),
        reason=body.reason,
        dry_run=body.dry_run,
    )
    return _answer(await _use_case(call))


@router.post("/people/{person}/restore", status_code=202)
async def restore(
    token: Admin, settings: Config, engine: Store, person: PersonKey, body: Annotated[Request, Body()]
) -> JSONResponse:
    """Re-enable the accounts and re-add the grants of the person's last leaver snapshot."""
    call = lifecycle.restore(
        settings, engine, person=person, approved_by=actor(token), reason=body.reason, dry_run=body.dry_run
    )
    return _answer(await _use_case(call))


@router.post("/jobs/{job_id}/release")
def release(token: Admin, settings: Config, engine: Store, job_id: JobId) -> dict[str, Any]:
    """Let a quarantined job run (with ``guard.two_person``: not by whoever requested it)."""
    try:
        state = lifecycle.release(settings, engine, job_id, by=actor(token))
    except lifecycle.LifecycleError as exc:
        raise ApiError(exc.http_status, str(exc)) from None
    return {"job_id": job_id, "state": state}


@router.post("/jobs/{job_id}/reject")
def reject(
    token: Admin, engine: Store, job_id: JobId, body: Annotated[RejectRequest | None, Body()] = None
) -> dict[str, Any]:
    """Cancel a quarantined job: none of its steps run."""
    try:
        cancelled = lifecycle.reject(engine, job_id, by=actor(token), reason=body.reason if body else "")
    except lifecycle.LifecycleError as exc:
        raise ApiError(exc.http_status, str(exc)) from None
    return {"job_id": job_id, "state": "cancelled", "steps_cancelled": cancelled}
