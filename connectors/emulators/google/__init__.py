"""An emulator of Google's OAuth token endpoint (service accounts, domain-wide delegation), of the
Admin SDK Directory API v1 (users, tokens, app passwords, groups, members, roles, batch) and of the
Reports API v1's admin activity log (activities.list), which records every change to the domain.

``google-api-python-client`` with ``google-auth`` service-account credentials works against it unmodified.

The writes a leaver, lockout or restore makes behave as Google's, and show through later reads of the
API: users.patch/update ``suspended`` (``suspensionReason`` ADMIN while suspended), tokens and ASPs
get/list/delete (404 notFound once gone), verificationCodes.list/invalidate (invalidated codes are
no longer listed), members.delete (404 notFound for a non-member), roleAssignments.delete (the last
super admin assignment gone, ``isAdmin`` is false).  users.signOut ends the user's sessions, which
Google offers no API to read: nothing the API lists changes (tokens stay until deleted).  Every
method checks its token's scopes as Google's discovery document lists them (:mod:`.scopes`); a
token without one gets Google's 403 insufficientPermissions.  Latency (``--latency-ms``) and fault
injection apply to every call, writes included (:mod:`connectors.emulators.control`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from connectors.emulators.control import ControlMiddleware, EmulatorControl
from connectors.emulators.model import Directory


@dataclass(frozen=True)
class GoogleCredentials:
    customer_id: str
    service_account_email: str
    public_key_pem: str | None = field(default=None, repr=False)
    admin_email: str | None = None


def create_app(
    directory: Directory,
    control: EmulatorControl,
    *,
    base_url: str,
    strict_auth: bool = False,
    credentials: GoogleCredentials | None = None,
) -> Any:
    from connectors.emulators.google.routes import GoogleRoutes, unknown_path
    from connectors.emulators.google.state import GoogleState
    from connectors.emulators.google.style import GoogleStyle

    customer_id = credentials.customer_id if credentials else "C0emulator"
    state = GoogleState(directory, customer_id)
    routes = GoogleRoutes(
        state,
        token_uri=f"{base_url.rstrip('/')}/token",
        service_account_email=credentials.service_account_email if credentials else None,
        public_key_pem=credentials.public_key_pem if credentials else None,
        admin_email=credentials.admin_email if credentials else None,
        strict=strict_auth,
    )
    app = Starlette(routes=routes.routes(), exception_handlers={404: unknown_path, 405: unknown_path})
    app.state.google = state
    # 429 from the fault plan, 403 rateLimitExceeded from the budget: Google sends both
    wrapped = ControlMiddleware(app, control, GoogleStyle(), never_fault=("/token", "/batch"))
    routes.wrapped_app = wrapped
    return wrapped


__all__ = ["GoogleCredentials", "create_app"]
