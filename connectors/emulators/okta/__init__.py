"""An emulator of the Okta Management API (users, groups, apps, factors, roles, lifecycle, System Log).

The official ``okta`` SDK and plain HTTP clients work against it unmodified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from connectors.emulators.control import ControlMiddleware, EmulatorControl
from connectors.emulators.model import Directory


@dataclass(frozen=True)
class OktaCredentials:
    api_token: str

    def __repr__(self) -> str:
        return "OktaCredentials(api_token=[redacted])"


def create_app(
    directory: Directory,
    control: EmulatorControl,
    *,
    base_url: str,
    strict_auth: bool = False,
    credentials: OktaCredentials | None = None,
) -> Any:
    from connectors.emulators.okta.routes import OktaRoutes
    from connectors.emulators.okta.state import OktaState
    from connectors.emulators.okta.style import OktaStyle

    state = OktaState(directory, base_url)
    token = credentials.api_token if (strict_auth and credentials is not None) else None
    app = Starlette(
        routes=OktaRoutes(state, api_token=token).routes(),
        exception_handlers={404: OktaRoutes.unknown, 405: OktaRoutes.unknown},
    )
    app.state.okta = state
    return ControlMiddleware(app, control, OktaStyle())


__all__ = ["OktaCredentials", "create_app"]
