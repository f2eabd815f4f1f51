"""The service's web app: ``create_app(settings, engine)``.

Mounting another router (the HR intake's, a reviewer's pages) is one line: ``app.include_router(router)``
on the app made here, or ``create_app(settings, engine, routers=[router])``.  Its routes reach the
store, settings and metrics through :mod:`accessctl.web.deps` and protect themselves with
``Depends(require_scope(...))`` (:mod:`accessctl.web.auth`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.engine import Engine

from accessctl import __version__
from accessctl.settings import Settings
from accessctl.web import api, health, lifecycle_api, review_pages
from accessctl.web.auth import require_scope
from accessctl.web.errors import ApiError, install_error_handlers
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness

if TYPE_CHECKING:
    from accessctl.hr.intake import HrIntake


def build_hr_intake(settings: Settings, engine: Engine, metrics: ServiceMetrics) -> HrIntake | None:
    """The HR intake over the lifecycle, its refusals counted in ``metrics``; None when no
    ``[hr.sources]`` are configured."""
    if not settings.hr.sources:
        return None
    from accessctl.hr.intake import HrIntake
    from accessctl.lifecycle.hr_jobs import HrLifecycle

    return HrIntake.from_settings(settings, engine, HrLifecycle(settings), on_rejected=metrics.hr_rejected)


async def _hr_off() -> HrIntake:
    raise ApiError(404, "the HR intake is off: no [hr.sources] are configured", code="hr_not_configured")


def _provide(intake: HrIntake) -> Callable[[], Awaitable[HrIntake]]:
    async def hr_intake() -> HrIntake:  # async: FastAPI runs a plain function in its threadpool
        return intake

    return hr_intake


def mount_hr(app: FastAPI, intake: HrIntake | None) -> None:
    """``POST /v1/hr/events`` (and BambooHR's, HiBob's and Gusto's), authenticated by their signatures, and
    ``GET /v1/hr/events/{id}`` for the ``read`` scope; without an intake both answer 404."""
    from accessctl.web.hr import get_hr_intake, intake_router, status_router

    app.include_router(intake_router)
    app.include_router(status_router, dependencies=[Depends(require_scope("read"))])
    app.dependency_overrides[get_hr_intake] = _hr_off if intake is None else _provide(intake)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    liveness: Liveness | None = None,
    metrics: ServiceMetrics | None = None,
    routers: Sequence[APIRouter] = (),
    hr_intake: HrIntake | None = None,
) -> FastAPI:
    """The app over ``engine`` (whose schema the caller checked).  ``liveness``: the workers and
    scheduler /readyz watches (none: the API alone); ``metrics``: shared with those workers;
    ``hr_intake``: the one the scheduler also fires (default: built from the settings)."""
    app = FastAPI(
        title="accessctl",
        version=__version__,
        description="Access review and deprovisioning: the admin API, health and metrics.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.liveness = liveness or Liveness()
    app.state.metrics = metrics or ServiceMetrics(engine)
    app.state.hr_intake = hr_intake or build_hr_intake(settings, engine, app.state.metrics)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(lifecycle_api.router)
    mount_hr(app, app.state.hr_intake)
    if settings.hr.scim.enabled:  # SCIM 2.0 inbound provisioning at /scim/v2/
        from accessctl.web.scim import build_scim_users, mount_scim

        mount_scim(app, build_scim_users(settings, engine))
    app.include_router(review_pages.router)
    for router in routers:
        app.include_router(router)
    return app
