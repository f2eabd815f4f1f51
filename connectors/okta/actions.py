"""The Okta connector's actions and their read-back: lifecycle (suspend, deactivate, restore),
sessions with OAuth tokens and consent grants, grants removed and given back, and what a lockout
left open.  Each action reads first and writes only what is still to do, so a repeated or retried
step reports ALREADY_DONE; an answer that says someone else got there first counts as done too.

What an API token may do is its admin's role: a read-only admin's token is refused every write
(403 E0000006: PermissionDeniedError)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from connectors.base import (
    ActionResult,
    ConnectorError,
    EntitlementKind,
    GrantRecord,
    LockState,
    NotFoundError,
    PermissionReport,
    missing_permissions,
)
from connectors.okta import mapping
from connectors.okta.client import OktaClient

#: statuses in which an account cannot sign in
BLOCKED = frozenset({"SUSPENDED", "DEPROVISIONED"})
#: how long one read of a user's groups serves the group steps that follow it: a leaver removes its
#: groups one step after another, a few calls apart, and each step reads before it writes; without
#: this every group step re-read the same listing (one Okta call and one sequential wave per group).
#: A listing older than this is read again, so a membership added by someone else meanwhile is
#: seen by the next step; the verify step always reads afresh.
GROUPS_FRESH_S = 5.0
#: what sync and deprovisioning need of the API token's admin role (Okta's standard admin roles)
NEEDS = (
    (
        "sync reads users, groups, apps and admin roles",
        frozenset(
            {"SUPER_ADMIN", "ORG_ADMIN", "READ_ONLY_ADMIN", "APP_ADMIN", "USER_ADMIN", "HELP_DESK_ADMIN"}
        ),
    ),
    (
        "deprovisioning suspends users, ends sessions and tokens, removes group and app assignments",
        frozenset({"SUPER_ADMIN", "ORG_ADMIN"}),
    ),
    ("deprovisioning removes admin roles", frozenset({"SUPER_ADMIN"})),
)


class OktaActions:
    client: OktaClient
    #: uid -> (monotonic time read, {group id: group type}) of the user's groups; see GROUPS_FRESH_S
    _groups_read: dict[str, tuple[float, dict[str, str]]]

    if TYPE_CHECKING:

        async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]: ...

    async def _status(self, uid: str) -> str:
        return str((await self.client.request("GET", f"/api/v1/users/{uid}")).body["status"])

    async def _lifecycle(
        self, uid: str, action: str, done_when: frozenset[str], params: dict[str, Any] | None = None
    ) -> ActionResult:
        try:
            await self.client.request("POST", f"/api/v1/users/{uid}/lifecycle/{action}", params=params)
        except ConnectorError as exc:
            if exc.status == 400 and await self._status(uid) in done_when:
                return ActionResult.ALREADY_DONE  # someone else got there first
            raise
        return ActionResult.APPLIED

    # -- sign-in ----------------------------------------------------------------------------------

    async def suspend_account(self, external_id: str) -> ActionResult:
        """``lifecycle/suspend`` (only an ACTIVE user can be); a suspended or deactivated one is done."""
        if await self._status(external_id) in BLOCKED:
            return ActionResult.ALREADY_DONE
        return await self._lifecycle(external_id, "suspend", BLOCKED)

    async def deactivate_account(self, external_id: str) -> ActionResult:
        """``lifecycle/deactivate`` without the admin email (``lifecycle.okta_leaver_action =
        "deactivate"``): works from any status but DEPROVISIONED, SUSPENDED included."""
        done = frozenset({"DEPROVISIONED"})
        if await self._status(external_id) in done:
            return ActionResult.ALREADY_DONE
        return await self._lifecycle(external_id, "deactivate", done, {"sendEmail": "false"})

    async def restore_account(self, external_id: str) -> ActionResult:
        """Back to ACTIVE: a SUSPENDED user is unsuspended, a DEPROVISIONED (or STAGED) one activated
        without the activation email (Okta answers the activation link instead), a LOCKED_OUT one
        unlocked.  Any other status (PROVISIONED: the user has yet to finish activating) is a
        ConnectorError naming it."""
        uid = external_id
        status = await self._status(uid)
        active = frozenset({"ACTIVE"})
        if status == "ACTIVE":
            return ActionResult.ALREADY_DONE
        if status == "SUSPENDED":
            return await self._lifecycle(uid, "unsuspend", active)
        if status in ("DEPROVISIONED", "STAGED"):
            return await self._lifecycle(uid, "activate", active, {"sendEmail": "false"})
        if status == "LOCKED_OUT":
            return await self._lifecycle(uid, "unlock", active)
        raise ConnectorError(f"okta user {uid} is {status}: it cannot be restored to ACTIVE", provider="okta")

    # -- sessions and tokens -----------------------------------------------------------------------

    async def _clients(self, uid: str) -> list[str]:
        """The OAuth clients the user holds consent grants or refresh tokens for."""
        body = (await self.client.request("GET", f"/api/v1/users/{uid}/clients")).body or []
        return [str(c["client_id"]) for c in body]

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        """End every session and revoke every OAuth access and refresh token (``DELETE
        sessions?oauthTokens=true``), then every consent grant (``DELETE grants``); a client still
        listed after that has its tokens and grants revoked one client at a time.

        APPLIED when a client held grants or tokens, else ALREADY_DONE: Okta has no read of a user's
        sessions, so the sign-out is sent every time (it is idempotent) and cannot count as a change.
        """
        uid = external_id
        before = await self._clients(uid)
        await self.client.request("DELETE", f"/api/v1/users/{uid}/sessions", params={"oauthTokens": "true"})
        if before:
            await self.client.request("DELETE", f"/api/v1/users/{uid}/grants")
            for client_id in await self._clients(uid):
                for what in ("tokens", "grants"):
                    try:
                        await self.client.request("DELETE", f"/api/v1/users/{uid}/clients/{client_id}/{what}")
                    except NotFoundError:  # gone meanwhile: the effect holds
                        continue
        return ActionResult.APPLIED if before else ActionResult.ALREADY_DONE

    async def verify_locked(self, external_id: str) -> LockState:
        """Read back a lockout: sign-in blocked (SUSPENDED or DEPROVISIONED), every OAuth client still
        holding consent grants or refresh tokens (``token:<client id>``) and the grants still held.
        Sessions cannot be read (Okta has no such listing): ``sessions_readable`` is False.  Raises
        NotFoundError when the account is gone."""
        uid = external_id
        status = await self._status(uid)
        clients = await self._clients(uid)
        grants = await self.list_account_grants(uid)
        return LockState(
            account_external_id=uid,
            suspended=status in BLOCKED,
            open_credentials=[f"token:{c}" for c in clients],
            sessions_readable=False,
            grants=grants,
            requests=5,
        )

    async def check_permissions(self) -> PermissionReport:
        """The API token's admin (``/users/me``) and its admin roles (``/users/{id}/roles``): an API
        token acts with its creator's roles.  Read-only."""
        me = (await self.client.request("GET", "/api/v1/users/me")).body
        roles = (await self.client.request("GET", f"/api/v1/users/{me['id']}/roles")).body or []
        held = {str(r.get("type")) for r in roles}
        login = (me.get("profile") or {}).get("login") or me["id"]
        return PermissionReport(
            provider="okta",
            acting_as=f"API token of {login}",
            granted=sorted(held),
            missing=missing_permissions(held, NEEDS),
        )

    # -- grants -----------------------------------------------------------------------------------

    async def remove_grant(self, grant: GrantRecord) -> ActionResult:
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            kind = await self._group_type(uid, target)
            if kind is None:
                return ActionResult.ALREADY_DONE
            if kind != "OKTA_GROUP":  # Everyone (BUILT_IN), an app's or directory's group (APP_GROUP)
                raise ConnectorError(
                    f"okta group {target} is of type {kind}: Okta changes its members, no admin can",
                    provider="okta",
                    status=400,
                )
            await self._group_write("DELETE", uid, target)
            return ActionResult.APPLIED
        if grant.entitlement_kind is EntitlementKind.APP:
            try:
                await self.client.request("DELETE", f"/api/v1/apps/{target}/users/{uid}")
            except NotFoundError:
                return ActionResult.ALREADY_DONE
            return ActionResult.APPLIED
        matching = [r for r in await self._own_roles(uid) if _same_role(r, grant)]
        if not matching:
            return ActionResult.ALREADY_DONE
        removed = False
        for role in matching:
            try:
                await self.client.request("DELETE", f"/api/v1/users/{uid}/roles/{role['id']}")
            except NotFoundError:
                continue
            removed = True
        return ActionResult.APPLIED if removed else ActionResult.ALREADY_DONE

    async def add_grant(self, grant: GrantRecord) -> ActionResult:
        """Give a grant back (restore): a group membership (``PUT groups/{id}/users/{uid}``), a
        direct app assignment (``POST apps/{id}/users``; one held only through a group becomes
        direct), an admin role (``POST users/{uid}/roles``: a standard one by type, a custom one by
        its id over the grant's resource set, its ``scope``).  ALREADY_DONE when the account holds
        it directly (a custom role: over that resource set).  A custom role without a resource set
        is refused here, as Okta would refuse it (400), before anything is sent."""
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            if await self._group_type(uid, target) is not None:
                return ActionResult.ALREADY_DONE
            await self._group_write("PUT", uid, target)
            return ActionResult.APPLIED
        if grant.entitlement_kind is EntitlementKind.APP:
            try:
                held = (await self.client.request("GET", f"/api/v1/apps/{target}/users/{uid}")).body
            except NotFoundError:
                held = None
            if held and held.get("scope") == "USER":
                return ActionResult.ALREADY_DONE
            await self.client.request(
                "POST", f"/api/v1/apps/{target}/users", body={"id": uid, "scope": "USER"}
            )
            return ActionResult.APPLIED
        try:
            body = mapping.role_body(target, grant.scope)
        except ValueError as exc:
            raise ConnectorError(str(exc), provider="okta", status=400) from None
        if any(_same_role(r, grant) for r in await self._own_roles(uid)):
            return ActionResult.ALREADY_DONE
        try:
            await self.client.request("POST", f"/api/v1/users/{uid}/roles", body=body)
        except ConnectorError as exc:
            if exc.status == 409:  # E0000090: assigned meanwhile
                return ActionResult.ALREADY_DONE
            raise
        return ActionResult.APPLIED

    def _remember_groups(self, uid: str, groups: list[dict[str, Any]]) -> None:
        """Keep a listing of the user's groups just read, and forget the stale ones."""
        cache, now = self._groups_read, time.monotonic()
        for stale in [u for u, (read_at, _) in cache.items() if now - read_at > GROUPS_FRESH_S]:
            del cache[stale]
        cache[uid] = (now, {str(g["id"]): str(g.get("type")) for g in groups})

    async def _group_type(self, uid: str, group_id: str) -> str | None:
        """The type of ``group_id`` (OKTA_GROUP, APP_GROUP, BUILT_IN) if the user is in it, else None:
        from a listing of the user's groups read less than GROUPS_FRESH_S ago, else read now."""
        cached = self._groups_read.get(uid)
        if cached is None or time.monotonic() - cached[0] > GROUPS_FRESH_S:
            groups = (await self.client.request("GET", f"/api/v1/users/{uid}/groups")).body
            self._remember_groups(uid, groups)
            cached = self._groups_read[uid]
        return cached[1].get(group_id)

    async def _group_write(self, method: str, uid: str, group_id: str) -> None:
        """Add (PUT) or remove (DELETE) a membership, and keep the remembered listing true to it; a
        write that failed forgets the listing (what happened is not known)."""
        try:
            await self.client.request(method, f"/api/v1/groups/{group_id}/users/{uid}")
        except BaseException:
            self._groups_read.pop(uid, None)
            raise
        cached = self._groups_read.get(uid)
        if cached is not None:
            if method == "DELETE":
                cached[1].pop(group_id, None)
            else:
                cached[1][group_id] = "OKTA_GROUP"

    async def _own_roles(self, uid: str) -> list[dict[str, Any]]:
        """The user's own role assignments: one held through a group (assignmentType GROUP) belongs
        to the group, and Okta answers 404 for it on the user, though the role stays held."""
        roles = (await self.client.request("GET", f"/api/v1/users/{uid}/roles")).body
        return [r for r in roles if r.get("assignmentType") != "GROUP"]


def _same_role(role: dict[str, Any], grant: GrantRecord) -> bool:
    """Whether the assignment ``role`` is the grant's role, over the grant's resource set when the
    grant names one (a grant without a scope matches every assignment of its role)."""
    if mapping.role_entitlement_id(role) != grant.entitlement_external_id:
        return False
    return grant.scope is None or mapping.resource_set_id(role) == grant.scope
