"""The routes of a user's OAuth consent grants, clients and refresh tokens (the Management API's
UserGrant, UserResources and UserOAuth operations), over :class:`OktaState`."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.emulators.okta.oauth import Consent
from connectors.emulators.okta.routes import OktaRoutes, _limit, json_response


class OAuthRoutes:
    def __init__(self, base: OktaRoutes) -> None:
        self.base = base
        self.state = base.state

    async def user_grants(self, request: Request) -> Response:
        """``listUserGrants``: the user's consent grants, paged (limit 20 by default), ``scopeId``
        narrowing to one scope."""
        scope = request.query_params.get("scopeId")
        return self._grants(request, "grants", lambda g: scope in (None, g.scope_id))

    def _grants(self, request: Request, path: str, keep: Callable[[Consent], bool]) -> Response:
        """A page of the user's consent grants that ``keep``, ``expand=scope`` embedding the scope."""
        state = self.state
        expand = "scope" in (request.query_params.get("expand") or "")
        with state.lock:
            user = state.user(request.path_params["user"])
            grants = {g.id: g for g in state.consents.get(user.id, {}).values() if keep(g)}
            return self.base._page(
                request,
                f"/api/v1/users/{user.id}/{path}",
                list(grants),
                lambda gid: state.consent_json(user.id, grants[gid], expand_scope=expand),
                limit=_limit(request, 20, 200),
            )

    async def user_grant(self, request: Request) -> Response:
        state = self.state
        expand = "scope" in (request.query_params.get("expand") or "")
        with state.lock:
            user = state.user(request.path_params["user"])
            grant = state.consent(user.id, request.path_params["grant"])
            return json_response(state.consent_json(user.id, grant, expand_scope=expand))

    async def revoke_user_grants(self, request: Request) -> Response:
        self.state.revoke_consents(request.path_params["user"])
        return Response(status_code=204)

    async def revoke_user_grant(self, request: Request) -> Response:
        self.state.revoke_consents(request.path_params["user"], grant_id=request.path_params["grant"])
        return Response(status_code=204)

    async def user_clients(self, request: Request) -> Response:
        """``listUserClients``: every client the user has grants or tokens for (not paged)."""
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return json_response([state.client_json(user.id, c) for c in state.user_clients(user.id)])

    async def client_grants(self, request: Request) -> Response:
        with self.state.lock:
            client_id = self.state.oauth_client(request.path_params["client"]).client_id
        return self._grants(request, f"clients/{client_id}/grants", lambda g: g.client_id == client_id)

    async def revoke_client_grants(self, request: Request) -> Response:
        self.state.revoke_consents(request.path_params["user"], client_id=request.path_params["client"])
        return Response(status_code=204)

    async def client_tokens(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            client_id = state.oauth_client(request.path_params["client"]).client_id
            tokens = {
                t.id: t for t in state.refresh_tokens.get(user.id, {}).values() if t.client_id == client_id
            }
            return self.base._page(
                request,
                f"/api/v1/users/{user.id}/clients/{client_id}/tokens",
                list(tokens),
                lambda tid: state.refresh_token_json(user.id, tokens[tid]),
                limit=_limit(request, 20, 200),
            )

    async def client_token(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            token = state.refresh_token(user.id, request.path_params["client"], request.path_params["token"])
            return json_response(state.refresh_token_json(user.id, token))

    async def revoke_client_tokens(self, request: Request) -> Response:
        self.state.revoke_refresh_tokens(request.path_params["user"], request.path_params["client"])
        return Response(status_code=204)

    async def revoke_client_token(self, request: Request) -> Response:
        params = request.path_params
        self.state.revoke_refresh_tokens(params["user"], params["client"], params["token"])
        return Response(status_code=204)

    def routes(self) -> list[Route]:
        a = self.base.authorized
        user = "/api/v1/users/{user}"
        client = user + "/clients/{client}"
        return [
            Route(f"{user}/grants", a(self.user_grants), methods=["GET"]),
            Route(f"{user}/grants", a(self.revoke_user_grants), methods=["DELETE"]),
            Route(f"{user}/grants/{{grant}}", a(self.user_grant), methods=["GET"]),
            Route(f"{user}/grants/{{grant}}", a(self.revoke_user_grant), methods=["DELETE"]),
            Route(f"{user}/clients", a(self.user_clients), methods=["GET"]),
            Route(f"{client}/grants", a(self.client_grants), methods=["GET"]),
            Route(f"{client}/grants", a(self.revoke_client_grants), methods=["DELETE"]),
            Route(f"{client}/tokens", a(self.client_tokens), methods=["GET"]),
            Route(f"{client}/tokens", a(self.revoke_client_tokens), methods=["DELETE"]),
            Route(f"{client}/tokens/{{token}}", a(self.client_token), methods=["GET"]),
            Route(f"{client}/tokens/{{token}}", a(self.revoke_client_token), methods=["DELETE"]),
        ]
