"""What a route needs from the app it runs in (``Depends(...)``): the settings, the store, the metrics.

A router written elsewhere (the HR intake's) uses these, so it needs nothing but being mounted::

    @router.post("/hr/events")
    def intake(engine: Engine = Depends(store), token: TokenInfo = Depends(require_scope("hr"))): ...
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine

from accessctl.settings import Settings
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness


def store(request: Request) -> Engine:
    return request.app.state.engine


def settings(request: Request) -> Settings:
    return request.app.state.settings


def metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


def liveness(request: Request) -> Liveness:
    return request.app.state.liveness
