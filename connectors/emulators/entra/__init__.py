"""An emulator of the Microsoft identity platform (OpenID configuration, client-credentials token
endpoint) and of Microsoft Graph v1.0's directory (users, delta, groups, apps, roles, $batch).

``msal``, Microsoft's Graph SDK (``msgraph-sdk`` with ``azure-identity``) and plain HTTP clients work
against it unmodified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from connectors.emulators.control import ControlMiddleware, EmulatorControl
from connectors.emulators.model import Directory


@dataclass(frozen=True)
class EntraCredentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)


def create_app(
    directory: Directory,
    control: EmulatorControl,
    *,
    base_url: str,
    strict_auth: bool = False,
    credentials: EntraCredentials | None = None,
) -> Any:
    from connectors.emulators.entra.routes import EntraRoutes, unknown_path
    from connectors.emulators.entra.state import EntraState
    from connectors.emulators.entra.style import GraphStyle

    tenant_id = credentials.tenant_id if credentials else "00000000-0000-0000-0000-000000000001"
    state = EntraState(directory, base_url, tenant_id)
    routes = EntraRoutes(
        state,
        client_id=credentials.client_id if credentials else None,
        client_secret=credentials.client_secret if credentials else None,
        strict=strict_auth,
    )
    app = Starlette(routes=routes.routes(), exception_handlers={404: unknown_path, 405: unknown_path})
    app.state.entra = state
    wrapped = ControlMiddleware(
        app,
        control,
        GraphStyle(),
        never_fault=(f"/{tenant_id}/", "/common/", "/organizations/", "/v1.0/$batch"),
    )
    routes.wrapped_app = wrapped
    return wrapped


__all__ = ["EntraCredentials", "create_app"]
