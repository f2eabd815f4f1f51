"""The Google Workspace connector: Directory API pages one per call, MFA from the user listing,
nested groups expanded as inherited grants, idempotent actions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from connectors.base import (
    AccountDetails,
    AccountRecord,
    ActionResult,
    ChangeSet,
    EntitlementKind,
    EntitlementRecord,
    EntitlementRef,
    GrantRecord,
    MfaRecord,
    NotFoundError,
    Page,
)
from connectors.google import mapping
from connectors.google.client import DirectoryClient
from connectors.google.config import GoogleConfig


class GoogleConnector:
    provider = "google"
    mfa_source = "listing"

    def __init__(self, config: GoogleConfig, *, client: DirectoryClient | None = None) -> None:
        self.config = config
        self.client = client or DirectoryClient(config)

    def __repr__(self) -> str:
        return f"GoogleConnector(customer_id={self.config.customer_id!r})"

    # -- listings ---------------------------------------------------------------------------------

    async def _users_page(self, token: str | None) -> dict[str, Any]:
        return await self.client.call(
            lambda s: s.users().list(
                customer=self.config.customer_id,
                maxResults=self.config.page_size,
                pageToken=token,
                projection="full",
                orderBy="email",
            )
        )

    async def list_accounts(self, cursor: str | None) -> Page[AccountRecord]:
        body = await self._users_page(cursor)
        return Page([mapping.account_from_user(u) for u in body.get("users", [])], body.get("nextPageToken"))

    async def list_mfa(self, cursor: str | None) -> Page[MfaRecord]:
        raise NotImplementedError("Google's 2SV state comes with each user in the listing")

    async def get_account_details(self, account_external_id: str) -> AccountDetails:
        raise NotImplementedError("Google's 2SV state comes with each user in the listing")

    async def list_entitlements(self, cursor: str | None) -> Page[EntitlementRecord]:
        phase, _, token = (cursor or "groups|").partition("|")
        if phase == "groups":
            body = await self.client.call(
                lambda s: s.groups().list(
                    customer=self.config.customer_id, maxResults=200, pageToken=token or None
                )
            )
            items = [mapping.entitlement_from_group(g) for g in body.get("groups", [])]
            following = body.get("nextPageToken")
            return Page(items, f"groups|{following}" if following else "roles|")
        body = await self.client.call(
            lambda s: s.roles().list(
                customer=self.config.customer_id, maxResults=100, pageToken=token or None
            )
        )
        following = body.get("nextPageToken")
        return Page(
            [mapping.entitlement_from_role(r) for r in body.get("items", [])],
            f"roles|{following}" if following else None,
        )

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        """Direct members first; members of nested groups follow as inherited grants, via that group."""
        target = entitlement.external_id
        state: dict[str, Any] = (
            json.loads(cursor) if cursor else {"token": None, "groups": [], "seen": [target], "via": None}
        )
        if entitlement.kind is EntitlementKind.ROLE:
            body = await self.client.call(
                lambda s: s.roleAssignments().list(
                    customer=self.config.customer_id, roleId=target, maxResults=200, pageToken=state["token"]
                )
            )
            items = [
                GrantRecord(a["assignedTo"], EntitlementKind.ROLE, target)
                for a in body.get("items", [])
                if a.get("assigneeType", "user") == "user"
            ]
            following = body.get("nextPageToken")
            return Page(items, json.dumps({**state, "token": following}) if following else None)
        group_key = state["via"] or target
        body = await self.client.call(
            lambda s: s.members().list(groupKey=group_key, maxResults=200, pageToken=state["token"])
        )
        items: list[GrantRecord] = []
        for member in body.get("members", []):
            if member.get("type") == "GROUP":
                if member["id"] not in state["seen"]:  # nesting can loop: expand each group once
                    state["seen"].append(member["id"])
                    state["groups"].append(member["id"])
            elif member.get("type", "USER") == "USER":
                via = state["via"]
                items.append(
                    GrantRecord(
                        member["id"], EntitlementKind.GROUP, target, inherited=via is not None, via=via
                    )
                )
        state["token"] = body.get("nextPageToken")
        if state["token"] is None:
            if not state["groups"]:
                return Page(items, None)
            state["via"] = state["groups"].pop(0)
        return Page(items, json.dumps(state))

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        """Direct group memberships and admin roles (groups held through nesting are listed on the group)."""
        uid = account_external_id
        groups = await self.client.call(lambda s: s.groups().list(userKey=uid, maxResults=200))
        roles = await self.client.call(
            lambda s: s.roleAssignments().list(customer=self.config.customer_id, userKey=uid, maxResults=200)
        )
        grants = [GrantRecord(uid, EntitlementKind.GROUP, g["id"]) for g in groups.get("groups", [])]
        grants += [GrantRecord(uid, EntitlementKind.ROLE, str(r["roleId"])) for r in roles.get("items", [])]
        return grants

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """No delta feed for users: a full listing diffed against the etags (and group member counts)
        the cursor remembers.  Costs one listing of users and of groups, not of every membership."""
        users: dict[str, str] = {}
        changed: list[AccountRecord] = []
        previous = json.loads(cursor) if cursor else None
        token: str | None = None
        requests = 0
        while True:
            body = await self._users_page(token)
            requests += 1
            for user in body.get("users", []):
                etag = user.get("etag") or hashlib.sha1(json.dumps(user, sort_keys=True).encode()).hexdigest()
                users[user["id"]] = etag
                if previous is not None and previous["users"].get(user["id"]) != etag:
                    changed.append(mapping.account_from_user(user))
            token = body.get("nextPageToken")
            if not token:
                break
        groups: dict[str, str] = {}
        token = None
        while True:
            body = await self.client.call(
                lambda s, t=token: s.groups().list(
                    customer=self.config.customer_id, maxResults=200, pageToken=t
                )
            )
            requests += 1
            for group in body.get("groups", []):
                groups[group["id"]] = str(group.get("directMembersCount", ""))
            token = body.get("nextPageToken")
            if not token:
                break
        position = json.dumps({"users": users, "groups": groups}, separators=(",", ":"))
        if previous is None:
            return ChangeSet(cursor=position, requests=requests, refresh_account_grants=False)
        return ChangeSet(
            cursor=position,
            accounts=changed,
            removed_account_ids=set(previous["users"]) - set(users),
            entitlement_ids={g for g, count in groups.items() if previous["groups"].get(g) != count},
            requests=requests,
            refresh_account_grants=False,
        )

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        key = external_id or email
        if not key:
            raise ValueError("find_account needs an email or an external id")
        try:
            user = await self.client.call(lambda s: s.users().get(userKey=key, projection="full"))
        except NotFoundError:
            return None
        return mapping.account_from_user(user)

    # -- actions ------------------------------------------------------------------------------------

    async def _set_suspended(self, uid: str, suspended: bool) -> ActionResult:
        user = await self.client.call(lambda s: s.users().get(userKey=uid))
        if bool(user.get("suspended")) is suspended:
            return ActionResult.ALREADY_DONE
        await self.client.call(lambda s: s.users().patch(userKey=uid, body={"suspended": suspended}))
        return ActionResult.APPLIED

    async def suspend_account(self, external_id: str) -> ActionResult:
        return await self._set_suspended(external_id, True)

    async def restore_account(self, external_id: str) -> ActionResult:
        return await self._set_suspended(external_id, False)

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        """Sign out of every session, revoke every OAuth token and app password, invalidate backup codes."""
        uid = external_id
        await self.client.call(lambda s: s.users().signOut(userKey=uid))
        tokens = await self.client.call(lambda s: s.tokens().list(userKey=uid))
        for token in tokens.get("items", []):
            try:
                await self.client.call(
                    lambda s, c=token["clientId"]: s.tokens().delete(userKey=uid, clientId=c)
                )
            except NotFoundError:
                continue
        asps = await self.client.call(lambda s: s.asps().list(userKey=uid))
        for asp in asps.get("items", []):
            try:
                await self.client.call(lambda s, c=asp["codeId"]: s.asps().delete(userKey=uid, codeId=c))
            except NotFoundError:
                continue
        await self.client.call(lambda s: s.verificationCodes().invalidate(userKey=uid))
        return ActionResult.APPLIED

    async def remove_grant(self, grant: GrantRecord) -> ActionResult:
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            try:
                await self.client.call(lambda s: s.members().delete(groupKey=target, memberKey=uid))
            except NotFoundError:
                return ActionResult.ALREADY_DONE
            return ActionResult.APPLIED
        assignments = await self.client.call(
            lambda s: s.roleAssignments().list(customer=self.config.customer_id, userKey=uid, roleId=target)
        )
        items = assignments.get("items", [])
        if not items:
            return ActionResult.ALREADY_DONE
        for item in items:
            try:
                await self.client.call(
                    lambda s, a=item["roleAssignmentId"]: s.roleAssignments().delete(
                        customer=self.config.customer_id, roleAssignmentId=a
                    )
                )
            except NotFoundError:
                continue
        return ActionResult.APPLIED

    async def aclose(self) -> None:
        await self.client.aclose()
