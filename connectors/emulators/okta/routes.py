"""The Okta Management API's routes over :class:`OktaState`."""

from __future__ import annotations

import bisect
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.emulators.okta.filters import FilterError, compile_filter
from connectors.emulators.okta.meta import (
    USER_SCHEMA_ID,
    activation_token_json,
    app_group_json,
    group_rule_json,
    user_schema_json,
    user_type_json,
)
from connectors.emulators.okta.permissions import ALLOWED_WRITES, ApiToken
from connectors.emulators.okta.state import USER_TYPE_ID, OktaApiError, OktaState, iso, now
from connectors.emulators.requests import json_object

Handler = Callable[[Request], Awaitable[Response]]


def error_body(code: str, summary: str, causes: Iterable[str] = ()) -> bytes:
    return json.dumps(
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae" + secrets.token_urlsafe(16)[:19],
            "errorCauses": [{"errorSummary": c} for c in causes],
        }
    ).encode()


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OktaApiError(
            400, "E0000001", "Api validation failed: limit", ["limit: must be a number"]
        ) from None
    if value < 0:
        return maximum if default < 0 else default
    return max(1, min(value, maximum))


class OktaRoutes:
    def __init__(self, state: OktaState, *, tokens: dict[str, ApiToken] | None) -> None:
        """``tokens``: the org's API tokens by value; None accepts any token as a super admin's."""
        self.state = state
        self.tokens = tokens

    # -- plumbing -------------------------------------------------------------------

    def authorized(self, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                token = self._check_token(request.headers.get("authorization", ""))
                token.check(request.method, request.url.path)
                request.state.okta_token = token
                return await handler(request)
            except OktaApiError as exc:
                return Response(
                    error_body(exc.code, exc.summary, exc.causes),
                    status_code=exc.status,
                    media_type="application/json",
                )
            except FilterError as exc:
                return Response(
                    error_body("E0000031", "Invalid search criteria.", [str(exc)]),
                    status_code=400,
                    media_type="application/json",
                )

        return wrapped

    def _check_token(self, header: str) -> ApiToken:
        value = header[4:].strip() if header[:4].upper() == "SSWS" else ""
        if not value:
            raise OktaApiError(401, "E0000011", "Invalid token provided")
        if self.tokens is None:
            return ApiToken(value)
        token = self.tokens.get(value)
        if token is None:
            raise OktaApiError(401, "E0000011", "Invalid token provided")
        return token

    def _page(
        self,
        request: Request,
        path: str,
        ids: list[str],
        render: Callable[[str], dict[str, Any] | None],
        *,
        limit: int,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Response:
        """One page of ``ids`` after the ``after`` cursor, with Okta's Link headers."""
        after = request.query_params.get("after")
        start = 0
        if after:
            try:
                start = self._position(ids, after) + 1
            except ValueError:
                start = len(ids)

        def wanted(position: int) -> dict[str, Any] | None:
            rendered = render(ids[position])
            if rendered is None or (keep is not None and not keep(rendered)):
                return None
            return rendered

        items: list[dict[str, Any]] = []
        position = start
        while position < len(ids) and len(items) < limit:
            rendered = wanted(position)
            position += 1
            if rendered is not None:
                items.append(rendered)
        more = False
        if len(items) == limit:
            while position < len(ids) and not more:
                more = wanted(position) is not None
                position += 1
        last_id = items[-1]["id"] if items else None
        params = {k: v for k, v in request.query_params.items() if k not in ("after", "limit")}
        self_link = f"{self.state.base_url}{path}?{urlencode({**params, 'limit': limit})}"
        links = [f'<{self_link}>; rel="self"']
        if more and last_id is not None:
            next_link = (
                f"{self.state.base_url}{path}?{urlencode({**params, 'after': last_id, 'limit': limit})}"
            )
            links.append(f'<{next_link}>; rel="next"')
        return json_response(items, headers={"Link": ", ".join(links)})

    def _position(self, ids: list[str], after: str) -> int:
        index = self.state.user_index.get(after)
        if index is not None and index < len(ids) and ids[index] == after:
            return index
        return ids.index(after)

    # -- users ------------------------------------------------------------------------

    async def list_users(self, request: Request) -> Response:
        q = request.query_params
        expression = q.get("search") or q.get("filter")
        predicate = compile_filter(expression)
        prefix = (q.get("q") or "").lower()
        hide_deprovisioned = not (expression and "status" in expression)

        def keep(user: dict[str, Any]) -> bool:
            if hide_deprovisioned and user["status"] == "DEPROVISIONED":
                return False
            if prefix:
                p = user["profile"]
                if not any(
                    str(p.get(f) or "").lower().startswith(prefix) for f in ("firstName", "lastName", "email")
                ):
                    return False
            return predicate is None or predicate(user)

        state = self.state
        with state.lock:
            ids = state.user_order
            limit = _limit(request, 10 if prefix else 200, 200)

            def render(uid: str) -> dict[str, Any] | None:
                user = state.users.get(uid)
                return state.user_json(user) if user is not None else None

            return self._page(request, "/api/v1/users", ids, render, limit=limit, keep=keep)

    async def get_user(self, request: Request) -> Response:
        with self.state.lock:
            return json_response(self.state.user_json(self.state.user(request.path_params["user"])))

    async def current_user(self, request: Request) -> Response:
        """``/users/me``: for an API token, the admin who owns it."""
        token: ApiToken = request.state.okta_token
        with self.state.lock:
            owner = self.state.user(token.owner) if token.owner else self.state.token_owner(token.role)
            return json_response(self.state.user_json(owner))

    async def update_user(self, request: Request) -> Response:
        body = await _json_body(request)
        profile = body.get("profile")
        if not isinstance(profile, dict):
            raise OktaApiError(400, "E0000001", "Api validation failed: profile", ["profile: required"])
        user = self.state.update_profile(request.path_params["user"], profile)
        with self.state.lock:
            return json_response(self.state.user_json(user))

    async def delete_user(self, request: Request) -> Response:
        self.state.delete_user(request.path_params["user"])
        return Response(status_code=204)

    async def lifecycle(self, request: Request) -> Response:
        """``sendEmail`` (activate: default true; deactivate, reactivate: default false): without it,
        activate and reactivate answer the activation link to hand the user instead of mailing it."""
        action = request.path_params["action"]
        send_email = _flag(request, "sendEmail", default=action == "activate")
        self.state.lifecycle(request.path_params["user"], action)
        if action in ("activate", "reactivate") and not send_email:
            return json_response(activation_token_json(self.state.base_url))
        return json_response({})

    async def clear_sessions(self, request: Request) -> Response:
        self.state.clear_sessions(request.path_params["user"], _flag(request, "oauthTokens", default=False))
        return Response(status_code=204)

    async def user_factors(self, request: Request) -> Response:
        with self.state.lock:
            user = self.state.user(request.path_params["user"])
            base = f"{self.state.base_url}/api/v1/users/{user.id}/factors"
            return json_response(
                [{**f, "_links": {"self": {"href": f"{base}/{f['id']}"}}} for f in user.factors]
            )

    async def user_groups(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return json_response(
                [state.group_json(state.groups[g]) for g in state.user_groups.get(user.id, {})]
            )

    async def user_roles(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return json_response([state.role_json(user.id, r) for r in state.user_role_assignments(user.id)])

    async def assign_user_role(self, request: Request) -> Response:
        """``assignRoleToUser``: 201 with the assignment."""
        body = await _json_body(request)
        role = self.state.assign_role(request.path_params["user"], body)
        with self.state.lock:
            uid = self.state.user(request.path_params["user"]).id
            return json_response(self.state.role_json(uid, role), status=201)

    async def delete_user_role(self, request: Request) -> Response:
        self.state.unassign_role(request.path_params["user"], request.path_params["role"])
        return Response(status_code=204)

    # -- groups -----------------------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        q = request.query_params
        predicate = compile_filter(q.get("search") or q.get("filter"))
        prefix = (q.get("q") or "").lower()
        state = self.state

        def keep(group: dict[str, Any]) -> bool:
            if prefix and not group["profile"]["name"].lower().startswith(prefix):
                return False
            return predicate is None or predicate(group)

        with state.lock:
            limit = _limit(request, 10000, 10000)
            return self._page(
                request,
                "/api/v1/groups",
                state.group_order,
                lambda gid: state.group_json(state.groups[gid]) if gid in state.groups else None,
                limit=limit,
                keep=keep if (predicate or prefix) else None,
            )

    async def get_group(self, request: Request) -> Response:
        with self.state.lock:
            return json_response(self.state.group_json(self.state.group(request.path_params["group"])))

    async def group_users(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            ids = list(group.members)
            limit = _limit(request, 1000, 1000)
            return self._page(
                request,
                f"/api/v1/groups/{group.id}/users",
                ids,
                lambda uid: state.user_json(state.users[uid]) if uid in state.users else None,
                limit=limit,
            )

    async def add_group_user(self, request: Request) -> Response:
        self.state.add_member(request.path_params["group"], request.path_params["user"])
        return Response(status_code=204)

    async def remove_group_user(self, request: Request) -> Response:
        self.state.remove_member(request.path_params["group"], request.path_params["user"])
        return Response(status_code=204)

    async def group_owners(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            owners = []
            for uid in group.owners:
                user = state.users.get(uid)
                if user is not None:
                    owners.append(
                        {
                            "id": uid,
                            "type": "USER",
                            "displayName": user.profile.get("displayName"),
                            "originType": "OKTA_DIRECTORY",
                            "originId": None,
                            "resolved": True,
                            "lastUpdated": iso(user.last_updated),
                        }
                    )
            return json_response(owners)

    async def group_rules(self, request: Request) -> Response:
        """Rules, paged; ``search`` keeps the rules whose name contains the keyword."""
        state = self.state
        keyword = (request.query_params.get("search") or "").lower()
        with state.lock:
            rules = {}
            for gid in state.group_order:
                rule = group_rule_json(state.groups[gid])
                if rule is not None and keyword in rule["name"].lower():
                    rules[rule["id"]] = rule
            limit = _limit(request, 50, 200)
            return self._page(request, "/api/v1/groups/rules", list(rules), rules.get, limit=limit)

    async def group_apps(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            ids = [aid for aid in state.app_order if group.id in state.apps[aid].groups]
            return self._page(
                request,
                f"/api/v1/groups/{group.id}/apps",
                ids,
                lambda aid: state.app_json(state.apps[aid]),
                limit=_limit(request, 20, 200),
            )

    async def group_roles(self, request: Request) -> Response:
        """Admin roles assigned to the group (every member holds them, assignmentType GROUP)."""
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            roles = {r.id: r for r in state.group_roles.get(group.id, [])}
            return self._page(
                request,
                f"/api/v1/groups/{group.id}/roles",
                list(roles),
                lambda rid: state.role_json(None, roles[rid]),
                limit=_limit(request, 20, 200),
            )

    async def delete_group_role(self, request: Request) -> Response:
        self.state.unassign_group_role(request.path_params["group"], request.path_params["role"])
        return Response(status_code=204)

    # -- custom roles -------------------------------------------------------------------

    async def custom_roles(self, request: Request) -> Response:
        """``{"roles": [...], "_links": {"next": ...}}``: a page after the ``after`` cursor (a role id)."""
        state = self.state
        with state.lock:
            ids = list(state.custom_roles)
            limit = _limit(request, 20, 100)
            after = request.query_params.get("after")
            start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
            page = ids[start : start + limit]
            links: dict[str, Any] = {}
            if start + limit < len(ids):
                query = urlencode({"after": page[-1], "limit": limit})
                links["next"] = {"href": f"{state.base_url}/api/v1/iam/roles?{query}"}
            return json_response(
                {"roles": [state.custom_role_json(state.custom_roles[i]) for i in page], "_links": links}
            )

    async def role_assignees(self, request: Request) -> Response:
        """``GET /api/v1/iam/assignees/users`` (listUsersWithRoleAssignments): ``{"value": [{"id",
        "orn", "_links": {"self", "roles"}}], "_links": {"next"}}``, in user-id order after the
        ``after`` cursor (a user id), ``limit`` 100 by default (at most 200), the next page also in a
        Link header as every Okta listing.  It lists every user who holds an admin role, directly or
        through a group (the Admin Console's "all admins"), so a user it does not list holds none;
        ``/users/{id}/roles`` says which and how.  An org set to refuse it answers as Okta does a
        token whose admin may not read roles (403 E0000006) or an org without the API (404)."""
        state = self.state
        if state.assignees_listing == "forbidden":
            raise OktaApiError(403, "E0000006", "You do not have permission to perform the requested action")
        if state.assignees_listing == "absent":
            raise OktaApiError(
                404,
                "E0000007",
                "Not found: Resource not found: /api/v1/iam/assignees/users (GenericResource)",
            )
        with state.lock:
            limit = _limit(request, 100, 200)
            after = request.query_params.get("after") or ""
            holders = sorted(uid for uid in state.users if state.user_role_assignments(uid))
            start = bisect.bisect_right(holders, after) if after else 0
            page = holders[start : start + limit]
            base = f"{state.base_url}/api/v1/iam/assignees/users"
            links: dict[str, Any] = {}
            headers = {"Link": f'<{base}?{urlencode({"limit": limit})}>; rel="self"'}
            if start + limit < len(holders):
                following = f"{base}?{urlencode({'after': page[-1], 'limit': limit})}"
                links["next"] = {"href": following}
                headers["Link"] += f', <{following}>; rel="next"'
            users = f"{state.base_url}/api/v1/users"
            value = [
                {
                    "id": uid,
                    "orn": f"orn:okta:{state.org_id}:users:{uid}",  # as the spec shows it
                    "_links": {"self": {"href": f"{users}/{uid}"}, "roles": {"href": f"{users}/{uid}/roles"}},
                }
                for uid in page
            ]
            return json_response({"value": value, "_links": links}, headers=headers)

    async def custom_role(self, request: Request) -> Response:
        with self.state.lock:
            return json_response(
                self.state.custom_role_json(self.state.custom_role(request.path_params["role"]))
            )

    async def trusted_origins(self, request: Request) -> Response:
        return self._page(
            request, "/api/v1/trustedOrigins", [], lambda _: None, limit=_limit(request, 20, 200)
        )

    # -- apps -------------------------------------------------------------------------

    async def list_apps(self, request: Request) -> Response:
        """Apps; ``filter=user.id eq "..."`` / ``group.id eq "..."`` narrow to one assignee (with the
        assignment embedded, as Okta does), other filters (``status``, ``name``) apply to the app."""
        state = self.state
        expression = request.query_params.get("filter") or ""
        assignee = re.fullmatch(r'\s*(user|group)\.id\s+eq\s+"([^"]+)"\s*', expression)
        predicate = None if assignee else compile_filter(expression)
        with state.lock:
            limit = _limit(request, 20, 200)

            def render(aid: str) -> dict[str, Any] | None:
                app = state.apps[aid]
                body = state.app_json(app)
                if assignee is None:
                    return body
                kind, target = assignee.groups()
                if kind == "user" and target in app.users:
                    return {**body, "_embedded": {"user": state.app_user_json(app, target)}}
                if kind == "group" and target in app.groups:
                    return body
                return None

            return self._page(request, "/api/v1/apps", state.app_order, render, limit=limit, keep=predicate)

    async def get_app(self, request: Request) -> Response:
        with self.state.lock:
            return json_response(self.state.app_json(self.state.app(request.path_params["app"])))

    async def app_users(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            app = state.app(request.path_params["app"])
            limit = _limit(request, 50, 500)
            return self._page(
                request,
                f"/api/v1/apps/{app.id}/users",
                list(app.users),
                lambda uid: (
                    state.app_user_json(app, uid) if uid in state.users and uid in app.users else None
                ),
                limit=limit,
            )

    async def app_groups(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            app = state.app(request.path_params["app"])
            priorities = {gid: i for i, gid in enumerate(app.groups) if gid in state.groups}
            return self._page(
                request,
                f"/api/v1/apps/{app.id}/groups",
                list(priorities),
                lambda gid: app_group_json(state.base_url, app.id, state.groups[gid], priorities[gid]),
                limit=_limit(request, 20, 200),
            )

    async def get_app_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            app, user = state.app(request.path_params["app"]), state.user(request.path_params["user"])
            if user.id not in app.users:
                raise OktaApiError(404, "E0000007", f"Not found: Resource not found: {user.id} (AppUser)")
            return json_response(state.app_user_json(app, user.id))

    async def assign_app_user(self, request: Request) -> Response:
        """``assignUserToApplication``: the body names the user (``id``); 200 with the app user."""
        body = await _json_body(request)
        uid = body.get("id")
        if not isinstance(uid, str) or not uid:
            raise OktaApiError(
                400, "E0000001", "Api validation failed: id", ["id: The field cannot be left blank"]
            )
        app_id = request.path_params["app"]
        self.state.assign_app(app_id, uid)
        with self.state.lock:
            app = self.state.app(app_id)
            return json_response(self.state.app_user_json(app, self.state.user(uid).id))

    async def remove_app_user(self, request: Request) -> Response:
        self.state.unassign_app(request.path_params["app"], request.path_params["user"])
        return Response(status_code=204)

    # -- schema and types ---------------------------------------------------------------

    async def user_type(self, request: Request) -> Response:
        type_id = request.path_params["type"]
        if type_id not in (USER_TYPE_ID, "default"):
            raise OktaApiError(404, "E0000007", f"Not found: Resource not found: {type_id} (UserType)")
        return json_response(user_type_json(self.state.base_url))

    async def user_schema(self, request: Request) -> Response:
        schema_id = request.path_params["schema"]
        if schema_id not in (USER_SCHEMA_ID, "default"):
            raise OktaApiError(404, "E0000007", f"Not found: Resource not found: {schema_id} (UserSchema)")
        return json_response(user_schema_json(self.state.base_url, schema_id))

    # -- System Log ----------------------------------------------------------------------

    async def logs(self, request: Request) -> Response:
        q = request.query_params
        state = self.state
        since = q.get("since") or iso(now() - timedelta(days=7))
        until = q.get("until")
        predicate = compile_filter(q.get("filter"))
        descending = q.get("sortOrder", "ASCENDING").upper() == "DESCENDING"
        limit = _limit(request, 100, 1000)
        after = q.get("after")
        with state.lock:
            events = [
                e
                for e in state.logs
                if e["published"] >= since
                and (until is None or e["published"] < until)
                and (predicate is None or predicate(e))
            ]
        if descending:
            events.reverse()
        if after:
            positions = [i for i, e in enumerate(events) if e["uuid"] == after]
            events = events[positions[0] + 1 :] if positions else []
        page = events[:limit]
        params = {k: v for k, v in q.items() if k not in ("after", "limit")}

        def link(rel: str, **extra: Any) -> str:
            query = urlencode({**params, **extra, "limit": limit})
            return f'<{state.base_url}/api/v1/logs?{query}>; rel="{rel}"'

        links = [link("self")]
        # Polling: in ascending order without `until` the next link is always there.
        polling = not descending and until is None
        if page and (polling or len(events) > limit):
            links.append(link("next", after=page[-1]["uuid"]))
        elif polling and after:
            links.append(link("next", after=after))
        return json_response(page, headers={"Link": ", ".join(links)})

    # -- emulator state --------------------------------------------------------------------

    async def state_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return json_response(
                {
                    "user": state.user_json(user),
                    "groups": [state.groups[g].name for g in state.user_groups.get(user.id, {})],
                    "apps": sorted(a.name for a in state.apps.values() if user.id in a.users),
                    "roles": [
                        state.custom_roles[r.role].label if r.role in state.custom_roles else r.type
                        for r in state.roles.get(user.id, [])
                    ],
                    "roles_through_groups": [
                        state.custom_roles[r.role].label if r.role in state.custom_roles else r.type
                        for r in state.user_role_assignments(user.id)
                        if r.group_id
                    ],
                    "factors": [f["factorType"] for f in user.factors],
                    "sessions_cleared_at": iso(user.sessions_cleared_at),
                    "oauth_tokens_revoked_at": iso(user.oauth_tokens_revoked_at),
                    "grants_revoked_at": iso(user.grants_revoked_at),
                }
            )

    async def state_summary(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            statuses: dict[str, int] = {}
            for user in state.users.values():
                statuses[user.status] = statuses.get(user.status, 0) + 1
            return json_response(
                {
                    "users": len(state.users),
                    "statuses": statuses,
                    "groups": len(state.groups),
                    "memberships": sum(len(g.members) for g in state.groups.values()),
                    "apps": len(state.apps),
                    "app_assignments": sum(len(a.users) for a in state.apps.values()),
                    "role_assignments": sum(len(r) for r in state.roles.values())
                    + sum(len(r) for r in state.group_roles.values()),
                    "role_grants": state.role_grants(),
                    "custom_roles": len(state.custom_roles),
                    "log_events": len(state.logs),
                }
            )

    async def state_role_listing(self, request: Request) -> Response:
        """``{"answer": "ok" | "forbidden" | "absent"}``: how ``/api/v1/iam/assignees/users`` answers
        (an older org has no such API; a token whose admin may not read roles is refused)."""
        body = await _json_body(request)
        answer = body.get("answer")
        if answer not in ("ok", "forbidden", "absent"):
            raise OktaApiError(400, "E0000001", "Api validation failed: answer", ["ok, forbidden or absent"])
        self.state.assignees_listing = answer
        return json_response({"answer": answer})

    async def state_tokens(self, request: Request) -> Response:
        """GET: the org's API tokens (role and owner, never the value).  POST ``{"token", "role"}``
        issues one acting as ``role`` (say READ_ONLY_ADMIN), owned by an admin holding it."""
        if self.tokens is None:
            raise OktaApiError(
                400, "E0000001", "Api validation failed: tokens", ["this org accepts any token"]
            )
        if request.method == "POST":
            body = await _json_body(request)
            value, role = body.get("token"), body.get("role", "SUPER_ADMIN")
            if not isinstance(value, str) or not value or role not in ALLOWED_WRITES:
                raise OktaApiError(400, "E0000001", "Api validation failed: token", ["token and a role type"])
            owner = self.state.admin_for(role)
            self.tokens[value] = ApiToken(value, role, owner.id)
        with self.state.lock:
            return json_response(
                {
                    "tokens": [
                        {"role": t.role, "owner": t.owner or self.state.token_owner(t.role).id}
                        for t in self.tokens.values()
                    ]
                }
            )

    async def state_churn(self, request: Request) -> Response:
        body = await _json_body(request)
        return json_response(self.state.churn(float(body.get("share", 0.01)), int(body.get("seed", 1))))

    def routes(self) -> list[Route]:
        a = self.authorized
        return [
            Route("/api/v1/users", a(self.list_users), methods=["GET"]),
            Route("/api/v1/users/me", a(self.current_user), methods=["GET"]),
            Route("/api/v1/users/{user}", a(self.get_user), methods=["GET"]),
            Route("/api/v1/users/{user}", a(self.update_user), methods=["POST"]),
            Route("/api/v1/users/{user}", a(self.delete_user), methods=["DELETE"]),
            Route("/api/v1/users/{user}/lifecycle/{action}", a(self.lifecycle), methods=["POST"]),
            Route("/api/v1/users/{user}/sessions", a(self.clear_sessions), methods=["DELETE"]),
            Route("/api/v1/users/{user}/factors", a(self.user_factors), methods=["GET"]),
            Route("/api/v1/users/{user}/groups", a(self.user_groups), methods=["GET"]),
            Route("/api/v1/users/{user}/roles", a(self.user_roles), methods=["GET"]),
            Route("/api/v1/users/{user}/roles", a(self.assign_user_role), methods=["POST"]),
            Route("/api/v1/users/{user}/roles/{role}", a(self.delete_user_role), methods=["DELETE"]),
            Route("/api/v1/groups", a(self.list_groups), methods=["GET"]),
            Route("/api/v1/groups/rules", a(self.group_rules), methods=["GET"]),
            Route("/api/v1/groups/{group}", a(self.get_group), methods=["GET"]),
            Route("/api/v1/groups/{group}/users", a(self.group_users), methods=["GET"]),
            Route("/api/v1/groups/{group}/users/{user}", a(self.add_group_user), methods=["PUT"]),
            Route("/api/v1/groups/{group}/users/{user}", a(self.remove_group_user), methods=["DELETE"]),
            Route("/api/v1/groups/{group}/owners", a(self.group_owners), methods=["GET"]),
            Route("/api/v1/groups/{group}/apps", a(self.group_apps), methods=["GET"]),
            Route("/api/v1/groups/{group}/roles", a(self.group_roles), methods=["GET"]),
            Route("/api/v1/groups/{group}/roles/{role}", a(self.delete_group_role), methods=["DELETE"]),
            Route("/api/v1/iam/roles", a(self.custom_roles), methods=["GET"]),
            Route("/api/v1/iam/assignees/users", a(self.role_assignees), methods=["GET"]),
            Route("/api/v1/iam/roles/{role}", a(self.custom_role), methods=["GET"]),
            Route("/api/v1/apps", a(self.list_apps), methods=["GET"]),
            Route("/api/v1/apps/{app}", a(self.get_app), methods=["GET"]),
            Route("/api/v1/apps/{app}/users", a(self.app_users), methods=["GET"]),
            Route("/api/v1/apps/{app}/users", a(self.assign_app_user), methods=["POST"]),
            Route("/api/v1/apps/{app}/users/{user}", a(self.get_app_user), methods=["GET"]),
            Route("/api/v1/apps/{app}/users/{user}", a(self.remove_app_user), methods=["DELETE"]),
            Route("/api/v1/apps/{app}/groups", a(self.app_groups), methods=["GET"]),
            Route("/api/v1/trustedOrigins", a(self.trusted_origins), methods=["GET"]),
            Route("/api/v1/meta/types/user/{type}", a(self.user_type), methods=["GET"]),
            Route("/api/v1/meta/schemas/user/{schema}", a(self.user_schema), methods=["GET"]),
            Route("/api/v1/logs", a(self.logs), methods=["GET"]),
            Route("/_emulator/state/users/{user}", self._plain(self.state_user), methods=["GET"]),
            Route("/_emulator/state/summary", self._plain(self.state_summary), methods=["GET"]),
            Route("/_emulator/state/churn", self._plain(self.state_churn), methods=["POST"]),
            Route("/_emulator/state/role-listing", self._plain(self.state_role_listing), methods=["POST"]),
            Route("/_emulator/state/tokens", self._plain(self.state_tokens), methods=["GET", "POST"]),
        ]

    @staticmethod
    async def unknown(request: Request, exc: Exception) -> Response:
        """What Okta answers for a path it has no resource at (404) or a method a path lacks (405)."""
        if getattr(exc, "status_code", 404) == 405:
            body = error_body("E0000022", "The endpoint does not support the provided HTTP method")
            return Response(body, status_code=405, media_type="application/json")
        path = request.url.path
        body = error_body("E0000007", f"Not found: Resource not found: {path} (GenericResource)")
        return Response(body, status_code=404, media_type="application/json")

    def _plain(self, handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except OktaApiError as exc:
                return Response(
                    error_body(exc.code, exc.summary, exc.causes),
                    status_code=exc.status,
                    media_type="application/json",
                )

        return wrapped


def _flag(request: Request, name: str, *, default: bool) -> bool:
    """A boolean query parameter as Okta reads it: true or false, anything else a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise OktaApiError(400, "E0000001", f"Api validation failed: {name}", [f"{name}: must be a boolean"])
    return raw.lower() == "true"


async def _json_body(request: Request) -> dict[str, Any]:
    return await json_object(
        request, lambda: OktaApiError(400, "E0000003", "The request body was not well-formed.")
    )
