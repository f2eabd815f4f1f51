"""The Microsoft identity platform: OpenID configuration and the client-credentials token endpoint."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import (
    GRAPH_AUDIENCE,
    GraphRoutesBase,
    ok,
)
from connectors.emulators.entra.permissions import DEFAULT_ROLES
from connectors.emulators.entra.state import iso, now


class IdentityRoutes(GraphRoutesBase):
    """The Microsoft identity platform: OpenID configuration and the client-credentials token endpoint."""

    async def openid_configuration(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        base = f"{self.state.base_url}/{tenant}"
        return ok(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self.state.base_url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    async def token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}

        def aad_error(status: int, error: str, code: int, text: str) -> Response:
            trace = str(uuid.uuid4())
            body = {
                "error": error,
                "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Timestamp: {iso(now())}",
                "error_codes": [code],
                "timestamp": iso(now()),
                "trace_id": trace,
                "correlation_id": str(uuid.uuid4()),
            }
            return Response(json.dumps(body).encode(), status_code=status, media_type="application/json")

        if tenant not in (self.state.tenant_id, "organizations", "common") and self.strict:
            return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = str(form.get("client_id") or "")
        secret = str(form.get("client_secret") or "")
        if not client_id:
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self.apps.get(client_id)
        if self.strict and app is None:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if not secret or (self.strict and app is not None and secret != app.client_secret):
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID.",
            )
        issued = int(time.time())
        access_token = jwt.encode(
            {
                "aud": GRAPH_AUDIENCE,
                "iss": f"https://sts.windows.net/{self.state.tenant_id}/",
                "iat": issued,
                "nbf": issued,
                "exp": issued + 3599,
                "appid": client_id,
                "tid": self.state.tenant_id,
                # the application permissions admin-consented to the app, as Entra puts them in the token
                "roles": sorted(app.roles if app is not None else DEFAULT_ROLES),
            },
            self.signing_key,
            algorithm="HS256",
        )
        return ok(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token}
        )
