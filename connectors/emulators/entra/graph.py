"""The plumbing every Microsoft Graph route shares: errors, bearer tokens, OData collection pages."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.odata import ODataError, compile_filter, order_by, parse_select, sort_ids
from connectors.emulators.entra.permissions import AppRegistration, denied, require, route_permissions
from connectors.emulators.entra.schema import USER, EntityType
from connectors.emulators.entra.state import EntraState, GraphError, iso, now
from connectors.emulators.requests import json_object

Handler = Callable[[Request], Awaitable[Response]]
GRAPH_AUDIENCE = "https://graph.microsoft.com"
BATCH_LIMIT = 20
LIST_MAX_PAGE = 999  # $top and odata.maxpagesize on directory listings


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


def ok(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def max_page_size(request: Request) -> int | None:
    """``Prefer: odata.maxpagesize=N`` (among other preferences), or None; an unusable value is ignored,
    as a preference may be."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            name, _, value = preference.strip().partition("=")
            if name.strip().lower() == "odata.maxpagesize":
                try:
                    size = int(value.strip().strip('"'))
                except ValueError:
                    return None
                return size if size >= 1 else None
    return None


def applied(size: int | None) -> dict[str, str] | None:
    """Graph's ``Preference-Applied`` answer to an honoured odata.maxpagesize."""
    return {"Preference-Applied": f"odata.maxpagesize={size}"} if size is not None else None


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, json.JSONDecodeError):
        raise GraphError(400, "BadRequest", "Invalid skip or delta token.") from None


class GraphRoutesBase:
    """What every Graph route shares: the state, bearer-token checks and OData collection paging."""

    def __init__(
        self,
        state: EntraState,
        *,
        strict: bool,
        apps: tuple[AppRegistration, ...] = (),
    ) -> None:
        self.state = state
        self.strict = strict
        # client id -> registration; a client id not registered here (accepted only without strict auth)
        # gets the default app's permissions
        self.apps: dict[str, AppRegistration] = {app.client_id: app for app in apps}
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
            roles = frozenset(claims.get("roles") or ())
            request.state.roles = roles
            needed = route_permissions(request.method, request.url.path)
            if needed is not None and not roles & needed:
                error = denied()
                return graph_error(error.status, error.code, error.message)
            try:
                return await handler(request)
            except GraphError as exc:
                return graph_error(exc.status, exc.code, exc.message)
            except ODataError as exc:
                return graph_error(400, exc.code, str(exc))

        return wrapped

    @staticmethod
    def _require(request: Request, any_of: frozenset[str]) -> None:
        """A check the route alone cannot make (it depends on the body or the target)."""
        require(getattr(request.state, "roles", frozenset()), any_of)

    def _top(self, request: Request, default: int = 100) -> int:
        raw = request.query_params.get("$top")
        if raw is None:
            return default
        try:
            top = int(raw)
        except ValueError:
            raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option $top.") from None
        if not 1 <= top <= LIST_MAX_PAGE:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top}'. Must be between 1 and {LIST_MAX_PAGE} inclusive.",
            )
        return top

    def _page_size(
        self, request: Request, default: int, carried: int | None = None
    ) -> tuple[int, int | None]:
        """(page size, the odata.maxpagesize applied or None): ``$top`` or, without it, the size a
        skiptoken carries; ``Prefer: odata.maxpagesize`` caps either, itself capped at the maximum."""
        preferred = max_page_size(request)
        preferred = min(preferred, LIST_MAX_PAGE) if preferred is not None else None
        if request.query_params.get("$top") is not None:
            size = self._top(request, default)
        else:
            size = carried or default
            if preferred is not None:
                size = preferred
        if preferred is not None:
            size = min(size, preferred)
        return size, preferred

    def _list(
        self,
        request: Request,
        context: str,
        ids: Sequence[str],
        raw: Callable[[str], dict[str, Any] | None],
        render: Callable[[str, dict[str, Any]], dict[str, Any]],
        *,
        default_top: int = 100,
        entity: EntityType | None = None,
    ) -> Response:
        """A Graph collection page: $filter over the raw objects (their properties checked against the
        entity type when given), $top or Prefer: odata.maxpagesize, $skiptoken, @odata.nextLink."""
        q = request.query_params
        advanced = (
            request.headers.get("consistencylevel", "").lower() == "eventual"
            and q.get("$count", "").lower() == "true"
        )
        predicate = compile_filter(q.get("$filter"), entity, advanced=advanced)
        if entity is not None and entity.sortable:
            keys = order_by(q.get("$orderby"), entity, filtered=predicate is not None, advanced=advanced)
            if keys:
                ids = sort_ids(list(ids), raw, keys)
        skip = _untoken(q["$skiptoken"]) if q.get("$skiptoken") else {}
        top, preferred = self._page_size(request, default_top, skip.get("n"))
        offset = int(skip.get("o", 0))
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
            params["$skiptoken"] = _token({"o": position, "n": top})
            body["@odata.nextLink"] = (
                f"{self.state.base_url}{request.url.path}?{urlencode(params, safe='$(),=')}"
            )
        return ok(body, headers=applied(preferred))

    def _count(
        self,
        request: Request,
        ids: Sequence[str],
        raw: Callable[[str], dict[str, Any] | None],
        entity: EntityType,
    ) -> Response:
        """``/users/$count``, ``/groups/$count``: the number (text/plain), $filter applied; an advanced
        query, so only with ConsistencyLevel: eventual."""
        if request.headers.get("consistencylevel", "").lower() != "eventual":
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is "
                "missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
            )
        predicate = compile_filter(request.query_params.get("$filter"), entity)
        count = sum(1 for i in ids if (o := raw(i)) is not None and (predicate is None or predicate(o)))
        return Response(str(count), media_type="text/plain")

    def _user_renderer(self, request: Request) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        state = self.state
        fields = parse_select(request.query_params.get("$select"), USER)
        expand = request.query_params.get("$expand") or ""

        def render(uid: str, _: dict[str, Any]) -> dict[str, Any]:
            user = state.users[uid]
            body = state.user_json(user, fields)
            if expand.startswith("manager"):
                manager = state.users.get(user.manager_id or "")
                inner = (
                    parse_select(expand[len("manager(") : -1].removeprefix("$select="), USER)
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


def _plain(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GraphError as exc:
            return graph_error(exc.status, exc.code, exc.message)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    return await json_object(
        request, lambda: GraphError(400, "BadRequest", "Unable to read JSON request payload.")
    )
