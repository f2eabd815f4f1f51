"""/healthz (the process answers), /readyz (it can do its work) and /metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine

from accessctl.store.migrate import SchemaMismatchError, ensure_current

router = APIRouter(tags=["health"])

#: the longest /readyz waits for the store
READY_TIMEOUT_S = 5.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


def _store_problems(engine: Engine) -> dict[str, str]:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return {"database": f"unreachable: {type(exc.orig or exc).__name__}", "schema": "unknown"}
    try:
        ensure_current(engine)
    except SchemaMismatchError as exc:
        return {"schema": str(exc)}
    return {}


@router.get("/readyz", responses={503: {"description": "not ready: the failing checks are named"}})
async def readyz(request: Request) -> Any:
    """Ready: the database answers, its schema is this version's, the job workers and scheduler run."""
    state = request.app.state
    try:
        problems = await asyncio.wait_for(asyncio.to_thread(_store_problems, state.engine), READY_TIMEOUT_S)
    except TimeoutError:
        problems = {"database": f"no answer within {READY_TIMEOUT_S:g}s"}
    problems.update(state.liveness.problems())
    checks = {name: problems.get(name, "ok") for name in ("database", "schema", "workers", "scheduler")}
    if problems:
        return JSONResponse({"status": "not ready", "checks": checks}, status_code=503)
    return {"status": "ready", "checks": checks}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
