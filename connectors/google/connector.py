"""The Google Workspace connector: Directory API pages one per call, MFA from the user listing,
nested groups expanded as inherited grants, idempotent actions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
from connectors.google import feed, mapping
from connectors.google.client import DirectoryClient
from connectors.google.config import GoogleConfig

_AUTH = "https://www.googleapis.com/auth/"


def _scopes(*names: str) -> frozenset[str]:
    return frozenset(_AUTH + n for n in names)


#: what sync and deprovisioning need of the delegated token's OAuth scopes (as the Admin SDK's
#: discovery documents list each method's)
NEEDS = (
    ("sync reads users", _scopes("admin.directory.user", "admin.directory.user.readonly")),
    ("sync reads groups", _scopes("admin.directory.group", "admin.directory.group.readonly")),
    (
        "sync reads group members",
        _scopes(
            "admin.directory.group",
            "admin.directory.group.readonly",
            "admin.directory.group.member",
            "admin.directory.group.member.readonly",
        ),
    ),
    (
        "sync reads admin roles",
        _scopes("admin.directory.rolemanagement", "admin.directory.rolemanagement.readonly"),
    ),
    ("incremental sync reads the admin audit log", _scopes("admin.reports.audit.readonly")),
    ("deprovisioning suspends users", _scopes("admin.directory.user")),
    (
        "deprovisioning signs out, revokes tokens, app passwords and backup codes",
        _scopes("admin.directory.user.security"),
    ),
    (
        "deprovisioning removes group members",
        _scopes("admin.directory.group", "admin.directory.group.member"),
    ),
    ("deprovisioning removes admin roles", _scopes("admin.directory.rolemanagement")),
)


class GoogleConnector:
    provider = "google"
    mfa_source = "listing"
    inherited_via = "members"  # each nested group is expanded and named as the via

    def __init__(self, config: GoogleConfig, *, client: DirectoryClient | None = None) -> None:
        self.config = config
        self.client = client or DirectoryClient(config)
        # the diff of a pass under way, by the handle its last page returned (see changes_since)
        self._live_diff: dict[str, _ListingDiff] = {}

    def __repr__(self) -> str:
        return f"GoogleConnector(customer_id={self.config.customer_id!r})"

    # -- listings ---------------------------------------------------------------------------------

    async def _users_page(self, token: str | None, fields: str | None = None) -> dict[str, Any]:
        return await self.client.call(
            lambda s: s.users().list(
                customer=self.config.customer_id,
                maxResults=self.config.page_size,
                pageToken=token,
                projection="full",
                # the administrator's view: suspension, 2SV, admin status and log-in times are not
                # in the domain's public view (a subject that is no admin is refused, not shown less)
                viewType="admin_view",
                orderBy="email",
                fields=fields,
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
        """Direct holders first (a group's members, a role's user assignees); then the members of
        nested groups, and of groups a role is assigned to, as inherited grants via that group.  The
        last page reports the groups nested in the target (or assigned the role) as ``held_through``."""
        target, kind = entitlement.external_id, entitlement.kind
        state: dict[str, Any] = (
            json.loads(cursor)
            if cursor
            else {"token": None, "groups": [], "seen": [target], "via": None, "through": []}
        )
        items: list[GrantRecord] = []

        def expand(group_id: str) -> None:
            if state["via"] is None:  # in the target itself
                state["through"].append(group_id)
            if group_id not in state["seen"]:  # nesting can loop: expand each group once
                state["seen"].append(group_id)
                state["groups"].append(group_id)

        if kind is EntitlementKind.ROLE and state["via"] is None:
            body = await self.client.call(
                lambda s: s.roleAssignments().list(
                    customer=self.config.customer_id, roleId=target, maxResults=200, pageToken=state["token"]
                )
            )
            for assignment in body.get("items", []):
                if mapping.is_group_assignment(assignment):
                    expand(assignment["assignedTo"])
                else:
                    items.append(mapping.grant_from_role_assignment(assignment["assignedTo"], assignment))
        else:
            group_key = state["via"] or target
            body = await self.client.call(
                lambda s: s.members().list(groupKey=group_key, maxResults=200, pageToken=state["token"])
            )
            via = state["via"]
            for member in body.get("members", []):
                if member.get("type") == "GROUP":
                    expand(member["id"])
                elif member.get("type", "USER") == "USER":
                    items.append(GrantRecord(member["id"], kind, target, inherited=via is not None, via=via))
        state["token"] = body.get("nextPageToken")
        if state["token"] is None:
            if not state["groups"]:
                return Page(items, None, held_through=state["through"])
            state["via"] = state["groups"].pop(0)
        return Page(items, json.dumps(state))

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        """Direct group memberships and admin roles, direct and held through a group (groups held
        through nesting are listed on the group)."""
        uid = account_external_id
        groups = await self.client.call(lambda s: s.groups().list(userKey=uid, maxResults=200))
        roles = await self.client.call(
            lambda s: s.roleAssignments().list(
                customer=self.config.customer_id,
                userKey=uid,
                includeIndirectRoleAssignments=True,
                maxResults=200,
            )
        )
        grants = [GrantRecord(uid, EntitlementKind.GROUP, g["id"]) for g in groups.get("groups", [])]
        grants += [mapping.grant_from_role_assignment(uid, r) for r in roles.get("items", [])]
        return grants

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Users: no delta feed, so the listing, one page per call, diffed against what the cursor
        remembers of the previous complete listing (a short digest of each user's etag).  Groups and
        admin roles: the Reports API's admin audit log (activities.list), read from the previous
        read's start less ``reports_lag_s`` (Google logs admin events "near real time", some later),
        each activity acted on once (the cursor keeps the keys of those in the overlap).  Users,
        then the log; ``more`` until the log's last page.

        Users the previous listing had and this one did not are reported on the last page, in
        ``account_ids``: a user renamed while the listing was under way can be missed by it, so
        the runner's live lookup (find_account) decides whether each is really gone.  None starts
        the baseline for 'now': its pages report nothing (they only record the listing, which
        becomes the next pass's baseline) and the log is read from then on.

        Between the pages of one pass the cursor is a handle on the diff held in memory (writing out
        every digest with every page would cost the org's size per page); the last page's cursor,
        the one a caller keeps, is the whole diff as JSON.
        """
        position = self._position(cursor)
        if position.phase == "users":
            return await self._users_changes(position, cursor)
        return await self._log_changes(position, cursor)

    async def _users_changes(self, position: _ListingDiff, cursor: str | None) -> ChangeSet:
        baseline = position.prev_users is not None
        # ids and etags only (a partial response): what changed is read whole, by the page
        # when much of it changed, else one user at a time (account_ids: the runner looks them up)
        body = await self._users_page(position.token, fields=DIGEST_FIELDS)
        users = body.get("users", [])
        # what changed, without recording it yet: the page moves the diff on only once it is whole
        # (a failed second read is retried with the same handle, and must find the diff as it was)
        changed = {u["id"] for u in users if position.changed(u["id"], _user_digest(u))}
        accounts: list[AccountRecord] = []
        requests = 1
        if not baseline:
            changed = set()  # recorded below, not reported: nothing to compare with
        if len(changed) > READ_PAGE_WHOLE_ABOVE:
            whole = await self._users_page(position.token)
            requests += 1
            records = [mapping.account_from_user(u) for u in whole.get("users", [])]
            accounts = [a for a in records if a.external_id in changed]
            changed -= {a.external_id for a in accounts}  # a user the page no longer holds: looked up
        for user in users:
            position.see_user(user["id"], _user_digest(user))
        self._spend(cursor)  # read and resolved: a failure before this is retried with the same handle
        following = body.get("nextPageToken")
        if following is None and not baseline:
            # the first pass: the log is read from now on (as of the pass's start) by the next one
            position.finish(reports_read_at=position.started_at, seen_keys=[])
            return ChangeSet(
                cursor=position.dump(), accounts=accounts, account_ids=changed, refresh_account_grants=False
            )
        position.next_page(following)
        return ChangeSet(
            cursor=self._hand_over(position),
            accounts=accounts,
            account_ids=changed,
            more=True,
            requests=requests,
            refresh_account_grants=False,
        )

    async def _log_changes(self, position: _ListingDiff, cursor: str | None) -> ChangeSet:
        """One page of the admin audit log since the previous read (less the lag window)."""
        if position.read_at is None:
            position.read_at = _now()
        since = _parse_instant(position.reports_since) - timedelta(seconds=self.config.reports_lag_s)
        token = position.token
        body = await self.client.call(
            lambda s: s.activities().list(
                userKey="all",
                applicationName="admin",
                customerId=self.config.customer_id,
                startTime=feed.rfc3339(since),
                maxResults=self.config.reports_page_size,
                pageToken=token,
            ),
            api="reports",
        )
        overlap_from = position.read_at - timedelta(seconds=self.config.reports_lag_s)
        fresh = []
        for activity in body.get("items", []):
            key = feed.activity_key(activity)
            if feed.activity_time(activity) >= overlap_from:
                position.seen_keys.add(key)  # the next read overlaps it: acted on once
            if key not in position.done_keys:
                fresh.append(activity)
        changes = feed.changes_from_activities(fresh)
        entitlement_ids, requests = await self._resolve(position, changes)
        self._spend(cursor)  # read and resolved: a failure before this is retried with the same handle
        following = body.get("nextPageToken")
        if following:
            position.token = following
            return ChangeSet(
                cursor=self._hand_over(position),
                entitlement_ids=entitlement_ids,
                more=True,
                requests=1 + requests,
                refresh_account_grants=False,
            )
        missing = position.missing_users()
        position.finish(reports_read_at=position.read_at, seen_keys=sorted(position.seen_keys))
        return ChangeSet(
            cursor=position.dump(),
            account_ids=missing,
            entitlement_ids=entitlement_ids,
            requests=1 + requests,
            refresh_account_grants=False,
        )

    async def _resolve(self, position: _ListingDiff, changes: feed.FeedChanges) -> tuple[set[str], int]:
        """The external ids of the groups and roles the log names; a group gone since (404) is
        left to the next full pass.  Returns them and the requests spent."""
        requests = 0
        if changes.role_names and position.role_ids is None:
            role_ids: dict[str, str] = {}
            token: str | None = None
            while True:
                page = await self.client.call(
                    lambda s, t=token: s.roles().list(
                        customer=self.config.customer_id, maxResults=100, pageToken=t
                    )
                )
                requests += 1
                role_ids.update({r["roleName"]: str(r["roleId"]) for r in page.get("items", [])})
                token = page.get("nextPageToken")
                if not token:
                    break
            position.role_ids = role_ids  # whole, or not at all (a failed page is retried)
        ids = {position.role_ids[name] for name in changes.role_names if name in (position.role_ids or {})}

        async def group_id(email: str) -> str | None:
            try:
                group = await self.client.call(lambda s: s.groups().get(groupKey=email, fields="id"))
            except NotFoundError:
                return None
            return str(group["id"])

        emails = sorted(changes.group_emails)
        found = await asyncio.gather(*(group_id(e) for e in emails))
        return ids | {gid for gid in found if gid}, requests + len(emails)

    def _position(self, cursor: str | None) -> _ListingDiff:
        if cursor is None:
            return _ListingDiff.start()
        if cursor.startswith(_LIVE):
            if cursor not in self._live_diff:
                raise ConnectorError(
                    "google: this changes cursor belongs to a pass of another connector (or was used "
                    "already); start again from the last cursor of a complete pass"
                )
            return self._live_diff[cursor]
        return _ListingDiff.load(json.loads(cursor))

    def _spend(self, cursor: str | None) -> None:
        """The page was read: its handle is spent (the diff is about to move on)."""
        if cursor is not None:
            self._live_diff.pop(cursor, None)

    def _hand_over(self, position: _ListingDiff) -> str:
        handle = f"{_LIVE}{secrets.token_hex(8)}"
        self._live_diff.clear()  # one pass at a time: an abandoned pass's diff goes
        self._live_diff[handle] = position
        return handle

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        key = external_id or email
        if not key:
            raise ValueError("find_account needs an email or an external id")
        try:
            user = await self.client.call(
                lambda s: s.users().get(userKey=key, projection="full", viewType="admin_view")
            )
        except NotFoundError:
            return None
        return mapping.account_from_user(user)

    # -- actions ------------------------------------------------------------------------------------
    #
    # Each is idempotent: it reads first and writes only what is still there, so a retried or
    # repeated step reports ALREADY_DONE.  Scopes (see config.SCOPES): users.patch needs
    # admin.directory.user; signOut, tokens, ASPs and backup codes admin.directory.user.security;
    # members.delete admin.directory.group.member; roleAssignments.delete
    # admin.directory.rolemanagement.  A token without them is refused (PermissionDeniedError).

    async def _set_suspended(self, uid: str, suspended: bool) -> ActionResult:
        user = await self.client.call(lambda s: s.users().get(userKey=uid, fields="id,suspended"))
        if bool(user.get("suspended")) is suspended:
            return ActionResult.ALREADY_DONE
        await self.client.call(
            lambda s: s.users().patch(userKey=uid, body={"suspended": suspended}, fields="id,suspended")
        )
        return ActionResult.APPLIED

    async def suspend_account(self, external_id: str) -> ActionResult:
        """users.patch suspended=true (Google then shows suspensionReason ADMIN)."""
        return await self._set_suspended(external_id, True)

    async def restore_account(self, external_id: str) -> ActionResult:
        return await self._set_suspended(external_id, False)

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        """Sign out of every web and device session, revoke every OAuth token and app-specific
        password, invalidate the unused backup codes.

        APPLIED when a token, app password or backup code was taken away, else ALREADY_DONE.
        Google has no public read of a user's sessions, so users.signOut is sent every time
        (it is idempotent) and cannot count as a change: a repeated call is ALREADY_DONE.
        """
        uid = external_id
        await self.client.call(lambda s: s.users().signOut(userKey=uid))
        changed = False
        tokens = await self.client.call(lambda s: s.tokens().list(userKey=uid))
        for token in tokens.get("items", []):
            changed |= await self._gone_if_there(
                lambda s, c=token["clientId"]: s.tokens().delete(userKey=uid, clientId=c)
            )
        asps = await self.client.call(lambda s: s.asps().list(userKey=uid))
        for asp in asps.get("items", []):
            changed |= await self._gone_if_there(
                lambda s, c=asp["codeId"]: s.asps().delete(userKey=uid, codeId=c)
            )
        codes = await self.client.call(lambda s: s.verificationCodes().list(userKey=uid))
        if codes.get("items"):
            await self.client.call(lambda s: s.verificationCodes().invalidate(userKey=uid))
            changed = True
        return ActionResult.APPLIED if changed else ActionResult.ALREADY_DONE

    async def _gone_if_there(self, build_request: Any) -> bool:
        """Delete one thing; False when it was gone already (404: someone else removed it)."""
        try:
            await self.client.call(build_request)
        except NotFoundError:
            return False
        return True

    async def remove_grant(self, grant: GrantRecord) -> ActionResult:
        """A group: members.delete (Google answers 404 notFound for a non-member: ALREADY_DONE).
        An admin role: the user's own assignments of it, roleAssignments.delete each."""
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            removed = await self._gone_if_there(lambda s: s.members().delete(groupKey=target, memberKey=uid))
            return ActionResult.APPLIED if removed else ActionResult.ALREADY_DONE
        # the user's own assignments, filtered by role here: the API refuses roleId with userKey.
        # A role held through a group is the group's assignment (not listed without
        # includeIndirectRoleAssignments): nothing of the user's to remove.
        assignments = await self.client.call(
            lambda s: s.roleAssignments().list(customer=self.config.customer_id, userKey=uid, maxResults=200)
        )
        items = [
            a
            for a in assignments.get("items", [])
            if str(a.get("roleId")) == target and not mapping.is_group_assignment(a)
        ]
        removed = False
        for item in items:
            removed |= await self._gone_if_there(
                lambda s, a=item["roleAssignmentId"]: s.roleAssignments().delete(
                    customer=self.config.customer_id, roleAssignmentId=a
                )
            )
        return ActionResult.APPLIED if removed else ActionResult.ALREADY_DONE

    async def add_grant(self, grant: GrantRecord) -> ActionResult:
        """Give a grant back (restore): a group membership (members.insert, role MEMBER; Google's
        409 duplicate is ALREADY_DONE), an admin role (roleAssignments.insert, scope CUSTOMER, unless
        the user holds it itself).  Google has no app assignments to give back."""
        uid, target = grant.account_external_id, grant.entitlement_external_id
        if grant.entitlement_kind is EntitlementKind.GROUP:
            member = {"id": uid, "role": "MEMBER"}

            def request(s: Any) -> Any:
                return s.members().insert(groupKey=target, body=member)

        elif grant.entitlement_kind is EntitlementKind.ROLE:
            assignments = await self.client.call(
                lambda s: s.roleAssignments().list(
                    customer=self.config.customer_id, userKey=uid, maxResults=200
                )
            )
            if any(
                str(a.get("roleId")) == target and not mapping.is_group_assignment(a)
                for a in assignments.get("items", [])
            ):
                return ActionResult.ALREADY_DONE
            assignment = {"roleId": target, "assignedTo": uid, "scopeType": "CUSTOMER"}

            def request(s: Any) -> Any:
                return s.roleAssignments().insert(customer=self.config.customer_id, body=assignment)

        else:
            raise ConnectorError(
                f"Google has no {grant.entitlement_kind.value} grants to add", provider="google"
            )
        try:
            await self.client.call(request)
        except ConnectorError as exc:
            if exc.status == 409:  # a member already, an assignment made meanwhile
                return ActionResult.ALREADY_DONE
            raise
        return ActionResult.APPLIED

    async def verify_locked(self, external_id: str) -> LockState:
        """Read back what a lockout left open: suspension (users.get), OAuth tokens, app-specific
        passwords and unused backup codes, and the grants still held.  Sessions cannot be read
        (Google has no such API): ``sessions_readable`` is False."""
        uid = external_id
        user = await self.client.call(lambda s: s.users().get(userKey=uid, fields="id,suspended"))
        tokens, asps, codes = await asyncio.gather(
            self.client.call(lambda s: s.tokens().list(userKey=uid)),
            self.client.call(lambda s: s.asps().list(userKey=uid)),
            self.client.call(lambda s: s.verificationCodes().list(userKey=uid)),
        )
        open_credentials = [f"token:{t['clientId']}" for t in tokens.get("items", [])]
        open_credentials += [f"app_password:{a['codeId']}" for a in asps.get("items", [])]
        if codes.get("items"):
            open_credentials.append(f"backup_codes:{len(codes['items'])}")
        grants = await self.list_account_grants(uid)
        return LockState(
            account_external_id=uid,
            suspended=bool(user.get("suspended")),
            open_credentials=open_credentials,
            sessions_readable=False,
            grants=grants,
            requests=6,
        )

    async def check_permissions(self) -> PermissionReport:
        """Whether the service account's delegated token carries the scopes sync and deprovisioning
        need: a token is asked for with the configured scopes (Google refuses scopes not delegated)
        and the delegated admin is read (users.get, read-only), so a token Google will not issue,
        or an admin it refuses, surfaces here (AuthError, PermissionDeniedError)."""
        admin = self.config.admin_email
        await self.client.call(lambda s: s.users().get(userKey=admin, fields="id,isAdmin"))
        held = set(self.config.scopes)
        return PermissionReport(
            provider="google",
            acting_as=f"service account delegated to {admin}",
            granted=sorted(s.removeprefix(_AUTH) for s in held),
            missing=[m.replace(_AUTH, "") for m in missing_permissions(held, NEEDS)],
        )

    async def aclose(self) -> None:
        await self.client.aclose()


