"""The Microsoft identity platform token endpoint and Microsoft Graph v1.0 routes over :class:`EntraState`:
the route table and the emulator's own state endpoints; handlers live per resource (users, groups,
apps_roles, batch, identity) on the plumbing of :mod:`connectors.emulators.entra.graph`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.emulators.entra.apps_roles import AppRoleRoutes
from connectors.emulators.entra.batch import BatchRoutes
from connectors.emulators.entra.graph import _body, _plain, graph_error, ok, unknown_path
from connectors.emulators.entra.groups import GroupRoutes
from connectors.emulators.entra.identity import IdentityRoutes
from connectors.emulators.entra.permissions import AppRegistration
from connectors.emulators.entra.state import GraphError, iso
from connectors.emulators.entra.users import UserRoutes

__all__ = ["EntraRoutes", "graph_error", "ok", "unknown_path"]


class EntraRoutes(IdentityRoutes, UserRoutes, GroupRoutes, AppRoleRoutes, BatchRoutes):
    """Every route of the emulated tenant; each resource's handlers live in their own module."""

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
                    "roles_through_groups": sorted(
                        state.role_definitions[a["roleDefinitionId"]]
                        for a in state.role_assignments.values()
                        if a["principalId"] in state.groups
                        and user.id in state.transitive_members(a["principalId"])
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
                    "role_grants": state.role_grants(),
                    "mfa_registered": sum(1 for u in state.users.values() if u.methods),
                }
            )

    async def state_apps(self, request: Request) -> Response:
        """The app registrations and their permissions; POST registers one or replaces its permissions
        (``{"client_id", "client_secret", "roles": [...]}``).  Tokens already issued keep the roles
        they carry until they expire, as Entra's do."""
        if request.method == "POST":
            body = await _body(request)
            client_id, secret, roles = body.get("client_id"), body.get("client_secret"), body.get("roles")
            if not isinstance(client_id, str) or not client_id or not isinstance(roles, list):
                raise GraphError(400, "BadRequest", "client_id (string) and roles (list) are required.")
            known = self.apps.get(client_id)
            if not isinstance(secret, str) or not secret:
                if known is None:
                    raise GraphError(400, "BadRequest", "client_secret is required for a new app.")
                secret = known.client_secret
            self.apps[client_id] = AppRegistration(
                client_id,
                secret,
                frozenset(str(r) for r in roles),
                str(body.get("display_name") or (known.display_name if known else "accessctl")),
            )
        return ok({"apps": [app.as_public() for app in self.apps.values()]})

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
            *(
                Route(f"/v1.0/users/{form}", g(self.users_delta), methods=["GET"])
                for form in ("delta", "delta()", "microsoft.graph.delta()")
            ),
            Route("/v1.0/users/$count", g(self.count_users), methods=["GET"]),
            Route("/v1.0/users/{user}", g(self.get_user), methods=["GET"]),
            Route("/v1.0/users/{user}", g(self.patch_user), methods=["PATCH"]),
            Route("/v1.0/users/{user}/revokeSignInSessions", g(self.revoke_sessions), methods=["POST"]),
            Route("/v1.0/users/{user}/manager", g(self.manager), methods=["GET"]),
            Route("/v1.0/users/{user}/memberOf", g(self.member_of), methods=["GET"]),
            Route("/v1.0/users/{user}/transitiveMemberOf", g(self.member_of), methods=["GET"]),
            Route("/v1.0/users/{user}/appRoleAssignments", g(self.user_app_assignments), methods=["GET"]),
            Route("/v1.0/users/{user}/appRoleAssignments", g(self.add_user_app_assignment), methods=["POST"]),
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
            Route(
                "/v1.0/reports/authenticationMethods/userRegistrationDetails/{user}",
                g(self.registration_detail),
                methods=["GET"],
            ),
            Route("/v1.0/groups", g(self.list_groups), methods=["GET"]),
            *(
                Route(f"/v1.0/groups/{form}", g(self.groups_delta), methods=["GET"])
                for form in ("delta", "delta()", "microsoft.graph.delta()")
            ),
            Route("/v1.0/groups/$count", g(self.count_groups), methods=["GET"]),
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
                "/v1.0/servicePrincipals/{sp}/appRoleAssignedTo", g(self.add_sp_assignment), methods=["POST"]
            ),
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
                "/v1.0/roleManagement/directory/roleAssignments",
                g(self.add_role_assignment),
                methods=["POST"],
            ),
            Route(
                "/v1.0/roleManagement/directory/roleAssignments/{assignment}",
                g(self.delete_role_assignment),
                methods=["DELETE"],
            ),
            Route("/v1.0/directoryRoles", g(self.directory_roles), methods=["GET"]),
            Route("/v1.0/directoryRoles/{role}/members", g(self.directory_role_members), methods=["GET"]),
            Route(
                "/v1.0/directoryRoles/{role}/members/$ref",
                g(self.add_directory_role_member),
                methods=["POST"],
            ),
            Route(
                "/v1.0/directoryRoles/{role}/members/{member}/$ref",
                g(self.remove_directory_role_member),
                methods=["DELETE"],
            ),
            Route("/_emulator/state/users/{user}", _plain(self.state_user), methods=["GET"]),
            Route("/_emulator/state/summary", _plain(self.state_summary), methods=["GET"]),
            Route("/_emulator/state/churn", _plain(self.state_churn), methods=["POST"]),
            Route("/_emulator/state/apps", _plain(self.state_apps), methods=["GET", "POST"]),
        ]
