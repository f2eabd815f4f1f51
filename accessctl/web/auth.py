"""Bearer-token auth for routes: ``Depends(require_scope("admin"|"read"|"hr"))``.

No token, a malformed, unknown or revoked one: 401; a token of another scope: 403.  Each refusal is
a JSON error, counted in /metrics by reason and logged (never the token), and the route never runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from accessctl.sync import clock
from accessctl.tokens import AuthFailure, Scope, TokenInfo, authenticate
from accessctl.web.errors import ApiError

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="`accessctl token create --scope SCOPE --name NAME`")


def require_scope(scope: str) -> Callable[..., TokenInfo]:
    """A dependency that lets the call through with a live token allowed ``scope``; it yields the
    token (its ``name`` is who the call acts as)."""
    needed = Scope(scope)

    def check(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenInfo:
        presented = credentials.credentials if credentials is not None else None
        if presented is None and request.headers.get("authorization"):
            presented = "?"  # a header that is not "Bearer <token>": malformed
        try:
            token = authenticate(request.app.state.engine, presented, needed=needed, now=clock.now())
        except AuthFailure as refused:
            request.app.state.metrics.auth_failures.labels(refused.reason).inc()
            log.warning("API call refused (%s): %s %s", refused.reason, request.method, request.url.path)
            status = 403 if refused.reason == "scope" else 401
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            raise ApiError(status, str(refused), headers=headers) from None
        request.state.token = token
        return token

    return check


def actor(token: TokenInfo) -> str:
    """Who an API call acts as, in the audit log."""
    return f"token:{token.name}"