_LIVE = "live:"
#: the partial response the changes listing asks for: enough to tell which users changed
DIGEST_FIELDS = "nextPageToken,users(id,etag)"
#: more changed users than this on one page of the changes listing: the page is read whole (one
#: request) rather than each of them (one request each)
READ_PAGE_WHOLE_ABOVE = 20


def _digest(value: str) -> str:
    """8 characters standing for an etag or a count: enough to tell a change, small in the cursor."""
    return base64.urlsafe_b64encode(hashlib.blake2b(value.encode(), digest_size=6).digest()).decode()


def _user_digest(user: dict[str, Any]) -> str:
    return _digest(user["etag"])  # the listing asks for ids and etags only; Google always sends etag


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class _ListingDiff:
    """Where a pass stands; dumped as the changes cursor (compact JSON).

    ``prev_users`` are the digests of the previous complete users listing not yet seen in this pass
    (None: no baseline, the pass reports nothing); ``seen_users`` the digests seen so far in this
    pass.  ``reports_since`` is when the previous pass's read of the admin log started (ISO), and
    ``done_keys`` the activities it acted on that the next read overlaps; ``read_at`` and
    ``seen_keys`` are this pass's (not dumped between passes: the pass's last page folds them in).
    """

    phase: str
    token: str | None
    prev_users: dict[str, str] | None
    seen_users: dict[str, str]
    reports_since: str
    done_keys: set[str]
    started_at: datetime = field(default_factory=_now)
    read_at: datetime | None = None
    seen_keys: set[str] = field(default_factory=set)
    role_ids: dict[str, str] | None = None

    @classmethod
    def start(cls) -> _ListingDiff:
        return cls("users", None, None, {}, _now().isoformat(), set())

    @classmethod
    def load(cls, raw: dict[str, Any]) -> _ListingDiff:
        if "users" in raw:  # the first cursor format: full etags and member counts of a complete listing
            return cls(
                "users",
                None,
                {uid: _digest(etag) for uid, etag in raw["users"].items()},
                {},
                _now().isoformat(),
                set(),
            )
        # a cursor of the listing-diff version (no "rs"): the log is read from now less the lag window
        return cls(
            "users" if raw["p"] == "u" else "reports",
            raw["t"],
            raw["pu"],
            raw["su"],
            raw.get("rs") or _now().isoformat(),
            set(raw.get("rk", [])),
        )

    def dump(self) -> str:
        raw = {
            "p": self.phase[0],
            "t": self.token,
            "pu": self.prev_users,
            "su": self.seen_users,
            "rs": self.reports_since,
            "rk": sorted(self.done_keys),
        }
        return json.dumps(raw, separators=(",", ":"))

    def changed(self, uid: str, digest: str) -> bool:
        """Whether this user changed since the previous listing (or is new), without recording it."""
        before = self.prev_users.get(uid) if self.prev_users is not None else None
        if before is None:
            before = self.seen_users.get(uid)
        return before != digest

    def see_user(self, uid: str, digest: str) -> bool:
        """Record a user of this page; True when it changed since the previous listing (or is new)."""
        before = self.prev_users.pop(uid, None) if self.prev_users is not None else None
        if before is None:
            before = self.seen_users.get(
                uid
            )  # listed twice when the listing shifted under us: compare with that
        self.seen_users[uid] = digest
        return before != digest

    def missing_users(self) -> set[str]:
        """Users of the previous listing this pass did not see (only meaningful after its last users page)."""
        return set(self.prev_users or ())

    def next_page(self, token: str | None) -> None:
        """The next page of the users listing, else the admin log."""
        if token:
            self.token = token
        else:
            self.phase, self.token = "reports", None

    def finish(self, *, reports_read_at: datetime, seen_keys: list[str]) -> None:
        """The pass is complete: it becomes the baseline of the next one."""
        self.phase, self.token = "users", None
        self.prev_users, self.seen_users = self.seen_users, {}
        self.reports_since, self.done_keys = reports_read_at.isoformat(), set(seen_keys)
