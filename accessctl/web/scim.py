"""SCIM 2.0 over HTTP at ``/scim/v2/``: Users, ServiceProviderConfig, Schemas, ResourceTypes.

Mounted by :func:`mount_scim` only when ``[hr.scim] enabled = true``.  Every route needs a bearer
token of scope ``hr``; every refusal (401 and 403 included) is a SCIM Error message with its HTTP
status, ``application/scim+json``, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from scim2_models import Context, ResponseParameters, SCIMException
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from accessctl.hr.rejections import Rejected
from accessctl.hr.scim import models, wire
from accessctl.hr.scim.errors import (
    MEDIA_TYPE,
    ScimError,
    from_scim_exception,
    from_validation_error,
    not_found,
)
from accessctl.hr.scim.models import ScimUser
from accessctl.hr.scim.users import ScimUsers, StoredUser
from accessctl.settings import Settings
from accessctl.tokens import TokenInfo
from accessctl.web.auth import _bearer, actor, require_scope
from accessctl.web.errors import ApiError

PREFIX = "/scim/v2"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_hr_scope = require_scope("hr")


def build_scim_users(settings: Settings, engine: Engine) -> ScimUsers:
    """The SCIM use cases over the lifecycle's jobs (the HR intake's leavers and restores)."""
    from accessctl.lifecycle.hr_jobs import HrLifecycle

    return ScimUsers(
        engine, HrLifecycle(settings), rehire=settings.hr.rehire, max_results=settings.hr.scim.max_results
    )


def scim_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> TokenInfo:
    """The service's ``hr`` scope check, its refusals in SCIM's error shape."""
    try:
        return _hr_scope(request, credentials)
    except ApiError as exc:
        raise ScimError(exc.status, exc.message, headers=exc.headers) from None


def _users(request: Request) -> ScimUsers:
    return request.app.state.scim_users


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _scim(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _scim_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScimError)
    return _scim(exc.body(), exc.status, exc.headers or None)


async def _json_body(request: Request) -> dict[str, Any]:
    from accessctl.web.hr import _read_body  # the intake's capped read with a deadline

    try:
        raw = await _read_body(request)
    except Rejected as exc:
        raise ScimError(exc.status, exc.message) from None
    return wire.read_object(raw, request.headers.get("content-type"))


def _response_parameters(request: Request) -> ResponseParameters[ScimUser] | None:
    wanted = {
        k: request.query_params[k] for k in ("attributes", "excludedAttributes") if k in request.query_params
    }
    if not wanted:
        return None
    try:
        return ResponseParameters[ScimUser].model_validate(wanted)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    except SCIMException as exc:
        raise from_scim_exception(exc) from None


def _render(
    request: Request,
    stored: StoredUser,
    context: Context,
    params: ResponseParameters[ScimUser] | None,
) -> dict[str, Any]:
    location = f"{_base(request)}/Users/{stored.id}"
    return stored.model(location).model_dump(scim_ctx=context, response_parameters=params)


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except Rejected as exc:  # the lifecycle refused (a rehire while its leaver runs): nothing stored
        raise ScimError(exc.status, exc.message) from None
    except SQLAlchemyError:
        # nothing was stored: the client retries (Entra and Okta do on 5xx)
        raise ScimError(
            503, "the store could not be reached; retry later", headers={"Retry-After": "30"}
        ) from None


router = APIRouter(prefix=PREFIX, tags=["scim"], dependencies=[Depends(scim_token)])


@router.get("/ServiceProviderConfig", summary="SCIM: what this service supports")
async def service_provider_config(request: Request) -> JSONResponse:
    return _scim(models.service_provider_config_body(_base(request), max_results=_users(request).max_results))


@router.get("/ResourceTypes", summary="SCIM: the resource types (User)")
async def resource_types(request: Request) -> JSONResponse:
    return _scim(_list([models.resource_type_body(_base(request))]))


@router.get("/ResourceTypes/{name}", summary="SCIM: one resource type")
async def resource_type(request: Request, name: str) -> JSONResponse:
    if name != "User":
        raise not_found(f"no resource type {name}")
    return _scim(models.resource_type_body(_base(request)))


@router.get("/Schemas", summary="SCIM: the schemas")
async def schemas(request: Request) -> JSONResponse:
    return _scim(_list(models.schema_bodies(_base(request))))


@router.get("/Schemas/{schema_id}", summary="SCIM: one schema")
async def schema(request: Request, schema_id: str) -> JSONResponse:
    for body in models.schema_bodies(_base(request)):
        if body["id"] == schema_id:
            return _scim(body)
    raise not_found(f"no schema {schema_id}")


def _list(resources: list[dict[str, Any]], *, total: int | None = None, start: int = 1) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources) if total is None else total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


async def _search(request: Request, params: dict[str, Any]) -> JSONResponse:
    users = _users(request)
    search = users.search_request(params)
    total, start, page = await _call(users.search, search)
    rendered = [_render(request, s, Context.SEARCH_RESPONSE, search) for s in page]
    return _scim(_list(rendered, total=total, start=start))


@router.get("/Users", summary="SCIM: list Users (filter on userName, externalId, emails, ...)")
async def list_users(request: Request) -> JSONResponse:
    names = ("filter", "startIndex", "count", "attributes", "excludedAttributes")
    return await _search(request, {k: request.query_params[k] for k in names if k in request.query_params})


@router.post("/Users/.search", summary="SCIM: search Users (the query in the body)")
async def search_users(request: Request) -> JSONResponse:
    body = await _json_body(request)
    return await _search(request, {k: v for k, v in body.items() if k != "schemas"})


@router.post("/Users", status_code=201, summary="SCIM: create a User (an HR hire)")
async def create_user(request: Request, token: TokenInfo = Depends(scim_token)) -> JSONResponse:
    params = _response_parameters(request)
    body = await _json_body(request)
    stored = await _call(_users(request).create, body, actor=actor(token))
    rendered = _render(request, stored, Context.RESOURCE_CREATION_RESPONSE, params)
    headers = {"Location": f"{_base(request)}/Users/{stored.id}", "ETag": stored.etag}
    return _scim(rendered, 201, headers)


@router.get("/Users/{user_id}", summary="SCIM: one User")
async def get_user(request: Request, user_id: str) -> Response:
    params = _response_parameters(request)
    stored = await _call(_users(request).get, user_id)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and stored.etag.removeprefix("W/") in {
        t.strip().removeprefix("W/") for t in if_none_match.split(",")
    }:
        return Response(status_code=304, headers={"ETag": stored.etag})
    return _scim(
        _render(request, stored, Context.RESOURCE_QUERY_RESPONSE, params), headers={"ETag": stored.etag}
    )


@router.put("/Users/{user_id}", summary="SCIM: replace a User (a mover, a termination, a rehire)")
async def replace_user(
    request: Request, user_id: str, token: TokenInfo = Depends(scim_token)
) -> JSONResponse:
    params = _response_parameters(request)
    body = await _json_body(request)
    stored = await _call(
        _users(request).replace, user_id, body, actor=actor(token), if_match=request.headers.get("if-match")
    )
    rendered = _render(request, stored, Context.RESOURCE_REPLACEMENT_RESPONSE, params)
    return _scim(rendered, headers={"ETag": stored.etag})


@router.patch("/Users/{user_id}", summary="SCIM: patch a User (Entra's active=False is a termination)")
async def patch_user(request: Request, user_id: str, token: TokenInfo = Depends(scim_token)) -> JSONResponse:
    params = _response_parameters(request)
    body = await _json_body(request)
    stored = await _call(
        _users(request).patch, user_id, body, actor=actor(token), if_match=request.headers.get("if-match")
    )
    rendered = _render(request, stored, Context.RESOURCE_PATCH_RESPONSE, params)
    return _scim(rendered, headers={"ETag": stored.etag})


@router.delete("/Users/{user_id}", status_code=204, summary="SCIM: delete a User = terminate them (no purge)")
async def delete_user(request: Request, user_id: str, token: TokenInfo = Depends(scim_token)) -> Response:
    await _call(_users(request).delete, user_id, actor=actor(token), if_match=request.headers.get("if-match"))
    return Response(status_code=204)


@router.post("/.search", include_in_schema=False)
async def search_everything() -> JSONResponse:
    raise ScimError(501, "searching every resource type at once is not supported: POST /Users/.search")


_ALLOWED = {
    "/ServiceProviderConfig": {"GET"},
    "/ResourceTypes": {"GET"},
    "/ResourceTypes/{name}": {"GET"},
    "/Schemas": {"GET"},
    "/Schemas/{schema_id}": {"GET"},
    "/Users": {"GET", "POST"},
    "/Users/.search": {"POST"},
    "/Users/{user_id}": {"GET", "PUT", "PATCH", "DELETE"},
}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _not_allowed(allowed: set[str]) -> Callable[..., Any]:
    async def answer() -> JSONResponse:
        raise ScimError(
            405, f"only {', '.join(sorted(allowed))} here", headers={"Allow": ", ".join(sorted(allowed))}
        )

    return answer


for _path, _allowed in _ALLOWED.items():
    router.add_api_route(
        _path, _not_allowed(_allowed), methods=sorted(_METHODS - _allowed), include_in_schema=False
    )


@router.api_route("/{rest:path}", methods=sorted(_METHODS), include_in_schema=False)
async def unknown(rest: str) -> JSONResponse:
    raise not_found(f"no SCIM endpoint /{rest}")


def mount_scim(app: FastAPI, users: ScimUsers) -> None:
    """``/scim/v2/`` on ``app``, over ``users``."""
    app.state.scim_users = users
    app.add_exception_handler(ScimError, _scim_error)
    app.include_router(router)
