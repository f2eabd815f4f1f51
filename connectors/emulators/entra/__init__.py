"""An emulator of the Microsoft identity platform (OpenID configuration, client-credentials token
endpoint) and of Microsoft Graph v1.0's directory (users, delta, groups, apps, roles, $batch).

``msal``, Microsoft's Graph SDK (``msgraph-sdk`` with ``azure-identity``) and plain HTTP clients work
against it unmodified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from connectors.emulators.control import ControlMiddleware, EmulatorControl
from connectors.emulators.entra.permissions import (
    DEFAULT_ROLES,
    READ_ONLY_ROLES,
    AppRegistration,
)
from connectors.emulators.model import Directory


@dataclass(frozen=True)
class EntraCredentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    # the application permissions (token ``roles``) of this app: by default what sync and
    # deprovisioning need
    roles: frozenset[str] = DEFAULT_ROLES


def create_app(
    directory: Directory,
    control: EmulatorControl,
    *,
    base_url: str,
    strict_auth: bool = False,
    credentials: EntraCredentials | None = None,
    apps: Sequence[AppRegistration] = (),
) -> Any:
    """The emulated tenant.  ``credentials`` is the org's own app registration; ``apps`` registers more
    (say a read-only one).  Without ``strict_auth`` any client id gets a token, with the default
    app's permissions unless it is registered; with it, only registered apps with their secret do.
    Every Graph call is checked against the permissions in its token's ``roles``."""
    from connectors.emulators.entra.routes import EntraRoutes, unknown_path
    from connectors.emulators.entra.state import EntraState
    from connectors.emulators.entra.style import GraphStyle

    tenant_id = credentials.tenant_id if credentials else "00000000-0000-0000-0000-000000000001"
    state = EntraState(directory, base_url, tenant_id)
    registrations = list(apps)
    if credentials is not None:
        registrations.insert(
            0, AppRegistration(credentials.client_id, credentials.client_secret, credentials.roles)
        )
    routes = EntraRoutes(
        state,
        strict=strict_auth,
        apps=tuple(registrations),
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


__all__ = ["DEFAULT_ROLES", "READ_ONLY_ROLES", "AppRegistration", "EntraCredentials", "create_app"]
