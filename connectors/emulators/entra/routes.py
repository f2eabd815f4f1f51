"""The Microsoft identity platform token endpoint and Microsoft Graph v1.0 routes over :class:`EntraState`."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.emulators.entra.odata import ODataError, compile_filter, parse_select, select
from connectors.emulators.entra.state import EntraState, GraphError, iso, now

Handler = Callable[[Request], Awaitable[Response]]
GRAPH_AUDIENCE = "https://graph.microsoft.com"
BATCH_LIMIT = 20


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": iso(now()),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }
    return Response(
        json.dumps(body).encode(), status_code=status, media_type="application/json", headers=headers
    )


async def unknown_path(request: Request, exc: Exception) -> Response:
    """Graph's answer for a path it cannot route: 400 for an unknown segment under a version,
    405 for a method the resource lacks, 404 for anything else."""
    path = request.url.path
    if getattr(exc, "status_code", 404) == 405:
        return graph_error(
            405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
        )
    if path.startswith("/v1.0/"):
        segment = path.rstrip("/").rsplit("/", 1)[-1]
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    return graph_error(404, "Request_ResourceNotFound", f"Resource '{path}' does not exist.")


def ok(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(), status_code=status, media_type="application/json"
    )


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, json.JSONDecodeError):
        raise GraphError(400, "BadRequest", "Invalid skip or delta token.") from None


class EntraRoutes:
    def __init__(
        self,
        state: EntraState,
        *,
        client_id: str | None,
        client_secret: str | None,
        strict: bool,
    ) -> None:
        self.state = state
        self.client_id = client_id
        self.client_secret = client_secret
        self.strict = strict
        self.signing_key = secrets.token_bytes(32)
        self.wrapped_app: Any = None  # the app with its control middleware, for $batch

    # -- plumbing ----------------------------------------------------------------------

    def graph(self, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer ") or not header[7:].strip():
                return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            try:
                claims = jwt.decode(
                    header[7:].strip(), self.signing_key, algorithms=["HS256"], audience=GRAPH_AUDIENCE
                )
            except jwt.ExpiredSignatureError:
                return graph_error(
                    401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
                )
            except jwt.InvalidTokenError:
                return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.")
            if claims.get("tid") != self.state.tenant_id:
                return graph_error(
                    401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant."
                )
            try:
                return await handler(request)
            except GraphError as exc:
                return graph_error(exc.status, exc.code, exc.message)
            except ODataError as exc:
                return graph_error(400, "BadRequest", str(exc))

        return wrapped

    def _top(self, request: Request, default: int = 100) -> int:
        raw = request.query_params.get("$top")
        if raw is None:
            return default
        try:
            top = int(raw)
        except ValueError:
            raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option $top.") from None
        if not 1 <= top <= 999:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
            )
        return top

    def _list(
        self,
        request: Request,
        context: str,
        ids: Sequence[str],
        raw: Callable[[str], dict[str, Any] | None],
        render: Callable[[str, dict[str, Any]], dict[str, Any]],
        *,
        default_top: int = 100,
    ) -> Response:
        """A Graph collection page: $filter over the raw objects, $top, $skiptoken, @odata.nextLink."""
        q = request.query_params
        predicate = compile_filter(q.get("$filter"))
        top = self._top(request, default_top)
        offset = int(_untoken(q["$skiptoken"]).get("o", 0)) if q.get("$skiptoken") else 0
        value: list[dict[str, Any]] = []
        position = offset
        while position < len(ids) and len(value) < top:
            obj = raw(ids[position])
            position += 1
            if obj is None or (predicate is not None and not predicate(obj)):
                continue
            value.append(render(ids[position - 1], obj))
        body: dict[str, Any] = {"@odata.context": f"{self.state.base_url}/v1.0/$metadata#{context}"}
        if q.get("$count", "").lower() == "true":
            if request.headers.get("consistencylevel", "").lower() != "eventual":
                raise GraphError(
                    400, "Request_BadRequest", "$count is only supported with ConsistencyLevel: eventual."
                )
            body["@odata.count"] = sum(
                1 for i in ids if (o := raw(i)) is not None and (predicate is None or predicate(o))
            )
        body["value"] = value
        more = position < len(ids) and (
            predicate is None or any((o := raw(i)) is not None and predicate(o) for i in ids[position:])
        )
        if more:
            params = {k: v for k, v in q.items() if k != "$skiptoken"}
            params["$skiptoken"] = _token({"o": position})
            body["@odata.nextLink"] = (
                f"{self.state.base_url}{request.url.path}?{urlencode(params, safe='$(),=')}"
            )
        return ok(body)

    def _user_renderer(self, request: Request) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        state = self.state
        fields = parse_select(request.query_params.get("$select"))
        expand = request.query_params.get("$expand") or ""

        def render(uid: str, _: dict[str, Any]) -> dict[str, Any]:
            user = state.users[uid]
            body = state.user_json(user, fields)
            if expand.startswith("manager"):
                manager = state.users.get(user.manager_id or "")
                inner = (
                    parse_select(expand[len("manager(") : -1].removeprefix("$select="))
                    if "(" in expand
                    else None
                )
                if manager is not None:
                    body["manager"] = {
                        "@odata.type": "#microsoft.graph.user",
                        **state.user_json(manager, inner),
                    }
            return body

        return render

    # -- identity platform -----------------------------------------------------------------

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
        if self.strict and client_id != self.client_id:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if not secret or (self.strict and secret != self.client_secret):
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
                "roles": ["User.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "AuditLog.Read.All"],
            },
            self.signing_key,
            algorithm="HS256",
        )
        return ok(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token}
        )

    # -- users ---------------------------------------------------------------------------------

    async def list_users(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            return self._list(
                request,
                "users",
                state.user_order,
                lambda uid: state.users[uid].props if uid in state.users else None,
                self._user_renderer(request),
            )

    async def get_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return ok(self._user_renderer(request)(user.id, user.props))

    async def patch_user(self, request: Request) -> Response:
        body = await _body(request)
        self.state.patch_user(request.path_params["user"], body)
        return Response(status_code=204)

    async def revoke_sessions(self, request: Request) -> Response:
        self.state.revoke_sessions(request.path_params["user"])
        return ok({"@odata.context": f"{self.state.base_url}/v1.0/$metadata#Edm.Boolean", "value": True})

    async def manager(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            manager = state.users.get(user.manager_id or "")
            if manager is None:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
                )
            return ok(
                {
                    "@odata.type": "#microsoft.graph.user",
                    **state.user_json(manager, parse_select(request.query_params.get("$select"))),
                }
            )

    async def member_of(self, request: Request) -> Response:
        state = self.state
        transitive = request.url.path.endswith("transitiveMemberOf")
        with state.lock:
            user = state.user(request.path_params["user"])
            ids = state.member_of(user.id, transitive)
            return self._list(
                request,
                "directoryObjects",
                ids,
                lambda gid: state.groups[gid].props,
                lambda gid, props: {
                    "@odata.type": "#microsoft.graph.group",
                    **select(props, parse_select(request.query_params.get("$select"))),
                },
            )

    async def user_app_assignments(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            items = {
                a["id"]: a
                for sp in state.sps.values()
                for a in sp.assignments.values()
                if a["principalId"] == user.id
            }
            return self._list(
                request, f"users('{user.id}')/appRoleAssignments", list(items), items.get, lambda _, a: a
            )

    async def delete_user_app_assignment(self, request: Request) -> Response:
        user = self.state.user(request.path_params["user"])
        self.state.remove_app_assignment(request.path_params["assignment"], principal_id=user.id)
        return Response(status_code=204)

    async def users_delta(self, request: Request) -> Response:
        state = self.state
        q = request.query_params
        with state.lock:
            if q.get("$deltatoken") == "latest":
                position = {"since": state.seq, "select": q.get("$select")}
                return ok(
                    {
                        "@odata.context": f"{state.base_url}/v1.0/$metadata#users",
                        "value": [],
                        "@odata.deltaLink": f"{state.base_url}/v1.0/users/delta?$deltatoken={_token(position)}",
                    }
                )
            if q.get("$skiptoken"):
                position = _untoken(q["$skiptoken"])
            elif q.get("$deltatoken"):
                position = {**_untoken(q["$deltatoken"]), "o": 0}
            else:
                position = {"since": None, "select": q.get("$select"), "o": 0, "start": state.seq}
            fields = parse_select(position.get("select"))
            since = position.get("since")
            if since is None:
                ids = [uid for uid in state.user_order if uid in state.users]
            else:
                ids = [uid for uid in state.user_order if uid in state.users and state.users[uid].seq > since]
                ids += [uid for uid, seq in state.removed_users.items() if seq > since]
            offset = position.get("o", 0)
            page_size = 200
            page_ids = ids[offset : offset + page_size]
            value = []
            for uid in page_ids:
                if uid in state.users:
                    value.append(state.user_json(state.users[uid], fields))
                else:
                    value.append({"id": uid, "@removed": {"reason": "deleted"}})
            body: dict[str, Any] = {
                "@odata.context": f"{state.base_url}/v1.0/$metadata#users",
                "value": value,
            }
            if offset + page_size < len(ids):
                body["@odata.nextLink"] = (
                    f"{state.base_url}/v1.0/users/delta?$skiptoken={_token({**position, 'o': offset + page_size})}"
                )
            else:
                final = {
                    "since": position.get("start", state.seq) if since is None else state.seq,
                    "select": position.get("select"),
                }
                body["@odata.deltaLink"] = f"{state.base_url}/v1.0/users/delta?$deltatoken={_token(final)}"
            return ok(body)

    async def registration_details(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            return self._list(
                request,
                "reports/authenticationMethods/userRegistrationDetails",
                state.user_order,
                lambda uid: state.registration(state.users[uid]) if uid in state.users else None,
                lambda _, r: r,
            )

    # -- groups --------------------------------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        state = self.state
        fields = parse_select(request.query_params.get("$select"))
        with state.lock:
            return self._list(
                request,
                "groups",
                state.group_order,
                lambda gid: state.groups[gid].props,
                lambda _, p: select(p, fields),
            )

    async def get_group(self, request: Request) -> Response:
        with self.state.lock:
            group = self.state.group(request.path_params["group"])
            return ok(select(group.props, parse_select(request.query_params.get("$select"))))

    async def group_members(self, request: Request) -> Response:
        state = self.state
        transitive = request.url.path.endswith("transitiveMembers")
        fields = parse_select(request.query_params.get("$select"))
        with state.lock:
            group = state.group(request.path_params["group"])
            members = state.transitive_members(group.id) if transitive else dict(group.members)

            def raw(member_id: str) -> dict[str, Any] | None:
                if members[member_id] == "user":
                    user = state.users.get(member_id)
                    return user.props if user else None
                return state.groups[member_id].props

            def render(member_id: str, props: dict[str, Any]) -> dict[str, Any]:
                if members[member_id] == "user":
                    return {
                        "@odata.type": "#microsoft.graph.user",
                        **state.user_json(state.users[member_id], fields),
                    }
                return {"@odata.type": "#microsoft.graph.group", **select(props, fields)}

            return self._list(request, "directoryObjects", list(members), raw, render)

    async def group_owners(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            return self._list(
                request,
                "directoryObjects",
                [o for o in group.owners if o in state.users],
                lambda uid: state.users[uid].props,
                lambda uid, _: {
                    "@odata.type": "#microsoft.graph.user",
                    **state.user_json(state.users[uid], None),
                },
            )

    async def remove_member(self, request: Request) -> Response:
        self.state.remove_member(request.path_params["group"], request.path_params["member"])
        return Response(status_code=204)

    async def add_member(self, request: Request) -> Response:
        body = await _body(request)
        reference = str(body.get("@odata.id", ""))
        self.state.add_member(request.path_params["group"], reference.rstrip("/").split("/")[-1])
        return Response(status_code=204)

    async def groups_delta(self, request: Request) -> Response:
        state = self.state
        q = request.query_params
        with state.lock:
            if q.get("$deltatoken") == "latest":
                token = _token({"since": state.seq})
                return ok(
                    {
                        "value": [],
                        "@odata.deltaLink": f"{state.base_url}/v1.0/groups/delta?$deltatoken={token}",
                    }
                )
            since = _untoken(q["$deltatoken"])["since"] if q.get("$deltatoken") else None
            value = []
            if since is None:
                for gid in state.group_order:
                    group = state.groups[gid]
                    members = [
                        {"@odata.type": f"#microsoft.graph.{k}", "id": m} for m, k in group.members.items()
                    ]
                    value.append({**select(group.props, ["displayName"]), "members@delta": members})
            else:
                changes: dict[str, list[dict[str, Any]]] = {}
                for seq, gid, member, kind, added in state.member_changes:
                    if seq > since:
                        entry: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": member}
                        if not added:
                            entry["@removed"] = {"reason": "deleted"}
                        changes.setdefault(gid, []).append(entry)
                for gid, members in changes.items():
                    value.append(
                        {**select(state.groups[gid].props, ["displayName"]), "members@delta": members}
                    )
            token = _token({"since": state.seq})
            return ok(
                {
                    "@odata.context": f"{state.base_url}/v1.0/$metadata#groups",
                    "value": value,
                    "@odata.deltaLink": f"{state.base_url}/v1.0/groups/delta?$deltatoken={token}",
                }
            )

    # -- apps and roles ------------------------------------------------------------------------

    async def list_sps(self, request: Request) -> Response:
        state = self.state
        fields = parse_select(request.query_params.get("$select"))
        with state.lock:
            return self._list(
                request,
                "servicePrincipals",
                state.sp_order,
                lambda s: state.sps[s].props,
                lambda _, p: select(p, fields),
            )

    async def get_sp(self, request: Request) -> Response:
        with self.state.lock:
            return ok(self.state.sp(request.path_params["sp"]).props)

    async def sp_assignments(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            sp = state.sp(request.path_params["sp"])
            assignments = dict(sp.assignments)
            return self._list(
                request,
                f"servicePrincipals('{sp.id}')/appRoleAssignedTo",
                list(assignments),
                assignments.get,
                lambda _, a: a,
            )

    async def delete_sp_assignment(self, request: Request) -> Response:
        self.state.remove_app_assignment(request.path_params["assignment"], sp_id=request.path_params["sp"])
        return Response(status_code=204)

    async def role_definitions(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            definitions = {
                rid: {
                    "id": rid,
                    "displayName": name,
                    "description": f"Can manage {name.lower()} features.",
                    "isBuiltIn": True,
                    "isEnabled": True,
                    "templateId": rid,
                }
                for rid, name in state.role_definitions.items()
            }
            return self._list(
                request,
                "roleManagement/directory/roleDefinitions",
                list(definitions),
                definitions.get,
                lambda _, d: d,
            )

    async def role_assignments(self, request: Request) -> Response:
        state = self.state
        expand = request.query_params.get("$expand") or ""
        with state.lock:
            assignments = dict(state.role_assignments)

            def render(_: str, assignment: dict[str, Any]) -> dict[str, Any]:
                if expand.startswith("principal"):
                    user = state.users.get(assignment["principalId"])
                    if user is not None:
                        return {
                            **assignment,
                            "principal": {
                                "@odata.type": "#microsoft.graph.user",
                                **state.user_json(user, None),
                            },
                        }
                return assignment

            return self._list(
                request,
                "roleManagement/directory/roleAssignments",
                list(assignments),
                assignments.get,
                render,
            )

    async def delete_role_assignment(self, request: Request) -> Response:
        self.state.remove_role_assignment(request.path_params["assignment"])
        return Response(status_code=204)

    async def directory_roles(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            roles = {
                rid: {"id": rid, "displayName": name, "description": "", "roleTemplateId": rid}
                for rid, name in state.role_definitions.items()
            }
            return self._list(request, "directoryRoles", list(roles), roles.get, lambda _, r: r)

    async def directory_role_members(self, request: Request) -> Response:
        state = self.state
        rid = request.path_params["role"]
        with state.lock:
            if rid not in state.role_definitions:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{rid}' does not exist or one of its queried reference-property objects are not present.",
                )
            members = [
                a["principalId"] for a in state.role_assignments.values() if a["roleDefinitionId"] == rid
            ]
            return self._list(
                request,
                "directoryObjects",
                [m for m in members if m in state.users],
                lambda uid: state.users[uid].props,
                lambda uid, _: {
                    "@odata.type": "#microsoft.graph.user",
                    **state.user_json(state.users[uid], None),
                },
            )

    # -- $batch --------------------------------------------------------------------------------------

    async def batch(self, request: Request) -> Response:
        import httpx

        body = await _body(request)
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload: 'requests' is required.")
        if len(requests) > BATCH_LIMIT:
            raise GraphError(400, "BadRequest", f"Limit of {BATCH_LIMIT} requests per batch exceeded.")
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
        headers = {"authorization": request.headers.get("authorization", "")}
        responses: list[dict[str, Any]] = []
        failed: set[str] = set()
        transport = httpx.ASGITransport(app=self.wrapped_app)
        async with httpx.AsyncClient(transport=transport, base_url=self.state.base_url) as client:
            for item in requests:
                item_id = str(item.get("id"))
                if any(str(d) in failed for d in item.get("dependsOn") or []):
                    failed.add(item_id)
                    responses.append(
                        {
                            "id": item_id,
                            "status": 424,
                            "body": {
                                "error": {"code": "FailedDependency", "message": "A dependency failed."}
                            },
                        }
                    )
                    continue
                url = str(item.get("url", ""))
                path = url if url.startswith("/v1.0") else f"/v1.0{url if url.startswith('/') else '/' + url}"
                sub = await client.request(
                    str(item.get("method", "GET")).upper(),
                    path,
                    headers={**headers, **(item.get("headers") or {})},
                    json=item.get("body") if item.get("body") is not None else None,
                )
                if sub.status_code >= 400:
                    failed.add(item_id)
                entry: dict[str, Any] = {"id": item_id, "status": sub.status_code, "headers": {}}
                for name in ("Retry-After", "Content-Type", "Location"):
                    if name in sub.headers:
                        entry["headers"][name] = sub.headers[name]
                if sub.content:
                    entry["body"] = sub.json()
                responses.append(entry)
        return ok({"responses": responses})

    # -- emulator state ------------------------------------------------------------------------------

    async def state_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return ok(
                {
                    "user": user.props,
                    "groups": [state.groups[g].props["displayName"] for g in state.member_of(user.id, False)],
                    "apps": sorted(
                        sp.props["displayName"]
                        for sp in state.sps.values()
                        for a in sp.assignments.values()
                        if a["principalId"] == user.id
                    ),
                    "roles": sorted(
                        state.role_definitions[a["roleDefinitionId"]]
                        for a in state.role_assignments.values()
                        if a["principalId"] == user.id
                    ),
                    "methods": user.methods,
                    "sessions_revoked_at": iso(user.sessions_revoked_at),
                }
            )

    async def state_summary(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            direct = sum(1 for g in state.groups.values() for k in g.members.values() if k == "user")
            transitive = sum(
                sum(1 for k in state.transitive_members(gid).values() if k == "user")
                for gid in state.group_order
            )
            return ok(
                {
                    "users": len(state.users),
                    "enabled": sum(1 for u in state.users.values() if u.props["accountEnabled"]),
                    "groups": len(state.groups),
                    "direct_memberships": direct,
                    "transitive_memberships": transitive,
                    "service_principals": len(state.sps),
                    "app_assignments": sum(len(sp.assignments) for sp in state.sps.values()),
                    "role_assignments": len(state.role_assignments),
                    "mfa_registered": sum(1 for u in state.users.values() if u.methods),
                }
            )

    async def state_churn(self, request: Request) -> Response:
        body = await _body(request)
        return ok(self.state.churn(float(body.get("share", 0.01)), int(body.get("seed", 1))))

    def routes(self) -> list[Route]:
        g = self.graph
        return [
            Route(
                "/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]
            ),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route("/v1.0/$batch", g(self.batch), methods=["POST"]),
            Route("/v1.0/users", g(self.list_users), methods=["GET"]),
            Route("/v1.0/users/delta", g(self.users_delta), methods=["GET"]),
            Route("/v1.0/users/{user}", g(self.get_user), methods=["GET"]),
            Route("/v1.0/users/{user}", g(self.patch_user), methods=["PATCH"]),
            Route("/v1.0/users/{user}/revokeSignInSessions", g(self.revoke_sessions), methods=["POST"]),
            Route("/v1.0/users/{user}/manager", g(self.manager), methods=["GET"]),
            Route("/v1.0/users/{user}/memberOf", g(self.member_of), methods=["GET"]),
            Route("/v1.0/users/{user}/transitiveMemberOf", g(self.member_of), methods=["GET"]),
            Route("/v1.0/users/{user}/appRoleAssignments", g(self.user_app_assignments), methods=["GET"]),
            Route(
                "/v1.0/users/{user}/appRoleAssignments/{assignment}",
                g(self.delete_user_app_assignment),
                methods=["DELETE"],
            ),
            Route(
                "/v1.0/reports/authenticationMethods/userRegistrationDetails",
                g(self.registration_details),
                methods=["GET"],
            ),
            Route("/v1.0/groups", g(self.list_groups), methods=["GET"]),
            Route("/v1.0/groups/delta", g(self.groups_delta), methods=["GET"]),
            Route("/v1.0/groups/{group}", g(self.get_group), methods=["GET"]),
            Route("/v1.0/groups/{group}/members", g(self.group_members), methods=["GET"]),
            Route("/v1.0/groups/{group}/transitiveMembers", g(self.group_members), methods=["GET"]),
            Route("/v1.0/groups/{group}/owners", g(self.group_owners), methods=["GET"]),
            Route("/v1.0/groups/{group}/members/$ref", g(self.add_member), methods=["POST"]),
            Route("/v1.0/groups/{group}/members/{member}/$ref", g(self.remove_member), methods=["DELETE"]),
            Route("/v1.0/servicePrincipals", g(self.list_sps), methods=["GET"]),
            Route("/v1.0/servicePrincipals/{sp}", g(self.get_sp), methods=["GET"]),
            Route("/v1.0/servicePrincipals/{sp}/appRoleAssignedTo", g(self.sp_assignments), methods=["GET"]),
            Route(
                "/v1.0/servicePrincipals/{sp}/appRoleAssignedTo/{assignment}",
                g(self.delete_sp_assignment),
                methods=["DELETE"],
            ),
            Route(
                "/v1.0/roleManagement/directory/roleDefinitions", g(self.role_definitions), methods=["GET"]
            ),
            Route(
                "/v1.0/roleManagement/directory/roleAssignments", g(self.role_assignments), methods=["GET"]
            ),
            Route(
                "/v1.0/roleManagement/directory/roleAssignments/{assignment}",
                g(self.delete_role_assignment),
                methods=["DELETE"],
            ),
            Route("/v1.0/directoryRoles", g(self.directory_roles), methods=["GET"]),
            Route("/v1.0/directoryRoles/{role}/members", g(self.directory_role_members), methods=["GET"]),
            Route("/_emulator/state/users/{user}", _plain(self.state_user), methods=["GET"]),
            Route("/_emulator/state/summary", _plain(self.state_summary), methods=["GET"]),
            Route("/_emulator/state/churn", _plain(self.state_churn), methods=["POST"]),
        ]


def _plain(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GraphError as exc:
            return graph_error(exc.status, exc.code, exc.message)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
    return body
