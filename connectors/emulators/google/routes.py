"""Google's OAuth token endpoint (service-account JWT, domain-wide delegation) and the Admin SDK
Directory API v1 routes, including the multipart/mixed batch endpoint."""

from __future__ import annotations

import base64
import contextvars
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.emulators.google.partial import Selection, parse_fields, select
from connectors.emulators.google.reports import list_activities
from connectors.emulators.google.scopes import METHODS, rpc_name
from connectors.emulators.google.state import (
    ACTING_ADMIN,
    GoogleApiError,
    GoogleState,
    error_body,
    iso,
    now,
)
from connectors.emulators.requests import json_object

Handler = Callable[[Request], Awaitable[Response]]
API = "/admin/directory/v1"
REPORTS = "/admin/reports/v1"
#: what a Reports API activities call needs the token to carry (its discovery document's one scope)
REPORTS_AUDIT_SCOPE = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
BATCH_LIMIT = 1000


#: the ``fields`` selection of the request being served (partial response), if it asked for one
_FIELDS: contextvars.ContextVar[Selection | None] = contextvars.ContextVar("fields", default=None)


def ok(payload: Any, status: int = 200) -> Response:
    selection = _FIELDS.get()
    if selection is not None and status < 300:
        payload = select(payload, selection)
    return _json(payload, status)


def _json(payload: Any, status: int) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(), status_code=status, media_type="application/json"
    )


def failure(exc: GoogleApiError) -> Response:
    body = error_body(exc.status, exc.reason, exc.message, exc.domain)
    if exc.details:
        body["error"]["details"] = exc.details
    return _json(body, exc.status)


@dataclass(frozen=True)
class AccessToken:
    expires: float
    scopes: frozenset[str]
    subject: str


def insufficient_scopes(method: str) -> GoogleApiError:
    """Google's answer to a token that lacks every scope the method accepts."""
    return GoogleApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "admin.googleapis.com", "method": method},
            }
        ],
    )


async def unknown_path(request: Request, exc: Exception) -> Response:
    """Google's answer for a path (or method) the API does not have."""
    return failure(GoogleApiError(404, "notFound", "Method not found."))


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        raise GoogleApiError(400, "invalid", "Invalid Input: pageToken") from None


