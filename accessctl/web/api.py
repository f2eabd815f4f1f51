"""The admin API under /v1: people and their access, jobs and what each step did, retry and cancel.

Thin: each route calls the use-case function the CLI calls (``accessctl.inventory``,
``accessctl.jobs``) and turns its errors into JSON answers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from accessctl import inventory
from accessctl.jobs import JobNotFound, JobState, JobStateError, cancel_job, get_job, list_jobs, retry_job
from accessctl.store.reader import engine_reader
from accessctl.sync import clock
from accessctl.tokens import TokenInfo
from accessctl.web.auth import actor, require_scope
from accessctl.web.deps import store
from accessctl.web.errors import ApiError

router = APIRouter(prefix="/v1", tags=["admin"])

Reader = Annotated[TokenInfo, Depends(require_scope("read"))]
Admin = Annotated[TokenInfo, Depends(require_scope("admin"))]
Store = Annotated[Engine, Depends(store)]
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The job's id")]


class CancelRequest(BaseModel):
    reason: str = Field("", max_length=2000, description="Why (kept in the audit log)")


@router.get("/people")
def people(
    _: Reader,
    engine: Store,
    status: Annotated[str | None, Query(max_length=32, description="active, terminated")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> dict[str, Any]:
    """The HR roster, by employee id, with each person's count of live accounts."""
    with engine_reader(engine) as conn:
        rows = list(inventory.iter_people(conn, status=status, limit=limit))
    return {"people": rows, "count": len(rows)}


@router.get("/people/{person}")
def person_access(_: Reader, engine: Store, person: Annotated[str, Path(max_length=320)]) -> dict[str, Any]:
    """One person (email or employee id) and everything they can reach, across providers."""
    with engine_reader(engine) as conn:
        try:
            found, access = inventory.person_access(conn, person)
        except inventory.NotFound as exc:
            raise ApiError(404, str(exc)) from None
    return {"person": found, "access": access}


def _job(engine: Engine, job_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        status = get_job(conn, job_id)
    if status is None:
        raise ApiError(404, f"no job {job_id}")
    return asdict(status)


@router.get("/jobs")
def jobs(
    _: Reader,
    engine: Store,
    state: Annotated[JobState | None, Query(description="Only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Jobs, newest first, with their step counts."""
    with engine.connect() as conn:
        found = list_jobs(conn, state=state.value if state else None, limit=limit)
    return {"jobs": [asdict(job) for job in found]}


@router.get("/jobs/{job_id}")
def job(_: Reader, engine: Store, job_id: JobId) -> dict[str, Any]:
    """A job and each of its steps: provider, action, target, state, attempts, the provider's last answer."""
    return _job(engine, job_id)


@router.post("/jobs/{job_id}/retry", responses={404: {}, 409: {"description": "the job has not failed"}})
def retry(token: Admin, engine: Store, job_id: JobId) -> dict[str, Any]:
    """Resume a failed job from its failed steps."""
    try:
        retried = retry_job(engine, job_id, by=actor(token), now=clock.now())
    except JobNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except JobStateError as exc:
        raise ApiError(409, str(exc)) from None
    return {"steps_retried": retried, "job": _job(engine, job_id)}


@router.post("/jobs/{job_id}/cancel", responses={404: {}, 409: {"description": "the job has finished"}})
def cancel(
    token: Admin, engine: Store, job_id: JobId, body: Annotated[CancelRequest | None, Body()] = None
) -> dict[str, Any]:
    """Cancel a job that has not finished: its pending steps never run."""
    reason = body.reason if body is not None else ""
    try:
        cancelled = cancel_job(engine, job_id, by=actor(token), reason=reason, now=clock.now())
    except JobNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except JobStateError as exc:
        raise ApiError(409, str(exc)) from None
    return {"steps_cancelled": cancelled, "job": _job(engine, job_id)}
