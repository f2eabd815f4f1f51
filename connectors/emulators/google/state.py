"""What the emulated Google Workspace domain holds, built from a synthetic :class:`Directory`."""

from __future__ import annotations

import contextvars
import hashlib
import random
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.emulators.model import AppPassword, Directory, OAuthGrant

NEVER = "1970-01-01T00:00:00.000Z"
ROLE_IDS = {
    "_SEED_ADMIN_ROLE": "91447453409034241",
    "_USER_MANAGEMENT_ADMIN_ROLE": "91447453409034242",
    "_GROUPS_ADMIN_ROLE": "91447453409034243",
    "_HELP_DESK_ADMIN_ROLE": "91447453409034244",
}


def numeric_id(kind: str, key: str, digits: int = 21) -> str:
    return str(int.from_bytes(hashlib.sha1(f"{kind}:{key}".encode()).digest()[:10], "big"))[:digits].rjust(
        digits, "1"
    )


def iso(value: datetime | None) -> str:
    if value is None:
        return NEVER
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(UTC)


#: the admin (email, profile id) a Directory API request acts as (the token's subject); a change
#: made outside the API (an emulator hook) is the domain's first super admin's
ACTING_ADMIN: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "acting_admin", default=None
)


class GoogleApiError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        domain: str = "global",
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.details = details


STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def error_body(status: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


@dataclass
class User:
    id: str
    body: dict[str, Any]
    tokens: list[dict[str, Any]] = field(default_factory=list)
    asps: list[dict[str, Any]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # unused 2SV backup codes
    signed_out_at: datetime | None = None
    codes_invalidated_at: datetime | None = None


def _etag_of(*parts: object) -> str:
    return '"' + hashlib.sha1(repr(parts).encode()).hexdigest()[:27] + '"'


def _token_body(uid: str, grant: OAuthGrant) -> dict[str, Any]:
    """Google's Token resource (tokens.list/get)."""
    return {
        "kind": "admin#directory#token",
        "etag": _etag_of("token", uid, grant.client_id),
        "clientId": grant.client_id,
        "displayText": grant.app_name,
        "anonymous": grant.anonymous,
        "nativeApp": grant.native_app,
        "userKey": uid,
        "scopes": list(grant.scopes),
    }


def _epoch_ms(value: datetime | None) -> str:
    return str(int(value.timestamp() * 1000)) if value else "0"


def _asp_body(uid: str, password: AppPassword) -> dict[str, Any]:
    """Google's Asp resource (asps.list/get): codeId an int32, times as epoch milliseconds (strings)."""
    return {
        "kind": "admin#directory#asp",
        "etag": _etag_of("asp", uid, password.code_id),
        "codeId": password.code_id,
        "name": password.name,
        "creationTime": _epoch_ms(password.created),
        "lastTimeUsed": _epoch_ms(password.last_used),
        "userKey": uid,
    }


@dataclass
class Group:
    id: str
    body: dict[str, Any]
    members: dict[str, str] = field(default_factory=dict)  # member id -> USER | GROUP


class GoogleState:
    def __init__(self, directory: Directory, customer_id: str) -> None:
        self.customer_id = customer_id
        self.domain = directory.domain
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.by_email: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.group_by_email: dict[str, str] = {}
        self.role_assignments: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, str] = {}
        #: bumped by every user edit: the users listing's sorted order is kept until it moves
        self.user_edits = 0
        self._user_order: dict[str, tuple[tuple[int, int], list[str]]] = {}
        self._group_order: tuple[int, list[str]] | None = None
        self._load(directory)
        from connectors.emulators.google.reports import ActivityLog

        admins = sorted(
            (u.body["primaryEmail"], u.id) for u in self.users.values() if u.body.get("isAdmin")
        ) or [(f"admin@{self.domain}", "0")]
        self.activity = ActivityLog(customer_id, admins[0])

    def _record(self, kind: str, name: str, **parameters: str) -> None:
        """An admin activity, as the Reports API lists it (``applicationName=admin``)."""
        self.activity.record(kind, name, parameters, ACTING_ADMIN.get())

    def member_email(self, member_id: str) -> str:
        if member_id in self.users:
            return str(self.users[member_id].body["primaryEmail"])
        return str(self.groups[member_id].body["email"])

    def _etag(self, body: dict[str, Any]) -> str:
        return (
            '"'
            + hashlib.sha1(
                repr(sorted((k, str(v)) for k, v in body.items() if k != "etag")).encode()
            ).hexdigest()[:27]
            + '"'
        )

    def _load(self, directory: Directory) -> None:
        ids = {a.key: numeric_id("user", a.key) for a in directory.accounts}
        admin_keys = {k for r in directory.roles if r.name == "_SEED_ADMIN_ROLE" for k in r.assigned_keys}
        by_key = {a.key: a for a in directory.accounts}
        for account in directory.accounts:
            uid = ids[account.key]
            body: dict[str, Any] = {
                "kind": "admin#directory#user",
                "id": uid,
                "primaryEmail": account.login,
                "name": {
                    "givenName": account.first_name,
                    "familyName": account.last_name,
                    "fullName": account.display_name,
                },
                "isAdmin": account.key in admin_keys,
                "isDelegatedAdmin": False,
                "lastLoginTime": iso(account.last_login),
                "creationTime": iso(account.created),
                "agreedToTerms": True,
                "suspended": account.status != "active",
                "archived": False,
                "changePasswordAtNextLogin": False,
                "ipWhitelisted": False,
                "emails": [{"address": account.login, "primary": True}]
                + [{"address": a} for a in account.aliases],
                "customerId": self.customer_id,
                "orgUnitPath": f"/{account.department}" if account.department else "/",
                "isMailboxSetup": True,
                "isEnrolledIn2Sv": bool(account.mfa_factors),
                "isEnforcedIn2Sv": bool(account.mfa_factors) and account.key in admin_keys,
                "includeInGlobalAddressList": True,
            }
            if account.status != "active":
                body["suspensionReason"] = "ADMIN"
            if account.aliases:
                body["aliases"] = list(account.aliases)
            if account.employee_id:
                body["externalIds"] = [{"value": account.employee_id, "type": "organization"}]
            if account.department or account.title:
                body["organizations"] = [
                    {
                        "department": account.department,
                        "title": account.title,
                        "primary": True,
                        "customType": "",
                    }
                ]
            manager = by_key.get(account.manager_key) if account.manager_key else None
            if manager is not None:
                body["relations"] = [{"value": manager.login, "type": "manager"}]
            body["etag"] = self._etag(body)
            user = User(uid, body)
            user.tokens = [_token_body(uid, g) for g in account.oauth_grants]
            user.asps = [_asp_body(uid, p) for p in account.app_passwords]
            user.codes = list(account.backup_codes)
            self.users[uid] = user
            self.by_email[account.login.lower()] = uid
            for alias in account.aliases:
                self.by_email.setdefault(alias.lower(), uid)
        group_ids = {g.key: numeric_id("group", g.key, 17) for g in directory.groups}
        for group in directory.groups:
            gid = group_ids[group.key]
            email = group.email or f"{group.key}@{self.domain}"
            members = {ids[k]: "USER" for k in group.member_keys if k in ids}
            members.update({group_ids[k]: "GROUP" for k in group.child_group_keys if k in group_ids})
            body = {
                "kind": "admin#directory#group",
                "id": gid,
                "email": email,
                "name": group.name,
                "description": group.description,
                "directMembersCount": str(len(members)),
                "adminCreated": True,
                "nonEditableAliases": [f"{email.split('@')[0]}@{self.domain}.test-google-a.com"],
            }
            body["etag"] = self._etag(body)
            self.groups[gid] = Group(gid, body, members)
            self.group_by_email[email.lower()] = gid
        for role in directory.roles:
            role_id = ROLE_IDS.get(role.name, numeric_id("role", role.name, 17))
            self.roles[role_id] = role.name
            assignees = [(key, ids[key], "user") for key in role.assigned_keys if key in ids]
            assignees += [
                (f"group:{key}", group_ids[key], "group")
                for key in role.assigned_group_keys
                if key in group_ids
            ]
            for key, assignee, kind in assignees:
                assignment_id = numeric_id("roleassignment", f"{role.name}:{key}", 17)
                self.role_assignments[assignment_id] = {
                    "kind": "admin#directory#roleAssignment",
                    "roleAssignmentId": assignment_id,
                    "roleId": role_id,
                    "assignedTo": assignee,
                    "assigneeType": kind,
                    "scopeType": "CUSTOMER",
                    "etag": '"r"',
                }

    # -- lookups ---------------------------------------------------------------------------

    def user(self, key: str) -> User:
        uid = key if key in self.users else self.by_email.get(key.lower())
        if uid is None:
            raise GoogleApiError(404, "notFound", "Resource Not Found: userKey")
        return self.users[uid]

    def group(self, key: str) -> Group:
        gid = key if key in self.groups else self.group_by_email.get(key.lower())
        if gid is None:
            raise GoogleApiError(404, "notFound", "Resource Not Found: groupKey")
        return self.groups[gid]

    def groups_of(self, member_id: str) -> list[str]:
        """The groups ``member_id`` belongs to, directly or through nested groups."""
        found: list[str] = []
        frontier = [member_id]
        while frontier:
            child = frontier.pop()
            for gid, group in self.groups.items():
                if child in group.members and gid not in found:
                    found.append(gid)
                    frontier.append(gid)
        return found

    def role_grants(self) -> int:
        """Distinct (user, role) pairs, directly or through a group's (transitive) members."""
        pairs: set[tuple[str, str]] = set()
        for a in self.role_assignments.values():
            if a["assigneeType"] == "group" and a["assignedTo"] in self.groups:
                pairs.update((m, a["roleId"]) for m in self.transitive_users(a["assignedTo"]))
            elif a["assignedTo"] in self.users:
                pairs.add((a["assignedTo"], a["roleId"]))
        return len(pairs)

    def transitive_users(self, gid: str) -> set[str]:
        users: set[str] = set()
        stack, seen = [gid], {gid}
        while stack:
            for member, kind in self.groups[stack.pop()].members.items():
                if kind == "USER":
                    users.add(member)
                elif member in self.groups and member not in seen:
                    seen.add(member)
                    stack.append(member)
        return users

    def member_body(self, group: Group, member_id: str) -> dict[str, Any]:
        kind = group.members[member_id]
        email = (
            self.users[member_id].body["primaryEmail"]
            if kind == "USER"
            else self.groups[member_id].body["email"]
        )
        return {
            "kind": "admin#directory#member",
            "etag": '"m"',
            "id": member_id,
            "email": email,
            "role": "MEMBER",
            "type": kind,
            "status": "ACTIVE",
            "delivery_settings": "ALL_MAIL",
        }

    def user_ids_in_order(self, order_by: str) -> list[str]:
        """Every user's id, sorted by ``primaryEmail`` or ``givenName`` (cached until users change:
        a domain of 100,000 users is listed 200 pages at a time, as Google serves it, not re-sorted
        for every page)."""
        with self.lock:
            stamp = (self.user_edits, len(self.users))
            cached = self._user_order.get(order_by)
            if cached is None or cached[0] != stamp:
                if order_by == "givenName":
                    ordered = sorted(self.users.values(), key=lambda u: u.body["name"]["givenName"])
                else:
                    ordered = sorted(self.users.values(), key=lambda u: u.body["primaryEmail"])
                cached = (stamp, [u.id for u in ordered])
                self._user_order[order_by] = cached
            return cached[1]

    def group_ids_in_order(self) -> list[str]:
        """Every group's id by email (group emails do not change: cached until a group comes or goes)."""
        with self.lock:
            cached = self._group_order
            if cached is None or cached[0] != len(self.groups):
                ordered = sorted(self.groups.values(), key=lambda g: g.body["email"])
                cached = self._group_order = (len(self.groups), [g.id for g in ordered])
            return cached[1]

    # -- changes -------------------------------------------------------------------------------

    def patch_user(self, key: str, changes: dict[str, Any]) -> User:
        with self.lock:
            user = self.user(key)
            writable = {
                "suspended",
                "name",
                "orgUnitPath",
                "organizations",
                "relations",
                "externalIds",
                "changePasswordAtNextLogin",
                "archived",
                "includeInGlobalAddressList",
            }
            unknown = set(changes) - writable
            if unknown:
                raise GoogleApiError(400, "invalid", f"Invalid Input: {sorted(unknown)[0]}")
            if "suspended" in changes:
                if changes["suspended"]:
                    user.body["suspensionReason"] = "ADMIN"
                else:
                    user.body.pop("suspensionReason", None)
            if "name" in changes:
                # Google derives fullName from the parts it is given
                name = {**user.body["name"], **changes["name"]}
                name["fullName"] = f"{name.get('givenName', '')} {name.get('familyName', '')}".strip()
                changes = {**changes, "name": name}
            before = dict(user.body)
            user.body.update(changes)
            user.body["etag"] = self._etag(user.body)
            self.user_edits += 1
            self._record_user_changes(before, user.body)
            return user

    def _record_user_changes(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """USER_SETTINGS events for what an edit changed (the ones Google names; others go unrecorded)."""
        email = str(after["primaryEmail"])
        for field_name, on, off in (
            ("suspended", "SUSPEND_USER", "UNSUSPEND_USER"),
            ("archived", "ARCHIVE_USER", "UNARCHIVE_USER"),
        ):
            if bool(before.get(field_name)) != bool(after.get(field_name)):
                self._record("USER_SETTINGS", on if after.get(field_name) else off, USER_EMAIL=email)
        for part, event in (("givenName", "CHANGE_FIRST_NAME"), ("familyName", "CHANGE_LAST_NAME")):
            old, new = before["name"].get(part), after["name"].get(part)
            if old != new:
                self._record(
                    "USER_SETTINGS", event, USER_EMAIL=email, OLD_VALUE=old or "", NEW_VALUE=new or ""
                )
        if before.get("orgUnitPath") != after.get("orgUnitPath"):
            self._record(
                "USER_SETTINGS",
                "MOVE_USER_TO_ORG_UNIT",
                USER_EMAIL=email,
                ORG_UNIT_NAME=str(before.get("orgUnitPath", "/")),
                NEW_VALUE=str(after.get("orgUnitPath", "/")),
            )

    def sign_out(self, key: str) -> None:
        """users.signOut: every web and device session ends (the user signs in again).  Google has
        no public read of a user's sessions (nothing in the Directory or Reports API lists them),
        so the API shows no effect of it; the emulator keeps the time (its state endpoint only)."""
        with self.lock:
            self.user(key).signed_out_at = now()

    def invalidate_codes(self, key: str) -> None:
        """verificationCodes.invalidate: the current backup codes stop working; verificationCodes.list
        then lists none ("invalidated or used verification codes are not returned"; only
        verificationCodes.generate makes new ones).  Logged as DELETE_2SV_SCRATCH_CODES."""
        with self.lock:
            user = self.user(key)
            user.codes = []
            user.codes_invalidated_at = now()
            self._record(
                "USER_SETTINGS", "DELETE_2SV_SCRATCH_CODES", USER_EMAIL=str(user.body["primaryEmail"])
            )

    def verification_codes(self, key: str) -> list[dict[str, Any]]:
        with self.lock:
            user = self.user(key)
            return [
                {
                    "kind": "admin#directory#verificationCode",
                    "etag": _etag_of("code", user.id, code),
                    "userId": user.id,
                    "verificationCode": code,
                }
                for code in user.codes
            ]

    def token(self, key: str, client_id: str) -> dict[str, Any]:
        with self.lock:
            user = self.user(key)
            for token in user.tokens:
                if token["clientId"] == client_id:
                    return token
            raise GoogleApiError(404, "notFound", "Resource Not Found: clientId")

    def asp(self, key: str, code_id: str) -> dict[str, Any]:
        with self.lock:
            user = self.user(key)
            for asp in user.asps:
                if str(asp["codeId"]) == code_id:
                    return asp
            raise GoogleApiError(404, "notFound", "Resource Not Found: codeId")

    def delete_token(self, key: str, client_id: str) -> None:
        with self.lock:
            user = self.user(key)
            self.token(key, client_id)
            user.tokens = [t for t in user.tokens if t["clientId"] != client_id]

    def delete_asp(self, key: str, code_id: str) -> None:
        with self.lock:
            user = self.user(key)
            self.asp(key, code_id)
            user.asps = [a for a in user.asps if str(a["codeId"]) != code_id]

    def remove_member(self, group_key: str, member_key: str) -> None:
        with self.lock:
            group = self.group(group_key)
            member = self.users.get(member_key) or (self.users.get(self.by_email.get(member_key.lower(), "")))
            member_id = member.id if member else self.group_by_email.get(member_key.lower(), member_key)
            if member_id not in group.members:
                raise GoogleApiError(404, "notFound", "Resource Not Found: memberKey")
            email = self.member_email(member_id)
            del group.members[member_id]
            group.body["directMembersCount"] = str(len(group.members))
            self._record(
                "GROUP_SETTINGS", "REMOVE_GROUP_MEMBER", GROUP_EMAIL=group.body["email"], USER_EMAIL=email
            )

    def add_member(self, group_key: str, member_key: str) -> str:
        """Add a user or a group (by id or email) to a group; returns the member's id."""
        with self.lock:
            group = self.group(group_key)
            uid = member_key if member_key in self.users else self.by_email.get(member_key.lower())
            if uid is not None:
                member_id, kind = uid, "USER"
            else:
                try:
                    member_id, kind = self.group(member_key).id, "GROUP"
                except GoogleApiError:
                    raise GoogleApiError(404, "notFound", "Resource Not Found: memberKey") from None
            if member_id in group.members:
                raise GoogleApiError(409, "duplicate", "Member already exists.")
            group.members[member_id] = kind
            group.body["directMembersCount"] = str(len(group.members))
            self._record(
                "GROUP_SETTINGS",
                "ADD_GROUP_MEMBER",
                GROUP_EMAIL=group.body["email"],
                USER_EMAIL=self.member_email(member_id),
            )
            return member_id

    def delete_role_assignment(self, assignment_id: str) -> None:
        with self.lock:
            if assignment_id not in self.role_assignments:
                raise GoogleApiError(404, "notFound", "Resource Not Found: roleAssignmentId")
            assignment = self.role_assignments.pop(assignment_id)
            self._record_role("UNASSIGN_ROLE", assignment)
            self._sync_is_admin(assignment["assignedTo"])

    def _sync_is_admin(self, uid: str) -> None:
        """``isAdmin`` is whether the user holds the super admin role (directly): a user whose last
        _SEED_ADMIN_ROLE assignment went is no longer a super admin, and the user resource says so."""
        user = self.users.get(uid)
        if user is None:
            return
        seed = next((r for r, name in self.roles.items() if name == "_SEED_ADMIN_ROLE"), None)
        holds = any(a["roleId"] == seed and a["assignedTo"] == uid for a in self.role_assignments.values())
        if bool(user.body.get("isAdmin")) != holds:
            user.body["isAdmin"] = holds
            user.body["etag"] = self._etag(user.body)
            self.user_edits += 1

    def _record_role(self, name: str, assignment: dict[str, Any]) -> None:
        assignee = assignment["assignedTo"]
        email = self.member_email(assignee) if assignee in self.users or assignee in self.groups else ""
        self._record(
            "DELEGATED_ADMIN_SETTINGS", name, ROLE_NAME=self.roles[assignment["roleId"]], USER_EMAIL=email
        )

    def insert_role_assignment(self, body: dict[str, Any]) -> dict[str, Any]:
        """roleAssignments.insert: ``roleId`` and ``assignedTo`` (a user's or a group's id), scope CUSTOMER."""
        with self.lock:
            role_id, assignee = body.get("roleId"), body.get("assignedTo")
            if not role_id or not assignee:
                raise GoogleApiError(
                    400, "required", "Missing required field: " + ("assignedTo" if role_id else "roleId")
                )
            role_id, assignee = str(role_id), str(assignee)
            if role_id not in self.roles:
                raise GoogleApiError(404, "notFound", "Resource Not Found: roleId")
            if assignee in self.users:
                kind = "user"
            elif assignee in self.groups:
                kind = "group"
            else:
                raise GoogleApiError(400, "invalid", "Invalid Input: assignedTo")
            scope = body.get("scopeType", "CUSTOMER")
            if scope != "CUSTOMER":
                raise GoogleApiError(400, "invalid", "Invalid Input: scopeType")
            if any(
                a["roleId"] == role_id and a["assignedTo"] == assignee for a in self.role_assignments.values()
            ):
                raise GoogleApiError(409, "duplicate", "Duplicate role assignment.")
            assignment_id = numeric_id("roleassignment", f"{role_id}:{assignee}:{secrets.token_hex(4)}", 17)
            assignment = {
                "kind": "admin#directory#roleAssignment",
                "roleAssignmentId": assignment_id,
                "roleId": role_id,
                "assignedTo": assignee,
                "assigneeType": kind,
                "scopeType": "CUSTOMER",
                "etag": '"r"',
            }
            self.role_assignments[assignment_id] = assignment
            self._record_role("ASSIGN_ROLE", assignment)
            self._sync_is_admin(assignee)
            return assignment

    def make_admin(self, key: str, status: Any) -> None:
        """users.makeAdmin: the user becomes (or stops being) a super admin, i.e. holds _SEED_ADMIN_ROLE."""
        if not isinstance(status, bool):
            raise GoogleApiError(400, "required", "Missing required field: status")
        with self.lock:
            user = self.user(key)
            seed = next(r for r, name in self.roles.items() if name == "_SEED_ADMIN_ROLE")
            held = [
                a
                for a, r in self.role_assignments.items()
                if r["roleId"] == seed and r["assignedTo"] == user.id
            ]
            if status and not held:
                assignment_id = numeric_id("roleassignment", f"{seed}:{user.id}:{secrets.token_hex(4)}", 17)
                self.role_assignments[assignment_id] = {
                    "kind": "admin#directory#roleAssignment",
                    "roleAssignmentId": assignment_id,
                    "roleId": seed,
                    "assignedTo": user.id,
                    "assigneeType": "user",
                    "scopeType": "CUSTOMER",
                    "etag": '"r"',
                }
            elif not status:
                for assignment_id in held:
                    del self.role_assignments[assignment_id]
            if bool(user.body.get("isAdmin")) != status:
                user.body["isAdmin"] = status
                user.body["etag"] = self._etag(user.body)
                self.user_edits += 1
            self._record(
                "USER_SETTINGS",
                "GRANT_ADMIN_PRIVILEGE" if status else "REVOKE_ADMIN_PRIVILEGE",
                USER_EMAIL=str(user.body["primaryEmail"]),
            )

    def insert_group(self, body: dict[str, Any]) -> Group:
        """groups.insert: a new group with no members, named by its ``email``."""
        with self.lock:
            email = body.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise GoogleApiError(400, "required", "Missing required field: email")
            if email.lower() in self.group_by_email or email.lower() in self.by_email:
                raise GoogleApiError(409, "duplicate", "Entity already exists.")
            gid = numeric_id("group", f"{email.lower()}:{secrets.token_hex(4)}", 17)
            group_body = {
                "kind": "admin#directory#group",
                "id": gid,
                "email": email,
                "name": str(body.get("name") or email.split("@")[0]),
                "description": str(body.get("description") or ""),
                "directMembersCount": "0",
                "adminCreated": True,
            }
            group_body["etag"] = self._etag(group_body)
            self.groups[gid] = Group(gid, group_body, {})
            self.group_by_email[email.lower()] = gid
            self._record("GROUP_SETTINGS", "CREATE_GROUP", GROUP_EMAIL=email)
            return self.groups[gid]

    def delete_group(self, key: str) -> None:
        """groups.delete: gone from the groups it was nested in, and its role assignments with it."""
        with self.lock:
            group = self.group(key)
            del self.groups[group.id]
            self.group_by_email.pop(group.body["email"].lower(), None)
            for parent in self.groups.values():
                if parent.members.pop(group.id, None) is not None:
                    parent.body["directMembersCount"] = str(len(parent.members))
            for assignment_id in [a for a, r in self.role_assignments.items() if r["assignedTo"] == group.id]:
                del self.role_assignments[assignment_id]
            self._record("GROUP_SETTINGS", "DELETE_GROUP", GROUP_EMAIL=group.body["email"])

    def churn(self, share: float, seed: int) -> dict[str, int]:
        with self.lock:
            rng = random.Random(seed)
            active = [u for u in self.users.values() if not u.body["suspended"]]
            chosen = rng.sample(active, min(len(active), max(1, round(len(active) * share))))
            plain = [g for g in self.groups.values() if "GROUP" not in g.members.values()]
            counts = {"profile": 0, "membership": 0, "suspended": 0}
            for user in chosen:
                roll = rng.random()
                if roll < 0.1:
                    self.patch_user(user.id, {"suspended": True})
                    counts["suspended"] += 1
                elif roll < 0.55 and plain:
                    group = rng.choice(plain)
                    if user.id in group.members:
                        self.remove_member(group.id, user.id)
                    else:
                        self.add_member(group.id, user.id)
                    counts["membership"] += 1
                else:
                    name = dict(user.body["name"])
                    name["familyName"] = name["familyName"] + "-" + secrets.token_hex(2)
                    self.patch_user(user.id, {"name": name})
                    counts["profile"] += 1
            return counts
