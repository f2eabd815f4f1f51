"""The service's web app: ``create_app(settings, engine)``.

Mounting another router (the HR intake's, a reviewer's pages) is one line: ``app.include_router(router)``
on the app made here, or ``create_app(settings, engine, routers=[router])``.  Its routes reach the
store, settings and metrics through :mod:`accessctl.web.deps` and protect themselves with
``Depends(require_scope(...))`` (:mod:`accessctl.web.auth`).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from sqlalchemy.engine import Engine

from accessctl import __version__
from accessctl.settings import Settings
from accessctl.web import api, health, lifecycle_api, review_pages
from accessctl.web.errors import install_error_handlers
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    liveness: Liveness | None = None,
    metrics: ServiceMetrics | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The app over ``engine`` (whose schema the caller checked).  ``liveness``: the workers and
    scheduler /readyz watches (none: the API alone); ``metrics``: shared with those workers."""
    app = FastAPI(
        title="accessctl",
        version=__version__,
        description="Access review and deprovisioning: the admin API, health and metrics.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.liveness = liveness or Liveness()
    app.state.metrics = metrics or ServiceMetrics(engine)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(lifecycle_api.router)
    app.include_router(review_pages.router)
    for router in routers:
        app.include_router(router)
    return app
