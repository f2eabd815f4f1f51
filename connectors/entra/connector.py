"""The Microsoft Entra ID connector: Graph pages one per call, msal tokens, idempotent actions."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connectors.base import (
    AccountDetails,
    AccountRecord,
    ActionResult,
    ChangeSet,
    ConnectorError,
    EntitlementKind,
    EntitlementRecord,
    EntitlementRef,
    GrantRecord,
    LockState,
    MfaRecord,
    NotFoundError,
    Page,
    PermissionReport,
    missing_permissions,
)
from connectors.entra import mapping
from connectors.entra.client import GraphClient
from connectors.entra.config import EntraConfig

_DIR_READ = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})
_USER_WRITE = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
#: what sync and deprovisioning need of the app's Graph application permissions (the token's roles)
NEEDS = (
    ("sync reads users", _DIR_READ | {"User.Read.All", "User.ReadWrite.All"}),
    (
        "sync reads groups and members",
        _DIR_READ | {"Group.Read.All", "GroupMember.Read.All", "Group.ReadWrite.All"},
    ),
    ("sync reads apps and assignments", _DIR_READ | {"Application.Read.All", "Application.ReadWrite.All"}),
    (
        "sync reads directory roles",
        _DIR_READ | {"RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory"},
    ),
    ("sync reads MFA registration", frozenset({"AuditLog.Read.All", "UserAuthenticationMethod.Read.All"})),
    ("deprovisioning blocks sign-in", _USER_WRITE | {"User.EnableDisableAccount.All"}),
    ("deprovisioning revokes sessions", _USER_WRITE | {"User.RevokeSessions.All"}),
    (
        "deprovisioning removes group members",
        frozenset({"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}),
    ),
    (
        "deprovisioning removes app assignments",
        frozenset({"AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"}),
    ),
    ("deprovisioning removes directory roles", frozenset({"RoleManagement.ReadWrite.Directory"})),
)

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"  # the appRoleId of an app without app roles


class EntraConnector:
    provider = "entra"
    mfa_source = "bulk"
    inherited_via = "holders"  # transitiveMembers of the group directly assigned or nested

    def __init__(self, config: EntraConfig, *, client: GraphClient | None = None) -> None:
        self.config = config
        self.client = client or GraphClient(config)

    def __repr__(self) -> str:
        return f"EntraConnector(tenant_id={self.config.tenant_id!r})"

    @property
    def _users_query(self) -> str:
        return f"$select={mapping.USER_FIELDS}&$top={self.config.page_size}&$expand=manager($select=id)"

    # -- listings -------------------------------------------------------------------------------

    async def list_accounts(self, cursor: str | None) -> Page[AccountRecord]:
        body = await self.client.get(cursor or f"/users?{self._users_query}")
        return Page([mapping.account_from_user(u) for u in body["value"]], body.get("@odata.nextLink"))

    async def list_mfa(self, cursor: str | None) -> Page[MfaRecord]:
        path = (
            cursor or f"/reports/authenticationMethods/userRegistrationDetails?$top={self.config.page_size}"
        )
        body = await self.client.get(path)
        return Page([mapping.mfa_from_registration(r) for r in body["value"]], body.get("@odata.nextLink"))

    async def get_account_details(self, account_external_id: str) -> AccountDetails:
        raise NotImplementedError("Entra's MFA comes from the bulk registration report: use list_mfa")

    async def list_entitlements(self, cursor: str | None) -> Page[EntitlementRecord]:
        """Groups, then service principals (apps), then directory roles."""
        phase, _, url = (cursor or "groups|").partition("|")
        first = {
            "groups": f"/groups?$select=id,displayName,description&$top={self.config.page_size}",
            "apps": f"/servicePrincipals?$select=id,appId,displayName&$top={self.config.page_size}",
            "roles": "/roleManagement/directory/roleDefinitions",
        }[phase]
        body = await self.client.get(url or first)
        convert = {
            "groups": mapping.entitlement_from_group,
            "apps": mapping.entitlement_from_service_principal,
            "roles": mapping.entitlement_from_role,
        }[phase]
        following = body.get("@odata.nextLink")
        if following:
            next_cursor: str | None = f"{phase}|{following}"
        else:
            next_cursor = {"groups": "apps|", "apps": "roles|", "roles": None}[phase]
        return Page([convert(item) for item in body["value"]], next_cursor)

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        """Direct holders first, then the members of nested or assigned groups as inherited grants.

        The cursor carries the groups still to expand: ``{"url": ..., "groups": [...], "via": ...}``,
        and every group held through (``through``), which the last page reports as ``held_through``.
        """
        kind, target = entitlement.kind, entitlement.external_id
        state: dict[str, Any] = (
            json.loads(cursor) if cursor else {"url": None, "groups": [], "via": None, "through": []}
        )
        items: list[GrantRecord] = []
        if state["via"] is None:
            first = {
                EntitlementKind.GROUP: f"/groups/{target}/members?$select=id&$top=999",
                EntitlementKind.APP: f"/servicePrincipals/{target}/appRoleAssignedTo?$top=999",
                # the principal says whether the role is held by a user or by a role-assignable group
                EntitlementKind.ROLE: "/roleManagement/directory/roleAssignments?$filter="
                + quote(f"roleDefinitionId eq '{target}'")
                + "&$expand=principal($select=id)",
            }[kind]
            body = await self.client.get(state["url"] or first)
            for item in body["value"]:
                principal, principal_is_group = self._principal(kind, item)
                if principal_is_group:
                    state["groups"].append(principal)
                    state["through"].append(principal)
                elif principal:
                    items.append(mapping.grant(principal, kind, target))
            state["url"] = body.get("@odata.nextLink")
        else:
            body = await self.client.get(
                state["url"] or f"/groups/{state['via']}/transitiveMembers?$select=id&$top=999"
            )
            items = [
                mapping.grant(m["id"], kind, target, via=state["via"])
                for m in body["value"]
                if mapping.is_user(m)
            ]
            state["url"] = body.get("@odata.nextLink")
        if state["url"] is None:
            if not state["groups"]:
                return Page(items, None, held_through=state["through"])
            state["via"] = state["groups"].pop(0)
        return Page(items, json.dumps(state))

    @staticmethod
    def _principal(kind: EntitlementKind, item: dict[str, Any]) -> tuple[str | None, bool]:
        if kind is EntitlementKind.GROUP:
            return item["id"], mapping.is_group(item)
        if kind is EntitlementKind.APP:
            return item["principalId"], item.get("principalType") == "Group"
        return item["principalId"], mapping.is_group(item.get("principal") or {})

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        """Groups (direct and through nesting), direct app assignments and directory roles, in one $batch;
        roles held through a role-assignable group (which are never nested) in a second one, only when
        the account is in such a group.  Apps held through a group are not included: Graph lists them
        on the group, not the user."""
        uid = account_external_id
        role_filter = quote(f"principalId eq '{uid}'")
        responses = await self.client.batch(
            [
                {
                    "id": "direct",
                    "method": "GET",
                    "url": f"/users/{uid}/memberOf?$select=id,isAssignableToRole&$top=999",
                },
                {"id": "all", "method": "GET", "url": f"/users/{uid}/transitiveMemberOf?$select=id&$top=999"},
                {"id": "apps", "method": "GET", "url": f"/users/{uid}/appRoleAssignments?$top=999"},
                {
                    "id": "roles",
                    "method": "GET",
                    "url": f"/roleManagement/directory/roleAssignments?$filter={role_filter}",
                },
            ]
        )
        direct_groups = [g for g in responses["direct"]["body"]["value"] if mapping.is_group(g)]
        direct = {g["id"] for g in direct_groups}
        grants = [
            mapping.grant(
                uid, EntitlementKind.GROUP, g["id"], via=None if g["id"] in direct else "nested group"
            )
            for g in responses["all"]["body"]["value"]
            if mapping.is_group(g)
        ]
        grants += [
            mapping.grant(uid, EntitlementKind.APP, a["resourceId"])
            for a in responses["apps"]["body"]["value"]
        ]
        grants += [
            mapping.grant(uid, EntitlementKind.ROLE, r["roleDefinitionId"])
            for r in responses["roles"]["body"]["value"]
        ]
        role_groups = [g["id"] for g in direct_groups if g.get("isAssignableToRole")]
        for start in range(0, len(role_groups), 20):  # $batch takes at most 20 requests
            chunk = role_groups[start : start + 20]
            held = await self.client.batch(
                [
                    {
                        "id": gid,
                        "method": "GET",
                        "url": "/roleManagement/directory/roleAssignments?$filter="
                        + quote(f"principalId eq '{gid}'"),
                    }
                    for gid in chunk
                ]
            )
            grants += [
                mapping.grant(uid, EntitlementKind.ROLE, r["roleDefinitionId"], via=gid)
                for gid in chunk
                for r in held[gid]["body"]["value"]
            ]
        return grants

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Graph delta queries, one page per call: users, then group memberships; ``more`` until both
        streams reached a deltaLink.  None marks 'now' ($deltatoken=latest, one request per stream)."""
        if cursor is None:
            users = await self.client.get(f"/users/delta?$deltatoken=latest&$select={mapping.USER_FIELDS}")
            groups = await self.client.get("/groups/delta?$deltatoken=latest&$select=displayName,members")
            position = {"users": users["@odata.deltaLink"], "groups": groups["@odata.deltaLink"]}
            return ChangeSet(cursor=json.dumps(position), requests=2, refresh_account_grants=False)
        # position: the deltaLink of each stream, the stream being read and, mid-stream, its nextLink
        position = json.loads(cursor)
        stream = position.get("stream", "users")
        body = await self.client.get(position.get("next") or position[stream])
        accounts: list[AccountRecord] = []
        removed: set[str] = set()
        entitlements: set[str] = set()
        for item in body["value"]:
            if stream == "groups":
                entitlements.add(item["id"])
            elif "@removed" in item:
                removed.add(item["id"])
            else:
                accounts.append(mapping.account_from_user(item))
        following = body.get("@odata.nextLink")
        more = True
        if following:
            position = {**position, "stream": stream, "next": following}
        else:
            position = {**position, stream: body["@odata.deltaLink"], "next": None}
            position["stream"] = "groups" if stream == "users" else "users"
            more = stream == "users"
        return ChangeSet(
            cursor=json.dumps(position),
            accounts=accounts,
            removed_account_ids=removed,
            entitlement_ids=entitlements,
            more=more,
            requests=1,
            refresh_account_grants=False,
        )

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        key = external_id or email
        if not key:
            raise ValueError("find_account needs an email or an external id")
        try:
            user = await self.client.get(
                f"/users/{quote(key)}?$select={mapping.USER_FIELDS}&$expand=manager($select=id)"
            )
        except NotFoundError:
            return None
        return mapping.account_from_user(user)

    # -- actions ---------------------------------------------------------------------------------------

    async def _set_enabled(self, uid: str, enabled: bool) -> ActionResult:
        """Read first, write only when it differs: ALREADY_DONE costs no write (and no permission)."""
        user = await self.client.get(f"/users/{quote(uid)}?$select=id,accountEnabled")
        if user.get("accountEnabled") is enabled:
            return ActionResult.ALREADY_DONE
        await self.client.request("PATCH", f"/users/{quote(uid)}", json={"accountEnabled": enabled})
        return ActionResult.APPLIED

    async def suspend_account(self, external_id: str) -> ActionResult:
        return await self._set_enabled(external_id, False)

    async def restore_account(self, external_id: str) -> ActionResult:
        return await self._set_enabled(external_id, True)

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        """Invalidate refresh tokens and session cookies.  Always APPLIED: Graph cannot say whether any
        existed; :meth:`sessions_valid_from` reads back that the revocation took effect."""
        await self.client.request("POST", f"/users/{quote(external_id)}/revokeSignInSessions")
        return ActionResult.APPLIED

    async def sessions_valid_from(self, external_id: str) -> datetime | None:
        """The user's ``signInSessionsValidFromDateTime``: tokens issued before it are revoked."""
        user = await self.client.get(
            f"/users/{quote(external_id)}?$select=id,signInSessionsValidFromDateTime"
        )
        return mapping.parse_time(user.get("signInSessionsValidFromDateTime"))

    async def verify_locked(self, external_id: str) -> LockState:
        """Read back a lockout: sign-in blocked, sessions valid from (``sessions_revoked_since``
        verifies a revocation), grants still held.  Graph lists no user's sessions or tokens:
        ``sessions_readable`` is False and ``open_credentials`` empty.  Raises NotFoundError when the
        account is gone."""
        user = await self.client.get(
            f"/users/{quote(external_id)}?$select=id,accountEnabled,signInSessionsValidFromDateTime"
        )
        grants = await self.list_account_grants(user["id"])
        return LockState(
            account_external_id=user["id"],
            suspended=user.get("accountEnabled") is False,
            sessions_readable=False,
            grants=grants,
            requests=4,
            sessions_valid_from=mapping.parse_time(user.get("signInSessionsValidFromDateTime")),
        )

    async def remove_grant(self, grant: GrantRecord) -> ActionResult:
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            try:
                await self.client.request("DELETE", f"/groups/{target}/members/{uid}/$ref")
            except NotFoundError:
                return ActionResult.ALREADY_DONE
            return ActionResult.APPLIED
        if grant.entitlement_kind is EntitlementKind.APP:
            body = await self.client.get(f"/users/{uid}/appRoleAssignments?$top=999")
            assignments = [a["id"] for a in body["value"] if a.get("resourceId") == target]
            path = f"/users/{uid}/appRoleAssignments/{{}}"
        else:
            role_filter = quote(f"principalId eq '{uid}' and roleDefinitionId eq '{target}'")
            body = await self.client.get(f"/roleManagement/directory/roleAssignments?$filter={role_filter}")
            assignments = [a["id"] for a in body["value"]]
            path = "/roleManagement/directory/roleAssignments/{}"
        if not assignments:
            return ActionResult.ALREADY_DONE
        removed = 0
        for assignment in assignments:
            try:
                await self.client.request("DELETE", path.format(assignment))
            except NotFoundError:  # removed meanwhile (another worker, an admin): the effect holds
                continue
            removed += 1
        return ActionResult.APPLIED if removed else ActionResult.ALREADY_DONE

    async def add_grant(self, grant: GrantRecord) -> ActionResult:
        """Give a grant back (restore): a group membership, an app assignment (its first app role for
        users, or Default Access), a tenant-wide directory role.  ALREADY_DONE when it is held."""
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            reference = {"@odata.id": f"{self.client.base}/directoryObjects/{uid}"}
            try:
                await self.client.request("POST", f"/groups/{target}/members/$ref", json=reference)
            except ConnectorError as exc:
                if exc.status == 400 and "already exist" in str(exc):
                    return ActionResult.ALREADY_DONE
                raise
            return ActionResult.APPLIED
        if grant.entitlement_kind is EntitlementKind.APP:
            body = await self.client.get(f"/users/{uid}/appRoleAssignments?$top=999")
            if any(a.get("resourceId") == target for a in body["value"]):
                return ActionResult.ALREADY_DONE
            sp = await self.client.get(f"/servicePrincipals/{target}?$select=id,appRoles")
            roles = [
                r["id"]
                for r in sp.get("appRoles") or []
                if r.get("isEnabled", True) and "User" in (r.get("allowedMemberTypes") or [])
            ]
            assignment = {
                "principalId": uid,
                "resourceId": target,
                "appRoleId": roles[0] if roles else DEFAULT_ACCESS,
            }
            await self.client.request("POST", f"/users/{uid}/appRoleAssignments", json=assignment)
            return ActionResult.APPLIED
        role_filter = quote(f"principalId eq '{uid}' and roleDefinitionId eq '{target}'")
        body = await self.client.get(f"/roleManagement/directory/roleAssignments?$filter={role_filter}")
        if any(a.get("directoryScopeId", "/") == "/" for a in body["value"]):
            return ActionResult.ALREADY_DONE
        await self.client.request(
            "POST",
            "/roleManagement/directory/roleAssignments",
            json={"principalId": uid, "roleDefinitionId": target, "directoryScopeId": "/"},
        )
        return ActionResult.APPLIED

    async def check_permissions(self) -> PermissionReport:
        """The application permissions admin-consented to the app, as its access token's ``roles``
        claim states them (the token Graph checks every call against).  Read-only: only a token."""
        token = await self.client.token()
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError) as exc:
            raise ConnectorError(
                "the token endpoint answered a token that is not a JWT", provider="entra"
            ) from exc
        held = {str(r) for r in claims.get("roles") or []}
        return PermissionReport(
            provider="entra",
            acting_as=f"app {claims.get('appid') or self.config.client_id}",
            granted=sorted(held),
            missing=missing_permissions(held, NEEDS),
        )

    async def aclose(self) -> None:
        await self.client.aclose()
