"""What the emulated Okta org holds, built from a synthetic :class:`Directory`, and its mutations.

Every mutation goes through a method here, which updates ``lastUpdated``, drops the cached JSON
and appends the System Log event Okta would write, so incremental sync sees exactly what it would
see in production.
"""

from __future__ import annotations

import hashlib
import random
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.emulators.model import Account, Directory

_ALPHABET = string.digits + string.ascii_letters
USER_TYPE_ID = "oty1ab2cd3ef4gh5ij6k"
OKTA_STATUS = {"active": "ACTIVE", "suspended": "SUSPENDED", "deprovisioned": "DEPROVISIONED"}
FACTOR_TYPES = {
    "push": ("push", "OKTA"),
    "totp": ("token:software:totp", "GOOGLE"),
    "sms": ("sms", "OKTA"),
    "webauthn": ("webauthn", "FIDO"),
    "email": ("email", "OKTA"),
    "call": ("call", "OKTA"),
}
ROLE_LABELS = {
    "SUPER_ADMIN": "Super Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "APP_ADMIN": "Application Administrator",
    "USER_ADMIN": "Group Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "READ_ONLY_ADMIN": "Read-only Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
    "REPORT_ADMIN": "Report Administrator",
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
}


def okta_id(prefix: str, key: str) -> str:
    """A deterministic 20-character Okta-style id: a 3-character type prefix and 17 of base62."""
    number = int.from_bytes(hashlib.sha1(f"{prefix}:{key}".encode()).digest()[:13], "big")
    chars = []
    for _ in range(17):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return prefix + "".join(chars)


def _factor_profile(kind: str, login: str) -> dict[str, Any]:
    if kind in ("sms", "call"):
        return {"phoneNumber": "+15555550100"}
    if kind == "email":
        return {"email": login}
    if kind == "push":
        return {
            "credentialId": login,
            "deviceType": "SmartPhone_IPhone",
            "name": "iPhone",
            "platform": "IOS",
            "version": "17.1",
        }
    if kind == "webauthn":
        return {"credentialId": "dGVzdC1jcmVkZW50aWFs", "authenticatorName": "YubiKey 5"}
    return {"credentialId": login}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(UTC)


class OktaApiError(Exception):
    """Rendered as Okta's error body by the routes."""

    def __init__(self, status: int, code: str, summary: str, causes: list[str] | None = None) -> None:
        super().__init__(summary)
        self.status = status
        self.code = code
        self.summary = summary
        self.causes = causes or []


def not_found(resource_id: str, kind: str) -> OktaApiError:
    return OktaApiError(404, "E0000007", f"Not found: Resource not found: {resource_id} ({kind})")


@dataclass
class User:
    id: str
    status: str
    created: datetime
    activated: datetime | None
    status_changed: datetime | None
    last_login: datetime | None
    last_updated: datetime
    password_changed: datetime | None
    profile: dict[str, Any]
    factors: list[dict[str, Any]] = field(default_factory=list)
    sessions_cleared_at: datetime | None = None
    oauth_tokens_revoked_at: datetime | None = None
    grants_revoked_at: datetime | None = None
    _json: dict[str, Any] | None = None


@dataclass
class Group:
    id: str
    type: str
    name: str
    description: str
    created: datetime
    last_updated: datetime
    last_membership_updated: datetime
    members: dict[str, None] = field(default_factory=dict)  # ordered set of user ids
    owners: list[str] = field(default_factory=list)
    _json: dict[str, Any] | None = None


@dataclass
class App:
    id: str
    name: str
    label: str
    created: datetime
    users: dict[str, str] = field(default_factory=dict)  # user id -> scope USER/GROUP
    groups: list[str] = field(default_factory=list)


@dataclass
class RoleAssignment:
    id: str
    type: str
    assignment_type: str
    created: datetime


