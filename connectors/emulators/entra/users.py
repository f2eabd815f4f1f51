"""Graph users: listing, lookup, PATCH, sessions, manager, memberships, app assignments, delta and
MFA registration details."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.delta import Position, delta_response
from connectors.emulators.entra.graph import (
    GraphRoutesBase,
    _body,
    ok,
)
from connectors.emulators.entra.odata import parse_select, select
from connectors.emulators.entra.permissions import user_patch
from connectors.emulators.entra.schema import REGISTRATION, USER
from connectors.emulators.entra.state import GraphError, not_found


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
                entity=USER,
            )

    async def count_users(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            return self._count(
                request,
                state.user_order,
                lambda uid: state.users[uid].props if uid in state.users else None,
                USER,
            )

    async def get_user(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            user = state.user(request.path_params["user"])
            return ok(self._user_renderer(request)(user.id, user.props))

    async def patch_user(self, request: Request) -> Response:
        body = await _body(request)
        self._require(request, user_patch({k for k in body if not k.startswith("@")}))
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
        """``/users/delta``: every user in the first round, then those changed or deleted since."""
        state = self.state

        def changed(position: Position) -> list[str]:
            since, start = position["since"], position["start"]
            present = [uid for uid in state.user_order if uid in state.users]
            if since is None:
                return present
            ids = [uid for uid in present if since < state.users[uid].seq <= start]
            return ids + [uid for uid, seq in state.removed_users.items() if since < seq <= start]

        def render(uid: str, position: Position) -> dict[str, Any]:
            if uid not in state.users:
                return {"id": uid, "@removed": {"reason": "deleted"}}
            return state.user_json(state.users[uid], parse_select(position.get("select"), USER))

        with state.lock:
            parse_select(request.query_params.get("$select"), USER)
            return delta_response(request, state, USER, changed, render)

    async def registration_details(self, request: Request) -> Response:
        state = self.state
        fields = parse_select(request.query_params.get("$select"), REGISTRATION)
        with state.lock:
            return self._list(
                request,
                "reports/authenticationMethods/userRegistrationDetails",
                state.user_order,
                lambda uid: state.registration(state.users[uid]) if uid in state.users else None,
                lambda _, r: select(r, fields),
                entity=REGISTRATION,
            )

    async def registration_detail(self, request: Request) -> Response:
        """One user's record; the key is the user's object id."""
        state = self.state
        with state.lock:
            uid = request.path_params["user"]
            if uid not in state.users:
                raise not_found(uid)
            return ok(state.registration(state.users[uid]))
