"""An emulator of the Okta Management API (users, groups, apps, factors, roles, lifecycle, System Log).

The official ``okta`` SDK and plain HTTP clients work against it unmodified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from connectors.emulators.control import ControlMiddleware, EmulatorControl
from connectors.emulators.model import Directory
from connectors.emulators.okta.permissions import READ_ONLY_ADMIN, SUPER_ADMIN, ApiToken


@dataclass(frozen=True)
class OktaCredentials:
    """The org's API token and the admin role it acts with (a super admin's by default)."""

    api_token: str
    role: str = SUPER_ADMIN

    def __repr__(self) -> str:
        return f"OktaCredentials(api_token=[redacted], role={self.role!r})"


def create_app(
    directory: Directory,
    control: EmulatorControl,
    *,
    base_url: str,
    strict_auth: bool = False,
    credentials: OktaCredentials | None = None,
    tokens: Sequence[OktaCredentials] = (),
) -> Any:
    """The emulated org.  Its API tokens are ``credentials`` (the org's own) and ``tokens`` (more,
    say a read-only admin's); any other token is refused (401 E0000011), and each acts with its
    admin role (a write its role may not make: 403 E0000006).  An org given no token at all
    accepts any token as a super admin's, as tests that drive it by hand want; ``strict_auth``
    refuses every token then."""
    from connectors.emulators.okta.oauth_routes import OAuthRoutes
    from connectors.emulators.okta.routes import OktaRoutes
    from connectors.emulators.okta.state import OktaState
    from connectors.emulators.okta.style import OktaStyle

    state = OktaState(directory, base_url)
    known = [*([credentials] if credentials is not None else []), *tokens]
    registry: dict[str, ApiToken] | None = {
        c.api_token: ApiToken(
            c.api_token, c.role, None if c.role == SUPER_ADMIN else state.admin_for(c.role).id
        )
        for c in known
    }
    if not registry and not strict_auth:
        registry = None
    routes = OktaRoutes(state, tokens=registry)
    app = Starlette(
        routes=[*routes.routes(), *OAuthRoutes(routes).routes()],
        exception_handlers={404: OktaRoutes.unknown, 405: OktaRoutes.unknown},
    )
    app.state.okta = state
    return ControlMiddleware(app, control, OktaStyle())


__all__ = ["READ_ONLY_ADMIN", "SUPER_ADMIN", "OktaCredentials", "create_app"]
