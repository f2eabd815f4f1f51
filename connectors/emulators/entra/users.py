"""Graph users: listing, lookup, PATCH, sessions, manager, memberships, app assignments, delta and
MFA registration details."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import (
    GraphRoutesBase,
    _body,
    _token,
    _untoken,
    ok,
)
from connectors.emulators.entra.odata import parse_select, select
from connectors.emulators.entra.state import GraphError


class UserRoutes(GraphRoutesBase):
    """Graph users: listing, lookup, PATCH, sessions, manager, memberships, app assignments, delta and
    MFA registration details."""

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