def _max_results(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("maxResults")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise GoogleApiError(400, "invalid", "Invalid value for: maxResults") from None
    if value < 1:
        raise GoogleApiError(400, "invalid", "Invalid value for: maxResults")
    return min(value, maximum)


def _user_matches(body: dict[str, Any], query: str | None) -> bool:
    """A subset of the Directory API's user query language: isSuspended=, isAdmin=, email:prefix*,
    givenName:, familyName:, orgUnitPath=, externalId:."""
    if not query:
        return True
    for term in query.split():
        key, sep, value = term.partition("=") if "=" in term else term.partition(":")
        if not sep:
            raise GoogleApiError(400, "invalid", "Invalid Input: query")
        value = value.strip("'\"").lower()
        if key == "isSuspended":
            if str(body["suspended"]).lower() != value:
                return False
        elif key == "isAdmin":
            if str(body["isAdmin"]).lower() != value:
                return False
        elif key == "email":
            emails = [body["primaryEmail"].lower()] + [a.lower() for a in body.get("aliases", [])]
            if not any(
                e.startswith(value.rstrip("*")) if value.endswith("*") else e == value for e in emails
            ):
                return False
        elif key in ("givenName", "familyName"):
            if not body["name"][key].lower().startswith(value.rstrip("*")):
                return False
        elif key == "orgUnitPath":
            if body["orgUnitPath"].lower() != value:
                return False
        elif key == "externalId":
            if not any(e["value"].lower() == value for e in body.get("externalIds", [])):
                return False
        else:
            raise GoogleApiError(400, "invalid", "Invalid Input: query")
    return True


class GoogleRoutes:
    def __init__(
        self,
        state: GoogleState,
        *,
        token_uri: str,
        service_account_email: str | None,
        public_key_pem: str | None,
        admin_email: str | None,
        strict: bool,
    ) -> None:
        self.state = state
        self.token_uri = token_uri
        # google-auth addresses service-account assertions to Google's canonical token endpoint
        self.audiences = [
            token_uri,
            "https://oauth2.googleapis.com/token",
            "https://accounts.google.com/o/oauth2/token",
        ]
        self.service_account_email = service_account_email
        self.public_key_pem = public_key_pem
        self.admin_email = admin_email
        self.strict = strict
        self.tokens: dict[str, AccessToken] = {}
        self.wrapped_app: Any = None

    def api(self, handler: Handler, *, scopes: frozenset[str] | None = None, method: str = "") -> Handler:
        """Authenticate the request; with ``scopes``, its token must carry one of them (else 403)."""

        async def wrapped(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            grant = self.tokens.get(token)
            if grant is None or grant.expires < time.time():
                return ok(
                    error_body(
                        401,
                        "authError",
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                        "or other valid authentication credential.",
                    ),
                    401,
                )
            if scopes is not None and not scopes & grant.scopes:
                return failure(insufficient_scopes(method))
            actor = self.state.by_email.get(grant.subject.lower())
            acting = ACTING_ADMIN.set((grant.subject, actor) if actor else None)
            try:
                fields = request.query_params.get("fields")
                selected = _FIELDS.set(parse_fields(fields) if fields else None)
                try:
                    return await handler(request)
                finally:
                    _FIELDS.reset(selected)
            except GoogleApiError as exc:
                return failure(exc)
            finally:
                ACTING_ADMIN.reset(acting)

        return wrapped

    # -- OAuth ------------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}

        def oauth_error(error: str, description: str, status: int = 400) -> Response:
            return ok({"error": error, "error_description": description}, status)

        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(form.get("grant_type")))
        assertion = form.get("assertion", "")
        try:
            if self.strict and self.public_key_pem:
                claims = jwt.decode(
                    assertion, self.public_key_pem, algorithms=["RS256"], audience=self.audiences
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False, "verify_aud": False})
        except jwt.ExpiredSignatureError:
            return oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            )
        except jwt.InvalidTokenError:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        if self.strict and claims.get("iss") != self.service_account_email:
            return oauth_error("invalid_grant", "Invalid JWT: issuer is not a known service account.")
        if not claims.get("scope"):
            return oauth_error("invalid_scope", "Empty or missing scope not allowed.")
        subject = str(claims.get("sub") or "")
        if self.strict and subject:
            user = self.state.users.get(self.state.by_email.get(subject.lower(), ""))
            if user is None or not user.body["isAdmin"]:
                return oauth_error(
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
                    "for any of the scopes requested.",
                    401,
                )
        access_token = "ya29." + secrets.token_urlsafe(48)
        self.tokens[access_token] = AccessToken(
            time.time() + 3599, frozenset(str(claims["scope"]).split()), subject
        )
        return ok({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})

    # -- users ------------------------------------------------------------------------------------

    def _check_customer(self, request: Request) -> None:
        customer = request.query_params.get("customer")
        domain = request.query_params.get("domain")
        if customer is None and domain is None:
            raise GoogleApiError(400, "badRequest", "Bad Request")
        if customer not in (None, "my_customer", self.state.customer_id) or domain not in (
            None,
            self.state.domain,
        ):
            raise GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")

    async def list_users(self, request: Request) -> Response:
        self._check_customer(request)
        q = request.query_params
        state = self.state
        view = q.get("viewType", "admin_view")
        if view not in ("admin_view", "domain_public"):
            raise GoogleApiError(400, "invalid", "Invalid value for: viewType")
        with state.lock:
            ids = state.user_ids_in_order(q.get("orderBy") or "email")
            if q.get("query"):
                ids = [i for i in ids if _user_matches(state.users[i].body, q.get("query"))]
            if q.get("showDeleted", "false") == "true":
                ids = []
            if q.get("sortOrder", "ASCENDING").upper() == "DESCENDING":
                ids = ids[::-1]
            limit = _max_results(request, 100, 500)
            offset = _offset(q.get("pageToken"))
            body: dict[str, Any] = {
                "kind": "admin#directory#users",
                "etag": '"users"',
                "users": [_view(state.users[i].body, view) for i in ids[offset : offset + limit]],
            }
            if offset + limit < len(ids):
                body["nextPageToken"] = _page_token(offset + limit)
            return ok(body)

    async def get_user(self, request: Request) -> Response:
        view = request.query_params.get("viewType", "admin_view")
        if view not in ("admin_view", "domain_public"):
            raise GoogleApiError(400, "invalid", "Invalid value for: viewType")
        with self.state.lock:
            return ok(_view(self.state.user(request.path_params["user"]).body, view))

    async def patch_user(self, request: Request) -> Response:
        changes = await _body(request)
        return ok(self.state.patch_user(request.path_params["user"], changes).body)

    async def make_admin(self, request: Request) -> Response:
        self.state.make_admin(request.path_params["user"], (await _body(request)).get("status"))
        return Response(status_code=204)

    async def sign_out(self, request: Request) -> Response:
        self.state.sign_out(request.path_params["user"])
        return Response(status_code=204)

    async def invalidate_codes(self, request: Request) -> Response:
        self.state.invalidate_codes(request.path_params["user"])
        return Response(status_code=204)

    async def list_tokens(self, request: Request) -> Response:
        with self.state.lock:
            user = self.state.user(request.path_params["user"])
            return ok({"kind": "admin#directory#tokenList", "etag": '"tokens"', "items": list(user.tokens)})

    async def get_token(self, request: Request) -> Response:
        return ok(self.state.token(request.path_params["user"], request.path_params["client"]))

    async def list_codes(self, request: Request) -> Response:
        """verificationCodes.list: the user's current (unused, not invalidated) backup codes."""
        items = self.state.verification_codes(request.path_params["user"])
        return ok({"kind": "admin#directory#verificationCodesList", "etag": '"codes"', "items": items})

    async def get_asp(self, request: Request) -> Response:
        return ok(self.state.asp(request.path_params["user"], request.path_params["code"]))

    async def delete_token(self, request: Request) -> Response:
        self.state.delete_token(request.path_params["user"], request.path_params["client"])
        return Response(status_code=204)

    async def list_asps(self, request: Request) -> Response:
        with self.state.lock:
            user = self.state.user(request.path_params["user"])
            return ok({"kind": "admin#directory#asps", "etag": '"asps"', "items": list(user.asps)})

    async def delete_asp(self, request: Request) -> Response:
        self.state.delete_asp(request.path_params["user"], request.path_params["code"])
        return Response(status_code=204)

    # -- groups ---------------------------------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        q = request.query_params
        state = self.state
        with state.lock:
            ordered = [state.groups[gid] for gid in state.group_ids_in_order()]
            if q.get("userKey"):
                user = state.user(q["userKey"])
                groups = [g for g in ordered if user.id in g.members]
            else:
                self._check_customer(request)
                groups = ordered
            limit = _max_results(request, 200, 200)
            offset = _offset(q.get("pageToken"))
            body: dict[str, Any] = {
                "kind": "admin#directory#groups",
                "etag": '"groups"',
                "groups": [g.body for g in groups[offset : offset + limit]],
            }
            if offset + limit < len(groups):
                body["nextPageToken"] = _page_token(offset + limit)
            return ok(body)

    async def insert_group(self, request: Request) -> Response:
        group = self.state.insert_group(await _body(request))
        return ok(group.body)

    async def delete_group(self, request: Request) -> Response:
        self.state.delete_group(request.path_params["group"])
        return Response(status_code=204)

    async def get_group(self, request: Request) -> Response:
        with self.state.lock:
            return ok(self.state.group(request.path_params["group"]).body)

    async def list_members(self, request: Request) -> Response:
        q = request.query_params
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            member_ids = list(group.members)
            if q.get("includeDerivedMembership") == "true":
                seen = dict(group.members)
                stack = [m for m, k in group.members.items() if k == "GROUP"]
                visited = set(stack)
                while stack:
                    for member, kind in state.groups[stack.pop()].members.items():
                        if member not in seen:
                            seen[member] = kind
                        if kind == "GROUP" and member not in visited:
                            visited.add(member)
                            stack.append(member)
                member_ids = list(seen)
                group = type(group)(group.id, group.body, seen)
            limit = _max_results(request, 200, 200)
            offset = _offset(q.get("pageToken"))
            body: dict[str, Any] = {
                "kind": "admin#directory#members",
                "etag": '"members"',
                "members": [state.member_body(group, m) for m in member_ids[offset : offset + limit]],
            }
            if offset + limit < len(member_ids):
                body["nextPageToken"] = _page_token(offset + limit)
            return ok(body)

    async def insert_member(self, request: Request) -> Response:
        """members.insert: the body names the member by ``email`` (or ``id``), a user or a group."""
        body = await _body(request)
        key = body.get("email") or body.get("id")
        if not isinstance(key, str) or not key:
            raise GoogleApiError(400, "required", "Missing required field: memberKey")
        state = self.state
        member_id = state.add_member(request.path_params["group"], key)
        with state.lock:
            return ok(state.member_body(state.group(request.path_params["group"]), member_id))

    async def delete_member(self, request: Request) -> Response:
        self.state.remove_member(request.path_params["group"], request.path_params["member"])
        return Response(status_code=204)

    # -- roles ------------------------------------------------------------------------------------

    def _customer(self, request: Request) -> None:
        if request.path_params["customer"] not in ("my_customer", self.state.customer_id):
            raise GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")

    async def list_roles(self, request: Request) -> Response:
        self._customer(request)
        items = [
            {
                "kind": "admin#directory#role",
                "roleId": role_id,
                "roleName": name,
                "roleDescription": name.strip("_").replace("_", " ").title(),
                "isSystemRole": True,
                "isSuperAdminRole": name == "_SEED_ADMIN_ROLE",
                "rolePrivileges": [],
                "etag": '"role"',
            }
            for role_id, name in self.state.roles.items()
        ]
        return ok({"kind": "admin#directory#roles", "etag": '"roles"', "items": items})

    async def list_role_assignments(self, request: Request) -> Response:
        """Role assignments, of one role (``roleId``) or of one user or group (``userKey``), not both:
        the API takes them as mutually exclusive (GAM-team/GAM#1406 works around it).  With ``includeIndirectRoleAssignments=true`` and a
        user's ``userKey``, also the assignments of the groups the user belongs to (assigneeType group)."""
        self._customer(request)
        q = request.query_params
        state = self.state
        if q.get("roleId") and q.get("userKey"):
            raise GoogleApiError(400, "invalid", "Invalid Input")
        with state.lock:
            items = list(state.role_assignments.values())
            if q.get("roleId"):
                items = [a for a in items if a["roleId"] == q["roleId"]]
            if q.get("userKey"):
                key = q["userKey"]
                if key in state.groups or key.lower() in state.group_by_email:
                    holders = {state.group(key).id}
                else:
                    uid = state.user(key).id
                    holders = {uid}
                    if q.get("includeIndirectRoleAssignments", "").lower() == "true":
                        holders.update(state.groups_of(uid))
                items = [a for a in items if a["assignedTo"] in holders]
            limit = _max_results(request, 100, 200)
            offset = _offset(q.get("pageToken"))
            body: dict[str, Any] = {
                "kind": "admin#directory#roleAssignments",
                "etag": '"ra"',
                "items": items[offset : offset + limit],
            }
            if offset + limit < len(items):
                body["nextPageToken"] = _page_token(offset + limit)
            return ok(body)

    async def delete_role_assignment(self, request: Request) -> Response:
        self._customer(request)
        self.state.delete_role_assignment(request.path_params["assignment"])
        return Response(status_code=204)

    async def insert_role_assignment(self, request: Request) -> Response:
        self._customer(request)
        return ok(self.state.insert_role_assignment(await _body(request)))

    # -- Reports API ------------------------------------------------------------------------------

    async def list_activities(self, request: Request) -> Response:
        """activities.list: the admin activity log, newest first (see :mod:`.reports`)."""
        key = request.path_params["user"]
        state = self.state
        actor: tuple[str, str] | None = None
        if key != "all":
            with state.lock:
                user = state.user(key)
                actor = (user.body["primaryEmail"], user.id)
        body = list_activities(
            state.activity,
            user=actor,
            application=request.path_params["application"],
            query=dict(request.query_params),
        )
        return ok(body)

    async def state_reports(self, request: Request) -> Response:
        """``{"hold": true}`` keeps new activities out of the listing (late data); ``{"hold": false}``
        releases them, at the times they happened."""
        body = await _body(request)
        if body.get("hold"):
            self.state.activity.hold()
            return ok({"held": True})
        return ok({"held": False, "released": self.state.activity.release()})

    # -- batch ---------------------------------------------------------------------------------------

    async def batch(self, request: Request) -> Response:
        import httpx

        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/mixed"):
            return failure(GoogleApiError(400, "badRequest", "Batch requests must be multipart/mixed."))
        raw = await request.body()
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        parts = list(message.iter_parts())
        if len(parts) > BATCH_LIMIT:
            return failure(
                GoogleApiError(400, "badRequest", f"A batch may contain at most {BATCH_LIMIT} calls.")
            )
        boundary = "batch_" + uuid.uuid4().hex
        out: list[bytes] = []
        transport = httpx.ASGITransport(app=self.wrapped_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            for part in parts:
                content_id = str(part.get("Content-ID", "")).strip("<>")
                payload = part.get_payload(decode=True) or b""
                head, _, sub_body = payload.partition(b"\r\n\r\n")
                if not _:
                    head, _, sub_body = payload.partition(b"\n\n")
                lines = head.decode("utf-8", "replace").splitlines()
                method, target = lines[0].split()[:2]
                headers = {
                    k.strip(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:])
                    if k.strip()
                }
                headers.setdefault("Authorization", request.headers.get("authorization", ""))
                path = target.split("://", 1)[-1]
                path = path[path.index("/") :] if "://" in target else path
                sub = await client.request(method, path, headers=headers, content=sub_body or None)
                reason = {
                    200: "OK",
                    204: "No Content",
                    400: "Bad Request",
                    401: "Unauthorized",
                    403: "Forbidden",
                    404: "Not Found",
                    429: "Too Many Requests",
                    503: "Service Unavailable",
                }.get(sub.status_code, "Status")
                response_head = f"HTTP/1.1 {sub.status_code} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\n"
                if "retry-after" in sub.headers:
                    response_head += f"Retry-After: {sub.headers['retry-after']}\r\n"
                out.append(
                    f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{content_id}>\r\n\r\n".encode()
                    + response_head.encode()
                    + f"Content-Length: {len(sub.content)}\r\n\r\n".encode()
                    + sub.content
                    + b"\r\n"
                )
        body = b"".join(out) + f"--{boundary}--\r\n".encode()
        return Response(body, media_type=f"multipart/mixed; boundary={boundary}")

    # -- emulator state ------------------------------------------------------------------------------

    async def state_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            member_of = set(state.groups_of(user.id))
            return ok(
                {
                    "user": user.body,
                    "groups": sorted(g.body["email"] for g in state.groups.values() if user.id in g.members),
                    "roles": sorted(
                        state.roles[a["roleId"]]
                        for a in state.role_assignments.values()
                        if a["assignedTo"] == user.id
                    ),
                    "roles_through_groups": sorted(
                        state.roles[a["roleId"]]
                        for a in state.role_assignments.values()
                        if a["assigneeType"] == "group" and a["assignedTo"] in member_of
                    ),
                    "tokens": [t["clientId"] for t in user.tokens],
                    "asps": [a["codeId"] for a in user.asps],
                    "signed_out_at": iso(user.signed_out_at) if user.signed_out_at else None,
                    "verification_codes_invalidated_at": iso(user.codes_invalidated_at)
                    if user.codes_invalidated_at
                    else None,
                }
            )

    async def state_summary(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            return ok(
                {
                    "users": len(state.users),
                    "suspended": sum(1 for u in state.users.values() if u.body["suspended"]),
                    "enrolled_2sv": sum(1 for u in state.users.values() if u.body["isEnrolledIn2Sv"]),
                    "groups": len(state.groups),
                    "direct_memberships": sum(
                        1 for g in state.groups.values() for k in g.members.values() if k == "USER"
                    ),
                    "role_assignments": len(state.role_assignments),
                    "role_grants": state.role_grants(),
                    "at": iso(now()),
                }
            )

    async def state_churn(self, request: Request) -> Response:
        body = await _body(request)
        return ok(self.state.churn(float(body.get("share", 0.01)), int(body.get("seed", 1))))

    def routes(self) -> list[Route]:
        """Every route; each Admin SDK method checks its token's scopes (see :mod:`.scopes`)."""
        a = self.api

        def m(handler: Handler, method_id: str) -> Handler:
            return a(handler, scopes=METHODS[method_id], method=rpc_name(method_id))

        user = f"{API}/users/{{user}}"
        roleassignments = f"{API}/customer/{{customer}}/roleassignments"
        return [
            Route("/token", self.token, methods=["POST"]),
            Route("/batch", a(self.batch), methods=["POST"]),
            Route("/batch/admin/directory_v1", a(self.batch), methods=["POST"]),
            Route(f"{API}/users", m(self.list_users, "directory.users.list"), methods=["GET"]),
            Route(user, m(self.get_user, "directory.users.get"), methods=["GET"]),
            Route(user, m(self.patch_user, "directory.users.patch"), methods=["PATCH"]),
            Route(user, m(self.patch_user, "directory.users.update"), methods=["PUT"]),
            Route(f"{user}/signOut", m(self.sign_out, "directory.users.signOut"), methods=["POST"]),
            Route(f"{user}/makeAdmin", m(self.make_admin, "directory.users.makeAdmin"), methods=["POST"]),
            Route(
                f"{user}/verificationCodes",
                m(self.list_codes, "directory.verificationCodes.list"),
                methods=["GET"],
            ),
            Route(
                f"{user}/verificationCodes/invalidate",
                m(self.invalidate_codes, "directory.verificationCodes.invalidate"),
                methods=["POST"],
            ),
            Route(f"{user}/tokens", m(self.list_tokens, "directory.tokens.list"), methods=["GET"]),
            Route(f"{user}/tokens/{{client}}", m(self.get_token, "directory.tokens.get"), methods=["GET"]),
            Route(
                f"{user}/tokens/{{client}}",
                m(self.delete_token, "directory.tokens.delete"),
                methods=["DELETE"],
            ),
            Route(f"{user}/asps", m(self.list_asps, "directory.asps.list"), methods=["GET"]),
            Route(f"{user}/asps/{{code}}", m(self.get_asp, "directory.asps.get"), methods=["GET"]),
            Route(f"{user}/asps/{{code}}", m(self.delete_asp, "directory.asps.delete"), methods=["DELETE"]),
            Route(f"{API}/groups", m(self.list_groups, "directory.groups.list"), methods=["GET"]),
            Route(f"{API}/groups", m(self.insert_group, "directory.groups.insert"), methods=["POST"]),
            Route(
                f"{API}/groups/{{group}}", m(self.delete_group, "directory.groups.delete"), methods=["DELETE"]
            ),
            Route(f"{API}/groups/{{group}}", m(self.get_group, "directory.groups.get"), methods=["GET"]),
            Route(
                f"{API}/groups/{{group}}/members",
                m(self.list_members, "directory.members.list"),
                methods=["GET"],
            ),
            Route(
                f"{API}/groups/{{group}}/members",
                m(self.insert_member, "directory.members.insert"),
                methods=["POST"],
            ),
            Route(
                f"{API}/groups/{{group}}/members/{{member}}",
                m(self.delete_member, "directory.members.delete"),
                methods=["DELETE"],
            ),
            Route(
                f"{API}/customer/{{customer}}/roles",
                m(self.list_roles, "directory.roles.list"),
                methods=["GET"],
            ),
            Route(
                roleassignments,
                m(self.list_role_assignments, "directory.roleAssignments.list"),
                methods=["GET"],
            ),
            Route(
                roleassignments,
                m(self.insert_role_assignment, "directory.roleAssignments.insert"),
                methods=["POST"],
            ),
            Route(
                f"{REPORTS}/activity/users/{{user}}/applications/{{application}}",
                m(self.list_activities, "reports.activities.list"),
                methods=["GET"],
            ),
            Route(
                f"{roleassignments}/{{assignment}}",
                m(self.delete_role_assignment, "directory.roleAssignments.delete"),
                methods=["DELETE"],
            ),
            Route("/_emulator/state/users/{user}", _plain(self.state_user), methods=["GET"]),
            Route("/_emulator/state/summary", _plain(self.state_summary), methods=["GET"]),
            Route("/_emulator/state/churn", _plain(self.state_churn), methods=["POST"]),
            Route("/_emulator/state/reports", _plain(self.state_reports), methods=["POST"]),
        ]


#: what ``viewType=domain_public`` shows of a user: the profile other users of the domain see in
#: its directory, without the administrator-only fields (suspension, 2SV, admin status, log-in
#: times, org unit, employee ids)
PUBLIC_USER_FIELDS = frozenset(
    {
        "kind",
        "id",
        "etag",
        "primaryEmail",
        "name",
        "emails",
        "aliases",
        "phones",
        "addresses",
        "organizations",
        "relations",
        "locations",
        "websites",
        "thumbnailPhotoUrl",
        "thumbnailPhotoEtag",
    }
)


def _view(user: dict[str, Any], view: str) -> dict[str, Any]:
    if view == "admin_view":
        return user
    return {k: v for k, v in user.items() if k in PUBLIC_USER_FIELDS}


def _plain(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GoogleApiError as exc:
            return failure(exc)

    return wrapped


async def _body(request: Request) -> dict[str, Any]:
    return await json_object(request, lambda: GoogleApiError(400, "parseError", "Parse Error"))
