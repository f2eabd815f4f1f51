"""What the emulated Entra tenant holds, built from a synthetic :class:`Directory`, and its changes.

Every change bumps a tenant-wide sequence number, so ``/users/delta`` and ``/groups/delta`` can
answer "what changed since token N" the way Graph's delta queries do.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.emulators.entra.schema import USER_PROPERTIES
from connectors.emulators.model import Directory

NAMESPACE = uuid.UUID("6f1c7c1e-3c3e-4d8e-9c55-acce55c7a000")
ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
}
METHODS = {
    "push": "microsoftAuthenticatorPush",
    "totp": "softwareOneTimePasscode",
    "sms": "mobilePhone",
    "webauthn": "fido2",
    "email": "email",
    "call": "mobilePhone",
}
# userDefaultAuthenticationMethod (v1.0): the second factors a user can prefer, strongest first
SECONDARY_METHODS = (
    ("microsoftAuthenticatorPush", "push"),
    ("softwareOneTimePasscode", "oath"),
    ("mobilePhone", "sms"),
)
# the appRoleId that assigns an app without a specific role ("Default Access")
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
DEFAULT_USER_PROPS = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)


def guid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(resource_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{resource_id}' does not exist or one of its queried reference-property objects are not present.",
    )


@dataclass
class User:
    id: str
    props: dict[str, Any]
    methods: list[str]
    manager_id: str | None
    seq: int = 0
    sessions_revoked_at: datetime | None = None


@dataclass
class Group:
    id: str
    props: dict[str, Any]
    members: dict[str, str] = field(default_factory=dict)  # member id -> "user" | "group"
    owners: list[str] = field(default_factory=list)
    seq: int = 0


@dataclass
class ServicePrincipal:
    id: str
    props: dict[str, Any]
    role_id: str
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)  # assignment id -> assignment


class EntraState:
    def __init__(self, directory: Directory, base_url: str, tenant_id: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant_id = tenant_id
        self.lock = threading.RLock()
        self.seq = 1
        self.users: dict[str, User] = {}
        self.user_order: list[str] = []
        self.by_upn: dict[str, str] = {}
        self.removed_users: dict[str, int] = {}
        self.groups: dict[str, Group] = {}
        self.group_order: list[str] = []
        self.member_changes: list[tuple[int, str, str, str, bool]] = []  # seq, group, member, kind, added
        self.sps: dict[str, ServicePrincipal] = {}
        self.sp_order: list[str] = []
        self.role_definitions: dict[str, str] = {}  # id -> displayName
        self.role_assignments: dict[str, dict[str, Any]] = {}
        self._load(directory)

    # -- loading -------------------------------------------------------------------

    def _load(self, directory: Directory) -> None:
        ids = {a.key: guid("user", a.key) for a in directory.accounts}
        for account in directory.accounts:
            uid = ids[account.key]
            mail = account.email
            props = {
                "id": uid,
                "businessPhones": [],
                "displayName": account.display_name,
                "givenName": account.first_name,
                "surname": account.last_name,
                "jobTitle": account.title,
                "mail": mail,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
                "userPrincipalName": account.login,
                "accountEnabled": account.status == "active",
                "employeeId": account.employee_id,
                "department": account.department,
                "companyName": None,
                "createdDateTime": iso(account.created),
                "userType": account.user_type,
                "otherMails": [a for a in account.aliases if not a.lower().startswith("smtp:")],
                "proxyAddresses": [f"SMTP:{mail}"]
                + [a for a in account.aliases if a.lower().startswith("smtp:")],
                "onPremisesSyncEnabled": None,
                # refresh tokens and session cookies issued before this are invalid; Graph starts it at
                # the account's creation and moves it on revokeSignInSessions (and password changes)
                "signInSessionsValidFromDateTime": iso(account.created),
                "signInActivity": {
                    "lastSignInDateTime": iso(account.last_login),
                    "lastSignInRequestId": str(uuid.uuid4()) if account.last_login else None,
                    "lastNonInteractiveSignInDateTime": iso(account.last_login),
                    "lastNonInteractiveSignInRequestId": None,
                    "lastSuccessfulSignInDateTime": iso(account.last_login),
                    "lastSuccessfulSignInRequestId": None,
                },
            }
            methods = sorted({METHODS[f] for f in account.mfa_factors})
            self.users[uid] = User(uid, props, methods, ids.get(account.manager_key or ""))
            self.user_order.append(uid)
            self.by_upn[account.login.lower()] = uid
        group_ids = {g.key: guid("group", g.key) for g in directory.groups}
        for group in directory.groups:
            gid = group_ids[group.key]
            members = {ids[k]: "user" for k in group.member_keys if k in ids}
            members.update({group_ids[k]: "group" for k in group.child_group_keys if k in group_ids})
            self.groups[gid] = Group(
                gid,
                {
                    "id": gid,
                    "displayName": group.name,
                    "description": group.description,
                    "mail": group.email,
                    "mailEnabled": False,
                    "mailNickname": group.name.lower().replace(" ", "-"),
                    "securityEnabled": True,
                    "groupTypes": [],
                    "createdDateTime": iso(group.created),
                    "visibility": "Private",
                    "isAssignableToRole": group.privileged or group.role_assignable,
                },
                members,
                [ids[k] for k in group.owner_keys if k in ids],
            )
            self.group_order.append(gid)
        for app in directory.apps:
            sp_id = guid("sp", app.key)
            role_id = guid("approle", app.key)
            sp = ServicePrincipal(
                sp_id,
                {
                    "id": sp_id,
                    "appId": guid("app", app.key),
                    "displayName": app.label,
                    "servicePrincipalType": "Application",
                    "accountEnabled": True,
                    "appRoleAssignmentRequired": True,
                    "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
                    "appRoles": [
                        {
                            "id": role_id,
                            "allowedMemberTypes": ["User"],
                            "description": f"{app.label} user",
                            "displayName": "User",
                            "isEnabled": True,
                            "value": "User",
                        }
                    ],
                },
                role_id,
            )
            for key in app.assigned_keys:
                if key in ids:
                    self._assign(sp, ids[key], "User")
            for key in app.assigned_group_keys:
                if key in group_ids:
                    self._assign(sp, group_ids[key], "Group")
            self.sps[sp_id] = sp
            self.sp_order.append(sp_id)
        for role in directory.roles:
            role_def = ROLE_TEMPLATES.get(role.name, guid("roledef", role.name))
            self.role_definitions[role_def] = role.name
            principals = [(k, ids[k]) for k in role.assigned_keys if k in ids]
            # a role-assignable group as the principal: its members hold the role through it
            principals += [(f"group:{k}", group_ids[k]) for k in role.assigned_group_keys if k in group_ids]
            for key, principal in principals:
                assignment_id = guid("roleassignment", f"{role.name}:{key}")
                self.role_assignments[assignment_id] = {
                    "id": assignment_id,
                    "principalId": principal,
                    "roleDefinitionId": role_def,
                    "directoryScopeId": "/",
                }

    def _assign(
        self,
        sp: ServicePrincipal,
        principal_id: str,
        kind: str,
        *,
        app_role_id: str | None = None,
        fresh: bool = False,
    ) -> None:
        assignment_id = str(uuid.uuid4()) if fresh else guid("assign", f"{sp.id}:{principal_id}")
        name = (
            self.users[principal_id].props["displayName"]
            if kind == "User"
            else self.groups[principal_id].props["displayName"]
        )
        sp.assignments[assignment_id] = {
            "id": assignment_id,
            "deletedDateTime": None,
            "appRoleId": app_role_id or sp.role_id,
            "createdDateTime": iso(now()) if fresh else "2025-01-10T09:00:00Z",
            "principalDisplayName": name,
            "principalId": principal_id,
            "principalType": kind,
            "resourceDisplayName": sp.props["displayName"],
            "resourceId": sp.id,
        }

    # -- reads ---------------------------------------------------------------------------

    def user(self, key: str) -> User:
        uid = key if key in self.users else self.by_upn.get(key.lower())
        if uid is None:
            raise not_found(key)
        return self.users[uid]

    def group(self, gid: str) -> Group:
        if gid not in self.groups:
            raise not_found(gid)
        return self.groups[gid]

    def sp(self, sp_id: str) -> ServicePrincipal:
        if sp_id not in self.sps:
            raise not_found(sp_id)
        return self.sps[sp_id]

    def user_json(self, user: User, fields: list[str] | None) -> dict[str, Any]:
        """The default properties, or those selected: a v1.0 property the tenant has no value for is
        null, as Graph renders it; a relationship is not rendered by $select."""
        props = user.props
        wanted = fields or list(DEFAULT_USER_PROPS)
        body = {"id": user.id}
        for name in wanted:
            if name in props:
                body[name] = props[name]
            elif name in USER_PROPERTIES:
                body[name] = None
        return body

    def transitive_members(self, gid: str) -> dict[str, str]:
        """Every member reachable through nesting (users and the nested groups themselves)."""
        seen: dict[str, str] = {}
        stack = [gid]
        visited = {gid}
        while stack:
            for member, kind in self.groups[stack.pop()].members.items():
                if member not in seen:
                    seen[member] = kind
                if kind == "group" and member not in visited:
                    visited.add(member)
                    stack.append(member)
        return seen

    def member_of(self, uid: str, transitive: bool) -> list[str]:
        direct = [gid for gid in self.group_order if uid in self.groups[gid].members]
        if not transitive:
            return direct
        result = list(direct)
        frontier = list(direct)
        while frontier:
            child = frontier.pop()
            for gid in self.group_order:
                if child in self.groups[gid].members and gid not in result:
                    result.append(gid)
                    frontier.append(gid)
        return result

    def role_grants(self) -> int:
        """Distinct (user, role definition) pairs, directly or through a group's (transitive) members."""
        pairs: set[tuple[str, str]] = set()
        for a in self.role_assignments.values():
            principal, role = a["principalId"], a["roleDefinitionId"]
            if principal in self.users:
                pairs.add((principal, role))
            elif principal in self.groups:
                pairs.update(
                    (m, role) for m, kind in self.transitive_members(principal).items() if kind == "user"
                )
        return len(pairs)

    def registration(self, user: User) -> dict[str, Any]:
        """The v1.0 userRegistrationDetails record: system-preferred MFA on (Microsoft-managed, as
        tenants have it by default), the user's own choice their strongest second factor."""
        props = user.props
        strongest = next(
            (preferred for method, preferred in SECONDARY_METHODS if method in user.methods), None
        )
        admin = any(
            a["principalId"] == user.id
            or (a["principalId"] in self.groups and user.id in self.groups[a["principalId"]].members)
            for a in self.role_assignments.values()
        )
        return {
            "id": user.id,
            "userPrincipalName": props["userPrincipalName"],
            "userDisplayName": props["displayName"],
            "userType": "member" if props["userType"] == "Member" else "guest",
            "isAdmin": admin,
            "isSsprRegistered": bool(user.methods),
            "isSsprEnabled": True,
            "isSsprCapable": bool(user.methods),
            "isMfaRegistered": bool(user.methods),
            "isMfaCapable": bool(user.methods),
            "isPasswordlessCapable": "fido2" in user.methods,
            "methodsRegistered": user.methods,
            "isSystemPreferredAuthenticationMethodEnabled": True,
            "systemPreferredAuthenticationMethods": [strongest] if strongest else [],
            "userPreferredMethodForSecondaryAuthentication": strongest or "none",
            "lastUpdatedDateTime": "2026-10-01T00:00:00Z",
        }

    # -- changes -------------------------------------------------------------------------

    def _bump(self) -> int:
        self.seq += 1
        return self.seq

    def patch_user(self, key: str, changes: dict[str, Any]) -> None:
        with self.lock:
            user = self.user(key)
            # instance annotations (the SDKs send "@odata.type") are not properties
            changes = {k: v for k, v in changes.items() if not k.startswith("@")}
            read_only = {"id", "createdDateTime", "signInActivity"} & set(changes)
            if read_only:
                raise GraphError(
                    400, "Request_BadRequest", f"Property '{sorted(read_only)[0]}' is read-only."
                )
            unknown = set(changes) - set(user.props) - USER_PROPERTIES
            if unknown:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Property '{sorted(unknown)[0]}' does not exist as a declared property or extension property.",
                )
            user.props.update(changes)
            user.seq = self._bump()

    def revoke_sessions(self, key: str) -> None:
        with self.lock:
            user = self.user(key)
            user.sessions_revoked_at = now()
            user.props["signInSessionsValidFromDateTime"] = iso(user.sessions_revoked_at)

    def remove_member(self, gid: str, member_id: str) -> None:
        with self.lock:
            group = self.group(gid)
            if member_id not in group.members:
                # Graph names the group whose reference-property (members) lacks the object
                raise not_found(gid)
            kind = group.members.pop(member_id)
            group.seq = self._bump()
            self.member_changes.append((group.seq, gid, member_id, kind, False))

    def add_member(self, gid: str, member_id: str) -> None:
        with self.lock:
            group = self.group(gid)
            kind = "user" if member_id in self.users else "group" if member_id in self.groups else None
            if kind is None:
                raise not_found(member_id)
            if member_id in group.members:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following modified properties: 'members'.",
                )
            group.members[member_id] = kind
            group.seq = self._bump()
            self.member_changes.append((group.seq, gid, member_id, kind, True))

    def remove_app_assignment(
        self, assignment_id: str, *, sp_id: str | None = None, principal_id: str | None = None
    ) -> None:
        with self.lock:
            for sp in self.sps.values():
                if sp_id is not None and sp.id != sp_id:
                    continue
                assignment = sp.assignments.get(assignment_id)
                if assignment is not None and (
                    principal_id is None or assignment["principalId"] == principal_id
                ):
                    del sp.assignments[assignment_id]
                    return
            raise not_found(assignment_id)

    def add_app_assignment(self, sp_id: str, principal_id: str, app_role_id: str) -> dict[str, Any]:
        """A new app role assignment (a fresh id, as Graph gives one), for a user or a group."""
        with self.lock:
            sp = self.sp(sp_id)
            kind = "User" if principal_id in self.users else "Group" if principal_id in self.groups else None
            if kind is None:
                raise not_found(principal_id)
            if app_role_id not in {r["id"] for r in sp.props["appRoles"]} | {DEFAULT_ACCESS_ROLE}:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Permission being assigned was not found on application '{sp.props['appId']}'.",
                )
            if any(
                a["principalId"] == principal_id and a["appRoleId"] == app_role_id
                for a in sp.assignments.values()
            ):
                raise GraphError(
                    400, "Request_BadRequest", "Permission being assigned already exists on the object"
                )
            self._assign(sp, principal_id, kind, app_role_id=app_role_id, fresh=True)
            return list(sp.assignments.values())[-1]

    def add_role_assignment(self, principal_id: str, role_id: str, scope: str) -> dict[str, Any]:
        with self.lock:
            if principal_id not in self.users and principal_id not in self.groups:
                raise not_found(principal_id)
            if role_id not in self.role_definitions:
                raise not_found(role_id)
            if any(
                a["principalId"] == principal_id
                and a["roleDefinitionId"] == role_id
                and a["directoryScopeId"] == scope
                for a in self.role_assignments.values()
            ):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "A conflicting object with one or more of the specified property values is present in "
                    "the directory.",
                )
            assignment_id = str(uuid.uuid4())
            self.role_assignments[assignment_id] = {
                "id": assignment_id,
                "principalId": principal_id,
                "roleDefinitionId": role_id,
                "directoryScopeId": scope,
            }
            return self.role_assignments[assignment_id]

    def add_directory_role_member(self, role_id: str, member_id: str) -> None:
        """The legacy ``POST /directoryRoles/{id}/members/$ref``: a tenant-wide assignment."""
        with self.lock:
            if role_id not in self.role_definitions:
                raise not_found(role_id)
            if any(
                a["principalId"] == member_id
                and a["roleDefinitionId"] == role_id
                and a["directoryScopeId"] == "/"
                for a in self.role_assignments.values()
            ):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following modified properties: "
                    "'members'.",
                )
            self.add_role_assignment(member_id, role_id, "/")

    def remove_role_assignment(self, assignment_id: str) -> None:
        with self.lock:
            if assignment_id not in self.role_assignments:
                raise not_found(assignment_id)
            del self.role_assignments[assignment_id]

    def remove_directory_role_member(self, role_id: str, member_id: str) -> None:
        """The legacy ``/directoryRoles/{id}/members/{id}/$ref``: the member's tenant-wide assignment of
        that role goes (the same object ``roleManagement`` lists)."""
        with self.lock:
            if role_id not in self.role_definitions:
                raise not_found(role_id)
            held = [
                aid
                for aid, a in self.role_assignments.items()
                if a["roleDefinitionId"] == role_id
                and a["principalId"] == member_id
                and a["directoryScopeId"] == "/"
            ]
            if not held:
                raise not_found(role_id)
            for aid in held:
                del self.role_assignments[aid]

    def churn(self, share: float, seed: int) -> dict[str, int]:
        with self.lock:
            rng = random.Random(seed)
            enabled = [
                u for u in self.user_order if u in self.users and self.users[u].props["accountEnabled"]
            ]
            chosen = rng.sample(enabled, min(len(enabled), max(1, round(len(enabled) * share))))
            plain_groups = [
                g for g in self.group_order if not any(k == "group" for k in self.groups[g].members.values())
            ]
            counts = {"profile": 0, "membership": 0, "disabled": 0}
            for uid in chosen:
                roll = rng.random()
                if roll < 0.1:
                    self.patch_user(uid, {"accountEnabled": False})
                    counts["disabled"] += 1
                elif roll < 0.55 and plain_groups:
                    gid = rng.choice(plain_groups)
                    if uid in self.groups[gid].members:
                        self.remove_member(gid, uid)
                    else:
                        self.add_member(gid, uid)
                    counts["membership"] += 1
                else:
                    self.patch_user(
                        uid, {"jobTitle": rng.choice(("Senior Engineer", "Lead", "Analyst", "Manager"))}
                    )
                    counts["profile"] += 1
            return counts