class OktaState:
    """The org's users, groups, apps, admin roles and System Log, with Okta's rules for changing them."""

    def __init__(self, directory: Directory, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.user_order: list[str] = []
        self.user_index: dict[str, int] = {}
        self.by_login: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.group_order: list[str] = []
        self.user_groups: dict[str, dict[str, None]] = {}
        self.apps: dict[str, App] = {}
        self.app_order: list[str] = []
        self.roles: dict[str, list[RoleAssignment]] = {}
        self.logs: list[dict[str, Any]] = []
        self._load(directory)

    # -- loading ---------------------------------------------------------------

    def _load(self, directory: Directory) -> None:
        accounts = {a.key: a for a in directory.accounts}
        ids = {key: okta_id("00u", key) for key in accounts}
        for account in directory.accounts:
            self._add_user(account, ids)
        for group in directory.groups:
            gid = okta_id("00g", group.key)
            stamp = group.created or datetime(2025, 1, 1, tzinfo=UTC)
            members = {ids[k]: None for k in group.member_keys if k in ids}
            self.groups[gid] = Group(
                id=gid,
                type=group.kind,
                name=group.name,
                description=group.description,
                created=stamp,
                last_updated=group.last_updated or stamp,
                last_membership_updated=group.last_updated or stamp,
                members=members,
                owners=[ids[k] for k in group.owner_keys if k in ids],
            )
            self.group_order.append(gid)
            for uid in members:
                self.user_groups.setdefault(uid, {})[gid] = None
        group_ids = {g.key: okta_id("00g", g.key) for g in directory.groups}
        for app in directory.apps:
            aid = okta_id("0oa", app.key)
            users: dict[str, str] = {ids[k]: "USER" for k in app.assigned_keys if k in ids}
            for group_key in app.assigned_group_keys:
                for uid in self.groups[group_ids[group_key]].members if group_key in group_ids else {}:
                    users.setdefault(uid, "GROUP")
            self.apps[aid] = App(
                id=aid,
                name=app.name,
                label=app.label,
                created=datetime(2024, 6, 1, tzinfo=UTC),
                users=users,
                groups=[group_ids[k] for k in app.assigned_group_keys if k in group_ids],
            )
            self.app_order.append(aid)
        for role in directory.roles:
            for key in role.assigned_keys:
                if key in ids:
                    uid = ids[key]
                    self.roles.setdefault(uid, []).append(
                        RoleAssignment(
                            okta_id("ra1", f"{role.name}:{key}"),
                            role.name,
                            "USER",
                            datetime(2025, 3, 1, tzinfo=UTC),
                        )
                    )

    def _add_user(self, account: Account, ids: dict[str, str]) -> None:
        uid = ids[account.key]
        manager = ids.get(account.manager_key) if account.manager_key else None
        profile: dict[str, Any] = {
            "firstName": account.first_name,
            "lastName": account.last_name,
            "mobilePhone": None,
            "secondEmail": account.aliases[0] if account.aliases else None,
            "login": account.login,
            "email": account.email or account.login,
            "displayName": account.display_name,
        }
        if account.employee_id:
            profile["employeeNumber"] = account.employee_id
        if account.department:
            profile["department"] = account.department
        if account.title:
            profile["title"] = account.title
        if manager:
            profile["managerId"] = manager
        profile["userType"] = (
            "Service" if account.is_service else ("Shared" if account.is_shared else "Employee")
        )
        status = OKTA_STATUS[account.status]
        user = User(
            id=uid,
            status=status,
            created=account.created,
            activated=account.created,
            status_changed=account.last_updated if status != "ACTIVE" else account.created,
            last_login=account.last_login,
            last_updated=account.last_updated,
            password_changed=account.created,
            profile=profile,
            factors=[
                {
                    "id": okta_id(
                        {"push": "opf", "webauthn": "fwf", "sms": "mbl"}.get(kind, "uft"),
                        f"{account.key}:{kind}",
                    ),
                    "factorType": FACTOR_TYPES[kind][0],
                    "provider": FACTOR_TYPES[kind][1],
                    "vendorName": FACTOR_TYPES[kind][1],
                    "status": "ACTIVE",
                    "created": iso(account.created),
                    "lastUpdated": iso(account.created),
                    "profile": _factor_profile(kind, account.login),
                }
                for kind in account.mfa_factors
            ],
        )
        self.users[uid] = user
        self.user_index[uid] = len(self.user_order)
        self.user_order.append(uid)
        self.by_login[account.login.lower()] = uid
        self.user_groups.setdefault(uid, {})

    # -- rendering ---------------------------------------------------------------

    def user_json(self, user: User) -> dict[str, Any]:
        if user._json is None:
            base = f"{self.base_url}/api/v1/users/{user.id}"
            user._json = {
                "id": user.id,
                "status": user.status,
                "created": iso(user.created),
                "activated": iso(user.activated),
                "statusChanged": iso(user.status_changed),
                "lastLogin": iso(user.last_login),
                "lastUpdated": iso(user.last_updated),
                "passwordChanged": iso(user.password_changed),
                "type": {"id": USER_TYPE_ID},
                "profile": dict(user.profile),
                "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
                "_links": {
                    "self": {"href": base},
                    "type": {"href": f"{self.base_url}/api/v1/meta/types/user/{USER_TYPE_ID}"},
                    "schema": {"href": f"{self.base_url}/api/v1/meta/schemas/user/osc1ab2cd3ef4gh5ij6k"},
                },
            }
        return user._json

    def group_json(self, group: Group) -> dict[str, Any]:
        if group._json is None:
            base = f"{self.base_url}/api/v1/groups/{group.id}"
            group._json = {
                "id": group.id,
                "created": iso(group.created),
                "lastUpdated": iso(group.last_updated),
                "lastMembershipUpdated": iso(group.last_membership_updated),
                "objectClass": ["okta:user_group"]
                if group.type != "APP_GROUP"
                else ["okta:windows_security_principal"],
                "type": group.type,
                "profile": {"name": group.name, "description": group.description},
                "_links": {
                    "logo": [
                        {
                            "name": "medium",
                            "href": f"{self.base_url}/img/logos/groups/okta-medium.png",
                            "type": "image/png",
                        }
                    ],
                    "users": {"href": f"{base}/users"},
                    "apps": {"href": f"{base}/apps"},
                },
            }
        return group._json

    def app_json(self, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "name": app.name,
            "label": app.label,
            "status": "ACTIVE",
            "created": iso(app.created),
            "lastUpdated": iso(app.created),
            "signOnMode": "SAML_2_0",
            "accessibility": {"selfService": False},
            "visibility": {"autoSubmitToolbar": False, "hide": {"iOS": False, "web": False}},
            "features": [],
            "settings": {"app": {}},
            "credentials": {"userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}},
            "_links": {
                "users": {"href": f"{self.base_url}/api/v1/apps/{app.id}/users"},
                "groups": {"href": f"{self.base_url}/api/v1/apps/{app.id}/groups"},
            },
        }

    def app_user_json(self, app: App, uid: str) -> dict[str, Any]:
        user = self.users[uid]
        stamp = iso(user.created)
        return {
            "id": uid,
            "created": stamp,
            "lastUpdated": stamp,
            "scope": app.users[uid],
            "status": "PROVISIONED" if user.status == "ACTIVE" else "INACTIVE",
            "statusChanged": stamp,
            "syncState": "DISABLED",
            "credentials": {"userName": user.profile["login"]},
            "profile": {},
            "_links": {
                "app": {"href": f"{self.base_url}/api/v1/apps/{app.id}"},
                "user": {"href": f"{self.base_url}/api/v1/users/{uid}"},
            },
        }

    def role_json(self, uid: str, role: RoleAssignment) -> dict[str, Any]:
        return {
            "id": role.id,
            "label": ROLE_LABELS.get(role.type, role.type),
            "type": role.type,
            "status": "ACTIVE",
            "created": iso(role.created),
            "lastUpdated": iso(role.created),
            "assignmentType": role.assignment_type,
            "_links": {"assignee": {"href": f"{self.base_url}/api/v1/users/{uid}"}},
        }

    # -- lookups -------------------------------------------------------------------

    def user(self, key: str) -> User:
        uid = key if key in self.users else self.by_login.get(key.lower())
        if uid is None:
            raise not_found(key, "User")
        return self.users[uid]

    def group(self, gid: str) -> Group:
        if gid not in self.groups:
            raise not_found(gid, "UserGroup")
        return self.groups[gid]

    def app(self, aid: str) -> App:
        if aid not in self.apps:
            raise not_found(aid, "AppInstance")
        return self.apps[aid]

    # -- the System Log ---------------------------------------------------------------

    def log(
        self, event_type: str, message: str, targets: list[dict[str, Any]], actor: str = "accessctl"
    ) -> None:
        self.logs.append(
            {
                "uuid": str(uuid.uuid4()),
                "published": iso(now()),
                "eventType": event_type,
                "version": "0",
                "severity": "INFO",
                "legacyEventType": None,
                "displayMessage": message,
                "actor": {
                    "id": "00uadmin000000000000",
                    "type": "User",
                    "alternateId": actor,
                    "displayName": actor,
                },
                "client": {
                    "userAgent": {"rawUserAgent": "accessctl"},
                    "ipAddress": "127.0.0.1",
                    "zone": "null",
                },
                "outcome": {"result": "SUCCESS", "reason": None},
                "target": targets,
                "transaction": {"type": "WEB", "id": uuid.uuid4().hex[:20], "detail": {}},
                "debugContext": {"debugData": {}},
                "authenticationContext": {"authenticationStep": 0, "externalSessionId": "trs000000"},
                "securityContext": {},
                "request": {"ipChain": []},
            }
        )

    def user_target(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "type": "User",
            "alternateId": user.profile["login"],
            "displayName": user.profile.get("displayName"),
            "detailEntry": None,
        }

    def group_target(self, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "type": "UserGroup",
            "alternateId": "unknown",
            "displayName": group.name,
            "detailEntry": None,
        }

    # -- mutations -----------------------------------------------------------------------

    def _touch(self, user: User, status: str | None = None) -> None:
        stamp = now()
        if status is not None and status != user.status:
            user.status = status
            user.status_changed = stamp
        user.last_updated = stamp
        user._json = None

    def lifecycle(self, key: str, action: str) -> User:
        with self.lock:
            user = self.user(key)
            allowed = {
                "suspend": ({"ACTIVE"}, "SUSPENDED", "user.lifecycle.suspend"),
                "unsuspend": ({"SUSPENDED"}, "ACTIVE", "user.lifecycle.unsuspend"),
                "deactivate": (None, "DEPROVISIONED", "user.lifecycle.deactivate"),
                "activate": ({"STAGED", "PROVISIONED", "DEPROVISIONED"}, "ACTIVE", "user.lifecycle.activate"),
                "reactivate": ({"PROVISIONED", "DEPROVISIONED"}, "ACTIVE", "user.lifecycle.reactivate"),
                "unlock": ({"LOCKED_OUT"}, "ACTIVE", "user.account.unlock"),
            }
            if action not in allowed:
                raise OktaApiError(404, "E0000022", "The endpoint does not support the provided HTTP method")
            sources, target, event = allowed[action]
            if sources is not None and user.status not in sources:
                raise OktaApiError(
                    400,
                    "E0000001",
                    "Api validation failed: lifecycle",
                    [f"Cannot {action} a user that is {user.status.lower().replace('_', ' ')}"],
                )
            if user.status == target:
                return user
            self._touch(user, target)
            self.log(event, f"{action.capitalize()} Okta user", [self.user_target(user)])
            return user

    def update_profile(self, key: str, changes: dict[str, Any]) -> User:
        with self.lock:
            user = self.user(key)
            if "login" in changes and changes["login"] != user.profile["login"]:
                self.by_login.pop(user.profile["login"].lower(), None)
                self.by_login[str(changes["login"]).lower()] = user.id
            user.profile.update(changes)
            self._touch(user)
            self.log("user.account.update_profile", "Update user profile for Okta", [self.user_target(user)])
            return user

    def clear_sessions(self, key: str, oauth_tokens: bool) -> None:
        with self.lock:
            user = self.user(key)
            user.sessions_cleared_at = now()
            if oauth_tokens:
                user.oauth_tokens_revoked_at = user.sessions_cleared_at
            self.log("user.session.clear", "Clear user session", [self.user_target(user)])

    def revoke_grants(self, key: str) -> None:
        with self.lock:
            user = self.user(key)
            user.grants_revoked_at = now()
            self.log("user.account.revoke_grants", "Revoke user grants", [self.user_target(user)])

    def add_member(self, gid: str, key: str) -> None:
        with self.lock:
            group, user = self.group(gid), self.user(key)
            if group.type != "OKTA_GROUP":
                raise OktaApiError(
                    400, "E0000003", "The request body was not well-formed.", ["Cannot modify this group"]
                )
            if user.id in group.members:
                return
            group.members[user.id] = None
            self.user_groups.setdefault(user.id, {})[gid] = None
            self._membership_changed(group)
            self.log(
                "group.user_membership.add",
                "Add user to group membership",
                [self.user_target(user), self.group_target(group)],
            )

    def remove_member(self, gid: str, key: str) -> None:
        with self.lock:
            group, user = self.group(gid), self.user(key)
            if group.type != "OKTA_GROUP":
                raise OktaApiError(
                    400, "E0000003", "The request body was not well-formed.", ["Cannot modify this group"]
                )
            if user.id not in group.members:
                return
            del group.members[user.id]
            self.user_groups.get(user.id, {}).pop(gid, None)
            self._membership_changed(group)
            self.log(
                "group.user_membership.remove",
                "Remove user from group membership",
                [self.user_target(user), self.group_target(group)],
            )

    def _membership_changed(self, group: Group) -> None:
        group.last_membership_updated = now()
        group._json = None

    def unassign_app(self, aid: str, key: str) -> None:
        with self.lock:
            app, user = self.app(aid), self.user(key)
            if user.id not in app.users:
                raise not_found(user.id, "AppUser")
            del app.users[user.id]
            self.log(
                "application.user_membership.remove",
                "Remove user from application membership",
                [
                    self.user_target(user),
                    {"id": app.id, "type": "AppInstance", "alternateId": app.label, "displayName": app.label},
                ],
            )

    def unassign_role(self, key: str, role_id: str) -> None:
        with self.lock:
            user = self.user(key)
            roles = self.roles.get(user.id, [])
            match = [r for r in roles if r.id == role_id]
            if not match:
                raise not_found(role_id, "Role")
            roles.remove(match[0])
            self.log("user.account.privilege.revoke", "User privilege revoked", [self.user_target(user)])

    def delete_user(self, key: str) -> bool:
        """Okta deletes a DEPROVISIONED user and deactivates any other; True when deleted."""
        with self.lock:
            user = self.user(key)
            if user.status != "DEPROVISIONED":
                self.lifecycle(user.id, "deactivate")
                return False
            for gid in list(self.user_groups.get(user.id, {})):
                self.groups[gid].members.pop(user.id, None)
            for app in self.apps.values():
                app.users.pop(user.id, None)
            del self.users[user.id]
            self.by_login.pop(user.profile["login"].lower(), None)
            self.user_groups.pop(user.id, None)
            self.roles.pop(user.id, None)
            self.log("user.lifecycle.delete.completed", "Delete Okta user", [self.user_target(user)])
            return True

    def churn(self, share: float, seed: int) -> dict[str, int]:
        """Change ``share`` of the active users the way a working day does."""
        with self.lock:
            rng = random.Random(seed)
            active = [
                uid for uid in self.user_order if uid in self.users and self.users[uid].status == "ACTIVE"
            ]
            chosen = rng.sample(active, min(len(active), max(1, round(len(active) * share))))
            editable = [g for g in self.group_order if self.groups[g].type == "OKTA_GROUP"]
            counts = {"profile": 0, "membership": 0, "suspended": 0}
            for uid in chosen:
                roll = rng.random()
                if roll < 0.1:
                    self.lifecycle(uid, "suspend")
                    counts["suspended"] += 1
                elif roll < 0.55 and editable:
                    gid = rng.choice(editable)
                    if uid in self.groups[gid].members:
                        self.remove_member(gid, uid)
                    else:
                        self.add_member(gid, uid)
                    counts["membership"] += 1
                else:
                    self.update_profile(
                        uid, {"title": rng.choice(("Senior Engineer", "Lead", "Analyst", "Manager"))}
                    )
                    counts["profile"] += 1
            return counts

    def token_owner(self) -> User:
        """The admin whose API token callers present: the org's first active super admin."""
        with self.lock:
            admins = [
                uid
                for uid, roles in self.roles.items()
                if uid in self.users
                and self.users[uid].status == "ACTIVE"
                and any(r.type == "SUPER_ADMIN" for r in roles)
            ]
            if not admins:
                raise OktaApiError(
                    403, "E0000006", "You do not have permission to perform the requested action"
                )
            return self.users[min(admins, key=lambda uid: self.user_index.get(uid, 0))]

    def visible_user_ids(self) -> list[str]:
        return [uid for uid in self.user_order if uid in self.users]
