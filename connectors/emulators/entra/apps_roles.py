"""Graph service principals and their app role assignments; directory roles, role definitions
and role assignments (to users and to role-assignable groups)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import (
    GraphRoutesBase,
    _body,
    ok,
)
from connectors.emulators.entra.odata import parse_select, select
from connectors.emulators.entra.state import GraphError, not_found


class AppRoleRoutes(GraphRoutesBase):
    """Graph service principals and their app role assignments; directory roles, role definitions
    and role assignments (to users and to role-assignable groups)."""

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

    def _principal(self, principal_id: str, fields: list[str] | None) -> dict[str, Any] | None:
        """A directory object as Graph expands or lists it: a user or a group, with its @odata.type."""
        state = self.state
        user = state.users.get(principal_id)
        if user is not None:
            return {"@odata.type": "#microsoft.graph.user", **state.user_json(user, fields)}
        group = state.groups.get(principal_id)
        if group is not None:
            return {"@odata.type": "#microsoft.graph.group", **select(group.props, fields)}
        return None

    async def role_assignments(self, request: Request) -> Response:
        """Role assignments; ``$expand=principal`` (optionally ``principal($select=...)``) renders the
        principal, a user or a role-assignable group, with its @odata.type."""
        state = self.state
        expand = request.query_params.get("$expand") or ""
        fields = None
        if expand.startswith("principal(") and expand.endswith(")"):
            fields = parse_select(expand[len("principal(") : -1].removeprefix("$select="))
        with state.lock:
            assignments = dict(state.role_assignments)

            def render(_: str, assignment: dict[str, Any]) -> dict[str, Any]:
                if expand.startswith("principal"):
                    principal = self._principal(assignment["principalId"], fields)
                    if principal is not None:
                        return {**assignment, "principal": principal}
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

    async def add_user_app_assignment(self, request: Request) -> Response:
        """``POST /users/{id}/appRoleAssignments``: the principal must be that user."""
        body = await _body(request)
        user = self.state.user(request.path_params["user"])
        if str(body.get("principalId", "")) != user.id:
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'principalId'.")
        return self._created_assignment(body, str(body.get("resourceId", "")))

    async def add_sp_assignment(self, request: Request) -> Response:
        """``POST /servicePrincipals/{id}/appRoleAssignedTo``: the resource must be that service principal."""
        body = await _body(request)
        sp_id = request.path_params["sp"]
        if str(body.get("resourceId", sp_id)) != sp_id:
            raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'resourceId'.")
        return self._created_assignment(body, sp_id)

    def _created_assignment(self, body: dict[str, Any], sp_id: str) -> Response:
        assignment = self.state.add_app_assignment(
            sp_id, str(body.get("principalId", "")), str(body.get("appRoleId", ""))
        )
        context = f"{self.state.base_url}/v1.0/$metadata#appRoleAssignments/$entity"
        return ok({"@odata.context": context, **assignment}, status=201)

    async def add_role_assignment(self, request: Request) -> Response:
        body = await _body(request)
        assignment = self.state.add_role_assignment(
            str(body.get("principalId", "")),
            str(body.get("roleDefinitionId", "")),
            str(body.get("directoryScopeId") or "/"),
        )
        context = f"{self.state.base_url}/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity"
        return ok({"@odata.context": context, **assignment}, status=201)

    async def add_directory_role_member(self, request: Request) -> Response:
        body = await _body(request)
        reference = str(body.get("@odata.id", ""))
        member = reference.rstrip("/").split("/")[-1]
        with self.state.lock:
            if member not in self.state.users and member not in self.state.groups:
                raise not_found(member)
        self.state.add_directory_role_member(request.path_params["role"], member)
        return Response(status_code=204)

    async def remove_directory_role_member(self, request: Request) -> Response:
        self.state.remove_directory_role_member(request.path_params["role"], request.path_params["member"])
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
            fields = parse_select(request.query_params.get("$select"))
            return self._list(
                request,
                "directoryObjects",
                [m for m in members if m in state.users or m in state.groups],
                lambda m: state.users[m].props if m in state.users else state.groups[m].props,
                lambda m, _: self._principal(m, fields) or {},
            )
